"""Security basics: headers, escaping of shopper input, size limits, cookies."""

from __future__ import annotations

import re

from sqlalchemy import select

from checkout.fulfilment import advance
from checkout.links import order_token
from checkout.models import Order
from storefront.extensions import db

from . import factories
from .support import CARD_OK

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_security_headers_on_every_page(client, catalog):
    for url in ("/", "/search?q=mug", "/cart/", "/account/login", "/nope"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self' http://127.0.0.1:" in csp and "'unsafe-inline'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"


def test_no_inline_script_or_style_in_pages(client, catalog):
    import re

    for url in ("/", "/search?q=mug", "/p/cast-iron-skillet-10-in", "/cart/",
                "/account/signup", "/admin/login"):
        html = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert " style=" not in html and " onclick=" not in html, url


def test_search_is_escaped(client, catalog):
    html = client.get("/search", query_string={"q": XSS}).get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


def test_names_and_reviews_are_escaped(shopper, shop_db):
    mug = factories.product("Mug", stock=5)
    shopper.signup("x@example.com", name=XSS)
    shopper.add_to_cart(mug.id)
    shopper.to_payment(name=XSS)
    assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"
    order = db.session.scalar(select(Order))
    for _ in range(4):
        advance(order.id)
    url = f"/orders/{order_token(order.id)}"
    shopper.post(f"{url}/reviews", {"product_id": mug.id, "rating": 5, "title": XSS,
                                    "body": XSS})
    for page in (url, f"/p/{mug.slug}", "/"):
        html = shopper.client.get(page).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, page


def test_requests_over_the_size_limit_are_refused(shopper, shop_db):
    response = shopper.post("/account/signup", {"name": "x" * 2_000_000, "email": "a@b.co",
                                                 "password": "12345678"})
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_session_cookie_is_httponly_and_lax(shopper, shop_db):
    response = shopper.client.get("/account/login")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


# State-changing routes that are not protected by a CSRF token, and why.
CSRF_EXEMPT = {
    "stripe_webhook.stripe_webhook": "signed by Stripe (Stripe-Signature), no session",
}


def test_every_state_changing_route_needs_a_csrf_token(app, shopper, shop_db):
    """Walk the URL map: every POST/PUT/PATCH/DELETE route, from a browser with a session,
    refuses a request without the token (400, HTML or JSON) unless listed above."""
    shopper.signup("csrf-walker@example.com")
    walked = []
    for rule in app.url_map.iter_rules():
        methods = rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
        if not methods or rule.endpoint in CSRF_EXEMPT:
            continue
        url = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", "1", rule.rule)
        for method in sorted(methods):
            for accept in ("text/html", "application/json"):
                response = shopper.client.open(url, method=method, data={"x": "1"},
                                               headers={"Accept": accept})
                assert response.status_code == 400, (method, url, response.status_code)
                body = response.get_data(as_text=True)
                assert "session expired" in body.lower() or "csrf" in body.lower(), body[:200]
            walked.append(f"{method} {rule.rule}")
    assert len(walked) >= 14, walked  # the store, checkout, reviews and the panel
    assert {r.endpoint for r in app.url_map.iter_rules()} >= set(CSRF_EXEMPT), "stale list"


SECRETS = {
    "SECRET_KEY": "s3cret-key-never-shown-0f9e-5b7d1c3a",
    "STRIPE_SECRET_KEY": "sk_test_never_shown_4e2a",
    "STRIPE_WEBHOOK_SECRET": "whsec_never_shown_7d1c",
}


def test_secrets_never_reach_logs_pages_or_metrics(app_factory, localstripe, shop_db, caplog):
    """A whole shopping trip, a payment fault, bad input, the panel and /metrics, with every
    logger at DEBUG: no secret, password or card number in any log line or response."""
    import logging

    from admin.auth import create_user

    from .support import CARD_DECLINED, Shopper, sign_payload

    caplog.set_level(logging.DEBUG)
    app = app_factory(**SECRETS)
    customer_password, admin_password = "customer-pass-9a8b", "admin-pass-6c5d4e"
    bodies: list[str] = []

    @app.after_request
    def keep(response):
        if not response.direct_passthrough:
            bodies.append(response.get_data(as_text=True))
            bodies.append(str(response.headers))
        return response

    mug = factories.product("Mug", price=1500, stock=5)
    with app.app_context():
        create_user("owner@example.com", admin_password)
    shopper = Shopper(app.test_client(), localstripe)
    shopper.signup("secret-shopper@example.com", password=customer_password)
    shopper.login("secret-shopper@example.com", password="wrong " + customer_password)
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    shopper.pay(CARD_DECLINED)
    shopper.pay(CARD_OK)
    shopper.post_json("/checkout/pay", {"card_ref": "4242424242424242"})
    payload = b'{"id": "evt_x", "type": "payment_intent.succeeded"}'
    shopper.client.post("/stripe/webhook", data=payload,
                        headers={"Stripe-Signature": sign_payload(payload, "whsec_wrong")})
    admin = app.test_client()
    page = admin.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    admin.post("/admin/login", data={"email": "owner@example.com", "password": admin_password,
                                     "csrf_token": token})
    for url in ("/admin/", "/admin/api/overview", "/admin/api/orders", "/admin/audit"):
        admin.get(url)
    bodies.append(admin.get("/metrics").get_data(as_text=True))
    broken = app_factory(STRIPE_API_BASE="http://127.0.0.1:9", STRIPE_TIMEOUT=1, **SECRETS)
    other = Shopper(broken.test_client(), localstripe)
    other.add_to_cart(mug.id)
    other.to_payment()
    other.pay(CARD_OK)

    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert len(caplog.records) > 5 and len(bodies) > 20
    seen = logged + "\n".join(bodies)
    for name, secret in {**SECRETS, "customer": customer_password,
                         "admin": admin_password}.items():
        assert secret not in seen, f"{name} leaked"
    assert CARD_OK not in logged and "4242424242424242" not in logged


def test_health_checks_answer_json_and_are_not_touchpoints(app, client, shop_db, touchpoints):
    live = client.get("/healthz")
    assert live.status_code == 200 and live.get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    body = ready.get_json()
    assert ready.status_code == 200 and body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["tracker"]["writer"] in ("idle", "running")
    assert body["checks"]["tracker"]["spool_bytes"] == 0
    assert "tp_visitor" not in ready.headers.get("Set-Cookie", "")
    assert touchpoints.names() == [], "health checks are not shopper visits"


def test_a_spool_that_cannot_be_written_is_said_at_start_in_readyz_and_in_metrics(
        app_factory, shop_db, tmp_path, caplog):
    """The spool keeps events while the database is down: a directory it cannot write (a
    typo, a read-only mount) is found out at start, not in the outage. The host stays in
    rotation (the database answers); the log, /readyz and tracking_spool_writable say it."""
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    with caplog.at_level("ERROR", logger="tracking.spool"):
        app = app_factory(JOURNEY_SPOOL_DIR=str(blocked / "journey-spool"))
    assert any("cannot be written" in r.getMessage() and "would be dropped" in r.getMessage()
               for r in caplog.records), caplog.text
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["tracker"]["spool_writable"] is False
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert "tracking_spool_writable 0.0" in metrics
    good = app_factory()  # the usual directory, made at the first spill: its folder writable
    assert good.test_client().get("/readyz").get_json()["checks"]["tracker"][
        "spool_writable"] is True
    assert "tracking_spool_writable 1.0" in good.test_client().get("/metrics").text


def test_readyz_is_503_when_the_database_is_unreachable(app_factory, shop_db):
    broken = app_factory(SQLALCHEMY_DATABASE_URI="postgresql://nobody@127.0.0.1:9/none",
                         JOURNEY_DATABASE_URL="sqlite://")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready" and body["checks"]["database"].startswith("unreachable")
    assert broken.test_client().get("/healthz").status_code == 200, "alive all the same"
