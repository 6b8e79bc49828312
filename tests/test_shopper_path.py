"""The whole shopper path over HTTP: land, search, product, cart, checkout, pay, webhook,
delivery, review — on SQLite and PostgreSQL, against localstripe."""

import json
import re

from sqlalchemy import select

from checkout.models import Order, StripeEvent
from storefront.extensions import db
from storefront.models import Product, Review
from tracking.models import journey_events, journeys

from .support import CARD_3DS, CARD_DECLINED, sign_payload


def test_land_to_review(app, shopper, seeded, localstripe, touchpoints, flush_journeys):
    client = shopper.client
    landing = client.get("/?utm_source=newsletter")
    assert landing.status_code == 200 and "Shop by category" in landing.get_data(as_text=True)

    results = client.get("/search?q=kettle").get_data(as_text=True)
    slug = re.search(r'<a href="/p/([^"]+)" class="card-link">', results).group(1)
    assert slug == "gooseneck-electric-kettle"

    page = client.get(f"/p/{slug}").get_data(as_text=True)
    product_id = int(re.search(r'name="product_id" value="(\d+)"', page).group(1))
    stock_before = db.session.get(Product, product_id).stock
    assert "Frequently bought together" in page and "Customers also viewed" in page

    assert shopper.add_to_cart(product_id, 1).status_code == 302
    cart = client.get("/cart/").get_data(as_text=True)
    assert "Estimated delivery" in cart and "Proceed to checkout" in cart

    assert client.get("/checkout/").headers["Location"] == "/checkout/address"
    shopper.to_payment(email="path@example.com")
    assert shopper.pay(CARD_DECLINED).status_code == 402
    answer = shopper.pay(CARD_3DS).get_json()
    assert answer["status"] == "requires_action"

    order = db.session.scalar(select(Order).where(Order.email == "path@example.com"))
    intent_id = order.payments[-1].payment_intent_id
    localstripe.authenticate(intent_id, answer["client_secret"])
    [event] = localstripe.events_for(intent_id, "payment_intent.succeeded")
    payload = json.dumps(event).encode()
    hook = client.post("/stripe/webhook", data=payload,
                       headers={"Stripe-Signature": sign_payload(payload)})
    assert hook.status_code == 200
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert order.is_paid and order.email == "path@example.com"
    assert db.session.get(StripeEvent, event["id"])
    assert db.session.get(Product, product_id).stock == stock_before - 1

    confirmation = client.get(answer["redirect"]).get_data(as_text=True)
    assert "Thank you! Your order is confirmed" in confirmation
    order_url = re.search(r'href="(/orders/[^"]+)"', confirmation).group(1)

    runner = app.test_cli_runner()
    for _ in range(4):
        assert runner.invoke(args=["orders", "advance", str(order.id)]).exit_code == 0
    tracking = client.get(order_url).get_data(as_text=True)
    assert tracking.count('<li class="done">') == 5 and "Review your purchase" in tracking

    reviewed = shopper.post(f"{order_url}/reviews", {"product_id": product_id, "rating": 5,
                                                     "title": "Perfect pour",
                                                     "body": "Precise spout, boils fast."})
    assert reviewed.status_code == 302
    review = db.session.scalar(select(Review).where(Review.order_id == order.id))
    assert review.verified and review.rating == 5
    product_page = client.get(f"/p/{slug}").get_data(as_text=True)
    assert "Precise spout, boils fast." in product_page

    # Every touchpoint fired exactly once per real action, in order; shopping again after
    # the purchase starts a new journey.
    assert touchpoints.names() == [
        "landing", "search", "product_view", "add_to_cart", "cart_view", "checkout_start",
        "checkout_address", "checkout_shipping", "page_view", "payment_submitted",
        "payment_failed", "payment_submitted", "payment_requires_action", "purchase",
        "order_view", "shipped", "out_for_delivery", "delivered", "order_view",
        "review_submitted", "landing", "product_view",
    ]
    first, second = touchpoints.journeys()
    assert order.journey_id == first
    assert {e.journey_id for e in touchpoints.events[:-2]} == {first}
    assert {e.journey_id for e in touchpoints.events[-2:]} == {second}
    landing = touchpoints.of("landing")[0]
    assert landing.props["source"] == "newsletter" and landing.props["path"] == "/"

    flush_journeys()
    journey = app.extensions["journey"]
    with journey.engine.connect() as conn:
        stored = conn.execute(
            select(journey_events.c.touchpoint).order_by(journey_events.c.occurred_at,
                                                         journey_events.c.id)
        ).scalars().all()
        row = conn.execute(select(journeys).where(journeys.c.id == first)).mappings().one()
    assert stored == touchpoints.names()
    assert row["status"] == "purchased" and row["stage"] == "reviewed"
    assert row["order_ref"] == str(order.id) and row["value"] == order.total
    assert row["source"] == "newsletter"
