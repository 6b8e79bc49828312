"""What hostile or broken input, a failing database and a fork do to the tracker: a request
is never broken by it, events the database refuses are set aside without taking other
shoppers' events with them, and every lost event is counted once."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import Flask, abort
from sqlalchemy import func, select

from tests.support import PG_ADMIN_URL
from tracking import JourneyTracker
from tracking.config import ConfigError, apply_defaults
from tracking.events import Event, to_epoch
from tracking.metrics import minor_units
from tracking.models import journey_events, journeys
from tracking.spool import Spool, _encode

from .conftest import make_bare_app

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}


def metric(state, name: str, **labels) -> float:
    state.tally.flush()
    value = state.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def events_of(state) -> list[dict]:
    with state.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(journey_events).order_by(journey_events.c.id))]


@pytest.fixture
def lenient(tmp_path):
    """The bare app as in production: invalid input dropped and counted, never raised."""
    app, journey = make_bare_app(f"sqlite:///{tmp_path}/bare.db", JOURNEY_STRICT=False)
    app.testing = False  # the production error handling: an exception is a 500
    yield app, journey, app.extensions["journey"]
    app.extensions["journey"].close()


# -- a request is never broken by the tracker ----------------------------------------------
@pytest.mark.parametrize("value", ["1~a~b~c~0~0~0~~~\u00e9", "x~\u00e9"])
def test_a_visitor_cookie_that_is_not_ascii_is_ignored_not_a_500(lenient, value):
    app, _, state = lenient
    client = app.test_client()
    client.set_cookie(state.cookie_name, value)
    assert client.get("/", headers=BROWSER).status_code == 200
    assert client.post("/checkout", headers=BROWSER).status_code == 200
    # and the browser gets a valid cookie in its place: a new visitor
    assert state.cookie.loads(client.get_cookie(state.cookie_name).value) is not None


def test_a_malformed_referrer_neither_breaks_an_order_nor_loses_the_landing(lenient):
    app, journey, state = lenient
    response = app.test_client().post("/checkout",
                                      headers={**BROWSER, "Referer": "http://[x/"})
    assert response.status_code == 200
    assert response.get_json()["journey"]  # the order still names its journey
    state.writer.flush()
    landing = next(e for e in events_of(state) if e["touchpoint"] == "landing")
    assert landing["props"]["source"] == "direct"


def test_a_request_an_earlier_hook_ends_is_still_counted(tmp_path):
    """CSRFProtect, a size limit or an auth check registered before the tracker ends a
    request in its before_request: the tracker's own hook runs first, so it is counted."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/t.db",
                      JOURNEY_SWEEP_INTERVAL=0, JOURNEY_SPOOL_DIR=str(tmp_path / "spool"))

    @app.before_request
    def refuse():
        abort(400)

    JourneyTracker(app)

    @app.post("/checkout")
    def checkout():
        return "ok"

    client = app.test_client()
    for _ in range(3):
        assert client.post("/checkout").status_code == 400
    state = app.extensions["journey"]
    try:
        assert metric(state, "storefront_http_requests_total", endpoint="checkout",
                      method="POST", status="400") == 3
        assert metric(state, "storefront_http_request_duration_seconds_count",
                      endpoint="checkout", method="POST") == 3
    finally:
        state.close(1)


def test_a_failing_touchpoint_receiver_does_not_drop_the_event(lenient):
    from tracking.events import touchpoint_tracked

    app, journey, state = lenient

    def broken(sender, event):
        raise RuntimeError("the host's receiver")

    touchpoint_tracked.connect(broken)
    try:
        with app.test_request_context("/", headers=BROWSER):
            app.preprocess_request()
            assert journey.track("product_view", product_id="1") is not None
    finally:
        touchpoint_tracked.disconnect(broken)
    state.writer.flush()
    assert [e["touchpoint"] for e in events_of(state)] == ["landing", "product_view"]
    assert metric(state, "tracking_events_dropped_total", reason="error") == 0


def test_a_shopper_at_payment_waits_once_for_a_database_that_does_not_answer(lenient):
    """is_purchased reads the database on the request thread: after one failure, requests
    leave it alone for LOOKUP_PAUSE instead of each waiting out a connect timeout."""
    app, journey, state = lenient
    client = app.test_client()
    client.post("/checkout", headers=BROWSER)  # the cookie says: payment
    reads = []

    def unreachable(journey_id):
        reads.append(journey_id)
        raise OSError("no answer")

    class Engine:  # the tracker's engine, as a database that does not answer sees it
        def connect(self):
            unreachable("connect")

    state._engine, real = Engine(), state.engine
    try:
        for _ in range(3):
            assert client.get("/products/1", headers=BROWSER).status_code == 200
    finally:
        state._engine = real
    assert len(reads) == 1


