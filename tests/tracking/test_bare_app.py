"""The tracker on a bare Flask(__name__) app: a whole journey, from landing to review."""

import os
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from tracking import JourneyTracker, TrackingError
from tracking.config import ConfigError, database_url
from tracking.events import Event
from tracking.extension import utcnow
from tracking.models import journey_events, journeys


def rows(app, table, *where):
    state = app.extensions["journey"]
    order = [table.c.occurred_at, table.c.id] if table is journey_events else [table.c.started_at]
    with state.engine.connect() as conn:
        return conn.execute(select(table).where(*where).order_by(*order)).mappings().all()


def test_a_whole_journey_on_a_bare_app(bare, touchpoints):
    app, journey = bare
    client = app.test_client()
    client.get("/?utm_source=news&utm_medium=email&utm_campaign=spring",
               headers={"Referer": "https://mail.example.org/inbox",
                        "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148"})
    client.get("/category/mugs")
    client.get("/products/7")
    client.post("/cart", data={"pid": "7"})
    client.post("/login", data={"customer": "c-42"})
    journey_id = client.post("/checkout").get_json()["journey"]
    with app.app_context():
        journey.track("purchase", journey_id=journey_id, order_ref="A1", value=1000,
                      currency="EUR", items=1)
        journey.track("shipped", journey_id=journey_id, order_ref="A1")
        journey.track("out_for_delivery", journey_id=journey_id, order_ref="A1")
        journey.track("delivered", journey_id=journey_id, order_ref="A1", delivery_seconds=86400)
        journey.track("review_submitted", journey_id=journey_id, order_ref="A1",
                      product_id="7", rating=5)
        journey.flush()
    assert touchpoints.names() == [
        "landing", "category_view", "product_view", "add_to_cart", "login", "checkout_start",
        "checkout_address", "checkout_shipping", "payment_submitted", "purchase", "shipped",
        "out_for_delivery", "delivered", "review_submitted",
    ]
    assert touchpoints.journeys() == [journey_id]
    [row] = rows(app, journeys)
    assert row["id"] == journey_id
    assert row["stage"] == "reviewed" and row["status"] == "purchased"
    assert row["customer_id"] == "c-42" and row["order_ref"] == "A1"
    assert (row["source"], row["medium"], row["campaign"]) == ("news", "email", "spring")
    assert row["referrer_host"] == "mail.example.org" and row["device"] == "mobile"
    assert row["landing_page"] == "/" and row["value"] == 1000 and row["currency"] == "EUR"
    assert row["ip_net"] == "127.0.0.0/24"
    for stage in ("landing", "browse", "cart", "checkout", "payment", "purchase", "shipped",
                  "delivered", "reviewed"):
        assert row[f"entered_{stage}_at"] is not None, stage
    events = rows(app, journey_events)
    assert [e["touchpoint"] for e in events] == touchpoints.names()
    assert len({e["event_id"] for e in events}) == len(events)
    assert events[0]["props"]["source"] == "news"


def test_metrics_on_the_bare_app(bare):
    app, journey = bare
    client = app.test_client()
    client.get("/products/1")
    client.post("/cart", data={"pid": "1"})
    with app.app_context():
        journey.flush()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'journey_touchpoints_total{touchpoint="add_to_cart"} 1.0' in text
    assert 'journey_stage_entered_total{stage="cart"} 1.0' in text
    assert 'journey_stage_entered_total{stage="browse"} 1.0' in text
    assert 'journey_active{stage="cart"} 1.0' in text
    assert 'storefront_http_requests_total{endpoint="product",method="GET",status="200"} 1.0' \
        in text


def test_the_latency_buckets_are_the_ones_configured(tmp_path):
    """A bound at the latency objective (300 ms) reads the share of requests under it
    exactly: the histogram has the configured bounds and +Inf, no others."""
    import re

    from .conftest import make_bare_app

    app, journey = make_bare_app(f"sqlite:///{tmp_path}/b.db", JOURNEY_HTTP_BUCKETS="0.1,0.3,1")
    client = app.test_client()
    for _ in range(3):
        client.get("/products/1")
    text = client.get("/metrics").text
    bounds = re.findall(r'storefront_http_request_duration_seconds_bucket\{endpoint="product",'
                        r'le="([^"]+)",method="GET"\} (\S+)', text)
    assert [le for le, _ in bounds] == ["0.1", "0.3", "1.0", "+Inf"], text
    assert float(bounds[-1][1]) == 3.0
    with app.app_context():
        app.extensions["journey"].close()


