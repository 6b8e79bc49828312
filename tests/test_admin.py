"""The shop owner's panel: access control, sign-in throttling, and the JSON behind each page."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, insert, select, text

from admin import queries
from admin.auth import create_user
from admin.models import AdminUser
from checkout.models import FulfilmentStatus, Order
from storefront.extensions import db
from tracking.extension import utcnow
from tracking.models import journey_events, journeys
from tracking.touchpoints import STAGES, Stage

from . import factories
from .support import CARD_DECLINED, CARD_OK, Shopper

PASSWORD = "owner-password-1"


@pytest.fixture
def owner(shop_db):
    return create_user("owner@example.com", PASSWORD)


def admin_login(client, email="owner@example.com", password=PASSWORD, next_url=""):
    return client.post("/admin/login", data={"email": email, "password": password,
                                             "csrf_token": csrf_token(client),
                                             "next": next_url})


@pytest.fixture
def admin_client(app, owner):
    client = app.test_client()
    assert admin_login(client).status_code == 302
    return client


def csrf_token(client) -> str:
    page = client.get("/admin/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def csrf_header(client) -> dict:
    return {"X-CSRFToken": csrf_token(client)}


def test_every_admin_route_requires_an_admin(app, client, shop_db, new_shopper):
    customer = new_shopper()
    customer.signup("not-an-admin@example.com")
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin")
             and r.endpoint not in {"admin.login", "admin.static"}]
    assert len(rules) >= 15
    # A valid CSRF token and the parameters a view asks for: only the admin check may refuse.
    tokens = {who: {"X-CSRFToken": csrf_token(who)} for who in (client, customer.client)}
    params = {"q": "x", "stage": "cart", "days": "7"}
    for rule in rules:
        url = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for who in (client, customer.client):
                response = who.open(url, method=method, headers=tokens[who],
                                    query_string=params)
                if rule.rule.startswith("/admin/api/"):
                    assert response.status_code == 401, (method, url, response.status_code)
                    assert response.get_json()["error"]
                else:
                    assert response.status_code == 302, (method, url, response.status_code)
                    assert response.headers["Location"].startswith("/admin/login")


def test_create_user_command_reads_the_password_from_stdin(app, cli, shop_db):
    result = cli("admin", "create-user", "Boss@Example.com")  # no stdin: empty password
    assert result.exit_code != 0 and "at least 10 characters" in result.output
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["admin", "create-user", "boss@example.com"],
                                              input="a-long-password\n")
    assert result.exit_code == 0, result.output
    client = app.test_client()
    assert admin_login(client, "boss@example.com", "a-long-password").status_code == 302
    from admin.models import AdminUser

    user = db.session.scalar(select(AdminUser))
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_login_logout_and_next(app, owner):
    client = app.test_client()
    bad = admin_login(client, password="wrong-password")
    assert bad.status_code == 401 and "Email or password is wrong." in bad.get_data(as_text=True)
    ok = admin_login(client, next_url="/admin/orders")
    assert ok.headers["Location"] == "/admin/orders"
    assert client.get("/admin/api/live").status_code == 200
    evil = app.test_client()
    assert admin_login(evil, next_url="//evil.example/").headers["Location"] == "/admin/"
    assert client.post("/admin/logout", data={"csrf_token": csrf_token(client)}).status_code == 302
    assert client.get("/admin/api/live").status_code == 401


def test_login_needs_a_csrf_token(app, owner):
    response = app.test_client().post("/admin/login", data={"email": "owner@example.com",
                                                            "password": PASSWORD})
    assert response.status_code == 400


def test_failed_logins_are_throttled(app, owner):
    client = app.test_client()
    for _ in range(5):
        assert admin_login(client, password="nope-nope-nope").status_code == 401
    locked = admin_login(client)  # even the right password
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "900"
    assert "Too many failed logins" in locked.get_data(as_text=True)
    with time_machine.travel(utcnow() + timedelta(minutes=16)):
        assert admin_login(app.test_client()).status_code == 302


def shop(app, localstripe, flush_journeys):
    """Three shoppers: one buys, one leaves a cart, one bounces."""
    mug = factories.product("Mug", price=1500, stock=20)
    pen = factories.product("Pen", price=800, stock=20)
    buyer, leaver, bouncer = (Shopper(app.test_client(), localstripe) for _ in range(3))
    buyer.client.get(f"/p/{mug.slug}?utm_source=newsletter&utm_campaign=spring")
    buyer.add_to_cart(mug.id, 2)
    buyer.to_payment()
    assert buyer.pay(CARD_DECLINED).status_code == 402
    assert buyer.pay(CARD_OK).get_json()["status"] == "succeeded"
    leaver.client.get(f"/p/{pen.slug}", headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile"})
    leaver.add_to_cart(pen.id, 3)
    leaver.client.get("/checkout/")
    bouncer.client.get("/")
    flush_journeys()
    return mug, pen


def test_overview_funnel_and_abandonment_numbers(app, admin_client, localstripe, flush_journeys,
                                                 shop_db):
    mug, pen = shop(app, localstripe, flush_journeys)
    live = admin_client.get("/admin/api/live").get_json()
    by_stage = {s["stage"]: s["live"] for s in live["stages"]}
    assert by_stage["checkout"] == 1 and by_stage["purchase"] == 1 and by_stage["landing"] == 1
    swept_at = utcnow() + timedelta(hours=2)
    app.extensions["journey"].sweep(swept_at)

    overview = admin_client.get("/admin/api/overview").get_json()
    kpis = overview["kpis"]
    assert kpis["journeys"] == 3 and kpis["visitors"] == 3
    assert kpis["conversion_rate"] == round(1 / 3, 4)
    assert kpis["cart_abandonment_rate"] == 0.5  # 2 reached the cart, 1 abandoned
    assert kpis["checkout_abandonment_rate"] == 0.5
    assert kpis["bounce_rate"] == round(1 / 3, 4)
    assert kpis["orders"] == 1 and kpis["revenue"] == 3000
    assert kpis["average_order_value"] == 3000
    assert overview["today"]["orders"] == 1
    steps = {s["stage"]: s for s in overview["funnel"]}
    assert [steps[s]["journeys"] for s in ("landing", "browse", "cart", "checkout", "payment",
                                           "purchase")] == [3, 2, 2, 2, 1, 1]
    assert steps["payment"]["of_previous"] == 0.5
    assert [steps[s]["dropped"] for s in ("landing", "browse", "cart", "checkout", "payment",
                                          "purchase")] == [1, 0, 0, 1, 0, None]
    assert steps["purchase"]["of_first"] == round(1 / 3, 4)
    assert sum(p["journeys"] or 0 for p in overview["trend"]) == 3
    assert sum(p["purchases"] or 0 for p in overview["trend"]) == 1
    assert sum(p["orders"] for p in overview["trend"]) == 1

    funnel = admin_client.get("/admin/api/funnel").get_json()
    sources = {s["source"]: s for s in funnel["by_source"]}
    assert sources["newsletter"]["conversion_rate"] == 1.0
    assert sources["direct"]["journeys"] == 2
    # Judged by money too: what each source's purchases paid (the one order, $30)
    assert (sources["newsletter"]["revenue"], sources["direct"]["revenue"]) == (3000, 0)
    assert sources["newsletter"]["purchases"] == 1
    # Campaigns: only the journeys that came with one
    assert [(c["campaign"], c["journeys"], c["conversion_rate"], c["revenue"])
            for c in funnel["by_campaign"]] == [("spring", 1, 1.0, 3000)]
    devices = {d["device"]: d["journeys"] for d in funnel["by_device"]}
    assert devices == {"desktop": 2, "mobile": 1}
    assert sum(b["journeys"] for b in funnel["time_to_convert"]) == 1
    dropped = admin_client.get("/admin/api/funnel/dropped?stage=checkout").get_json()
    [left] = dropped["journeys"]
    assert left["cart"] == [{"product_id": str(pen.id), "title": "Pen", "quantity": 3,
                             "value": 2400}]
    assert left["last_touchpoint"] == "checkout_start"

    # Abandonments count on the day they happened: two hours on may be tomorrow.
    abandonment = admin_client.get(
        f"/admin/api/abandonment?to={swept_at.date().isoformat()}").get_json()
    assert abandonment["abandoned"] == 1 and abandonment["recovered"] == 0
    assert abandonment["abandoned_value"] == 2400  # what the abandoned cart held
    assert {"stage": "checkout", "journeys": 1, "recovered": 0} in abandonment["by_stage"]
    assert abandonment["by_step"] == [{"stage": "checkout", "last_touchpoint": "checkout_start",
                                       "journeys": 1}]
    assert abandonment["top_products"][0]["title"] == "Pen"
    assert abandonment["payment_failures"] == [{"code": "card_declined", "attempts": 1}]
    assert abandonment["journeys"][0]["cart_value"] == 2400
    assert abandonment["journeys"][0]["reminded_at"] is None
    # The store wrote to the shopper about the cart: the owner sees it was followed up
    from checkout.models import MessageKind, OutboxMessage

    reminded = datetime(2026, 12, 1, 9, 30)
    with app.app_context():
        db.session.add(OutboxMessage(
            key="reminder-test", kind=MessageKind.CART_REMINDER, to_email="ada@example.com",
            subject="You left something", body="…", created_at=reminded,
            journey_id=abandonment["journeys"][0]["id"]))
        db.session.commit()
    abandonment = admin_client.get(
        f"/admin/api/abandonment?to={swept_at.date().isoformat()}").get_json()
    assert abandonment["journeys"][0]["reminded_at"] == "2026-12-01T09:30:00"
    assert abandonment["journeys"][0]["reminder_waiting_since"] is None
    # Written but waiting for the mail timer (or a server refusing for now): not reminded
    # yet, on the row as in the reminders' outcomes above it
    with app.app_context():
        message = db.session.scalar(select(OutboxMessage).where(
            OutboxMessage.key == "reminder-test"))
        message.send_after = reminded
        db.session.commit()
    abandonment = admin_client.get(
        f"/admin/api/abandonment?to={swept_at.date().isoformat()}").get_json()
    row = abandonment["journeys"][0]
    assert (row["reminded_at"], row["reminder_waiting_since"]) == (None, "2026-12-01T09:30:00")
    # Refused for good (or too old to send): not waiting, not reminded; said as not sent
    with app.app_context():
        message = db.session.scalar(select(OutboxMessage).where(
            OutboxMessage.key == "reminder-test"))
        message.send_after, message.error = None, "550 no such mailbox"
        db.session.commit()
    row = admin_client.get(
        f"/admin/api/abandonment?to={swept_at.date().isoformat()}").get_json()["journeys"][0]
    assert (row["reminded_at"], row["reminder_waiting_since"], row["reminder_not_sent_at"]) == (
        None, None, "2026-12-01T09:30:00")


def journey_row(stage: str, status: str, *, seen_ago: timedelta = timedelta(hours=1),
                source: str | None = None) -> dict:
    """A journey as the writer leaves it (tracking/store.py): ``stage`` is the furthest it
    reached, and reaching it entered every earlier stage; swept if abandoned or recovered."""
    now = utcnow()
    started = now - max(seen_ago + timedelta(hours=1), timedelta(hours=2))
    reached = Stage.from_label(stage)
    swept = status in ("abandoned", "recovered")
    return {
        "id": uuid.uuid4().hex, "visitor_id": uuid.uuid4().hex, "stage": stage,
        "stage_rank": int(reached), "status": status, "started_at": started,
        "last_seen_at": now - seen_ago, "last_touchpoint": "product_view", "source": source,
        "sessions": 1, "events": 1,
        **{f"entered_{s.label}_at": started if s <= reached else None for s in STAGES},
        "abandoned_at": now - seen_ago + timedelta(minutes=31) if swept else None,
        "abandoned_stage": stage if swept else None,
        "recovered_at": now if status == "recovered" else None,
    }


def journey_started(at: datetime, stage: str, status: str, **times: datetime) -> dict:
    """journey_row moved in time to start ``at`` (its stages entered then, left an hour and
    a half on, bought back two hours on), with ``times`` set as given."""
    row = journey_row(stage, status)
    shift = at - row["started_at"]
    return {**{k: v + shift if isinstance(v, datetime) else v for k, v in row.items()},
            **times}


def add_journeys(app, rows: list[dict]) -> None:
    with app.extensions["journey"].engine.begin() as conn:
        conn.execute(insert(journeys), rows)


def test_abandonment_and_bounce_rates_are_of_the_journeys_decided(app, admin_client, shop_db):
    """A cart still open is neither abandoned nor kept: over it, a day's rate would read
    low in the morning and climb as its carts were decided. The rates leave the open ones
    out, and say how many there are."""
    add_journeys(app, [
        journey_row("cart", "abandoned"),
        journey_row("cart", "active"),  # still open
        journey_row("checkout", "active"),  # still open, and in checkout
        journey_row("purchase", "purchased"),
        journey_row("checkout", "abandoned"),
        journey_row("landing", "abandoned"),  # a bounce
        journey_row("landing", "active"),  # still on the landing page
        journey_row("browse", "abandoned"),
    ])
    kpis = admin_client.get("/admin/api/overview").get_json()["kpis"]
    assert (kpis["carts"], kpis["carts_abandoned"], kpis["carts_open"]) == (5, 2, 2)
    assert kpis["cart_abandonment_rate"] == round(2 / 3, 4)  # of the 3 decided, not of 5
    assert (kpis["checkouts"], kpis["checkouts_abandoned"], kpis["checkouts_open"]) == (3, 1, 1)
    assert kpis["checkout_abandonment_rate"] == 0.5
    assert (kpis["bounces"], kpis["landings_open"]) == (1, 1)
    assert kpis["bounce_rate"] == round(1 / 7, 4)  # of the 7 not still on the landing page


def test_abandonment_says_how_many_reminded_carts_came_back_beside_the_others(
        app, admin_client, shop_db):
    """Whether the reminders work: of the carts still left when a reminder could go out,
    the share bought later with one and without (Matomo's abandoned carts stop at the
    list). A cart bought back before any reminder could go, or left too lately to have had
    one, is in neither group: counted among the others, it would make reminders look
    useless."""
    from checkout.models import MessageKind, OutboxMessage

    now = utcnow()
    left = now - timedelta(hours=3)  # every cart here was left then, but k

    def cart(stage: str, status: str, *, recovered: timedelta | None = None,
             at: datetime = left) -> dict:
        return {**journey_row(stage, status), "abandoned_at": at,
                "recovered_at": left + recovered if recovered is not None else None}

    rows = {
        "a": cart("cart", "abandoned"),
        "b": cart("cart", "recovered", recovered=timedelta(hours=2)),
        "c": cart("checkout", "recovered", recovered=timedelta(minutes=90)),
        "d": cart("cart", "abandoned"), "e": cart("payment", "abandoned"),
        "f": cart("payment", "recovered", recovered=timedelta(hours=2)),
        "h": cart("cart", "recovered", recovered=timedelta(minutes=30)),  # before reminders
        "i": cart("cart", "recovered", recovered=timedelta(minutes=30)),  # before its own
        "k": cart("cart", "abandoned", at=now - timedelta(minutes=10)),  # not due one yet
        "g": cart("browse", "abandoned"),  # not a cart
        "old": cart("cart", "abandoned", at=now - timedelta(days=20)),
    }
    add_journeys(app, list(rows.values()))
    hour = timedelta(hours=1)
    reminders = [("a", left + hour), ("a", left + 2 * hour), ("b", left + hour),
                 ("c", left + hour), ("i", left + hour), ("g", left + hour),
                 ("old", now - timedelta(days=19))]
    for n, (name, at) in enumerate(reminders):
        shop_db.session.add(OutboxMessage(
            key=f"reminder-{n}", kind=MessageKind.CART_REMINDER, to_email=f"{name}@example.com",
            subject="You left something", body="…", created_at=at,
            journey_id=rows[name]["id"]))
    shop_db.session.add(OutboxMessage(  # waiting to be sent: it has reached no one yet
        key="waiting", kind=MessageKind.CART_REMINDER, to_email="d@example.com",
        subject="You left something", body="…", created_at=left + hour,
        send_after=now + hour, journey_id=rows["d"]["id"]))
    shop_db.session.add(OutboxMessage(  # not a reminder: an order's message
        key="confirmation", kind=MessageKind.ORDER_CONFIRMATION, to_email="e@example.com",
        subject="Thank you", body="…", created_at=left + hour, journey_id=rows["e"]["id"]))
    shop_db.session.commit()
    data = admin_client.get("/admin/api/abandonment").get_json()
    assert (data["abandoned"], data["recovered"]) == (4, 5)
    assert data["reminders"] == {
        "reminded": {"carts": 3, "recovered": 2, "recovery_rate": round(2 / 3, 4)},
        "not_reminded": {"carts": 3, "recovered": 1, "recovery_rate": round(1 / 3, 4)},
        "reminder_delay_seconds": 3600,
    }


def test_the_trend_plots_every_paid_order_the_tiles_count(app, admin_client, shop_db):
    """Orders placed before tracking began (the seeded ones) are in the tiles; the trend
    has them too, day by day, beside the tracked purchases (none of them here)."""
    result = app.test_cli_runner().invoke(args=["seed", "--orders", "30"])
    assert result.exit_code == 0, result.output
    today = utcnow().date()
    for days in (2, 30):  # hourly (a day or two) and daily
        q = f"from={(today - timedelta(days=days - 1)).isoformat()}&to={today.isoformat()}"
        overview = admin_client.get(f"/admin/api/overview?{q}").get_json()
        paid = overview["kpis"]["orders"]
        assert sum(point["orders"] for point in overview["trend"]) == paid
        assert sum(point["revenue"] for point in overview["trend"]) == overview["kpis"]["revenue"]
        # No journey tracked yet: not zero journeys and purchases, none counted
        assert all(point[key] is None for point in overview["trend"]
                   for key in ("journeys", "purchases", "abandoned"))
    assert paid > 0  # the seed's orders were paid over the last weeks
    by_day = shop_db.session.execute(text(
        "SELECT count(*) FROM orders WHERE paid_at IS NOT NULL AND payment_status = 'paid'"
        " AND paid_at >= :start AND paid_at < :end"), {
            "start": datetime.combine(today, datetime.min.time()),
            "end": datetime.combine(today + timedelta(days=1), datetime.min.time())}).scalar()
    assert overview["trend"][-1]["orders"] == by_day

    # The tracker's first journey three days ago: from its day on the journeys are counted
    # (0 where none started), before it they were not
    began = datetime.combine(today - timedelta(days=3), datetime.min.time()) + timedelta(hours=5)
    add_journeys(app, [journey_started(began, "browse", "abandoned")])
    q = f"from={(today - timedelta(days=29)).isoformat()}&to={today.isoformat()}"
    trend = admin_client.get(f"/admin/api/overview?{q}").get_json()["trend"]
    assert [p["journeys"] for p in trend] == [None] * 26 + [1, 0, 0, 0]
    assert [p["purchases"] for p in trend] == [None] * 26 + [0] * 4
    assert sum(p["orders"] for p in trend) == paid  # the shop's throughout


def test_the_overview_compares_each_figure_with_the_stretch_before_it(app, owner):
    """Each tile says how it moved since the period of the same length just before. A
    period under way is compared up to the same point: this afternoon with yesterday until
    this time of day, not with all of yesterday (which would read as a fall every day)."""
    now = datetime(2026, 12, 9, 14, 30)

    started = journey_started
    add_journeys(app, [
        # Yesterday at 13:00, bought at 16:00: as yesterday stood at 14:30, an open cart,
        # not a purchase (today's 13:00 shoppers have not had until 16:00 either)
        started(datetime(2026, 12, 8, 13), "purchase", "purchased",
                entered_purchase_at=datetime(2026, 12, 8, 16)),
        started(datetime(2026, 12, 9, 10), "purchase", "purchased"),  # today
        started(datetime(2026, 12, 9, 12), "cart", "abandoned"),
        started(datetime(2026, 12, 8, 9), "cart", "abandoned"),  # yesterday, before 14:30
        started(datetime(2026, 12, 8, 14), "browse", "abandoned"),
        started(datetime(2026, 12, 8, 20), "purchase", "purchased"),  # yesterday, later on
        started(datetime(2026, 11, 26, 8), "cart", "abandoned"),  # the week before
        started(datetime(2026, 12, 2, 14), "purchase", "purchased"),
        started(datetime(2026, 12, 2, 15), "purchase", "purchased"),  # after 14:30
        started(datetime(2026, 11, 25, 23), "landing", "abandoned"),  # before that week
        started(datetime(2026, 10, 31, 23), "landing", "abandoned"),  # before November's
        started(datetime(2026, 10, 20, 8), "landing", "abandoned"),  # the tracker's first
    ])
    with time_machine.travel(now, tick=False):
        client = app.test_client()
        assert admin_login(client).status_code == 302
        week = client.get("/admin/api/overview/before?from=2026-12-03&to=2026-12-09")
        past = client.get("/admin/api/overview/before?from=2026-11-01&to=2026-11-07")
        first = client.get("/admin/api/overview/before?from=2026-10-20&to=2026-10-26")
        future = client.get("/admin/api/overview/before?from=2026-12-10&to=2026-12-16")
    assert week.status_code == 200, week.get_data(as_text=True)
    before = week.get_json()
    assert before["today"]["tracked"] and before["period"]["tracked"]
    assert before["today"]["compared_with"] == {"from": "2026-12-08", "to": "2026-12-08",
                                                "until": "2026-12-08T14:30"}
    yesterday = before["today"]["kpis"]
    assert yesterday["journeys"] == 3 and yesterday["carts_abandoned"] == 1
    assert yesterday["conversion_rate"] == 0.0 and yesterday["carts_open"] == 1
    assert yesterday["cart_abandonment_rate"] == 1.0  # of the one cart decided by 14:30
    assert before["period"]["compared_with"] == {"from": "2026-11-26", "to": "2026-12-02",
                                                 "until": "2026-12-02T14:30"}
    last_week = before["period"]["kpis"]
    assert last_week["journeys"] == 2 and last_week["conversion_rate"] == 0.5
    assert last_week["cart_abandonment_rate"] == 0.5
    # A period that is over is compared whole, with the days just before it
    assert past.get_json()["period"]["compared_with"] == {"from": "2026-10-25",
                                                          "to": "2026-10-31", "until": None}
    assert past.get_json()["period"]["kpis"]["journeys"] == 1
    # Before the tracker's first journey its figures were not counted: not "up from 0" (the
    # orders, the shop's own, still compare)
    untracked = first.get_json()["period"]
    assert untracked["tracked"] is False and untracked["compared_with"]["from"] == "2026-10-13"
    assert set(untracked["untracked"]) == set(queries.JOURNEY_KPIS) >= {"visitors", "bounce_rate"}
    assert "average_order_value" not in untracked["untracked"]  # the shop's: no orders then
    assert untracked["kpis"]["visitors"] is None and untracked["kpis"]["journeys"] is None
    assert untracked["kpis"]["cart_abandonment_rate"] is None
    assert untracked["kpis"]["orders"] == 0 and untracked["kpis"]["revenue"] == 0
    # A period not begun has nothing to compare (it would read as a fall of 100%)
    assert future.get_json()["period"]["kpis"] is None
    assert future.get_json()["today"]["kpis"]["journeys"] == 3
    with time_machine.travel(now, tick=False):
        refused = client.get("/admin/api/overview/before?from=2026-12-09&to=2026-12-01")
    assert refused.status_code == 400 and "errors" in refused.get_json()
    assert app.test_client().get("/admin/api/overview/before").status_code == 401


def test_each_funnel_step_counts_the_journeys_that_stopped_there(app, admin_client, shop_db):
    """A step's ``dropped`` is the journeys whose furthest stage it is and that ended there,
    the ones "Who stopped at <stage>" lists: not the step before's, not journeys still
    active, not a cart bought later (recovered), not paid orders."""
    recent = timedelta(minutes=5)
    add_journeys(app, [
        *(journey_row("landing", "abandoned", source="newsletter") for _ in range(3)),
        journey_row("landing", "active", seen_ago=recent),
        *(journey_row("browse", "abandoned") for _ in range(2)),
        journey_row("browse", "active", seen_ago=recent),
        *(journey_row("cart", "abandoned") for _ in range(2)),
        journey_row("cart", "recovered"),
        journey_row("checkout", "abandoned"),
        journey_row("checkout", "active", seen_ago=recent),
        journey_row("payment", "abandoned"),
        *(journey_row("purchase", "purchased") for _ in range(2)),
        journey_row("shipped", "purchased"),
        journey_row("delivered", "purchased"),
        journey_row("reviewed", "purchased"),
    ])
    reached = [18, 14, 11, 8, 6, 5, 3, 2, 1]
    stopped = [3, 2, 2, 1, 1, None, None, None, None]

    funnel = admin_client.get("/admin/api/funnel").get_json()
    overview = admin_client.get("/admin/api/overview").get_json()
    for steps in (funnel["steps"], overview["funnel"]):
        assert [s["stage"] for s in steps] == [s.label for s in STAGES]
        assert [s["journeys"] for s in steps] == reached
        assert [s["dropped"] for s in steps] == stopped
    for step in funnel["steps"][:5]:
        listed = admin_client.get(f"/admin/api/funnel/dropped?stage={step['stage']}").get_json()
        assert len(listed["journeys"]) == step["dropped"], step["stage"]
        assert {j["stage"] for j in listed["journeys"]} == {step["stage"]}
    # Of the journeys no longer on their landing page (one still is)
    assert overview["kpis"]["bounce_rate"] == round(stopped[0] / (reached[0] - 1), 4)
    sources = {s["source"]: [step["dropped"] for step in s["steps"]] for s in funnel["by_source"]}
    assert sources == {"newsletter": [3, 0, 0, 0, 0, None], "(unknown)": [0, 2, 2, 1, 1, None]}
    page = admin_client.get("/admin/funnel").get_data(as_text=True)
    assert "Stopped here" in page and ">Dropped<" not in page


def test_shoppers_right_now_are_at_a_shopping_stage_and_seen_this_session(app, admin_client,
                                                                          shop_db):
    """Not the orders waiting for the courier (live at purchase and shipped, as
    ARCHITECTURE.md has it, but not shopping), nor a journey the courier just delivered."""
    add_journeys(app, [
        journey_row("landing", "active", seen_ago=timedelta(minutes=5)),
        journey_row("payment", "active", seen_ago=timedelta(minutes=29)),
        journey_row("cart", "active", seen_ago=timedelta(minutes=40)),  # idle, not yet swept
        journey_row("checkout", "abandoned"),
        journey_row("purchase", "purchased", seen_ago=timedelta(minutes=1)),
        journey_row("shipped", "purchased", seen_ago=timedelta(days=3)),
        journey_row("delivered", "purchased", seen_ago=timedelta(minutes=1)),
    ])
    live = admin_client.get("/admin/api/live").get_json()
    assert {s["stage"]: s["live"] for s in live["stages"]} == {
        "landing": 1, "browse": 0, "cart": 0, "checkout": 0, "payment": 1, "purchase": 1,
        "shipped": 1, "delivered": 0, "reviewed": 0}
    assert (live["shoppers"], live["awaiting_delivery"], live["total"]) == (2, 2, 4)
    assert admin_client.get("/admin/api/overview").get_json()["live"]["shoppers"] == 2
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "data-live-shoppers" in page and "paid orders</span> awaiting delivery" in page
    # A delivered or reviewed journey is never live: no tile that can only read 0.
    tiles = re.findall(r'data-live-stage="(\w+)"', page)
    assert tiles == ["landing", "browse", "cart", "checkout", "payment", "purchase", "shipped"]


def test_explorer_finds_a_guest_by_the_email_of_their_orders(app, admin_client, localstripe,
                                                             flush_journeys, shop_db):
    mug = factories.product("Mug", price=1500, stock=20)
    buyer, again, other = (Shopper(app.test_client(), localstripe) for _ in range(3))
    for guest, email in ((buyer, "Grace.Hopper@Example.com"), (again, "grace.hopper@example.com"),
                         (other, "someone@example.com")):
        guest.client.get(f"/p/{mug.slug}")
        guest.add_to_cart(mug.id)
        guest.to_payment(email=email)
    assert buyer.pay(CARD_OK).get_json()["status"] == "succeeded"  # the other two never pay
    flush_journeys()
    orders = db.session.scalars(select(Order)).all()
    assert len(orders) == 3 and all(o.customer_id is None for o in orders), "guests"

    found = admin_client.get("/admin/api/journeys?q= GRACE.hopper@example.com ").get_json()
    journey_ids = {o.journey_id for o in db.session.scalars(
        select(Order).where(Order.email.ilike("grace.hopper@example.com")))}
    assert len(journey_ids) == 2 and None not in journey_ids
    assert {j["id"] for j in found["journeys"]} == journey_ids
    assert admin_client.get("/admin/api/journeys?q=nobody@example.com").get_json()[
        "journeys"] == []
    # By the order's number, as the panel shows it, or its id with leading zeros.
    paid = next(o for o in orders if o.is_paid)
    for q in (paid.number, paid.number.lower(), f"00{paid.id}"):
        found = admin_client.get("/admin/api/journeys", query_string={"q": q}).get_json()
        assert {j["id"] for j in found["journeys"]} == {paid.journey_id}, q


@pytest.mark.parametrize("q", ["²", "TP-²", "TP-"])
def test_explorer_search_by_digits_no_int_can_read(admin_client, q):
    """str.isdigit() says yes to '²'; int() says no (the search was a 500)."""
    response = admin_client.get("/admin/api/journeys", query_string={"q": q})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.get_json()["journeys"] == []


def test_explorer_timeline_through_delivery_and_review(app, admin_client, localstripe,
                                                       flush_journeys, shop_db):
    shop(app, localstripe, flush_journeys)
    order = db.session.scalar(select(Order))
    headers = csrf_header(admin_client)
    for expected in ("packed", "shipped", "out_for_delivery", "delivered"):
        moved = admin_client.post(f"/admin/api/orders/{order.id}/advance", headers=headers)
        assert moved.status_code == 200 and moved.get_json()["to_status"] == expected
        assert moved.get_json()["actor"] == "admin:owner@example.com"
    refused = admin_client.post(f"/admin/api/orders/{order.id}/advance", headers=headers)
    assert refused.status_code == 409
    assert admin_client.post(f"/admin/api/orders/{order.id}/advance").status_code == 400
    flush_journeys()

    found = admin_client.get(f"/admin/api/journeys?q={order.number}").get_json()
    [journey] = found["journeys"]
    assert journey["id"] == order.journey_id and journey["stage"] == "delivered"
    detail = admin_client.get(f"/admin/api/journeys/{journey['id']}").get_json()
    names = [e["touchpoint"] for e in detail["timeline"]]
    assert names[0] == "landing" and names[-3:] == ["shipped", "out_for_delivery", "delivered"]
    assert "purchase" in names and detail["timeline"][0]["since_previous"] is None
    assert all(e["since_previous"] >= 0 for e in detail["timeline"][1:])
    # The courier's touchpoints are the back office's: they open no session of the shopper
    courier = detail["timeline"][-3:]
    assert [(e["back_office"], e["new_session"]) for e in courier] == [(True, False)] * 3
    assert sum(e["new_session"] for e in detail["timeline"]) == 1, "one visit: one session"
    stages = {s["stage"]: s["at"] for s in detail["journey"]["stages"]}
    assert [s["stage"] for s in detail["journey"]["stages"]][:3] == ["landing", "browse", "cart"]
    assert stages["delivered"] is not None
    visitor = admin_client.get(
        f"/admin/api/visitors/{journey['visitor_id']}/timeline").get_json()
    assert [e["touchpoint"] for e in visitor["timeline"]] == names
    assert admin_client.get("/admin/api/journeys/nope").status_code == 404
    assert admin_client.get("/admin/api/journeys").get_json()["recent"] is True  # no q
    assert admin_client.get(f"/admin/api/journeys?q={'x' * 201}").status_code == 400


def test_orders_and_late_deliveries(app, admin_client, localstripe, flush_journeys, shop_db):
    shop(app, localstripe, flush_journeys)
    order = db.session.scalar(select(Order))
    data = admin_client.get("/admin/api/orders").get_json()
    assert data["counts"]["payment"]["paid"] == 1
    assert data["orders"][0]["can_advance"] is True and data["late"] == []
    with time_machine.travel(utcnow() + timedelta(days=10)):
        late = admin_client.get("/admin/api/orders").get_json()["late"]
    assert late[0]["number"] == order.number and late[0]["days_late"] >= 1
    # Delivered late, after the open one: only lately (30 days), the latest first. Three
    # delivered late a year ago, a month ago less a day, and a week ago.
    with app.app_context():
        today = utcnow().date() + timedelta(days=10)
        made = []
        for ago in (365, 29, 7):
            delivered = datetime.combine(today - timedelta(days=ago), datetime.min.time())
            made.append(Order(
                email=f"late{ago}@example.com", status="paid", payment_status="paid",
                fulfilment_status=FulfilmentStatus.DELIVERED, subtotal=1000, shipping_cost=0,
                total=1000, currency="USD", ship_name="Ada", ship_line1="1 Main St",
                ship_city="Town", ship_postcode="12345", ship_country="US",
                shipping_method="standard", created_at=delivered - timedelta(days=9),
                paid_at=delivered - timedelta(days=9), delivered_at=delivered,
                estimated_delivery=(delivered - timedelta(days=3)).date()))
        db.session.add_all(made)
        db.session.commit()
        numbers = [o.number for o in made]
    with time_machine.travel(utcnow() + timedelta(days=10)):
        late = admin_client.get("/admin/api/orders").get_json()["late"]
    assert [o["number"] for o in late] == [order.number, numbers[2], numbers[1]]
    assert [o["fulfilment_status"] for o in late] == ["unfulfilled", "delivered", "delivered"]
    page = admin_client.get("/admin/orders").get_data(as_text=True)  # works without a script
    assert order.number in page and f'action="/admin/orders/{order.id}/advance"' in page
    assert "Mark packed" in page
    response = admin_client.post(f"/admin/orders/{order.id}/advance",
                                 data={"csrf_token": csrf_token(admin_client)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Order, order.id).fulfilment_status == FulfilmentStatus.PACKED


def test_reviews_rate_and_average(app, admin_client, cli, shop_db):
    """The Reviews page over a period, as the other pages: reviews written in it, orders
    delivered in it and how many of those are reviewed; periods that split a year add up."""
    assert cli("seed", "--orders", "30").exit_code == 0
    today = utcnow().date()
    year = f"from={today - timedelta(days=365)}&to={today}"
    data = admin_client.get(f"/admin/api/reviews?{year}").get_json()
    assert data["period"] == {"from": str(today - timedelta(days=365)), "to": str(today)}
    assert data["delivered_orders"] == 30 and 0 < data["review_rate"] <= 1
    # Named apart from the funnel's Reviewed step (journeys in a period), with its parts.
    assert data["review_rate"] == round(data["reviewed_orders"] / 30, 4)
    middle = today - timedelta(days=90)
    halves = [admin_client.get(f"/admin/api/reviews?{q}").get_json() for q in (
        f"from={today - timedelta(days=365)}&to={middle}",
        f"from={middle + timedelta(days=1)}&to={today}")]
    for key in ("reviews", "delivered_orders", "reviewed_orders"):
        assert sum(h[key] for h in halves) == data[key], key
    assert all(h["delivered_orders"] for h in halves), "the seed spreads over both halves"
    for half in halves:
        first, last = (date.fromisoformat(half["period"][k]) for k in ("from", "to"))
        assert all(first <= datetime.fromisoformat(r["created_at"]).date() <= last
                   for r in half["recent"])
    empty = admin_client.get("/admin/api/reviews?from=2020-01-01&to=2020-01-31").get_json()
    assert (empty["reviews"], empty["average_rating"], empty["delivered_orders"],
            empty["recent"]) == (0, None, 0, [])
    assert admin_client.get("/admin/api/reviews?from=2026-05-01&to=2026-04-01").status_code == 400
    page = admin_client.get("/admin/reviews").get_data(as_text=True)
    assert "Delivered orders reviewed" in page and "Review rate" not in page
    assert "all time" not in page and "data-period" in page
    funnel = admin_client.get("/admin/funnel").get_data(as_text=True)
    assert "journey review rate" in funnel and "Delivered orders reviewed" in funnel
    assert 1 <= data["average_rating"] <= 5
    assert sum(h["reviews"] for h in data["histogram"]) == data["reviews"]
    assert data["recent"][0]["verified"] is True


def test_bad_parameters_get_json_errors(admin_client):
    bad = admin_client.get("/admin/api/overview?from=2026-05-01&to=2026-04-01")
    assert bad.status_code == 400 and "from" in bad.get_json()["errors"]
    assert admin_client.get("/admin/api/funnel/dropped?stage=purchase").status_code == 400
    assert admin_client.get("/admin/api/funnel?from=2020-01-01&to=2026-01-01").status_code == 400


def test_the_panel_is_not_tracked_as_a_shopper(admin_client, touchpoints):
    admin_client.get("/admin/")
    admin_client.get("/admin/api/overview")
    assert touchpoints.names() == []


def test_visitors_are_distinct_people_not_journeys(app, admin_client, shop_db, flush_journeys):
    """One visitor, two journeys (the first bounced): one visitor, two journeys."""
    mug = factories.product("Mug", stock=5)
    shopper = Shopper(app.test_client())
    first = utcnow()
    later = first + timedelta(hours=1)
    with time_machine.travel(first, tick=False) as clock:
        shopper.client.get("/")
        clock.shift(later - first)
        shopper.client.get(f"/p/{mug.slug}")
    flush_journeys()
    # Both days asked for: an hour on may be tomorrow.
    kpis = admin_client.get(f"/admin/api/overview?from={first.date().isoformat()}"
                            f"&to={later.date().isoformat()}").get_json()["kpis"]
    assert (kpis["visitors"], kpis["journeys"]) == (1, 2)


def test_admin_actions_are_recorded_with_who_and_when(app, client, cli, shopper, shop_db):
    start = utcnow().replace(microsecond=0)
    with time_machine.travel(start, tick=False) as clock:
        result = cli("admin", "create-user", "auditor@example.com", input=PASSWORD + "\n")
        assert result.exit_code == 0
        assert admin_login(client, "auditor@example.com", "wrong password").status_code == 401
        assert admin_login(client, "auditor@example.com").status_code == 302
        mug = factories.product("Mug", price=1500, stock=5)
        shopper.add_to_cart(mug.id)
        shopper.to_payment()
        assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"
        order = db.session.scalar(select(Order))
        clock.shift(timedelta(minutes=3))
        moved = client.post(f"/admin/api/orders/{order.id}/advance", headers=csrf_header(client))
        assert moved.status_code == 200
        assert client.post("/admin/logout", data={"csrf_token": csrf_token(client)}
                           ).status_code == 302
        assert admin_login(client, "auditor@example.com").status_code == 302
        entries = client.get("/admin/api/audit").get_json()["entries"]
        page = client.get("/admin/audit").get_data(as_text=True)
    actions = [(e["actor"], e["action"], e["target"]) for e in reversed(entries)]
    assert actions == [
        ("cli", "user_saved", "auditor@example.com"),
        ("auditor@example.com", "login_failed", ""),
        ("auditor@example.com", "login", ""),
        ("auditor@example.com", "order_advanced", order.number),
        ("auditor@example.com", "logout", ""),
        ("auditor@example.com", "login", ""),
    ]
    advanced = next(e for e in entries if e["action"] == "order_advanced")
    assert advanced["detail"] == "unfulfilled -> packed"
    stamp = (start + timedelta(minutes=3)).isoformat(timespec="seconds") + "Z"
    assert advanced["at"] == stamp, "when, to the second"
    assert entries[-1]["at"] == start.isoformat(timespec="seconds") + "Z"
    assert all(e["ip_net"] in (None, "127.0.0.0/24") for e in entries)
    assert "Order moved on" in page and order.number in page and "Sign-in failed" in page
    assert PASSWORD not in page and "wrong password" not in page


def test_todays_trend_ends_at_the_current_hour(app, owner):
    """Hours still to come are not plotted as zeros (a line that falls to nothing at the
    current hour reads as traffic stopping)."""
    now = utcnow().replace(hour=14, minute=30, second=0, microsecond=0)
    today = now.date().isoformat()
    with time_machine.travel(now, tick=False):
        # Signed in at 14:30 too: a session signed later (run after 14:30) is one from the
        # future, which the session's signature refuses.
        client = app.test_client()
        assert admin_login(client).status_code == 302
        overview = client.get(f"/admin/api/overview?from={today}&to={today}").get_json()
    hours = [point["at"] for point in overview["trend"]]
    assert len(hours) == 15  # 00:00 to 14:00
    assert hours[-1].startswith(today) and "14:00" in hours[-1]
    # The hour under way is marked so (its counts are so far), and only that one
    assert [point["partial"] for point in overview["trend"]] == [False] * 14 + [True]

    # A week to yesterday is over: no day of it is partial. A week to today: today is.
    yesterday = (now - timedelta(days=1)).date()
    with time_machine.travel(now, tick=False):
        for last, partial in ((yesterday, False), (now.date(), True)):
            first = (last - timedelta(days=6)).isoformat()
            week = client.get(f"/admin/api/overview?from={first}&to={last.isoformat()}"
                              ).get_json()["trend"]
            assert len(week) == 7 and week[-1]["at"] == last.isoformat()
            assert [p["partial"] for p in week] == [False] * 6 + [partial]


def test_the_explorer_lists_the_latest_journeys_of_a_stage_and_a_status(app, admin_client):
    """"Abandoned at checkout", "purchased": the latest journeys of a furthest stage and a
    status, newest first; a stage or status that does not exist is a 400 that says why."""
    hour = timedelta(hours=1)
    add_journeys(app, [
        journey_row("checkout", "abandoned", seen_ago=3 * hour),
        journey_row("checkout", "abandoned", seen_ago=2 * hour),
        journey_row("checkout", "active", seen_ago=timedelta(minutes=5)),
        journey_row("cart", "abandoned", seen_ago=hour),
        journey_row("purchase", "purchased"),
    ])

    def listed(**filters):
        answer = admin_client.get("/admin/api/journeys", query_string=filters)
        assert answer.status_code == 200, answer.get_json()
        return [(j["stage"], j["status"]) for j in answer.get_json()["journeys"]]

    assert listed(stage="checkout", status="abandoned") == [("checkout", "abandoned")] * 2
    found = admin_client.get("/admin/api/journeys?stage=checkout&status=abandoned").get_json()
    started = [j["started_at"] for j in found["journeys"]]
    assert started == sorted(started, reverse=True)  # the latest first
    assert sorted(listed(stage="checkout")) == [("checkout", "abandoned")] * 2 + [
        ("checkout", "active")]
    assert listed(status="purchased") == [("purchase", "purchased")]
    assert len(listed(stage="", status="")) == 5  # the form's "Any": no filter
    # A pair no journey can be in: none (answered without reading the journeys)
    assert listed(stage="landing", status="purchased") == []
    assert listed(stage="purchase", status="purchased") == [("purchase", "purchased")]
    assert set(queries.STATUS_STAGES) == {"active", "abandoned", "purchased", "recovered"}
    bad = admin_client.get("/admin/api/journeys?stage=basket")
    assert bad.status_code == 400 and "stage" in bad.get_json()["errors"]
    assert admin_client.get("/admin/api/journeys?status=lost").status_code == 400


def test_abandoned_means_the_same_on_every_page_and_recovered_is_beside_it(app, admin_client,
                                                                          shop_db):
    """A cart bought later is recovered, not abandoned: the Abandonment page, the funnel's
    "stopped here", the overview's abandonment rate and its trend count the same journeys,
    and the recovered cart is shown beside them (not in them)."""
    add_journeys(app, [
        *(journey_row("cart", "abandoned") for _ in range(3)),
        journey_row("cart", "recovered"),
        *(journey_row("checkout", "abandoned") for _ in range(2)),
        journey_row("checkout", "recovered"),
        journey_row("payment", "abandoned"),
        journey_row("purchase", "purchased"),
    ])
    abandonment = admin_client.get("/admin/api/abandonment").get_json()
    overview = admin_client.get("/admin/api/overview").get_json()
    stopped = {s["stage"]: s["dropped"] for s in overview["funnel"]}

    assert abandonment["abandoned"] == 6 and abandonment["recovered"] == 2
    assert abandonment["by_stage"] == [
        {"stage": "cart", "journeys": 3, "recovered": 1},
        {"stage": "checkout", "journeys": 2, "recovered": 1},
        {"stage": "payment", "journeys": 1, "recovered": 0}]
    for row in abandonment["by_stage"]:
        assert row["journeys"] == stopped[row["stage"]], row
    assert sum(s["journeys"] for s in abandonment["by_step"]) == 6
    assert len(abandonment["journeys"]) == 6
    assert {j["status"] for j in abandonment["journeys"]} == {"abandoned"}
    assert abandonment["recovery_rate"] == 0.25  # 2 of the 8 carts left were bought later
    assert sum(p["abandoned"] or 0 for p in overview["trend"]) == 6
    # 9 journeys reached the cart: 6 abandoned (the 2 recovered and the purchase are not).
    assert overview["kpis"]["cart_abandonment_rate"] == round(6 / 9, 4)
    assert overview["kpis"]["checkout_abandonment_rate"] == round(3 / 5, 4)


def test_orders_and_revenue_are_all_paid_orders_and_say_how_many_were_tracked(
        app, admin_client, cli, localstripe, flush_journeys, shop_db):
    """Orders, revenue and AOV are the books' (every paid order: seeded, placed before
    tracking, Do-Not-Track); beside them, how many of those orders were in a tracked journey,
    the ones the funnel's Purchase counts; AOV is revenue over the same orders."""
    assert cli("seed", "--orders", "12").exit_code == 0  # paid 8 to 180 days ago, no journey
    shop(app, localstripe, flush_journeys)  # one tracked purchase today, $30
    today = utcnow().date()
    period = f"from={(today - timedelta(days=200)).isoformat()}&to={today.isoformat()}"
    overview = admin_client.get(f"/admin/api/overview?{period}").get_json()
    kpis = overview["kpis"]
    paid = db.session.scalars(select(Order).where(Order.paid_at.is_not(None))).all()
    assert kpis["orders"] == len(paid) == 13
    assert kpis["revenue"] == sum(o.total for o in paid)
    assert kpis["tracked_orders"] == 1 and kpis["tracked_revenue"] == 3000
    assert kpis["average_order_value"] == kpis["revenue"] // kpis["orders"]
    purchase = next(s for s in overview["funnel"] if s["stage"] == "purchase")
    assert purchase["journeys"] == kpis["tracked_orders"]
    assert overview["today"]["orders"] == overview["today"]["tracked_orders"] == 1
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "Orders, all paid" in page and 'data-kpi-note="tracked_orders"' in page
    assert "Revenue, all paid" in page