# -- bad input is refused at the door, with a count ----------------------------------------
@pytest.mark.parametrize("kwargs", [
    {"customer_id": "c" * 65}, {"customer_id": "a\x00b"}, {"order_ref": ""},
    {"order_ref": "o" * 65}, {"journey_id": "j" * 33}, {"visitor_id": "v\x00"},
])
def test_track_refuses_references_its_columns_cannot_hold(lenient, kwargs):
    app, journey, state = lenient
    with app.test_request_context("/", headers=BROWSER):
        app.preprocess_request()
        assert journey.track("order_view", **{"order_ref": "A1", **kwargs}) is None
    assert metric(state, "tracking_events_dropped_total", reason="invalid") == 1


@pytest.mark.parametrize("touchpoint, props", [
    ("search", {"query": "mug\x00"}), ("add_to_cart", {"quantity": 1}),
    ("remove_from_cart", {"quantity": 1}),
])
def test_properties_the_database_or_the_fold_would_refuse_are_invalid(lenient, touchpoint,
                                                                     props):
    app, journey, state = lenient
    with app.test_request_context("/", headers=BROWSER):
        app.preprocess_request()
        assert journey.track(touchpoint, **props) is None
    assert metric(state, "tracking_events_dropped_total", reason="invalid") == 1


def test_a_nul_in_the_landing_url_is_taken_out_and_the_landing_kept(lenient):
    app, journey, state = lenient
    client = app.test_client()
    assert client.get("/?utm_source=x%00y&utm_campaign=a%00b",
                      headers=BROWSER).status_code == 200
    state.writer.flush()
    with state.engine.connect() as conn:
        row = conn.execute(select(journeys.c.source, journeys.c.campaign)).one()
    assert tuple(row) == ("xy", "ab")


def test_identify_on_a_visitors_first_request_stitches_the_customer(lenient):
    app, journey, state = lenient
    client = app.test_client()
    client.post("/login", data={"customer": "c-42"}, headers=BROWSER)
    assert state.cookie.loads(client.get_cookie(state.cookie_name).value).c == "c-42"
    client.get("/products/1", headers=BROWSER)
    state.writer.flush()
    # the landing came before the login: it knew no customer; everything after does
    assert [(e["touchpoint"], e["customer_id"]) for e in events_of(state)] == [
        ("landing", None), ("login", "c-42"), ("product_view", "c-42")]
    with state.engine.connect() as conn:
        assert conn.scalar(select(journeys.c.customer_id)) == "c-42"


def test_an_order_event_in_the_shoppers_request_carries_their_visitor_and_session(lenient):
    app, journey, state = lenient

    @app.post("/pay/<journey_id>")
    def pay(journey_id):
        journey.track("purchase", journey_id=journey_id, order_ref="A1", value=1000,
                      currency="EUR")
        return "paid"

    client = app.test_client()
    journey_id = client.post("/checkout", headers=BROWSER).get_json()["journey"]
    client.post(f"/pay/{journey_id}", headers=BROWSER)
    state.writer.flush()
    rows = events_of(state)
    purchase = next(e for e in rows if e["touchpoint"] == "purchase")
    landing = rows[0]
    assert (purchase["visitor_id"], purchase["session_id"]) == (landing["visitor_id"],
                                                               landing["session_id"])


