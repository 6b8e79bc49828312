"""Visitors, sessions, journeys, stitching, abandonment, bots and privacy, in the store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import event as sa_event
from sqlalchemy import select

from checkout.models import CheckoutContact, Order
from storefront.extensions import db, journey
from tracking import store
from tracking.extension import utcnow
from tracking.models import journey_events, journeys

from . import factories
from .support import CARD_OK, Shopper, sign_payload, value

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


def stored(app, table, *where):
    app.extensions["journey"].writer.flush()
    order = [table.c.occurred_at, table.c.id] if table is journey_events else [table.c.started_at]
    with app.extensions["journey"].engine.connect() as conn:
        return conn.execute(select(table).where(*where).order_by(*order)).mappings().all()


@pytest.fixture
def mug(shop_db):
    return factories.product("Mug", price=1500, stock=50)


def test_visitor_cookie_is_signed_httponly_lax_and_secure_over_https(client, mug):
    plain = client.get(f"/p/{mug.slug}")
    cookie = next(c for c in plain.headers.getlist("Set-Cookie") if c.startswith("tp_visitor="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    secure = client.get(f"/p/{mug.slug}", base_url="https://shop.example")
    cookie = next(c for c in secure.headers.getlist("Set-Cookie")
                  if c.startswith("tp_visitor="))
    assert "Secure" in cookie
    # A forged or tampered cookie is ignored: a new visitor, not the one it names.
    genuine = plain_value = cookie_value(plain)
    tampered = genuine.replace(genuine.split("~")[1], "f" * 32)
    # Another signature (one in 256 genuine ones ends in "AA": that would be no forgery)
    resigned = genuine[:-2] + ("BB" if genuine.endswith("AA") else "AA")
    for forged in ("eyJ2IjoiZm9yZ2VkIn0.forged", tampered, resigned, "1~x"):
        client.set_cookie("tp_visitor", forged)
        fresh = cookie_value(client.get(f"/p/{mug.slug}"))
        assert fresh and fresh.split("~")[1] not in ("f" * 32, plain_value.split("~")[1])


def cookie_value(response) -> str | None:
    found = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("tp_visitor=")]
    return found[0].split(";", 1)[0].split("=", 1)[1] if found else None


def test_visitor_cookie_is_resent_only_when_the_journey_changes_or_ages(app, new_shopper, mug):
    shopper = new_shopper()
    refresh = app.extensions["journey"].cookie_refresh
    with time_machine.travel(utcnow(), tick=False) as clock:
        first = cookie_value(shopper.client.get(f"/p/{mug.slug}"))
        assert first is not None, "a new visitor gets the cookie"
        clock.shift(timedelta(seconds=refresh / 2))
        assert cookie_value(shopper.client.get(f"/p/{mug.slug}")) is None, "unchanged, recent"
        carted = cookie_value(shopper.add_to_cart(mug.id))
        assert carted is not None and int(carted.split("~")[4]) == 3, "re-sent at a new stage"
        clock.shift(timedelta(seconds=refresh / 2))
        assert cookie_value(shopper.client.get(f"/p/{mug.slug}")) is None
        clock.shift(timedelta(seconds=refresh))
        aged = cookie_value(shopper.client.get(f"/p/{mug.slug}"))
        assert aged is not None, "re-sent once its time is stale"
        assert aged.split("~")[1:5] == carted.split("~")[1:5], "same visitor, journey, stage"
        assert int(aged.split("~")[6]) > int(carted.split("~")[6]), "with the later time"


def test_landing_records_source_device_and_page(app, client, mug, touchpoints):
    client.get(f"/p/{mug.slug}?utm_source=google&utm_medium=cpc&utm_campaign=mugs",
               headers={"User-Agent": "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)",
                        "Referer": "https://www.google.com/search?q=mug"})
    assert touchpoints.names() == ["landing", "product_view"]
    props = touchpoints.of("landing")[0].props
    assert props == {"path": f"/p/{mug.slug}", "device": "tablet", "source": "google",
                     "medium": "cpc", "campaign": "mugs", "referrer": "www.google.com"}
    [row] = stored(app, journeys)
    assert (row["source"], row["device"], row["landing_page"]) == ("google", "tablet",
                                                                    f"/p/{mug.slug}")
    assert row["referrer_host"] == "www.google.com" and row["ip_net"] == "127.0.0.0/24"
    other = Shopper(app.test_client())
    other.client.get("/", headers={"Referer": "https://news.example.net/a"})
    assert touchpoints.of("landing")[1].props["source"] == "news.example.net"
    assert touchpoints.of("landing")[1].props["medium"] == "referral"
    # The landing reads the query string only when a source could be in it: a key spelled
    # with escapes is still one, and a link from the store's own pages is no referrer.
    Shopper(app.test_client()).client.get("/?%75tm_source=escaped&q=mugs")
    assert touchpoints.of("landing")[2].props["source"] == "escaped"
    Shopper(app.test_client()).client.get("/?q=mugs", headers={"Referer": "http://localhost/c"})
    assert (touchpoints.of("landing")[3].props["source"],
            touchpoints.of("landing")[3].props["referrer"]) == ("direct", "")


def test_sessions_time_out_after_30_minutes_but_the_journey_goes_on(app, client, mug,
                                                                    touchpoints):
    with time_machine.travel(utcnow(), tick=False) as clock:
        client.get(f"/p/{mug.slug}")
        clock.shift(timedelta(minutes=29))
        client.get(f"/p/{mug.slug}")
        clock.shift(timedelta(minutes=31))
        client.get(f"/p/{mug.slug}")
    events = touchpoints.events
    assert [e.touchpoint for e in events] == ["landing", "product_view", "product_view",
                                              "landing", "product_view"]
    assert events[0].session_id == events[2].session_id
    # 31 idle minutes at the browse stage end that journey (a browse exit) ...
    assert events[3].journey_id != events[0].journey_id
    assert events[3].visitor_id == events[0].visitor_id


def test_a_cart_journey_spans_sessions_until_abandoned(app_factory, localstripe, shop_db,
                                                       touchpoints):
    """With carts abandoned after 2 h idle, a shopper back after 40 min is in a new session of
    the same journey; back after 3 h, the journey was abandoned and a new one starts."""
    app = app_factory(JOURNEY_ABANDON_AFTER=2 * 3600)
    mug = factories.product("Mug", price=1500, stock=50)
    shopper = Shopper(app.test_client(), localstripe)
    with time_machine.travel(utcnow(), tick=False) as clock:
        shopper.add_to_cart(mug.id)
        clock.shift(timedelta(minutes=40))
        shopper.client.get("/cart/")
        clock.shift(timedelta(hours=3))
        shopper.client.get("/cart/")
        app.extensions["journey"].writer.flush()
        assert app.extensions["journey"].sweep() == {"cart": 1}
    first, second = touchpoints.journeys()
    sessions = [e.session_id for e in touchpoints.events if e.journey_id == first]
    assert len(set(sessions)) == 2
    rows = {r["id"]: r for r in stored(app, journeys)}
    assert rows[first]["sessions"] == 2 and rows[first]["status"] == "abandoned"
    assert rows[second]["status"] == "active"


def test_login_stitches_the_journey_and_later_devices_to_the_customer(app, new_shopper, mug,
                                                                       touchpoints):
    laptop = new_shopper()
    laptop.client.get(f"/p/{mug.slug}")
    laptop.signup("sam@example.com")
    laptop.add_to_cart(mug.id)
    phone = new_shopper()
    phone.client.get("/")
    phone.login("sam@example.com")
    rows = stored(app, journeys)
    assert len(rows) == 2
    assert rows[0]["customer_id"] == rows[1]["customer_id"] is not None
    names = touchpoints.names()
    assert names.count("signup") == 1 and names.count("login") == 1


def test_bots_get_no_journey_but_count_in_http_metrics(app, client, new_shopper, mug,
                                                       touchpoints):
    crawler = {"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}
    response = client.get(f"/p/{mug.slug}", headers=crawler)
    assert response.status_code == 200
    assert "tp_visitor" not in response.headers.get("Set-Cookie", "")
    assert stored(app, journeys) == [] and stored(app, journey_events) == []
    assert touchpoints.names() == ["product_view"] and not touchpoints.events[0].stored
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'storefront_http_requests_total{endpoint="shop.product",method="GET",status="200"}' \
        in metrics
    # Not a shopper's touchpoint: the shopper-traffic alert reads this counter.
    assert value(metrics, "journey_touchpoints_total", touchpoint="product_view") == 0
    new_shopper().client.get(f"/p/{mug.slug}")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert value(metrics, "journey_touchpoints_total", touchpoint="product_view") == 1


def test_a_crawler_that_buys_counts_its_money_not_its_browsing(app, client, new_shopper, mug):
    """A script with a crawler's user agent that pays for an order: the order, the payment
    and the purchase touchpoint count (money is money); its cart and checkout do not."""
    bot = new_shopper()
    bot.client.environ_base["HTTP_USER_AGENT"] = "Googlebot/2.1 (+http://www.google.com/bot.html)"
    bot.add_to_cart(mug.id)
    bot.to_payment()
    assert bot.pay(CARD_OK).get_json()["status"] == "succeeded"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert value(metrics, "storefront_orders_total") == 1
    assert value(metrics, "journey_touchpoints_total", touchpoint="purchase") == 1
    for browsing in ("add_to_cart", "checkout_start", "payment_submitted"):
        assert value(metrics, "journey_touchpoints_total", touchpoint=browsing) == 0, browsing
    assert stored(app, journeys) == []


@pytest.mark.parametrize("header", [{"Sec-GPC": "1"}, {"DNT": "1"}])
def test_privacy_signals_mean_no_cookie_and_nothing_stored(app, new_shopper, mug, header):
    shopper = new_shopper()
    response = shopper.client.get(f"/p/{mug.slug}", headers=header)
    assert "tp_visitor" not in response.headers.get("Set-Cookie", "")
    shopper.client.environ_base.update({f"HTTP_{k.upper().replace('-', '_')}": v
                                        for k, v in header.items()})
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"
    assert stored(app, journeys) == [] and stored(app, journey_events) == []
    assert db.session.scalar(select(Order)).journey_id is None
    metrics = shopper.client.get("/metrics").get_data(as_text=True)
    assert "storefront_orders_total 1.0" in metrics, "aggregate metrics still count"
    assert 'journey_touchpoints_total{touchpoint="add_to_cart"} 1.0' in metrics


def test_forget_erases_a_visitor(app, new_shopper, mug, cli):
    gone, kept = new_shopper(), new_shopper()
    for s in (gone, kept):
        s.client.get(f"/p/{mug.slug}")
        s.add_to_cart(mug.id)
    visitors = {r["visitor_id"] for r in stored(app, journeys)}
    target = stored(app, journey_events)[0]["visitor_id"]
    viewed = [e for e in stored(app, journey_events) if e["touchpoint"] == "product_view"]
    assert {e["product_id"] for e in viewed} == {str(mug.id)}, "the also-viewed column"
    assert journey.co_viewed(mug.id) == []  # nothing else was viewed
    result = cli("journey", "forget", target)
    assert result.exit_code == 0 and "Erased 3 events and 1 journeys" in result.output
    assert {r["visitor_id"] for r in stored(app, journeys)} == visitors - {target}
    assert all(e["visitor_id"] != target for e in stored(app, journey_events))
    views = [e for e in stored(app, journey_events) if e["touchpoint"] == "product_view"]
    assert len(views) == 1, "the other visitor's product view stays"


def contacts() -> list[tuple[str, str | None, str, str]]:
    db.session.expire_all()
    return [(c.journey_id, c.visitor_id, c.email, c.name)
            for c in db.session.scalars(select(CheckoutContact).order_by(CheckoutContact.email))]


def test_a_guests_checkout_email_is_kept_until_an_order_carries_it(app, new_shopper, mug, cli):
    """What a guest types at the address step is kept under their journey (the panel names
    them if they leave before the order); the order takes over; a signed-in shopper's and a
    Do Not Track shopper's are never kept; `journey forget` and `orders expire` erase."""
    leaves, buys, member, private = (new_shopper() for _ in range(4))
    for s in (leaves, buys, member, private):
        if s is private:
            s.client.environ_base["HTTP_DNT"] = "1"
        if s is member:
            assert s.signup("ada@example.com").status_code == 302
        s.client.get(f"/p/{mug.slug}")
        s.add_to_cart(mug.id)
    assert leaves.address(email="Grace@Example.com", name="Grace Hopper").status_code == 302
    assert leaves.address(email="grace@example.com", name="Grace B. Hopper").status_code == 302
    buys.to_payment(email="alan@example.com", name="Alan Turing")
    member.to_payment()
    private.to_payment(email="anon@example.com")
    app.extensions["journey"].writer.flush()
    [left] = [j for j in stored(app, journeys) if j["last_touchpoint"] == "checkout_address"]
    assert contacts() == [(left["id"], left["visitor_id"], "grace@example.com",
                           "Grace B. Hopper")], "one row a journey, the latest typed"
    assert {o.email for o in db.session.scalars(select(Order))} == {
        "alan@example.com", "ada@example.com", "anon@example.com"}

    old = CheckoutContact(journey_id="0" * 32, visitor_id=None, email="old@example.com",
                          name="Old", updated_at=utcnow() - timedelta(days=31))
    db.session.add(old)
    db.session.commit()
    result = cli("orders", "expire")
    assert result.exit_code == 0, result.output
    assert "1 guest checkout contacts older than 30 days erased" in result.output
    assert [c[2] for c in contacts()] == ["grace@example.com"]

    result = cli("journey", "forget", left["visitor_id"])
    assert result.exit_code == 0, result.output
    assert contacts() == []