def test_a_host_collector_is_read_at_every_scrape(bare):
    """collect_when_scraped: the host's own number on the tracker's /metrics, read when
    scraped (as journey_active is), beside the tracker's own."""
    from prometheus_client.core import GaugeMetricFamily

    app, journey = bare
    low = {"n": 3}

    class LowStock:
        def describe(self):
            return [GaugeMetricFamily("shop_products_low_stock", "Products nearly gone.")]

        def collect(self):
            yield GaugeMetricFamily("shop_products_low_stock", "Products nearly gone.",
                                    value=low["n"])

    journey.collect_when_scraped(LowStock(), app)
    client = app.test_client()
    assert "shop_products_low_stock 3.0" in client.get("/metrics").text
    low["n"] = 1
    text = client.get("/metrics").text
    assert "shop_products_low_stock 1.0" in text and "journey_active{" in text


def test_registering_twice_is_a_clear_error(tmp_path):
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/j.db")
    JourneyTracker(app)
    with pytest.raises(RuntimeError, match="already registered"):
        JourneyTracker().init_app(app)


def test_each_app_has_its_own_registry(tmp_path):
    from .conftest import make_bare_app

    one, _ = make_bare_app(f"sqlite:///{tmp_path}/a.db")
    two, _ = make_bare_app(f"sqlite:///{tmp_path}/b.db")
    assert one.extensions["journey"].registry is not two.extensions["journey"].registry
    one.test_client().get("/products/1")
    assert 'touchpoint="product_view"} 1.0' in one.test_client().get("/metrics").text
    assert 'touchpoint="product_view"} 0.0' in two.test_client().get("/metrics").text


def test_kill_switch(tmp_path, touchpoints):
    from .conftest import make_bare_app

    app, journey = make_bare_app(f"sqlite:///{tmp_path}/k.db", JOURNEY_ENABLED=False)
    client = app.test_client()
    response = client.get("/products/3")
    assert response.status_code == 200
    assert "tp_visitor" not in response.headers.get("Set-Cookie", "")
    assert client.get("/metrics").status_code == 404
    assert touchpoints.names() == []
    with app.app_context():
        assert journey.track("product_view", product_id="1") is None
        assert not app.extensions["journey"].writer.running


def test_unknown_or_invalid_touchpoints_raise_in_strict_mode(bare):
    app, journey = bare
    with app.test_request_context("/"):
        app.preprocess_request()
        with pytest.raises(TrackingError, match="unknown touchpoint 'teleport'"):
            journey.track("teleport")
        with pytest.raises(TrackingError, match="quantity"):
            journey.track("add_to_cart", product_id="1", quantity=-3)


def test_in_production_invalid_touchpoints_are_dropped_and_counted(tmp_path, caplog):
    from .conftest import make_bare_app

    app, journey = make_bare_app(f"sqlite:///{tmp_path}/p.db", TESTING=False)
    app.testing = False

    @app.get("/broken")
    def broken():
        journey.track("add_to_cart", product_id="1", quantity="many")
        journey.track("no_such_touchpoint")
        return "<p>still fine</p>"

    client = app.test_client()
    response = client.get("/broken")
    assert response.status_code == 200 and b"still fine" in response.data
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'tracking_events_dropped_total{reason="invalid"} 2.0' in metrics
    assert "dropped invalid touchpoint add_to_cart" in caplog.text


def test_exempt_views_and_paths_are_not_touchpoints(bare, touchpoints):
    app, _ = bare
    client = app.test_client()
    response = client.get("/health")
    assert "Set-Cookie" not in response.headers
    client.get("/metrics")
    assert touchpoints.names() == []


def test_abandonment_and_recovery(bare):
    app, journey = bare
    shopper = app.test_client()
    shopper.get("/products/2")
    shopper.post("/cart", data={"pid": "2"})
    with app.app_context():
        journey.flush()
        later = utcnow() + timedelta(hours=1)
        assert journey.sweep(now=later) == {"cart": 1}
        assert journey.sweep(now=later) == {}, "abandoned once, never twice"
    [row] = rows(app, journeys)
    assert row["status"] == "abandoned" and row["abandoned_stage"] == "cart"
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'journey_abandoned_total{stage="cart"} 1.0' in metrics