def test_orders_advanced_with_the_admin_command_are_in_the_audit_log(app, admin_client, cli,
                                                                     shopper, shop_db,
                                                                     monkeypatch):
    """/admin/audit lists changes made "in this panel or with the admin command"."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    mug = factories.product("Mug", price=1500, stock=5)
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"
    order = db.session.scalar(select(Order))
    first = cli("orders", "advance", order.number)
    assert first.exit_code == 0
    # No store metrics directory here: the command says its counts end with it
    assert "Note: this is counted in this command's journey_stage_entered_total" in first.output
    assert cli("orders", "advance", str(order.id), "--actor", "ada").exit_code == 0
    assert cli("orders", "advance", "TP-999999").exit_code != 0  # nothing changed: no entry
    entries = admin_client.get("/admin/api/audit").get_json()["entries"]
    moved = [(e["actor"], e["action"], e["target"], e["detail"]) for e in reversed(entries)
             if e["action"] == "order_advanced"]
    assert moved == [("cli", "order_advanced", order.number, "unfulfilled -> packed"),
                     ("ada", "order_advanced", order.number, "packed -> shipped")]
    page = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "Order moved on" in page and "ada" in page


@pytest.fixture
def live_panel(app, shop_db):
    """The app on a loopback port, for the simulator's courier (it speaks HTTP)."""
    import threading

    from werkzeug.serving import make_server

    from .support import free_port

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def test_the_simulated_courier_signs_in_once_and_again_only_when_rejected(
        app, live_panel, localstripe, shop_db):
    import random

    from checkout.simulator import JourneyTruth, ShopperResult, SimulationConfig, Trickle

    create_user("courier@example.com", PASSWORD)
    mug = factories.product("Mug", price=1500, stock=20)
    buyer = Shopper(app.test_client(), localstripe)
    for _ in range(3):
        buyer.add_to_cart(mug.id)
        buyer.to_payment()
        assert buyer.pay(CARD_OK).get_json()["status"] == "succeeded"
    orders = db.session.scalars(select(Order).order_by(Order.id)).all()
    trickle = Trickle(SimulationConfig(base_url=live_panel, admin_email="courier@example.com",
                                       admin_password=PASSWORD, review_rate=0.0), rate=0)
    trickle._pending = [(ShopperResult("p", "desktop"), JourneyTruth(purchased=True,
                                                                     order_id=o.id))
                        for o in orders]
    rng = random.Random(1)

    def logins() -> int:
        return sum(1 for e in audit_entries() if e["action"] == "login")

    def audit_entries():
        from admin import audit
        db.session.expire_all()
        return audit.recent()

    trickle._courier_round(rng)
    trickle._courier_round(rng)
    assert logins() == 1, "one session for every round"
    # The owner signs the courier out everywhere: the next round signs in once more.
    db.session.execute(AdminUser.__table__.update()
                       .where(AdminUser.email == "courier@example.com")
                       .values(session_version=AdminUser.session_version + 1))
    db.session.commit()
    trickle._courier_round(rng)
    trickle._courier_round(rng)
    assert logins() == 2
    db.session.expire_all()
    assert {o.fulfilment_status for o in db.session.scalars(select(Order))} == {
        FulfilmentStatus.DELIVERED}
    assert trickle.simulation.courier_errors == [] and trickle._pending == []