def test_abandoned_cart_then_recovered_by_a_later_purchase(app, new_shopper, mug, cli):
    shopper = new_shopper()
    with time_machine.travel(utcnow(), tick=False) as clock:
        shopper.add_to_cart(mug.id)
        app.extensions["journey"].writer.flush()
        clock.shift(timedelta(minutes=45))
        result = cli("journey", "sweep")
        assert "cart: 1 abandoned" in result.output
        # Counted in this process only (no PROMETHEUS_MULTIPROC_DIR): it says so
        assert "counted in this command's journey_abandoned_total only" in result.stderr
        again = cli("journey", "sweep")
        assert "No idle journeys." in again.output
        clock.shift(timedelta(days=2))
        shopper._csrf = None  # CSRF tokens last an hour
        shopper.client.get("/cart/")
        shopper.to_payment()
        assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"
    abandoned, bought = stored(app, journeys)
    assert abandoned["status"] == "recovered" and abandoned["abandoned_stage"] == "cart"
    assert bought["status"] == "purchased" and bought["id"] != abandoned["id"]
    metrics = shopper.client.get("/metrics").get_data(as_text=True)
    assert 'journey_abandoned_total{stage="cart"} 1.0' in metrics
    assert "journey_recovered_total 1.0" in metrics


def test_a_sweep_that_runs_after_the_purchase_recovers_the_cart_within_the_window(
        app, new_shopper, mug, cli):
    """No sweep saw the carts idle before their visitors came back in new journeys and
    bought (a busy worker, a sweep interval longer than the visit). The sweep that abandons
    them later recovers at once the one bought within JOURNEY_RECOVERY_WINDOW (7 days), and
    not the one bought after it: a date shifted in SQL, on both databases."""
    soon, late = new_shopper(), new_shopper()

    def buy(shopper) -> None:
        shopper._csrf = None  # CSRF tokens last an hour
        shopper.client.get("/cart/")
        shopper.to_payment()
        assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"

    with time_machine.travel(utcnow(), tick=False) as clock:
        soon.add_to_cart(mug.id)
        late.add_to_cart(mug.id)
        clock.shift(timedelta(minutes=45))  # both journeys over; no sweep has run
        buy(soon)
        clock.shift(timedelta(days=8))
        buy(late)
        app.extensions["journey"].writer.flush()
        assert "cart: 2 abandoned" in cli("journey", "sweep").output
    carts = {r["visitor_id"]: r for r in stored(app, journeys) if r["abandoned_stage"]}
    by_visitor = {r["visitor_id"]: r["status"] for r in carts.values()}
    assert sorted(by_visitor.values()) == ["abandoned", "recovered"]
    [recovered] = [r for r in carts.values() if r["status"] == "recovered"]
    bought = [r for r in stored(app, journeys)
              if r["visitor_id"] == recovered["visitor_id"] and r["status"] == "purchased"]
    assert len(bought) == 1 and bought[0]["entered_purchase_at"] - recovered["last_seen_at"] \
        < timedelta(hours=1), "the visitor who came back within the window"
    metrics = soon.client.get("/metrics").get_data(as_text=True)
    assert "journey_recovered_total 1.0" in metrics