def test_the_tracker_wants_a_secret_key_to_sign_its_cookie(tmp_path):
    app = Flask(__name__)
    app.config.update(JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/t.db")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        JourneyTracker(app)
    off = Flask(__name__)
    off.config.update(JOURNEY_ENABLED=False)
    JourneyTracker(off)  # a tracker switched off signs nothing


@pytest.mark.parametrize("raw", ["inf", "nan", "-inf"])
def test_seconds_settings_must_be_finite(raw):
    with pytest.raises(ConfigError, match="finite"):
        apply_defaults({}, environ={"JOURNEY_FLUSH_INTERVAL": raw})
    with pytest.raises(ConfigError, match="finite"):
        apply_defaults({}, environ={"JOURNEY_COOKIE_REFRESH": raw})


def test_settings_in_app_config_are_read_as_the_environments_are(tmp_path):
    """Text in app.config is parsed as the environment's is: "false" switches the tracker
    off (a true string, before), "/health" is one exempt prefix (seven one-letter ones,
    "/" among them, before: nothing was tracked)."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/t.db",
                      JOURNEY_ENABLED="false", JOURNEY_EXEMPT_PATHS="/health, /ops/",
                      JOURNEY_BATCH_SIZE="20")
    JourneyTracker(app)
    app.get("/")(lambda: "<h1>Home</h1>")
    assert app.config["JOURNEY_ENABLED"] is False
    assert app.config["JOURNEY_EXEMPT_PATHS"] == ("/health", "/ops/")
    assert app.config["JOURNEY_BATCH_SIZE"] == 20
    # Seconds as code gives them (timedelta(...).total_seconds(), half a second), a set of
    # prefixes, a whole count as a float: taken, as they were before settings were checked
    config = {"JOURNEY_SESSION_TIMEOUT": timedelta(minutes=30).total_seconds(),
              "JOURNEY_SWEEP_INTERVAL": 0.5, "JOURNEY_EXEMPT_PATHS": {"/b", "/a"},
              "JOURNEY_QUEUE_SIZE": 5000.0}
    apply_defaults(config, environ={})
    assert config["JOURNEY_SESSION_TIMEOUT"] == 1800.0 and config["JOURNEY_SWEEP_INTERVAL"] == 0.5
    assert config["JOURNEY_EXEMPT_PATHS"] == ("/a", "/b")
    assert config["JOURNEY_QUEUE_SIZE"] == 5000 and isinstance(config["JOURNEY_QUEUE_SIZE"], int)
    assert not app.test_client().get("/").headers.getlist("Set-Cookie")


@pytest.mark.parametrize(("name", "value", "error"), [
    ("JOURNEY_BATCH_SIZE", "ten", "JOURNEY_BATCH_SIZE='ten' is not valid"),
    ("JOURNEY_BATCH_SIZE", 2.5, "expected a whole number"),
    ("JOURNEY_SESSION_TIMEOUT", -1.5, "expected a number, not negative"),
    ("JOURNEY_QUEUE_SIZE", -1, "expected a whole number, not negative"),
    ("JOURNEY_FLUSH_INTERVAL", float("nan"), "expected a number"),
    ("JOURNEY_ENABLED", 1, "expected true or false"),
    ("JOURNEY_STRICT", "maybe", "expected true or false"),
    ("JOURNEY_EXEMPT_PATHS", ["/ok", 3], "expected a list of path prefixes"),
    ("JOURNEY_COOKIE_NAME", None, "expected text"),
    ("JOURNEY_HTTP_BUCKETS", 0.3, "expected a list of increasing numbers"),
    ("JOURNEY_HTTP_BUCKETS", [0.1, "x"], "each bound a number of seconds above 0"),
    ("JOURNEY_HTTP_BUCKETS", [0.5, 0.1], "the bounds must increase"),
    ("JOURNEY_HTTP_BUCKETS", [], "at least one bound"),
    ("JOURNEY_HTTP_BUCKETS", "0.1,0.1", "the bounds must increase"),
])
def test_a_setting_of_the_wrong_type_in_app_config_is_an_error_at_init(name, value, error):
    with pytest.raises(ConfigError, match=error):
        apply_defaults({name: value}, environ={})


@pytest.mark.parametrize(("raw", "error"), [
    ("0.3,0.1", "the bounds must increase"), ("0,1", "above 0"), ("0.1,inf", "finite"),
    ("", "at least one bound"), (",".join(str(n) for n in range(1, 32)), "at most 30"),
    ("0.1;0.3", "could not convert"),
])
def test_latency_buckets_from_the_environment_are_checked(raw, error):
    with pytest.raises(ConfigError, match=f"JOURNEY_HTTP_BUCKETS=.* is not valid: .*{error}"):
        apply_defaults({}, environ={"JOURNEY_HTTP_BUCKETS": raw})
    config = {}
    apply_defaults(config, environ={"JOURNEY_HTTP_BUCKETS": " 0.05, 0.3,1 , 2"})
    assert config["JOURNEY_HTTP_BUCKETS"] == (0.05, 0.3, 1.0, 2.0)
    config = {"JOURNEY_HTTP_BUCKETS": [0.1, 1]}  # a list in code: the same, as a tuple
    apply_defaults(config, environ={})
    assert config["JOURNEY_HTTP_BUCKETS"] == (0.1, 1.0)


def test_an_aware_time_is_read_in_its_own_zone():
    at = datetime(2026, 12, 7, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert to_epoch(at) == datetime(2026, 12, 7, 10, 0, tzinfo=UTC).timestamp()
    assert to_epoch(datetime(2026, 12, 7, 10, 0)) == to_epoch(at)


def test_revenue_is_counted_in_each_currencys_own_major_unit(lenient):
    app, journey, state = lenient
    assert (minor_units("USD"), minor_units("JPY"), minor_units("KWD")) == (100, 1, 1000)
    with app.app_context():
        journey.track("purchase", journey_id="j1", order_ref="A1", value=1500, currency="JPY")
        journey.track("purchase", journey_id="j2", order_ref="A2", value=1500, currency="KWD")
        journey.track("purchase", journey_id="j3", order_ref="A3", value=1500, currency="EUR")
    assert metric(state, "storefront_revenue_total", currency="JPY") == 1500
    assert metric(state, "storefront_revenue_total", currency="KWD") == 1.5
    assert metric(state, "storefront_revenue_total", currency="EUR") == 15


# -- events the database refuses -----------------------------------------------------------
def shopper_events(n: int) -> list[Event]:
    now = time.time()
    return [Event(None, "page_view", None, None, {"endpoint": "home"}, f"j{i:031d}",
                  f"v{i:031d}", f"s{i:031d}", stored=True, at=now + i, started=now)
            for i in range(n)]


def test_an_event_the_database_refuses_is_set_aside_and_the_rest_written(lenient):
    """A malformed event (here, props json cannot encode: as a replayed spool line might
    carry) among other shoppers' events: the batch is halved until the event is found; the
    others are stored, it is kept in the spool's refused file, counted once."""
    app, journey, state = lenient
    batch = shopper_events(9)
    bad = Event(None, "page_view", None, None, {"endpoint": {1, 2}}, "j" * 32, "v" * 32,
                "s" * 32, stored=True, at=time.time())
    batch.insert(5, bad)
    for event in batch:
        state.writer.enqueue(event)
    state.writer.flush()
    assert len(events_of(state)) == 9
    assert metric(state, "tracking_events_dropped_total", reason="refused") == 1
    assert metric(state, "tracking_events_dropped_total", reason="error") == 0
    assert metric(state, "tracking_events_spooled_total") == 0
    assert state.spool.refused() == 1
    assert not state.spool.pending()  # nothing for replay to trip over


def test_requeue_without_the_stores_spool_setting_says_so(tmp_path):
    """The default spool (in instance/) absent: most likely a shell without the store's
    settings, not a store that never set anything aside."""
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/t.db",
                      JOURNEY_SWEEP_INTERVAL=0)
    JourneyTracker(app)
    missing = app.test_cli_runner().invoke(args=["journey", "requeue"])
    assert missing.exit_code == 1
    assert "Run this with the store's JOURNEY_SPOOL_DIR" in missing.output
    app.extensions["journey"].close()
    typo = Flask(__name__, instance_path=str(tmp_path))
    typo.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/t.db",
                       JOURNEY_SWEEP_INTERVAL=0,
                       JOURNEY_SPOOL_DIR=str(tmp_path / "var-lib-touchpont" / "journey-spool"))
    JourneyTracker(typo)
    mistyped = typo.test_cli_runner().invoke(args=["journey", "requeue"])
    assert mistyped.exit_code == 1, "a folder whose parent is not there either: a typo"
    typo.extensions["journey"].close()