def add_events(app, journey: dict, events: list[tuple[str, dict]]) -> None:
    """``journey``'s touchpoints, a minute apart, ending at its last_seen_at."""
    at = journey["last_seen_at"] - timedelta(minutes=len(events))
    with app.extensions["journey"].engine.begin() as conn:
        conn.execute(insert(journey_events), [
            {"event_id": uuid.uuid4().hex, "journey_id": journey["id"],
             "visitor_id": journey["visitor_id"], "session_id": "s1", "touchpoint": name,
             "stage": None, "occurred_at": at + timedelta(minutes=i + 1), "props": props}
            for i, (name, props) in enumerate(events)])


def test_abandoned_journeys_say_which_checkout_step_they_left_at(app, admin_client, shop_db):
    """Not event names: checkout_address fires when the address is submitted, so its
    shopper left at delivery; a page or product viewed on the way counts at the step the
    shopper was on (a page_view of a step's page is that step)."""
    def left(stage, last, events=()):
        row = {**journey_row(stage, "abandoned"), "last_touchpoint": last}
        return row, list(events)

    page = "page_view"
    cases = [
        left("cart", "cart_view"),
        left("cart", "product_view", [("add_to_cart", {"product_id": "1"}),
                                      ("product_view", {"product_id": "2"})]),
        left("checkout", "checkout_start"),
        left("checkout", page, [("checkout_start", {}),
                                (page, {"endpoint": "checkout.address"})]),
        left("checkout", "checkout_address"),
        left("checkout", "product_view", [("checkout_address", {}),
                                          (page, {"endpoint": "checkout.shipping_step"}),
                                          ("product_view", {"product_id": "2"})]),
        left("checkout", "checkout_shipping"),
        left("payment", "payment_failed"),
        left("payment", page, [("payment_failed", {"code": "card_declined"}),
                               (page, {"endpoint": "checkout.payment"})]),
        left("payment", "payment_requires_action"),
    ]
    add_journeys(app, [row for row, _ in cases])
    for row, events in cases:
        if events:
            add_events(app, row, events)

    abandonment = admin_client.get("/admin/api/abandonment").get_json()
    assert [(s["label"], s["journeys"]) for s in abandonment["left_at"]] == [
        ("Left at the cart", 2), ("Left at the address step", 2), ("Left at delivery", 2),
        ("Left at the payment page", 1), ("Left after sending the card", 0),
        ("Left at 3-D Secure", 1), ("Card declined", 2)]
    assert [s["step"] for s in abandonment["left_at"]][:4] == [
        "cart", "address", "delivery", "payment_page"]
    # by_step stays as it was (stage, last touchpoint), for API clients that read it.
    assert sum(s["journeys"] for s in abandonment["by_step"]) == 10
    assert {"stage", "last_touchpoint", "journeys"} == set(abandonment["by_step"][0])
    by_id = {j["id"]: j for j in abandonment["journeys"]}
    assert by_id[cases[4][0]["id"]]["left_at_label"] == "Left at delivery"
    assert by_id[cases[5][0]["id"]]["left_at"] == "delivery"
    assert by_id[cases[8][0]["id"]]["left_at_label"] == "Card declined"
    dropped = admin_client.get("/admin/api/funnel/dropped?stage=checkout").get_json()
    assert {j["left_at"] for j in dropped["journeys"]} == {"address", "delivery",
                                                         "payment_page"}
    page_html = admin_client.get("/admin/abandonment").get_data(as_text=True)
    assert "Left at" in page_html and "Last touchpoint" not in page_html