def test_the_recovery_window_ends_to_the_microsecond_on_both_databases(app):
    """A purchase exactly JOURNEY_RECOVERY_WINDOW after the cart's last touchpoint recovers
    it; a microsecond later does not (a late fraction of a second must not round over)."""
    state = app.extensions["journey"]
    seen = datetime(2026, 11, 1, 23, 59, 59, 999999)
    window = timedelta(seconds=app.config["JOURNEY_RECOVERY_WINDOW"])

    def journey_row(jid, visitor, **extra):
        return {"id": jid, "visitor_id": visitor, "stage": "cart", "stage_rank": 2,
                "status": "active", "started_at": seen, "last_seen_at": seen,
                "last_touchpoint": "add_to_cart", "sessions": 1, "events": 1,
                "entered_purchase_at": None, **extra}  # one set of keys for every row

    with state.engine.begin() as conn:
        conn.execute(journeys.insert(), [
            journey_row("cart-in", "v-in"),
            journey_row("bought-in", "v-in", stage="purchase", status="purchased",
                        entered_purchase_at=seen + window),
            journey_row("cart-out", "v-out"),
            journey_row("bought-out", "v-out", stage="purchase", status="purchased",
                        entered_purchase_at=seen + window + timedelta(microseconds=1)),
        ])
        counts, recovered = store.sweep(conn, seen + window + timedelta(days=1),
                                        timedelta(minutes=30), timedelta(minutes=30), window,
                                        timedelta(0))
    assert counts == {"cart": 2} and recovered == 1
    status = {r["id"]: r["status"] for r in stored(app, journeys)}
    assert status["cart-in"] == "recovered" and status["cart-out"] == "abandoned"