def test_outside_a_request_an_order_or_visitor_reference_finds_the_journey(bare):
    app, journey = bare
    client = app.test_client()
    client.get("/products/9")
    journey_id = client.post("/checkout").get_json()["journey"]  # payment_submitted: order A1
    with app.app_context():
        journey.flush()
        [row] = rows(app, journeys)
        visitor = row["visitor_id"]
        journey.track("purchase", order_ref="A1", value=1000, currency="EUR", items=1)
        journey.track("shipped", visitor_id=visitor, order_ref="A1")
        journey.track("delivered", order_ref="nobody-has-this", delivery_seconds=5)
        journey.flush()
    [row] = rows(app, journeys)
    assert row["id"] == journey_id and row["status"] == "purchased" and row["stage"] == "shipped"
    events = rows(app, journey_events)
    assert [e["touchpoint"] for e in events][-2:] == ["purchase", "shipped"]
    # The order no journey holds is tried again (its journey may be in another worker's
    # queue): not dropped yet, and at the writer's stop kept in the spool for the next one.
    state = app.extensions["journey"]
    dropped = 'tracking_events_dropped_total{reason="no_journey"} 1.0'
    assert dropped not in client.get("/metrics").get_data(as_text=True)
    state.writer.stop()
    metrics = client.get("/metrics").get_data(as_text=True)
    assert dropped not in metrics and "tracking_events_spooled_total 1.0" in metrics
    assert state.spool.pending()


def test_an_event_no_journey_ever_holds_is_dropped_after_its_tries(bare, caplog):
    """Tried again after 2, 5 and 10 s, then dropped and counted (no_journey), logged."""
    import logging

    from tracking import writer as writer_module

    app, journey = bare
    state = app.extensions["journey"]
    with app.app_context():
        journey.track("delivered", order_ref="nobody-has-this", delivery_seconds=5)
        journey.flush()  # the first try, deferred; flush tries each once more
    delays = writer_module.DEFER_DELAYS
    assert len(state.writer._deferred) == 1
    with caplog.at_level(logging.INFO, logger="tracking"):
        for _ in delays:  # each retry once it is due (the thread's turn, here by hand)
            if state.writer._deferred:
                _due, tries, event = state.writer._deferred[0]
                state.writer._deferred[0] = (0.0, tries, event)
                state.writer._retry_deferred()
    assert not state.writer._deferred, "given up after its tries"
    assert 'tracking_events_dropped_total{reason="no_journey"} 1.0' in \
        app.test_client().get("/metrics").get_data(as_text=True)
    assert "name an order or visitor no journey holds" in caplog.text


def test_a_webhook_purchase_in_the_same_batch_as_its_payment_finds_the_journey(bare):
    """The shopper's payment_submitted ties order A1 to the journey; a webhook's purchase
    that names the order alone, written in the same batch, lands on that journey."""
    app, journey = bare
    client = app.test_client()
    client.get("/products/9")
    journey_id = client.post("/checkout").get_json()["journey"]  # payment_submitted: order A1
    with app.app_context():  # no flush between them: one batch
        journey.track("purchase", order_ref="A1", value=1000, currency="EUR", items=1)
        journey.flush()
    [row] = rows(app, journeys)
    assert (row["id"], row["status"], row["value"]) == (journey_id, "purchased", 1000)
    assert [e["touchpoint"] for e in rows(app, journey_events)][-1] == "purchase"
    assert 'reason="no_journey"} 0.0' in client.get("/metrics").get_data(as_text=True)


def test_an_event_whose_journey_comes_later_is_stored_when_it_does(bare):
    """A webhook's purchase written before the batch that ties its order to a journey
    (another worker's, a second behind) waits for it instead of being dropped."""
    app, journey = bare
    client = app.test_client()
    client.get("/products/9")
    with app.app_context():
        journey.flush()
        journey.track("purchase", order_ref="A1", value=1000, currency="EUR", items=1)
        journey.flush()  # nothing holds A1 yet: it waits
    assert [e["touchpoint"] for e in rows(app, journey_events)] == ["landing", "product_view"]
    journey_id = client.post("/checkout").get_json()["journey"]  # payment_submitted: order A1
    with app.app_context():
        journey.flush()
    [row] = rows(app, journeys)
    assert (row["id"], row["status"]) == (journey_id, "purchased")
    assert 'reason="no_journey"} 0.0' in client.get("/metrics").get_data(as_text=True)