def test_refused_events_are_requeued_by_the_command_and_replayed_once_mended(lenient):
    app, journey, state = lenient
    if state.spool.directory.is_dir():
        shutil.rmtree(state.spool.directory)
    # The spool set (JOURNEY_SPOOL_DIR) and never made: nothing was ever set aside there
    empty = app.test_cli_runner().invoke(args=["journey", "requeue"])
    assert empty.exit_code == 0 and "Nothing was ever set aside in" in empty.output
    bad = Event(None, "page_view", None, None, {"endpoint": {1, 2}}, "j" * 32, "v" * 32,
                "s" * 32, stored=True, at=time.time())
    state.writer.enqueue(bad)
    state.writer.flush()
    assert state.spool.refused() == 1
    # mended: the set is gone from the line as stored (sets are written by their str())
    result = app.test_cli_runner().invoke(args=["journey", "requeue"])
    assert result.exit_code == 0 and "Requeued 1 refused events" in result.output
    assert state.spool.refused() == 0
    state.writer.flush()  # the replay: the line stored as text now, {"endpoint": "{1, 2}"}
    assert [e["props"] for e in events_of(state)] == [{"endpoint": "{1, 2}"}]
    assert state.spool.refused() == 0 and not state.spool.pending()


@pytest.fixture
def pg_app(tmp_path):
    import psycopg

    name = f"tp_refused_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    app, journey = make_bare_app(f"{url}/{name}", JOURNEY_STRICT=False,
                                 JOURNEY_SPOOL_DIR=str(tmp_path / "spool"))
    yield app, journey, app.extensions["journey"]
    app.extensions["journey"].close()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_stalled_database_holds_no_page_and_no_scrape(pg_app):
    """A tracker database that stops answering without refusing (a migration's lock, an
    overloaded server): the reads made on request threads (the live-journeys gauge at a
    scrape, customers-also-viewed, the purchased check) give up after READ_TIMEOUT_MS, and
    for LOOKUP_PAUSE no request reads again."""
    import psycopg

    app, journey, state = pg_app
    client = app.test_client()
    for pid in (1, 2):
        client.get(f"/products/{pid}", headers=BROWSER)
    state.writer.flush()
    state.active.invalidate()
    url = state.engine.url.set(drivername="postgresql").render_as_string(False)
    answers = {}

    def pages():
        answers["metrics"] = client.get("/metrics").status_code
        with app.app_context():
            answers["co_viewed"] = journey.co_viewed("1")
            answers["purchased"] = state.is_purchased("j" * 32)

    with psycopg.connect(url) as locker:  # held until the block ends (its commit)
        locker.execute("LOCK TABLE journeys, journey_events IN ACCESS EXCLUSIVE MODE")
        reader = threading.Thread(target=pages)
        reader.start()
        reader.join(30)
        assert not reader.is_alive(), "a request waited for the locked tables"
        assert answers == {"metrics": 200, "co_viewed": [], "purchased": False}
        assert state._lookups_paused_until > time.monotonic(), "and no request reads again"
    state._lookups_paused_until = 0.0
    with app.app_context():
        assert journey.co_viewed("1") == ["2"], "read again once the pause is over"


