"""Every JSON endpoint (from the published OpenAPI description, with schemathesis) and every
form (with hypothesis) answers generated input with no 5xx: a clear 4xx, JSON for the API
and HTML for pages. At least 5,000 cases in all; run once (the validation does not depend
on the database). Marked slow: `make test` runs them under CI=true (as CI does), and
`make test-all` anywhere."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from admin.auth import create_user
from checkout import fulfilment
from checkout.links import order_token
from checkout.models import Order
from storefront.extensions import db

from . import factories
from .support import CARD_OK, Shopper

CASES: Counter[str] = Counter()
API_EXAMPLES = 200  # per operation; 18 operations
FORM_EXAMPLES = 250  # per form; 8 forms
ADMIN_PASSWORD = "fuzz-owner-password"


@pytest.fixture
def once(backend, request):
    if backend == "postgresql" and request.config.getoption("--db") == "both":
        pytest.skip("input validation does not depend on the database: run once")


@pytest.fixture
def session(app, shop_db, localstripe, once):
    """One browser that is an admin, has a cart and a delivered order, and its CSRF token."""
    create_user("owner@example.com", ADMIN_PASSWORD)
    mug = factories.product("Mug", price=1500, stock=500)
    browser = Shopper(app.test_client(), localstripe)
    browser.add_to_cart(mug.id)
    browser.to_payment()
    assert browser.pay(CARD_OK).get_json()["status"] == "succeeded"
    order_id = db.session.scalar(select(Order.id))
    for _ in range(4):  # packed, shipped, out for delivery, delivered: reviews are open
        fulfilment.advance(order_id)
    db.session.commit()
    browser.add_to_cart(mug.id)
    page = browser.client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert browser.client.post("/admin/login", data={
        "email": "owner@example.com", "password": ADMIN_PASSWORD, "csrf_token": token,
    }).status_code == 302
    browser._csrf = None
    return {"client": browser.client, "csrf": browser.csrf,
            "cookies": {"session": browser.client.get_cookie("session").value},
            "product_id": mug.id, "order_token": order_token(order_id)}


@pytest.mark.slow
def test_json_endpoints_never_fail_with_a_5xx(app, session):
    """Each operation of /openapi.json: schemathesis generates the cases (valid and invalid
    bodies, queries, path values), sent with the admin's session and CSRF token."""
    api = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 18
    for operation in operations:

        @settings(max_examples=API_EXAMPLES, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def check(case):
            response = case.call(
                headers={"X-CSRFToken": session["csrf"], "Accept": "application/json"},
                cookies=session["cookies"])
            CASES["api"] += 1
            assert response.status_code < 500, (case.method, case.formatted_path,
                                                response.text[:300])
            if response.status_code >= 400:
                kind = {k.lower(): v for k, v in response.headers.items()}["content-type"]
                assert "application/json" in str(kind), (case.formatted_path, kind)
                assert response.json()["error"], case.formatted_path

        check()


def test_the_openapi_description_lists_every_json_endpoint(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {path.replace("{", "<").replace("}", ">") for path in spec["paths"]}
    rules = app.url_map.iter_rules()
    api_rules = {re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"<\1>", r.rule) for r in rules
                 if r.rule.startswith("/admin/api/")}
    assert api_rules <= documented, api_rules - documented
    assert {"/cart/add", "/cart/update", "/cart/remove", "/checkout/pay",
            "/stripe/webhook"} <= documented


# -- forms ------------------------------------------------------------------------------------
# Whatever a browser (or a script pretending to be one) can put in a form field.
ANYTHING = st.one_of(
    st.text(max_size=300), st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.sampled_from(["", " ", "0", "-1", "1e9", "NaN", "∞", "null", "true", "<script>",
                     "' OR 1=1 --", "%00", "\x00", "ü" * 5000, "12.50", "GB", "express"]),
)
FORMS = {
    "/account/signup": ["name", "email", "password"],
    "/account/login": ["email", "password", "next"],
    "/checkout/address": ["email", "name", "line1", "line2", "city", "postcode", "country"],
    "/checkout/shipping": ["method"],
    "/cart/add": ["product_id", "quantity"],
    "/cart/update": ["product_id", "quantity"],
    "/admin/login": ["email", "password", "next"],
    "/search": ["q", "category", "min_price", "max_price", "in_stock", "sort", "page"],
}


def form_data(fields: list[str]):
    return st.fixed_dictionaries({}, optional={name: ANYTHING for name in fields})


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(FORMS))
def test_forms_never_fail_with_a_5xx(app, session, path):
    client = app.test_client()  # a shopper with a session (not the admin: no redirects away)
    client.get("/")
    token = Shopper(client).csrf

    @settings(max_examples=FORM_EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(form_data(FORMS[path]))
    def check(data):
        if path == "/search":
            response = client.get(path, query_string=data)
        else:
            response = client.post(path, data={**data, "csrf_token": token})
        CASES["forms"] += 1
        assert response.status_code < 500, (path, data, response.status_code)
        if response.status_code >= 400:  # a page that says what is wrong
            html = response.get_data(as_text=True)
            assert response.mimetype == "text/html"
            assert 'role="alert"' in html or 'aria-invalid="true"' in html, (path, data)

    check()


@pytest.mark.slow
def test_reviews_form_never_fails_with_a_5xx(app, session):
    """The review form of a delivered order (and, for some cases, a token that is not one):
    the form's validation and the review itself run, not only the token's check."""
    client = session["client"]
    statuses: Counter[int] = Counter()
    valid = {"product_id": str(session["product_id"]), "rating": "4", "title": "Good",
             "body": "Holds heat well."}
    fields = {name: st.one_of(st.just(value), ANYTHING) for name, value in valid.items()}

    @settings(max_examples=FORM_EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.just(session["order_token"]), st.text(max_size=80)),
           st.fixed_dictionaries({}, optional=fields))
    def check(token, data):
        response = client.post(f"/orders/{token or 'x'}/reviews",
                               data={**data, "csrf_token": session["csrf"]})
        CASES["forms"] += 1
        statuses[response.status_code] += 1
        assert response.status_code < 500, (token, data, response.status_code)
        if token == session["order_token"]:
            assert response.status_code != 404, data

    check()
    # Past the token: invalid forms (400), and at least one review taken (302).
    assert statuses[400] >= 20 and statuses[302] >= 1, statuses


@pytest.mark.slow
def test_zz_at_least_5000_generated_cases(request, once):
    ran = {item.originalname for item in request.session.items}
    if not {"test_json_endpoints_never_fail_with_a_5xx", "test_forms_never_fail_with_a_5xx",
            "test_reviews_form_never_fails_with_a_5xx"} <= ran:
        pytest.skip("counts only when the whole fuzz module runs")
    assert CASES["api"] + CASES["forms"] >= 5000, CASES