def test_the_shoppers_own_purchase_named_by_its_order_alone_is_their_journeys(bare):
    """In the shopper's request, a purchase with order_ref= and no journey_id= (the order
    was never tied to a journey) is filed under the visitor's journey, and the cookie
    learns it was bought: the next product view starts a new journey."""
    app, journey = bare

    @app.post("/pay")
    def pay():
        journey.track("purchase", order_ref="Z9", value=2500, currency="EUR", items=1)
        return "<h1>Thank you</h1>"

    client = app.test_client()
    client.get("/products/3")
    client.post("/cart", data={"pid": "3"})
    assert client.post("/pay").status_code == 200
    client.get("/products/4")
    with app.app_context():
        journey.flush()
    bought, browsing = sorted(rows(app, journeys), key=lambda r: r["started_at"])
    assert (bought["status"], bought["stage"], bought["value"]) == ("purchased", "purchase", 2500)
    assert (browsing["status"], browsing["stage"]) == ("active", "browse")
    assert bought["visitor_id"] == browsing["visitor_id"]
    assert 'reason="no_journey"} 0.0' in client.get("/metrics").get_data(as_text=True)


def test_outside_a_request_a_touchpoint_with_no_reference_is_an_error(bare, caplog):
    """Outside a shopper's request an event needs journey_id=, order_ref= or visitor_id=:
    strict mode says so, production drops it, logs it and counts it (invalid, which the
    drop alert watches), and its money is counted all the same."""
    app, journey = bare
    with app.app_context():
        with pytest.raises(TrackingError, match="needs journey_id="):
            journey.track("add_to_cart", product_id="1", quantity=1, value=1, currency="EUR")
        app.extensions["journey"].strict = False
        assert journey.track("purchase", value=700, currency="EUR", items=1) is not None
    assert "purchase dropped: outside a shopper's request" in caplog.text
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'tracking_events_dropped_total{reason="invalid"} 1.0' in metrics
    assert 'storefront_revenue_total{currency="EUR"} 7.0' in metrics


def test_outside_an_app_context_the_tracker_made_with_the_app_still_works(tmp_path, caplog):
    """JourneyTracker(app): a background job without app.app_context() still tracks and
    flushes. A tracker made for a factory has no app to go by: track() logs and drops
    (it never raises into the caller), flush() says what to do."""
    from .conftest import make_bare_app

    app, journey = make_bare_app(f"sqlite:///{tmp_path}/own.db")
    with app.test_client() as client:
        client.get("/products/5")
        journey_id = client.post("/checkout").get_json()["journey"]
    journey.track("purchase", journey_id=journey_id, order_ref="A1", value=100,
                  currency="EUR", items=1)
    journey.flush()
    [row] = rows(app, journeys)
    assert (row["id"], row["status"]) == (journey_id, "purchased")
    app.extensions["journey"].close()

    factory = JourneyTracker()
    assert factory.track("purchase", journey_id=journey_id, value=1, currency="EUR") is None
    assert "track() needs an application context" in caplog.text
    with pytest.raises(RuntimeError, match="with app.app_context"):
        factory.flush()


def test_stop_flushes_what_is_queued(tmp_path):
    from .conftest import make_bare_app

    app, journey = make_bare_app(f"sqlite:///{tmp_path}/s.db", JOURNEY_FLUSH_INTERVAL=30)
    client = app.test_client()
    for n in range(5):
        client.get(f"/products/{n}")
    state = app.extensions["journey"]
    assert state.writer.running
    state.writer.stop()  # what atexit does at shutdown
    assert len(rows(app, journey_events)) == 6


def test_the_running_app_sweeps_by_itself(tmp_path):
    import time

    import time_machine

    from .conftest import make_bare_app

    app, journey = make_bare_app(f"sqlite:///{tmp_path}/auto.db", JOURNEY_SWEEP_INTERVAL=1)
    client = app.test_client()
    client.post("/cart", data={"pid": "4"})
    with app.app_context():
        journey.flush()
    with time_machine.travel(utcnow() + timedelta(hours=2)):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and rows(app, journeys)[0]["status"] != "abandoned":
            client.post("/cart", data={"pid": "5"})  # any event wakes the writer
            time.sleep(0.3)
    [first, *_] = rows(app, journeys)
    assert first["status"] == "abandoned" and first["abandoned_stage"] == "cart"
    app.extensions["journey"].writer.stop()