def test_postgresql_refusing_a_value_loses_no_other_shoppers_events(pg_app):
    """PostgreSQL refuses a NUL in text and a value too long for its column (DataError):
    events that reach the writer that way (a host's own Event, an old spool line) are set
    aside, one by one, and every other event of their batches is stored."""
    app, journey, state = pg_app
    batch = shopper_events(20)
    batch[3].customer_id = "a\x00b"
    batch[14].order_ref = "o" * 80
    for event in batch:
        state.writer.enqueue(event)
    state.writer.flush()
    stored = {e["journey_id"] for e in events_of(state)}
    assert stored == {e.journey_id for i, e in enumerate(batch) if i not in (3, 14)}
    assert metric(state, "tracking_events_dropped_total", reason="refused") == 2
    assert metric(state, "tracking_events_spooled_total") == 0
    assert state.spool.refused() == 2 and not state.spool.pending()


def test_a_nul_in_a_landing_url_loses_nothing_on_postgresql(pg_app):
    app, journey, state = pg_app
    client = app.test_client()
    client.get("/?utm_source=x&utm_campaign=a%00b", headers=BROWSER)
    for _ in range(3):
        app.test_client().get("/products/1", headers=BROWSER)
    state.writer.flush()
    assert len(events_of(state)) == 1 + 3 * 2  # each new visitor's landing and view
    assert metric(state, "tracking_events_dropped_total", reason="refused") == 0


# -- the spool -----------------------------------------------------------------------------
def test_a_replay_that_fails_hands_back_every_file_it_had_not_written(tmp_path):
    for name, journey_id in (("spool-1-a.jsonl", "j1"), ("spool-1-b.jsonl", "j2"),
                             ("spool-1-c.jsonl", "j3")):
        (tmp_path / name).write_text(_encode(Event(touchpoint="page_view", at=1.0,
                                                   journey_id=journey_id, stored=True)) + "\n")
    spool = Spool(tmp_path, 1 << 20, on_dropped=lambda *a: None)
    written, up = [], False

    def write(batch):
        if not up:
            raise ConnectionError("the database is down")
        written.extend(batch)

    logging.disable(logging.WARNING)
    try:
        assert spool.replay(write, 50) == 0
    finally:
        logging.disable(logging.NOTSET)
    assert spool.pending()
    up = True
    assert spool.replay(write, 50) == 3
    assert sorted(e.journey_id for e in written) == ["j1", "j2", "j3"]
    assert not spool.pending() and list(tmp_path.glob("*.jsonl")) == []