def test_a_purchase_recovers_carts_once_and_again_only_for_an_owner_it_learns(app):
    """The writer recovers a visitor's or customer's abandoned carts when it writes the
    purchase, and again when the bought journey learns a visitor or customer it did not
    have; a later batch of the same journey (an order page, a review) looks no further."""
    from tracking.events import Event
    from tracking.visitor import new_event_id

    state = app.extensions["journey"]
    at = datetime(2026, 11, 1, 12, 0, 0)
    window = timedelta(days=7)
    with state.engine.begin() as conn:
        conn.execute(journeys.insert(), [
            {"id": cart, "visitor_id": visitor, "customer_id": customer, "stage": "cart",
             "stage_rank": 2, "status": "abandoned", "abandoned_stage": "cart",
             "abandoned_at": at, "started_at": at, "last_seen_at": at,
             "last_touchpoint": "add_to_cart", "sessions": 1, "events": 1}
            for cart, visitor, customer in (("cart-v", "v1", None), ("cart-c", None, "c1"))])

    def batch(minutes, touchpoint, stage, **ids):
        props = ({"value": 1000, "currency": "EUR", "items": 1} if touchpoint == "purchase"
                 else {})
        with state.engine.begin() as conn:
            return store.write_batch(conn, [Event(
                event_id=new_event_id(), touchpoint=touchpoint, stage=stage,
                occurred_at=at + timedelta(minutes=minutes), props=props, journey_id="bought",
                journey_started_at=at + timedelta(minutes=50), stored=True, **ids)], window)

    def status():
        return {r["id"]: r["status"] for r in stored(app, journeys)}

    recoveries = []  # the recovery UPDATEs the writer runs

    @sa_event.listens_for(state.engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE journeys SET status"):
            recoveries.append(statement)

    # The purchase, by webhook: no visitor, no customer yet.
    assert batch(60, "purchase", "purchase", order_ref="o1").recovered == 0
    assert status()["cart-v"] == status()["cart-c"] == "abandoned"
    # The shopper's order page: the journey learns its visitor, whose cart is recovered.
    assert batch(61, "order_view", None, visitor_id="v1", order_ref="o1").recovered == 1
    assert status()["cart-v"] == "recovered" and status()["cart-c"] == "abandoned"
    # The same visitor again: nothing new to look for, and no statement looks.
    looked = len(recoveries)
    assert batch(62, "order_view", None, visitor_id="v1", order_ref="o1").recovered == 0
    assert len(recoveries) == looked
    # A login after the purchase: the customer's own cart.
    assert batch(63, "order_view", None, visitor_id="v1", customer_id="c1",
                 order_ref="o1").recovered == 1
    assert status() == {"cart-v": "recovered", "cart-c": "recovered", "bought": "purchased"}
    sa_event.remove(state.engine, "before_cursor_execute", _count)


def test_a_sweep_recovers_a_cart_abandoned_lately_whose_purchase_landed_after(app):
    """On PostgreSQL a sweep abandoning a cart and a writer storing the visitor's purchase
    can each miss the other's uncommitted row, so neither recovers it. The next sweep looks
    back an hour (store.RECOVERY_LOOKBACK) and does; a cart abandoned before that is left."""
    state = app.extensions["journey"]
    now = datetime(2026, 11, 1, 12, 0, 0)

    def row(jid, visitor, abandoned_at, **extra):
        return {"id": jid, "visitor_id": visitor, "stage": "cart", "stage_rank": 2,
                "status": "abandoned", "abandoned_stage": "cart", "abandoned_at": abandoned_at,
                "started_at": now - timedelta(hours=5),
                "last_seen_at": abandoned_at and abandoned_at - timedelta(minutes=31),
                "last_touchpoint": "add_to_cart", "sessions": 1,
                "events": 1, "entered_purchase_at": None, **extra}

    with state.engine.begin() as conn:
        conn.execute(journeys.insert(), [
            row("cart-lately", "v1", now - timedelta(minutes=10)),
            row("cart-long-ago", "v2", now - timedelta(hours=2)),
            *(row(f"bought-{v}", v, None, stage="purchase", status="purchased",
                  abandoned_stage=None, last_seen_at=now - timedelta(minutes=5),
                  entered_purchase_at=now - timedelta(minutes=5)) for v in ("v1", "v2")),
        ])
        counts, recovered = store.sweep(conn, now, timedelta(minutes=30), timedelta(minutes=30),
                                        timedelta(days=7), timedelta(0))
        assert counts == {} and recovered == 1
        again = store.sweep(conn, now + timedelta(minutes=1), timedelta(minutes=30),
                            timedelta(minutes=30), timedelta(days=7), timedelta(0))
        assert again == ({}, 0), "recovered once"
    status = {r["id"]: r["status"] for r in stored(app, journeys)}
    assert status["cart-lately"] == "recovered" and status["cart-long-ago"] == "abandoned"


def test_concurrent_sweeps_abandon_each_journey_once(app, app_factory, new_shopper, mug):
    """Two processes' sweepers (two apps, two engines) racing over the same rows."""
    import threading

    for _ in range(5):
        new_shopper().add_to_cart(mug.id)
    app.extensions["journey"].writer.flush()
    others = [app_factory() for _ in range(3)]
    later = utcnow() + timedelta(hours=2)
    results = []
    threads = [threading.Thread(target=lambda a=a: results.append(a.extensions["journey"]
                                                                   .sweep(later)))
               for a in [app, *others]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r.get("cart", 0) for r in results) == 5
    assert all(r["status"] == "abandoned" for r in stored(app, journeys))


def test_a_duplicate_webhook_fires_no_second_purchase(app, shopper, mug, localstripe, client,
                                                      touchpoints):
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    body = shopper.pay("4000002500003155").get_json()
    order = db.session.scalar(select(Order))
    intent = order.payments[0].payment_intent_id
    localstripe.authenticate(intent, body["client_secret"])
    [event] = localstripe.events_for(intent, "payment_intent.succeeded")
    payload = json.dumps(event).encode()
    for _ in range(3):
        client.post("/stripe/webhook", data=payload,
                    headers={"Stripe-Signature": sign_payload(payload)})
    shopper.client.get(body["redirect"])
    assert touchpoints.names().count("purchase") == 1
    purchase = touchpoints.of("purchase")[0]
    assert purchase.journey_id == order.journey_id and purchase.props["value"] == order.total


def test_tracking_failure_never_breaks_a_purchase(app_factory, localstripe, shop_db):
    """The tracker's database is unreachable: the store still sells."""
    app = app_factory(JOURNEY_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none",
                      JOURNEY_STRICT=False)
    mug = factories.product("Mug", price=1500, stock=5)
    shopper = Shopper(app.test_client(), localstripe)
    shopper.client.get(f"/p/{mug.slug}")
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"
    app.extensions["journey"].writer.flush()
    order = db.session.scalar(select(Order))
    assert order.is_paid
    metrics = shopper.client.get("/metrics").get_data(as_text=True)
    spooled = [line for line in metrics.splitlines()
               if line.startswith("tracking_events_spooled_total")]
    assert float(spooled[0].split()[-1]) > 0, "kept on disk for later, not lost"
    assert 'tracking_events_dropped_total{reason="error"} 0.0' in metrics


def test_the_queue_is_bounded(app_factory, shop_db):
    app = app_factory(JOURNEY_QUEUE_SIZE=3, JOURNEY_BATCH_SIZE=1, JOURNEY_STRICT=False)
    state = app.extensions["journey"]
    mug = factories.product("Mug", stock=5)
    with state.writer._lock:  # the writer is busy: nothing drains
        client = app.test_client()
        for _ in range(10):
            assert client.get(f"/p/{mug.slug}").status_code == 200
        assert state.writer.depth <= 3
    state.writer.flush()
    metrics = client.get("/metrics").get_data(as_text=True)
    spooled = [line for line in metrics.splitlines()
               if line.startswith("tracking_events_spooled_total")]
    assert float(spooled[0].split()[-1]) > 0, "the overflow is spooled, not dropped"
    assert 'tracking_events_dropped_total{reason="queue_full"} 0.0' in metrics
    with state.engine.connect() as conn:
        assert len(conn.execute(journey_events.select()).all()) == 11  # landing + 10 views


def test_co_viewed_and_forget_reach_a_visitors_events_through_all_their_journeys(app):
    """The events carry no visitor index: both go through the visitor's journeys, so a
    product viewed in a visitor's later journey is still "also viewed", counted once per
    visitor, and `forget` erases every journey's events."""
    from tracking.events import Event
    from tracking.visitor import new_event_id, new_id

    now = utcnow()
    state = app.extensions["journey"]

    def journey_of(visitor, *products, minutes_ago):
        jid, at = new_id(), now - timedelta(minutes=minutes_ago)
        return [Event(new_event_id(), "product_view", "browse", at + timedelta(seconds=i),
                      {"product_id": p}, journey_id=jid, visitor_id=visitor,
                      session_id=jid, journey_started_at=at, stored=True)
                for i, p in enumerate(products)]

    v, w, z = new_id(), new_id(), new_id()
    events = (journey_of(v, "A", minutes_ago=300) + journey_of(v, "B", "B", minutes_ago=60)
              + journey_of(w, "A", "B", "C", minutes_ago=30) + journey_of(z, "C", "D",
                                                                          minutes_ago=20))
    with state.engine.begin() as conn:
        store.write_batch(conn, events, timedelta(days=7))
    with state.engine.connect() as conn:
        assert store.co_viewed(conn, "A", now - timedelta(days=1), 500, 4) == [("B", 2),
                                                                              ("C", 1)]
        assert store.co_viewed(conn, "A", now - timedelta(days=1), 1, 4) == [("B", 1),
                                                                            ("C", 1)], \
            "only the latest viewer of A (w)"
        # v viewed A 300 minutes ago: outside a 2-hour window, so only w counts
        assert store.co_viewed(conn, "A", now - timedelta(minutes=120), 500, 4) == [
            ("B", 1), ("C", 1)]
    # A host may file an event that names v under w's journey (track(journey_id=...,
    # visitor_id=...)): erasing v erases it too.
    w_journey = events[3].journey_id
    stray = Event(new_event_id(), "order_view", None, now, {"order_ref": "9"},
                  journey_id=w_journey, visitor_id=v, stored=True)
    with state.engine.begin() as conn:
        store.write_batch(conn, [stray], timedelta(days=7))
    with state.engine.begin() as conn:
        assert store.forget(conn, v) == (4, 2)
    assert {e["visitor_id"] for e in stored(app, journey_events)} == {w, z}
    assert len(stored(app, journey_events, journey_events.c.journey_id == w_journey)) == 3