def test_the_visitor_cookie_is_verified_once_per_value_and_never_trusted_unsigned():
    """loads() answers a value it verified before from a bounded cache: each call still
    gets its own state to change, a tampered value or another key's is refused however
    often the genuine one was seen."""
    from tracking.visitor import VERIFIED_CACHE, VisitorCookie, VisitorState

    ours, theirs = VisitorCookie("key one"), VisitorCookie("key two")
    state = VisitorState(v="a" * 32, j="b" * 32, s="c" * 32, r=3, t0=1700000000.0,
                         ts=1700000100.5, c="customer@example.com", p=1690000000.0)
    raw = ours.dumps(state)
    first, second = ours.loads(raw), ours.loads(raw)
    assert first == state and second == state and first is not second
    first.r = 9  # the request moved the journey on: the next request's copy is untouched
    assert ours.loads(raw).r == 3
    assert ours._parse.cache_info().hits >= 2, "verified once"
    tampered = raw.replace("~3~", "~9~", 1)
    for _ in range(2):
        assert ours.loads(tampered) is None
        assert theirs.loads(raw) is None, "another secret's instance never trusts it"
    assert ours._parse.cache_info().maxsize == VERIFIED_CACHE


def test_a_copied_request_context_is_not_the_shoppers_request(bare):
    """copy_current_request_context runs work in another thread with the same request
    object: that work is not the shopper's request. Its touchpoint starts or moves no
    journey of theirs, and its end does not count the request (as a 500)."""
    import threading

    from flask import copy_current_request_context

    app, journey = bare
    seen = {}

    @app.get("/with-a-thread")
    def with_a_thread():
        @copy_current_request_context
        def work():
            try:  # no reference, and not the shopper's request: strict mode says so
                journey.track("product_view", product_id="77")
            except TrackingError as exc:
                seen["error"] = exc
            app.extensions["journey"].strict = False
            seen["event"] = journey.track("product_view", product_id="77")
            app.extensions["journey"].strict = True

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        journey.track("product_view", product_id="1")
        return "<h1>done</h1>"

    client = app.test_client()
    browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
    assert client.get("/with-a-thread", headers=browser).status_code == 200
    assert "needs journey_id=" in str(seen["error"])
    assert seen["event"] is not None and not seen["event"].stored
    app.extensions["journey"].writer.flush()
    views = [e for e in rows(app, journey_events) if e["touchpoint"] == "product_view"]
    assert [v["product_id"] for v in views] == ["1"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert ('storefront_http_requests_total{endpoint="with_a_thread",method="GET",'
            'status="200"} 1.0') in metrics
    assert 'endpoint="with_a_thread",method="GET",status="500"' not in metrics


def test_the_tracker_runs_on_flasks_public_context_api(bare, monkeypatch):
    # The request path reads Flask's context variables directly; a Flask that renames them
    # gets the public API instead (tracking.extension's ImportError branch): the same
    # contexts, and the same journey.
    from tracking import extension

    app, journey = bare
    public = (extension._public_request_context, extension._public_app_context)
    assert public[0]() is None and public[1]() is None
    with app.test_request_context("/"):
        assert public[0]() is extension._current_request_context() is not None
        assert public[1]() is extension._current_app_context() is not None
    calls = {"request": 0, "app": 0}

    def counted(which, reader):
        def read():
            calls[which] += 1
            return reader()
        return read

    monkeypatch.setattr(extension, "_current_request_context", counted("request", public[0]))
    monkeypatch.setattr(extension, "_current_app_context", counted("app", public[1]))
    client = app.test_client()
    for method, path in (("GET", "/"), ("GET", "/products/3"), ("POST", "/cart")):
        assert client.open(path, method=method, data={"pid": "3"}).status_code == 200
    with app.app_context():
        journey.flush()
    [row] = rows(app, journeys)
    assert (row["stage"], row["events"], row["landing_page"]) == ("cart", 3, "/")
    assert calls["request"] >= 9 and calls["app"] >= 2  # three hooks a request; track()


def test_without_a_database_the_tracker_will_not_start():
    """No JOURNEY_DATABASE_URL and no SQLALCHEMY_DATABASE_URI: said at init_app, as a
    missing SECRET_KEY is, not found later in a spool that fills with every event."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "x"
    with pytest.raises(ConfigError, match="JOURNEY_DATABASE_URL, else the shop's"):
        JourneyTracker(app)
    app.config["JOURNEY_ENABLED"] = False
    JourneyTracker(app)  # off: nothing to store


def test_the_shops_relative_sqlite_file_is_read_where_flask_sqlalchemy_reads_it(tmp_path):
    """Falling back on SQLALCHEMY_DATABASE_URI, a relative SQLite path is the instance
    folder's file (Flask-SQLAlchemy's), not one in whatever directory the process runs in
    (a cron job's would be another file again)."""
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(SECRET_KEY="x", SQLALCHEMY_DATABASE_URI="sqlite:///shop.db")
    JourneyTracker(app)
    state = app.extensions["journey"]
    assert state.database_url == f"sqlite:///{tmp_path}/instance/shop.db"
    assert (tmp_path / "instance").is_dir(), "made, as Flask-SQLAlchemy makes it"


def test_each_database_has_a_spool_of_its_own(tmp_path):
    """Two apps sharing an instance folder with different databases never replay each
    other's events: the default spool is the database's (its password left out)."""
    spools = []
    for url in ("sqlite:////srv/a.db", "sqlite:////srv/b.db",
                "postgresql://shop:one@db/shop", "postgresql://shop:two@db/shop"):
        app = Flask(__name__, instance_path=str(tmp_path))
        app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=url)
        JourneyTracker(app)
        spools.append(app.extensions["journey"].spool.directory)
    assert len({spools[0], spools[1], spools[2]}) == 3
    assert spools[2] == spools[3], "a new password is the same database"
    assert all(path.parent == tmp_path / "journey-spool" for path in spools)