def test_a_claim_this_process_left_behind_is_replayed(tmp_path):
    """A claim a replay could not hand back (the rename failed) is still this process's:
    the next replay takes it again."""
    line = _encode(Event(touchpoint="page_view", at=1.0, journey_id="j1", stored=True))
    (tmp_path / f"replaying-{os.getpid()}-spool-1-a.jsonl").write_text(line + "\n")
    spool = Spool(tmp_path, 1 << 20, on_dropped=lambda *a: None)
    assert spool.pending()
    written = []
    assert spool.replay(written.extend, 50) == 1
    assert not spool.pending()


def test_a_batch_neither_written_nor_spooled_is_counted_dropped_once(tmp_path):
    from tracking.writer import EventWriter

    dropped: dict[str, int] = {}

    def count(reason, n):
        dropped[reason] = dropped.get(reason, 0) + n

    spool = Spool(tmp_path, 10, on_dropped=count)  # ten bytes: full at once

    def down(batch):
        raise ConnectionError("the database is down")

    writer = EventWriter(down, None, queue_size=100, batch_size=50, flush_interval=60,
                         sweep_interval=0, on_dropped=count, on_depth=lambda n: None,
                         spool=spool)
    logging.disable(logging.ERROR)
    try:
        for event in shopper_events(3):
            writer.enqueue(event)
        writer.flush(5)
    finally:
        logging.disable(logging.NOTSET)
        writer.stop(1)
    assert dropped == {"spool_full": 3}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_while_the_spool_or_the_active_gauge_is_locked_leaves_the_child_free(
        tmp_path):
    from tracking.metrics import ActiveJourneysCollector

    spool = Spool(tmp_path, 1 << 20, on_dropped=lambda *a: None)
    gauge = ActiveJourneysCollector(dict, 5)
    held, release = threading.Event(), threading.Event()

    def hold():
        with spool._lock, gauge._counts._lock:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: both locks are its own, and free
        free = spool._lock.acquire(timeout=2) and gauge._counts._lock.acquire(timeout=2)
        os._exit(0 if free else 1)
    release.set()
    thread.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_set_aside_respects_the_spool_limit(tmp_path):
    spool = Spool(tmp_path, 100, on_dropped=lambda *a: None)
    assert not spool.set_aside(shopper_events(3))
    assert spool.refused() == 0 and not list(Path(tmp_path).glob("refused-*"))