def test_abandoned_carts_and_journeys_say_who_the_shopper_is(app, admin_client, localstripe,
                                                             flush_journeys, shop_db):
    """As Shopify's abandoned checkouts do: a guest who typed an email at checkout is named
    by it (and the name on the address), a signed-in shopper by their account; a journey's
    order is linked to the Orders page; nobody's email reaches /metrics."""
    mug = factories.product("Mug", price=1500, stock=20)
    guest, member, stranger = (Shopper(app.test_client(), localstripe) for _ in range(3))
    guest.client.get(f"/p/{mug.slug}")
    guest.add_to_cart(mug.id)
    guest.to_payment(email="grace@example.com", name="Grace Hopper")  # leaves at payment
    member.signup("ada@example.com", name="Ada Lovelace")
    member.client.get(f"/p/{mug.slug}")
    member.add_to_cart(mug.id)
    stranger.client.get(f"/p/{mug.slug}")
    stranger.add_to_cart(mug.id)  # typed nothing: no one to name
    typist = Shopper(app.test_client(), localstripe)  # leaves at delivery: no order yet
    typist.client.get(f"/p/{mug.slug}")
    typist.add_to_cart(mug.id)
    assert typist.address(email="Alan@Example.com", name="Alan Turing").status_code == 302
    flush_journeys()
    swept_at = utcnow() + timedelta(hours=2)
    app.extensions["journey"].sweep(swept_at)

    abandonment = admin_client.get(
        f"/admin/api/abandonment?to={swept_at.date().isoformat()}").get_json()
    people = {(j["name"], j["email"]) for j in abandonment["journeys"]}
    assert people == {("Grace Hopper", "grace@example.com"), ("Ada Lovelace", "ada@example.com"),
                      ("Alan Turing", "Alan@Example.com"), (None, None)}
    [typed] = [j for j in abandonment["journeys"] if j["name"] == "Alan Turing"]
    assert typed["order_id"] is None and typed["left_at"] == "delivery"
    found = admin_client.get("/admin/api/journeys?q=alan@example.com").get_json()
    assert [j["id"] for j in found["journeys"]] == [typed["id"]]
    order = db.session.scalar(select(Order).where(Order.email == "grace@example.com"))
    [left] = [j for j in abandonment["journeys"] if j["email"] == "grace@example.com"]
    assert left["order_id"] == order.id and left["order_number"] == order.number

    detail = admin_client.get(f"/admin/api/journeys/{order.journey_id}").get_json()["journey"]
    assert (detail["email"], detail["name"], detail["order_number"]) == (
        "grace@example.com", "Grace Hopper", order.number)
    found = admin_client.get("/admin/api/journeys?q=grace@example.com").get_json()
    assert [j["email"] for j in found["journeys"]] == ["grace@example.com"]
    # The order link: the Orders page with that one order.
    one = admin_client.get(f"/admin/api/orders?order={order.id}").get_json()
    assert [o["number"] for o in one["orders"]] == [order.number]
    page = admin_client.get(f"/admin/orders?order={order.number}").get_data(as_text=True)
    assert f"Order {order.number}" in page and page.count('class="order"') == 1
    metrics = app.test_client().get("/metrics")
    assert metrics.status_code == 200 and "@example.com" not in metrics.get_data(as_text=True)