def test_database_urls_are_read_as_sqlalchemy_2_opens_them():
    assert database_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL="postgres://u@127.0.0.1:1/db")
    JourneyTracker(app)
    assert app.extensions["journey"].engine.url.drivername == "postgresql+psycopg"


def test_a_tracked_page_that_redirects_is_no_touchpoint_but_a_form_that_does_is(bare):
    """@journey.tracks: a GET answered with a redirect (a page past the last, a canonical
    address) is not the touchpoint, the page it leads to is; a POST's redirect is how a
    form says it worked, and is one."""
    from flask import redirect

    app, journey = bare

    @app.get("/old-category/<slug>")
    @journey.tracks("category_view", category=lambda slug: slug)
    def old_category(slug):
        return redirect(f"/category/{slug}")

    @app.post("/wishlist-less-cart")
    @journey.tracks("add_to_cart", product_id="5", quantity=1)
    def cart_form():
        return redirect("/")

    client = app.test_client()
    client.get("/old-category/tea", follow_redirects=True)
    client.post("/wishlist-less-cart")
    with app.app_context():
        journey.flush()
    names = [e["touchpoint"] for e in rows(app, journey_events)]
    assert names.count("category_view") == 1 and names.count("add_to_cart") == 1, names


def test_tracks_above_the_route_decorator_is_said_at_once(bare):
    """@journey.tracks above @app.get wraps a view the route already has without it: it
    would never fire. Strict mode says so where it is written."""
    app, journey = bare
    with pytest.raises(TrackingError, match="above the route decorator of swapped"):
        @journey.tracks("category_view", category="x")
        @app.get("/swapped")
        def swapped():
            return "<h1>x</h1>"


def test_events_spooled_in_the_old_shared_folder_are_replayed_into_the_database(tmp_path):
    """Before the spool was one per database, the default was instance/journey-spool itself:
    what an earlier version left there is moved into this database's spool and replayed,
    not left behind uncounted (files a live writer still holds stay where they are)."""
    from tracking.spool import Spool

    old = tmp_path / "journey-spool"
    earlier = Spool(old, 10**6, on_dropped=lambda reason, n: None)
    event = Event(None, "page_view", None, None, {"endpoint": "x"}, "j" * 32, "v" * 32,
                  "s" * 32, stored=True, at=1.7e9)
    assert earlier.append([event])
    earlier._seal()  # as a stopped worker leaves it: spool-….jsonl
    held = old / f"writing-{os.getpid()}-live.jsonl"  # a live writer's (this process)
    held.write_text("")
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/j.db",
                      JOURNEY_STRICT=True)
    journey = JourneyTracker(app)
    with app.app_context():
        journey.create_all()
        journey.flush()
    state = app.extensions["journey"]
    assert state.spool.directory.parent == old and not list(old.glob("spool-*.jsonl"))
    assert held.exists(), "a live writer's file is not taken from under it"
    [row] = rows(app, journey_events)
    assert (row["event_id"], row["touchpoint"]) == (event.event_id, "page_view")
    state.close()


def test_tracks_above_a_blueprints_route_is_said_at_its_first_request(tmp_path):
    """In a factory or on a blueprint the decorators run before any app is known: the
    mistake is found at the page's first request (strict: an error; else a warning)."""
    from flask import Blueprint

    journey = JourneyTracker()
    shop = Blueprint("shop", __name__)

    @journey.tracks("category_view", category="x")
    @shop.get("/swapped")
    def swapped():
        return "<h1>x</h1>"

    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", JOURNEY_DATABASE_URL=f"sqlite:///{tmp_path}/j.db",
                      TESTING=True)
    journey.init_app(app)
    app.register_blueprint(shop)
    with pytest.raises(TrackingError, match="above the route decorator of shop.swapped"):
        app.test_client().get("/swapped")
    app.extensions["journey"].close()


