"""Security basics: headers, escaping of shopper input, size limits, cookies."""

from __future__ import annotations

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