def test_every_abandoned_cart_of_the_period_downloads_as_csv(app, admin_client, localstripe,
                                                             flush_journeys, shop_db,
                                                             monkeypatch):
    """The page lists the latest 50; the owner following up wants them all, in a spreadsheet:
    who (a formula typed as a name stays text), the cart, its value, the step; read in
    batches past the ties of one sweep's abandoned_at; audited, since it holds emails."""
    mug = factories.product("Mug", price=1500, stock=50)
    typed = {"grace@example.com": "Grace Hopper", "eve@example.com": '=HYPERLINK("http://x")',
             "mallory@example.com": "Mallory;=1+1"}
    for n in range(5):
        guest = Shopper(app.test_client(), localstripe)
        guest.client.get(f"/p/{mug.slug}")
        guest.add_to_cart(mug.id, quantity=n + 1)
        if n < len(typed):
            email = list(typed)[n]
            assert guest.address(email=email, name=typed[email]).status_code == 302
    flush_journeys()
    swept_at = utcnow() + timedelta(hours=2)
    app.extensions["journey"].sweep(swept_at)
    query = f"from={swept_at.date()}&to={swept_at.date()}"

    response = admin_client.get(f"/admin/abandonment.csv?{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="abandoned-{swept_at.date()}-to-{swept_at.date()}.csv"')
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    listed = admin_client.get(f"/admin/api/abandonment?{query}").get_json()
    assert len(rows) == listed["abandoned"] == 5
    assert {r["journey_id"] for r in rows} == {j["id"] for j in listed["journeys"]}
    by_email = {r["email"]: r for r in rows}
    assert by_email["grace@example.com"]["name"] == "Grace Hopper"
    assert by_email["grace@example.com"]["left_at"] == "Left at delivery"
    assert all(r["last_seen_at_utc"] < r["abandoned_at_utc"] for r in rows)
    assert by_email["eve@example.com"]["name"] == '\'=HYPERLINK("http://x")'
    # Every cell quoted: split on ";" (Excel's separator in much of Europe), no cell
    # starts at the "=" inside a value.
    assert by_email["mallory@example.com"]["name"] == "Mallory;'=1+1"
    for separator in (";", "\t", ","):
        cells = [cell.strip('" ') for line in text.splitlines() for cell in line.split(separator)]
        assert not any(cell.startswith(("=", "+", "@")) for cell in cells), separator
    assert sorted(r["cart"] for r in rows) == [f"{n} x Mug" for n in range(1, 6)]
    assert sorted(r["cart_value"] for r in rows) == ["15.00", "30.00", "45.00", "60.00", "75.00"]
    assert {r["currency"] for r in rows} == {"USD"}
    assert {r["stage"] for r in rows} == {"cart", "checkout"}
    assert all(r["journey_url"].endswith(f"/admin/journeys?journey={r['journey_id']}")
               for r in rows)
    # Batches of two, past the five journeys swept at one instant: each once, newest first.
    with app.test_request_context():
        period = queries.Period.days(swept_at.date(), swept_at.date())
        batched = [j["id"] for j in queries.abandoned_journeys(period, batch=2)]
        assert sorted(batched) == sorted(r["journey_id"] for r in rows)
        assert len(set(batched)) == 5
        first_three = queries.abandoned_journeys(period, batch=2, limit=3)
        assert [j["id"] for j in first_three] == batched[:3]
        queries.close_connection()
    entry = admin_client.get("/admin/api/audit?action=abandoned_exported").get_json()
    assert [(e["actor"], e["target"], e["detail"]) for e in entry["entries"]] == [
        ("owner@example.com", f"{swept_at.date()} to {swept_at.date()}", "5 of 5 journeys")]
    # More than the limit: the latest, and the file's name says so.
    monkeypatch.setattr(queries, "EXPORT_LIMIT", 3)
    latest = admin_client.get(f"/admin/abandonment.csv?{query}")
    assert latest.headers["Content-Disposition"] == (
        f'attachment; filename="abandoned-{swept_at.date()}-to-{swept_at.date()}'
        f'-latest-3-of-5.csv"')
    latest_rows = list(csv.DictReader(io.StringIO(latest.get_data().decode("utf-8-sig"))))
    assert [r["journey_id"] for r in latest_rows] == [r["journey_id"] for r in rows][:3]
    # Another site's link: the page, not a download nor an audit entry.
    lured = admin_client.get(f"/admin/abandonment.csv?{query}",
                             headers={"Sec-Fetch-Site": "cross-site"})
    assert lured.status_code == 302
    assert lured.headers["Location"] == f"/admin/abandonment?{query}"
    entries = admin_client.get("/admin/api/audit?action=abandoned_exported").get_json()
    assert len(entries["entries"]) == 2
    assert app.test_client().get(f"/admin/abandonment.csv?{query}").status_code == 302
    page = admin_client.get("/admin/abandonment").get_data(as_text=True)
    assert 'href="/admin/abandonment.csv"' in page


def test_a_guest_who_changes_their_email_after_the_order_is_named_by_the_new_one(
        app, admin_client, localstripe, flush_journeys, shop_db):
    """Placing the order takes the contact over; going back and typing another email keeps
    that one, and it is the one to follow up, beside the order's number."""
    mug = factories.product("Mug", price=1500, stock=20)
    guest = Shopper(app.test_client(), localstripe)
    guest.client.get(f"/p/{mug.slug}")
    guest.add_to_cart(mug.id)
    guest.to_payment(email="typo@exmaple.com", name="Grace Hopper")
    assert guest.address(email="grace@example.com", name="Grace Hopper").status_code == 302
    flush_journeys()
    swept_at = utcnow() + timedelta(hours=2)
    app.extensions["journey"].sweep(swept_at)
    listed = admin_client.get(
        f"/admin/api/abandonment?to={swept_at.date().isoformat()}").get_json()["journeys"]
    order = db.session.scalar(select(Order))
    assert order.email == "typo@exmaple.com"
    assert [(j["email"], j["order_number"]) for j in listed] == [
        ("grace@example.com", order.number)]


def test_a_contact_not_kept_is_logged_without_the_email(app, localstripe, caplog, shop_db,
                                                         backend):
    """The store goes on to delivery when the contact cannot be kept, and its log line
    (the engine hides statement values) names no shopper."""
    if backend == "postgresql":
        pytest.skip("drops a table: the PostgreSQL database is shared by the run")
    db.session.execute(text("DROP TABLE checkout_contacts"))
    db.session.commit()
    mug = factories.product("Mug", price=1500, stock=20)
    guest = Shopper(app.test_client(), localstripe)
    guest.client.get(f"/p/{mug.slug}")
    guest.add_to_cart(mug.id)
    with caplog.at_level("WARNING"):
        response = guest.address(email="grace@example.com", name="Grace Hopper")
    assert response.status_code == 302 and response.headers["Location"].endswith("/shipping")
    assert "contact was not kept: OperationalError" in caplog.text
    assert "grace@example.com" not in caplog.text and "Grace Hopper" not in caplog.text


def test_explorer_lists_the_latest_journeys_before_any_search(app, admin_client, shop_db):
    """As PostHog's person list opens: no query lists the 20 journeys started last, with
    their stage, status, source and last seen, instead of nothing (or a 400)."""
    rows = [journey_row("browse", "abandoned", seen_ago=timedelta(hours=h), source=f"s{h}")
            for h in range(1, 26)]
    add_journeys(app, rows)
    for query in ("", "?q=", "?q=%20"):
        response = admin_client.get(f"/admin/api/journeys{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        found = response.get_json()
        assert found["recent"] is True and len(found["journeys"]) == 20
        assert [j["source"] for j in found["journeys"]] == [f"s{h}" for h in range(1, 21)]
        assert {"stage", "status", "source", "last_seen_at"} <= set(found["journeys"][0])


def test_timeline_names_the_products_its_touchpoints_are_about(app, admin_client, localstripe,
                                                                flush_journeys, shop_db):
    """product_id 7 is no help to an owner: each such touchpoint carries the product's
    title and shop page."""
    mug, _pen = shop(app, localstripe, flush_journeys)
    order = db.session.scalar(select(Order))
    detail = admin_client.get(f"/admin/api/journeys/{order.journey_id}").get_json()
    viewed = [e for e in detail["timeline"] if e["touchpoint"] in ("product_view",
                                                                   "add_to_cart")]
    assert len(viewed) == 2
    for event in viewed:
        assert event["props"]["product_id"] == str(mug.id)  # as it was recorded
        assert event["product"] == {"id": mug.id, "title": "Mug", "url": f"/p/{mug.slug}"}
    assert all("product" not in e for e in detail["timeline"] if "product_id" not in e["props"])


def test_the_audit_log_pages_and_filters_by_who_and_what(app, admin_client, shop_db):
    """A courier's sign-ins must not push the owner's actions out of reach: the log pages
    back (200 a page) and filters by who and by what, in the JSON and on the page."""
    from admin import audit
    from admin.models import AdminAction

    with app.app_context():
        for _ in range(205):
            audit.record("login", "courier@example.com")
        audit.record("order_advanced", "owner@example.com", target="TP-000001",
                      detail="unfulfilled -> packed")
        db.session.commit()
    first = admin_client.get("/admin/api/audit").get_json()
    assert len(first["entries"]) == 200 and first["older"] == first["entries"][-1]["id"]
    rest = admin_client.get(f"/admin/api/audit?before={first['older']}").get_json()
    total = db.session.scalar(select(db.func.count()).select_from(AdminAction))
    assert len(first["entries"]) + len(rest["entries"]) == total and rest["older"] is None
    assert {e["id"] for e in first["entries"]}.isdisjoint(e["id"] for e in rest["entries"])
    owner = admin_client.get("/admin/api/audit?action=order_advanced").get_json()["entries"]
    assert [(e["actor"], e["target"]) for e in owner] == [("owner@example.com", "TP-000001")]
    courier = admin_client.get("/admin/api/audit?actor=courier@example.com").get_json()
    assert {e["actor"] for e in courier["entries"]} == {"courier@example.com"}
    assert admin_client.get("/admin/api/audit?before=x").status_code == 400
    page = admin_client.get("/admin/audit?action=order_advanced").get_data(as_text=True)
    assert "TP-000001" in page and "courier@example.com</td>" not in page
    assert '<option value="order_advanced" selected>Order moved on</option>' in page
    # In the owner's words, the order a link to it
    assert '<td data-label="What">Order moved on</td>' in page
    assert '<td data-label="Detail">Unfulfilled → Packed</td>' in page
    assert '<a href="/admin/orders?order=1">TP-000001</a>' in page
    paged = admin_client.get("/admin/audit").get_data(as_text=True)
    assert f'before={first["older"]}' in paged and "Older entries" in paged
    bad = admin_client.get("/admin/audit?before=-3")
    assert bad.status_code == 400 and "That filter or page does not exist" in bad.text
    # A return's entry links to its order's returns; one whose detail names no order, not
    with app.app_context():
        audit.record("return_refunded", "owner@example.com", target="R-000007",
                     detail=f"order TP-000042, $30.00, {audit.items(2)}")
        audit.record("return_declined", "owner@example.com", target="R-000008",
                     detail="1 item")
        db.session.commit()
    returns = admin_client.get("/admin/audit").get_data(as_text=True)
    assert ('<a href="/admin/orders?order=42#returns">R-000007</a>' in returns
            and '<td data-label="Detail">order TP-000042, $30.00, 2 items</td>' in returns)
    assert '<td data-label="Target">R-000008</td>' in returns
    assert [audit.items(n) for n in (0, 1, 2)] == ["0 items", "1 item", "2 items"]


def test_the_owner_cancels_an_order_left_at_3d_secure(app, admin_client, shopper, localstripe,
                                                      shop_db):
    """An order whose shopper never finished 3-D Secure has a Cancel on the orders page:
    its payment is canceled at Stripe (it can no longer charge), the order canceled, and the
    audit log says who did it. What `orders expire` does hourly, at once."""
    import requests

    from checkout.models import OrderStatus
    from tests.support import CARD_3DS

    mug = factories.product("Mug", price=1500, stock=5)
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    body = shopper.pay(CARD_3DS).get_json()
    order = db.session.scalar(select(Order))
    page = admin_client.get("/admin/orders").get_data(as_text=True)
    assert f'action="/admin/orders/{order.id}/cancel"' in page
    headers = csrf_header(admin_client)
    assert admin_client.post(f"/admin/api/orders/{order.id}/cancel").status_code == 400
    done = admin_client.post(f"/admin/api/orders/{order.id}/cancel", headers=headers)
    assert done.status_code == 200 and done.get_json()["canceled"] is True
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.CANCELED
    with pytest.raises(requests.HTTPError):  # Stripe will not complete it now
        localstripe.authenticate(order.payments[0].payment_intent_id, body["client_secret"])
    again = admin_client.post(f"/admin/api/orders/{order.id}/cancel", headers=headers)
    assert again.status_code == 409
    form = admin_client.post(f"/admin/orders/{order.id}/cancel",
                             data={"csrf_token": csrf_token(admin_client)})
    assert form.status_code == 302  # back to the orders page, saying it is not waiting
    entries = admin_client.get("/admin/api/audit?action=order_canceled").get_json()["entries"]
    assert [(e["target"], e["detail"]) for e in entries] == [
        (order.number, "3-D Secure not completed")]
    assert f'action="/admin/orders/{order.id}/cancel"' not in \
        admin_client.get("/admin/orders").get_data(as_text=True)


@pytest.mark.parametrize("email", ["notanemail", "", "a" * 300 + "@example.com"])
def test_create_user_refuses_an_address_the_login_form_would_refuse(app, cli, shop_db, email):
    """Not "ready, log in" for an account no one can sign in to (and not a database error
    for a 300-character address on PostgreSQL)."""
    from admin.models import AdminUser

    result = cli("admin", "create-user", email, input="a-long-password\n")
    assert result.exit_code == 2 and "Invalid value for EMAIL" in result.output
    assert "ready" not in result.output and "Traceback" not in result.output
    assert db.session.scalar(select(func.count()).select_from(AdminUser)) == 0


@pytest.mark.parametrize(("args", "said"), [
    (("orders", "advance", "2147483648"), "is not an order number"),
    (("orders", "advance", "TP-99999999999999"), "is not an order number"),
    (("orders", "remind", "--within", "999999999999"), "--within"),
    (("orders", "expire", "--after", "999999999999"), "--after"),
    (("seed", "--orders", "-5"), "--orders"),
])
def test_commands_refuse_numbers_out_of_range_with_a_usage_error(cli, shop_db, args, said):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert said in result.output and "Traceback" not in result.output


def test_remind_without_store_url_refuses_before_there_is_a_cart_to_remind(app, cli):
    """A timer deployed without STORE_URL fails on its first run, not hours later at the
    first cart it finds."""
    app.testing = False
    try:
        result = cli("orders", "remind")
    finally:
        app.testing = True
    assert result.exit_code == 1 and "STORE_URL is not set" in result.output


def test_forget_and_simulate_say_when_nothing_was_done(cli, shop_db):
    """An erasure of an id nothing is stored under says so (a mistyped id is not "erased");
    an empty id is a usage error. A simulation whose shoppers failed exits 1: a smoke test
    after a deploy can script on it."""
    assert cli("journey", "forget", "").exit_code == 2
    result = cli("journey", "forget", "no-such-visitor")
    assert result.exit_code == 0
    assert "Nothing is stored about visitor no-such-visitor" in result.output
    failed = cli("journey", "simulate", "--shoppers", "1", "--base-url", "http://127.0.0.1:1")
    assert failed.exit_code == 1 and "First errors" in failed.output