def test_a_forgotten_init_app_is_still_an_error_inside_a_request():
    """Not taken for "no application context" (which track() logs and drops): the request
    has one, and the tracker was never set up on its app."""
    journey = JourneyTracker()
    app = Flask(__name__)

    @app.get("/")
    def home():
        journey.track("search", query="x", results=0)
        return "<h1>x</h1>"

    app.config["TESTING"] = True
    with pytest.raises(RuntimeError, match=r"init_app\(app\) was not called"):
        app.test_client().get("/")


def test_a_property_callable_gets_the_url_variables_it_names_and_never_breaks_the_view(
        tmp_path, caplog):
    """``lambda pid: pid`` on a route with a second variable gets the one it names; one that
    raises (a form field missing) loses the touchpoint, logged and counted, never the
    view's answer, which had done its work already."""
    from flask import request

    from .conftest import make_bare_app

    app, journey = make_bare_app(f"sqlite:///{tmp_path}/p.db", TESTING=False)
    done = []

    @app.get("/p/<int:pid>/<slug>")
    @journey.tracks("product_view", product_id=lambda pid: pid)
    def product_and_slug(pid, slug):
        return f"<h1>{slug}</h1>"

    @app.get("/c/<slug>/<int:page>")
    @journey.tracks("category_view", category=lambda **kw: f"{kw['slug']}-{kw['page']}")
    def category_page(slug, page):
        return "<h1>c</h1>"

    @app.post("/add")
    @journey.tracks("add_to_cart", product_id=lambda: request.form["pid"], quantity=1)
    def add():
        done.append("a cart line")
        return "", 204

    client = app.test_client()
    assert client.get("/p/7/mug").status_code == 200
    assert client.get("/c/tea/2").status_code == 200
    response = client.post("/add", data={})
    assert response.status_code == 204 and done == ["a cart line"]
    with app.app_context():
        journey.flush()
    events = {e["touchpoint"]: e["props"] for e in rows(app, journey_events)}
    assert events["product_view"]["product_id"] == "7"
    assert events["category_view"]["category"] == "tea-2"
    assert "add_to_cart" not in events
    assert "a property callable raised BadRequestKeyError" in caplog.text
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'tracking_events_dropped_total{reason="invalid"} 1.0' in metrics
    app.extensions["journey"].close()


def test_a_property_callable_that_raises_is_an_error_in_strict_mode(bare):
    app, journey = bare

    @app.get("/broken/<slug>")
    @journey.tracks("category_view", category=lambda slug: slug["no"])
    def broken(slug):
        return "<h1>x</h1>"

    with pytest.raises(TrackingError, match="category_view: a property callable raised"):
        app.test_client().get("/broken/tea")


def test_tracks_counts_no_head_and_only_the_methods_it_is_given(bare):
    """HEAD (a monitor's, a link checker's) is never the touchpoint; a view that shows its
    form (GET) and takes it (POST) says methods=("POST",), and a form shown again with its
    errors answers 400, so the step is counted once, when it is done."""
    from flask import redirect, request

    app, journey = bare

    @app.route("/address", methods=["GET", "POST"])
    @journey.tracks("checkout_address", methods=("post",), country=lambda: request.form["c"])
    def address():
        if request.method == "POST":
            if len(request.form.get("c", "")) == 2:
                return redirect("/")
            return "<p>a country, please</p>", 400
        return "<form>…</form>"

    client = app.test_client()
    client.head("/category/tea")
    client.get("/address")
    client.post("/address", data={"c": "France"})
    client.post("/address", data={"c": "FR"})
    with app.app_context():
        journey.flush()
    names = [e["touchpoint"] for e in rows(app, journey_events)]
    assert "category_view" not in names
    assert names.count("checkout_address") == 1, names


@pytest.mark.parametrize(("name", "props", "error"), [
    ("prodcut_view", {}, "unknown touchpoint 'prodcut_view'"),
    ("product_view", {"product": lambda pid: pid}, r"no property product \(it takes: "),
    ("add_to_cart", {"product_id": "1", "quantity": "2"}, "quantity"),
])
def test_tracks_refuses_a_mistake_where_it_is_written(name, props, error):
    """The catalogue is closed and known: a misspelt touchpoint or property, or a fixed
    value its schema refuses, is an error when the module is imported, not a warning at
    every request in production."""
    journey = JourneyTracker()
    with pytest.raises(TrackingError, match=error):
        journey.tracks(name, **props)