def test_the_spools_writable_answer_is_kept_a_while_and_then_asked_again(tmp_path, caplog):
    """/readyz and every scrape ask it: kept WRITABLE_TTL seconds, then the disk is asked
    again, so a mended mount reads writable and a lost one unwritable within that time;
    said in the log once when it turns, not at every scrape. Never made by asking."""
    from tracking.spool import WRITABLE_TTL

    blocker = tmp_path / "in-the-way"
    blocker.write_text("a file where the spool's folder should be")
    spool = Spool(blocker / "journey-spool", 1000, on_dropped=lambda *a: None)
    with caplog.at_level("ERROR", logger="tracking.spool"):
        assert spool.writable(now=100.0) is False
        assert spool.writable(now=100.0 + WRITABLE_TTL / 2) is False  # kept: not asked
        blocker.unlink()  # mended
        assert spool.writable(now=100.0 + WRITABLE_TTL / 2) is False  # still the kept answer
        assert spool.writable(now=100.0 + WRITABLE_TTL) is True  # asked again
        assert not (blocker / "journey-spool").exists()  # asking made nothing
        blocker.write_text("in the way again")
        assert spool.writable(now=100.0 + 2 * WRITABLE_TTL) is False
        assert spool.writable(now=100.0 + 3 * WRITABLE_TTL) is False
    said = [r for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(said) == 2, [r.getMessage() for r in said]  # each turn once


def test_an_outage_while_halving_spools_only_what_was_not_handled(tmp_path):
    """A refused event is found and set aside, part of the batch written, then the database
    goes: only the rest is spooled, so the replay neither sets the event aside again (nor
    counts it twice) nor writes the written part again."""
    from tracking.writer import EventWriter, Refused

    dropped: dict[str, int] = {}
    spool = Spool(tmp_path, 1 << 20, on_dropped=lambda reason, n: None)
    written, calls = [], [0]

    def write(batch):
        calls[0] += 1
        if calls[0] == 5:
            raise ConnectionError("the database is gone")
        if any(e.touchpoint == "bad" for e in batch):
            raise Refused("DataError")
        written.extend(e.journey_id for e in batch)

    def count(reason, n):
        dropped[reason] = dropped.get(reason, 0) + n

    writer = EventWriter(write, None, queue_size=100, batch_size=8, flush_interval=60,
                         sweep_interval=0, on_dropped=count, on_depth=lambda n: None,
                         spool=spool)
    batch = [Event(touchpoint="bad" if i == 0 else "page_view", at=1.0 + i,
                   journey_id=f"j{i}", stored=True) for i in range(8)]
    logging.disable(logging.ERROR)
    try:
        # writes: all 8 (refused), 0-3 (refused), 0-1 (refused), 0 (set aside), 1 (gone)
        writer._write_batch(batch)
        assert written == [] and dropped == {"refused": 1}
        spooled = spool.replay(writer._store, 8)
    finally:
        logging.disable(logging.NOTSET)
        writer.stop(1)
    assert spooled == 7 and sorted(written) == [f"j{i}" for i in range(1, 8)]
    assert dropped == {"refused": 1} and spool.refused() == 1


def test_strict_mode_follows_testing_set_after_the_tracker_was_made(tmp_path, caplog):
    """The usual layout: a module-level app and JourneyTracker(app), and a fixture that sets
    TESTING afterwards. Invalid properties raise then, as the README says; before TESTING,
    and with JOURNEY_STRICT=False whatever the mode, they are dropped and logged."""
    from tracking import TrackingError

    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/t.db",
                      JOURNEY_SWEEP_INTERVAL=0)
    journey = JourneyTracker(app)
    bad = {"product_id": "1", "quantity": "2"}
    with app.app_context():
        assert journey.track("add_to_cart", journey_id="j1", **bad) is None
        app.config["TESTING"] = True
        with pytest.raises(TrackingError, match="quantity"):
            journey.track("add_to_cart", journey_id="j1", **bad)
    assert "dropped invalid touchpoint add_to_cart" in caplog.text
    lenient = Flask(__name__)
    lenient.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/u.db",
                          JOURNEY_SWEEP_INTERVAL=0, JOURNEY_STRICT=False, TESTING=True)
    other = JourneyTracker(lenient)
    with lenient.app_context():
        assert other.track("add_to_cart", journey_id="j1", **bad) is None
    app.extensions["journey"].close()
    lenient.extensions["journey"].close()


@pytest.mark.parametrize(("config", "error"), [
    ({"JOURNEY_DATABASE_URL": "postgress://shop:hunter2@127.0.0.1/shop"},
     r"cannot open the database 'postgress://shop:\*\*\*@127.0.0.1/shop'"),
    ({"JOURNEY_DATABASE_URL": "shop.db"}, "cannot open the database 'shop.db'"),
    ({"JOURNEY_DATABASE_URL": "postgresql+psycopg2://shop:hunter2@127.0.0.1/shop"},
     "No module named 'psycopg2'"),
    ({"JOURNEY_DATABASE_URL": "mysql://shop@127.0.0.1/shop"}, "No module named 'MySQLdb'"),
    ({"JOURNEY_DATABASE_URL": "postgresql+asyncpg://shop@127.0.0.1/shop"},
     "an asyncio driver|No module named 'asyncpg'"),
    ({"JOURNEY_COOKIE_NAME": "session"}, "is the app's SESSION_COOKIE_NAME"),
    ({"JOURNEY_COOKIE_NAME": "sid", "SESSION_COOKIE_NAME": "sid"},
     "is the app's SESSION_COOKIE_NAME"),
    ({"JOURNEY_COOKIE_NAME": "remember_token"}, "REMEMBER_COOKIE_NAME"),
    ({"JOURNEY_COOKIE_NAME": "tp visitor"}, "is not a cookie name"),
])
def test_a_tracker_that_could_not_work_refuses_to_start(tmp_path, config, error):
    """A database URL that can never be opened (a misspelt scheme: every event would wait
    in the spool; the password never in the message), or a visitor cookie that would
    replace the session's (every login lost) or break the header."""
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": "x",
                       "JOURNEY_DATABASE_URL": f"sqlite:///{tmp_path}/t.db", **config})
    with pytest.raises(ConfigError, match=error) as caught:
        JourneyTracker(app)
    assert "hunter2" not in str(caught.value)
    assert "journey" not in app.extensions


