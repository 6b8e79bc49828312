"""How the writer folds events into journeys: routine events (Event.routine) are counted in
without reading their journey's row on SQLite, and must come out exactly as the full fold
would have made them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tracking import store
from tracking.events import Event, touchpoint_tracked
from tracking.models import journeys

from .conftest import make_bare_app

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
T0 = datetime(2026, 12, 1, 12, 0, 0)


def shop_visit(tmp_path, name: str, monkeypatch, *, shortcut: bool):
    """One shopper's visit through the bare app: the events tracked (name, routine) and the
    journey row stored, with the writer's shortcuts on (as on SQLite) or off (the full fold
    for every journey, as on PostgreSQL)."""
    monkeypatch.setattr(store, "_BY_DIALECT", {})  # statements built again, for this mode
    real = store._Statements.__init__

    def init(self, dialect):
        real(self, dialect)
        self.one_writer = shortcut

    monkeypatch.setattr(store._Statements, "__init__", init)
    app, _ = make_bare_app(f"sqlite:///{tmp_path}/{name}.db", JOURNEY_STRICT=True)
    state = app.extensions["journey"]
    seen: list[tuple[str, bool]] = []

    def record(_sender, event):
        seen.append((event.touchpoint, event.routine))

    touchpoint_tracked.connect(record)
    try:
        client = app.test_client()
        for method, path, form in (
                ("GET", "/products/1", None),  # a new journey: landing + product view
                ("GET", "/products/2", None),
                ("POST", "/cart", {"pid": "2"}),  # enters the cart stage
                ("GET", "/products/3", None),
                ("POST", "/cart", {"pid": "3"}),  # a cart it was in
                ("POST", "/login", {"customer": "c-7"}),
                ("GET", "/products/4", None),  # the customer the cookie now names
                ("POST", "/checkout", None),  # checkout and payment: new stages
                ("GET", "/products/5", None)):
            assert client.open(path, method=method, data=form, headers=BROWSER).status_code == 200
            state.writer.flush()  # each request's events a batch, as with many shoppers
        with state.engine.connect() as conn:
            row = conn.execute(select(journeys)).mappings().one()
        counts = {stage: state.registry.get_sample_value(
            "journey_stage_entered_total", {"stage": stage})
            for stage in ("landing", "browse", "cart", "checkout", "payment", "purchase")}
    finally:
        touchpoint_tracked.disconnect(record)
        state.close()
    return seen, dict(row), counts


def test_only_events_that_change_nothing_but_counts_are_routine(tmp_path, monkeypatch):
    seen, _, _ = shop_visit(tmp_path, "flags", monkeypatch, shortcut=True)
    assert seen == [
        ("landing", False), ("product_view", False),  # the journey is new in this request
        ("product_view", True),
        ("add_to_cart", False),  # a stage the cookie had not reached
        ("product_view", True),  # browse: behind the cart stage reached
        ("add_to_cart", True),
        ("login", False),  # a customer the cookie did not name
        ("product_view", True),
        ("checkout_start", False), ("checkout_address", False), ("checkout_shipping", False),
        ("payment_submitted", False),  # an order reference: the row learns it
        ("product_view", True),
    ]


def test_the_shortcut_stores_the_journey_the_full_fold_stores(tmp_path, monkeypatch):
    _, fast, fast_counts = shop_visit(tmp_path, "fast", monkeypatch, shortcut=True)
    _, full, full_counts = shop_visit(tmp_path, "full", monkeypatch, shortcut=False)
    assert fast["events"] == full["events"] == 13
    assert fast["sessions"] == full["sessions"] == 1
    for name in ("stage", "stage_rank", "status", "last_touchpoint", "customer_id",
                 "order_ref", "device", "landing_page"):
        assert fast[name] == full[name], name
    assert fast["last_touchpoint"] == "product_view" and fast["customer_id"] == "c-7"
    assert fast["last_seen_at"] >= fast["entered_payment_at"]
    for stage in ("landing", "browse", "cart", "checkout", "payment"):
        assert fast[f"entered_{stage}_at"] is not None and full[f"entered_{stage}_at"] is not None
    assert fast["entered_purchase_at"] is None
    assert fast_counts == full_counts
    assert {k: v for k, v in fast_counts.items() if v} == {
        "landing": 1, "browse": 1, "cart": 1, "checkout": 1, "payment": 1}


def event(journey_id: str, touchpoint: str, stage: str | None, at: datetime, *,
          routine: bool = True, new_session: bool = False) -> Event:
    return Event(event_id=f"{journey_id}-{touchpoint}-{at.timestamp()}", touchpoint=touchpoint,
                 stage=stage, occurred_at=at, props={"product_id": "9"}, journey_id=journey_id,
                 visitor_id="v-1", session_id="s-1", journey_started_at=T0, stored=True,
                 routine=routine, new_session=new_session)


@pytest.fixture
def engine(tmp_path):
    app, _ = make_bare_app(f"sqlite:///{tmp_path}/direct.db")
    state = app.extensions["journey"]
    yield state.engine
    state.close()


def write(engine, events: list[Event]) -> store.BatchOutcome:
    with engine.begin() as conn:
        return store.write_batch(conn, events, timedelta(days=7))


def row_of(engine, journey_id: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(select(journeys).where(journeys.c.id == journey_id))
                    .mappings().one())


def test_a_routine_event_counts_in_and_never_moves_the_journey_back(engine):
    write(engine, [event("j1", "landing", "landing", T0, routine=False, new_session=True),
                   event("j1", "cart_view", "cart", T0 + timedelta(minutes=5), routine=False)])
    late = event("j1", "product_view", "browse", T0 + timedelta(minutes=9))
    early = event("j1", "product_view", "browse", T0 + timedelta(minutes=2))  # a slow worker
    outcome = write(engine, [late, event("j1", "page_view", None, T0 + timedelta(minutes=8),
                                         new_session=True)])
    assert outcome.entered == [] and outcome.written == 2
    row = row_of(engine, "j1")
    assert (row["events"], row["sessions"]) == (4, 2)
    assert (row["last_seen_at"], row["last_touchpoint"]) == (late.occurred_at, "product_view")
    assert (row["stage"], row["started_at"]) == ("cart", T0)
    write(engine, [early])
    row = row_of(engine, "j1")
    assert row["events"] == 5
    assert (row["last_seen_at"], row["last_touchpoint"]) == (late.occurred_at, "product_view")


def test_a_routine_event_whose_journey_has_no_row_yet_is_folded_the_long_way(engine):
    # Its journey's first events are still in another worker's queue: this batch makes the
    # row, entering the stages it shows, and the first events then find them entered.
    outcome = write(engine, [event("j2", "product_view", "browse", T0 + timedelta(minutes=1)),
                             event("j3", "page_view", None, T0)])
    assert sorted(stage for stage, _ in outcome.entered) == ["browse", "landing"]
    row = row_of(engine, "j2")
    assert (row["events"], row["stage"], row["visitor_id"]) == (1, "browse", "v-1")
    assert row["entered_browse_at"] == T0 + timedelta(minutes=1)
    assert row_of(engine, "j3")["events"] == 1
    outcome = write(engine, [event("j2", "landing", "landing", T0, routine=False,
                                   new_session=True)])
    assert outcome.entered == []
    row = row_of(engine, "j2")
    assert (row["events"], row["sessions"], row["last_touchpoint"]) == (2, 1, "product_view")


def test_a_customer_the_cookie_learned_without_a_touchpoint_reaches_the_row(tmp_path):
    # identify(customer, via=None) tracks nothing: the cookie names the customer from the
    # next request on, and that request's routine events must bring it to the row.
    app, journey = make_bare_app(f"sqlite:///{tmp_path}/quiet.db", JOURNEY_STRICT=True)
    state = app.extensions["journey"]
    seen: list[tuple[str, bool]] = []

    @app.post("/quiet-login")
    def quiet_login():
        journey.identify("c-9", via=None)
        return "ok"

    @app.post("/paid")
    def paid():
        journey.track("purchase", journey_id=journey.current_journey_id(), order_ref="A9",
                      value=1000, currency="EUR")
        return "ok"

    def record(_sender, event):
        seen.append((event.touchpoint, event.routine))

    touchpoint_tracked.connect(record)
    try:
        client = app.test_client()
        customers = []
        for method, path in (("GET", "/products/1"), ("POST", "/quiet-login"),
                             ("GET", "/products/2"), ("POST", "/paid"), ("GET", "/")):
            assert client.open(path, method=method, headers=BROWSER).status_code == 200
            state.writer.flush()
            with state.engine.connect() as conn:
                row = conn.execute(select(journeys)).mappings().one()
            customers.append(row["customer_id"])
    finally:
        touchpoint_tracked.disconnect(record)
        state.close()
    assert seen == [("landing", False), ("product_view", False), ("product_view", True),
                    ("purchase", False),
                    ("page_view", False)]  # purchased: a customer learned now recovers carts
    assert customers == [None, None, "c-9", "c-9", "c-9"]  # from the routine product view
    assert (row["status"], row["events"]) == ("purchased", 5)


def test_a_routine_event_ahead_of_its_row_is_folded_and_enters_the_stage(engine):
    # The add_to_cart that entered the cart never reached the database (a full queue and
    # spool drop it, counted in tracking_events_dropped_total); the cookie still says cart,
    # so the cart views after it are routine. The row is behind them: they are folded the
    # long way and the journey enters the stages they show, as the full fold would.
    write(engine, [event("j4", "landing", "landing", T0, routine=False, new_session=True),
                   event("j5", "landing", "landing", T0, routine=False, new_session=True),
                   event("j5", "add_to_cart", "cart", T0 + timedelta(minutes=1),
                         routine=False)])
    outcome = write(engine, [event("j4", "cart_view", "cart", T0 + timedelta(minutes=3)),
                             event("j4", "product_view", "browse", T0 + timedelta(minutes=4)),
                             event("j5", "cart_view", "cart", T0 + timedelta(minutes=3))])
    assert sorted(stage for stage, _ in outcome.entered) == ["browse", "cart"]
    behind, ahead = row_of(engine, "j4"), row_of(engine, "j5")
    assert (behind["stage"], behind["events"], behind["last_touchpoint"]) == (
        "cart", 3, "product_view")
    assert behind["entered_cart_at"] == T0 + timedelta(minutes=3)
    assert (ahead["stage"], ahead["events"]) == ("cart", 3)  # counted in, as before
    assert ahead["entered_cart_at"] == T0 + timedelta(minutes=1)


def test_a_routine_event_of_a_purchased_journey_is_folded_and_recovers_carts(engine):
    # The customer's earlier cart, abandoned. Then a journey of another device, paid by a
    # webhook the shopper's cookie has not seen (it still says payment): the routine view
    # that names the customer (identify(customer, via=None) told the cookie, not the row)
    # must recover the cart, as the full fold does when a purchased journey learns one.
    cart = [event("jA", "landing", "landing", T0, routine=False, new_session=True),
            event("jA", "add_to_cart", "cart", T0 + timedelta(minutes=1), routine=False)]
    for e in cart:
        e.customer_id = "c-1"
    write(engine, cart)
    with engine.begin() as conn:
        counts, _ = store.sweep(conn, T0 + timedelta(hours=1), timedelta(minutes=30),
                                timedelta(minutes=30), timedelta(days=7), timedelta(0))
    assert counts == {"cart": 1}
    paid = [event("j6", "landing", "landing", T0 + timedelta(hours=2), routine=False,
                  new_session=True),
            event("j6", "payment_submitted", "payment", T0 + timedelta(hours=2, minutes=5),
                  routine=False),
            event("j6", "purchase", "purchase", T0 + timedelta(hours=2, minutes=6),
                  routine=False)]
    later = event("j6", "product_view", "browse", T0 + timedelta(hours=2, minutes=7))
    later.customer_id = "c-1"
    for e in [*paid, later]:
        e.visitor_id = "v-2"
    write(engine, paid)
    assert row_of(engine, "jA")["status"] == "abandoned"
    outcome = write(engine, [later])
    assert outcome.recovered == 1
    assert row_of(engine, "jA")["status"] == "recovered"
    row = row_of(engine, "j6")
    assert (row["customer_id"], row["events"], row["status"]) == ("c-1", 4, "purchased")


def test_a_stage_entered_by_a_later_event_first_moves_back_to_the_entering_one(engine):
    # Two workers: the cart view's batch (routine: the cookie says cart) is written before
    # the batch holding the add_to_cart that entered the cart. The stage is entered once, at
    # the add_to_cart's time, as if the batches had come in order.
    write(engine, [event("j7", "landing", "landing", T0, routine=False, new_session=True)])
    first = write(engine, [event("j7", "cart_view", "cart", T0 + timedelta(minutes=3))])
    assert sorted(stage for stage, _ in first.entered) == ["browse", "cart"]
    late = write(engine, [event("j7", "add_to_cart", "cart", T0 + timedelta(minutes=1),
                                routine=False)])
    assert late.entered == []
    row = row_of(engine, "j7")
    assert row["entered_cart_at"] == row["entered_browse_at"] == T0 + timedelta(minutes=1)
    assert (row["events"], row["last_touchpoint"]) == (3, "cart_view")
    assert row["last_seen_at"] == T0 + timedelta(minutes=3)