def test_tracks_on_an_async_view(bare):
    app, journey = bare

    @app.get("/async/<slug>")
    @journey.tracks("category_view", category=lambda slug: slug)
    async def async_category(slug):
        return f"<h1>{slug}</h1>"

    # On a thread of its own, as a WSGI server's: the browser tests' Playwright keeps an
    # event loop running on this one for the session, and asgiref will not nest in it.
    import threading

    answers = []
    thread = threading.Thread(
        target=lambda: answers.append(app.test_client().get("/async/tea").status_code))
    thread.start()
    thread.join(30)
    assert answers == [200]
    with app.app_context():
        journey.flush()
    assert [e["props"]["category"] for e in rows(app, journey_events)
            if e["touchpoint"] == "category_view"] == ["tea"]


def test_a_rotated_secret_key_keeps_visitors_and_their_journeys(tmp_path):
    """SECRET_KEY changed, the old one in Flask's SECRET_KEY_FALLBACKS: a visitor's cookie
    still reads (the same visitor, the cart's journey goes on), and is sent again signed
    with the new key, so the old one can be dropped later. A key not among them is a new
    visitor."""
    from http.cookies import SimpleCookie

    from tracking.visitor import VisitorCookie

    from .conftest import make_bare_app

    before, _ = make_bare_app(f"sqlite:///{tmp_path}/k.db", SECRET_KEY="old key")
    client = before.test_client()
    client.get("/products/1", headers={"User-Agent": "Mozilla/5.0 Firefox/126.0"})
    client.post("/cart", data={"pid": "1"}, headers={"User-Agent": "Mozilla/5.0"})
    old_cookie = client.get_cookie("tp_visitor").value
    visitor = VisitorCookie("old key").loads(old_cookie)
    before.extensions["journey"].close()

    after, _ = make_bare_app(f"sqlite:///{tmp_path}/k.db", SECRET_KEY="new key",
                             SECRET_KEY_FALLBACKS=["old key"])
    client = after.test_client()
    client.set_cookie("tp_visitor", old_cookie)
    response = client.get("/category/tea", headers={"User-Agent": "Mozilla/5.0"})
    sent = SimpleCookie(response.headers["Set-Cookie"])["tp_visitor"].value
    assert sent != old_cookie
    again = VisitorCookie("new key").loads(sent)
    assert (again.v, again.j) == (visitor.v, visitor.j), "the same visitor and journey"
    assert VisitorCookie("old key").loads(sent) is None, "signed with the new key"
    after.extensions["journey"].close()

    rotated, _ = make_bare_app(f"sqlite:///{tmp_path}/k.db", SECRET_KEY="new key")
    client = rotated.test_client()
    client.set_cookie("tp_visitor", old_cookie)
    response = client.get("/category/tea", headers={"User-Agent": "Mozilla/5.0"})
    fresh = VisitorCookie("new key").loads(
        SimpleCookie(response.headers["Set-Cookie"])["tp_visitor"].value)
    assert fresh.v != visitor.v, "the old key dropped: a new visitor"
    rotated.extensions["journey"].close()


def test_beside_prometheus_flask_exporter_requests_are_counted_once(tmp_path):
    """A shop that has prometheus-flask-exporter keeps it for requests
    (JOURNEY_HTTP_METRICS=false: the tracker counts none), and one page has both: the
    exporter's registry read by the tracker's /metrics at each scrape."""
    from prometheus_client import CollectorRegistry
    from prometheus_flask_exporter import PrometheusMetrics

    from .conftest import make_bare_app

    app, journey = make_bare_app(f"sqlite:///{tmp_path}/x.db", JOURNEY_HTTP_METRICS=False)
    exporter = CollectorRegistry()
    PrometheusMetrics(app, path=None, registry=exporter)
    journey.collect_when_scraped(exporter)
    client = app.test_client()
    client.get("/category/tea", headers={"User-Agent": "Mozilla/5.0 Firefox/126.0"})
    page = client.get("/metrics").text
    assert 'journey_touchpoints_total{touchpoint="category_view"} 1.0' in page
    assert "flask_http_request_total" in page
    assert "storefront_http_requests_total" not in page
    assert "storefront_http_request_duration_seconds" not in page
    app.extensions["journey"].close()