def test_a_metrics_route_added_after_the_tracker_is_said_at_the_first_request(tmp_path, caplog):
    """prometheus-flask-exporter made after JourneyTracker(app): its /metrics rule comes
    second and never answers. init_app could not see it; the first request does."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/t.db",
                      JOURNEY_SWEEP_INTERVAL=0)
    JourneyTracker(app)
    app.add_url_rule("/metrics", "exporter_metrics", lambda: "the exporter's")
    client = app.test_client()
    assert "journey_stage_entered_total" in client.get("/metrics").text
    client.get("/metrics")
    said = [r.getMessage() for r in caplog.records if "has 2 routes" in r.getMessage()]
    assert said == ["journey: /metrics has 2 routes (journey_metrics, exporter_metrics): only "
                    "the first answers. Set JOURNEY_METRICS_PATH to another path, or to '' "
                    "and serve journey.metrics_view() where you like"]
    app.extensions["journey"].close()


def test_a_metrics_path_the_app_already_has_is_an_error_and_the_view_can_be_mounted(tmp_path):
    """Two rules for /metrics (the host's, prometheus-flask-exporter's): one would never
    answer. Said at start; with JOURNEY_METRICS_PATH="" the host mounts
    journey.metrics_view() where it likes, behind its own check."""
    from flask import abort, request

    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/t.db")
    app.get("/metrics")(lambda: "the host's own")
    with pytest.raises(ConfigError, match=r"/metrics is already the app's '<lambda>'"):
        JourneyTracker(app)

    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/t.db",
                      JOURNEY_METRICS_PATH="")
    journey = JourneyTracker(app)

    def ops_only(view):
        def guarded():
            if request.headers.get("Authorization") != "Bearer ops":
                abort(401)
            return view()
        return guarded

    app.add_url_rule("/ops/metrics", view_func=journey.exempt(ops_only(journey.metrics_view)))
    client = app.test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/ops/metrics").status_code == 401
    answer = client.get("/ops/metrics", headers={"Authorization": "Bearer ops"})
    assert answer.status_code == 200 and "journey_stage_entered_total" in answer.text
    app.extensions["journey"].close()


def test_missing_tables_are_named_once_with_what_to_do(tmp_path, caplog):
    """A tracker whose tables were never made (create_all or migrations forgotten): events
    wait in the spool, and the log says why, once, not "database unavailable" alone."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/empty.db",
                      JOURNEY_SPOOL_DIR=str(tmp_path / "spool"), JOURNEY_SWEEP_INTERVAL=0)
    journey = JourneyTracker(app)
    with app.app_context():
        for i in range(2):
            journey.track("search", journey_id=f"j{i}", query="tea", results=1)
            journey.flush()
    told = [r for r in caplog.records if "tables are not in its database" in r.getMessage()]
    assert len(told) == 1 and "journey.create_all()" in told[0].getMessage()
    state = app.extensions["journey"]
    assert state.registry.get_sample_value("tracking_events_spooled_total") == 2
    with app.app_context():
        journey.create_all()
        journey.flush()
    state.writer._replay(force=True)
    with state.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(journey_events)) == 2, \
            "nothing lost: replayed once the tables are there"
    state.close()


def test_several_workers_without_a_shared_metrics_directory_are_told_once(tmp_path, caplog,
                                                                          monkeypatch):
    """gunicorn with two workers and no PROMETHEUS_MULTIPROC_DIR: each worker's /metrics
    counts its own requests only, and scrapes disagree. Said once (wsgi.multiprocess)."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app, _ = make_bare_app(f"sqlite:///{tmp_path}/t.db")
    client = app.test_client()
    for path in ("/", "/category/tea", "/nowhere"):
        client.get(path, environ_overrides={"wsgi.multiprocess": True})
    said = [r for r in caplog.records if "PROMETHEUS_MULTIPROC_DIR is not set" in r.getMessage()]
    assert len(said) == 1
    one, _ = make_bare_app(f"sqlite:///{tmp_path}/u.db")
    one.test_client().get("/")  # one process (the test client says so): nothing to say
    assert len([r for r in caplog.records
                if "PROMETHEUS_MULTIPROC_DIR is not set" in r.getMessage()]) == 1
    app.extensions["journey"].close()
    one.extensions["journey"].close()
