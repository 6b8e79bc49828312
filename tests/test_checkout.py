"""Checkout steps, Stripe payments on localstripe, the signed webhook, stock and snapshots."""

import json
import re
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from checkout.links import order_token
from checkout.models import (
    AttemptStatus,
    Order,
    OrderStatus,
    PaymentAttempt,
    PaymentStatus,
    StripeEvent,
)
from checkout.payments import expire_unauthenticated
from storefront.extensions import db
from storefront.models import Product

from . import factories
from .support import CARD_3DS, CARD_DECLINED, CARD_OK, Shopper, sign_payload


@pytest.fixture
def mug(shop_db):
    return factories.product("Mug", price=1500, stock=5)


def only_order() -> Order:
    db.session.expire_all()
    return db.session.scalar(select(Order))


def test_steps_are_a_declared_sequence_with_progress(shopper, mug):
    assert shopper.client.get("/checkout/").headers["Location"] == "/cart/"
    shopper.add_to_cart(mug.id)
    assert shopper.client.get("/checkout/").headers["Location"] == "/checkout/address"
    # Jumping ahead sends the shopper back to the first missing step.
    assert shopper.client.get("/checkout/shipping").headers["Location"] == "/checkout/address"
    assert shopper.client.get("/checkout/payment").headers["Location"] == "/checkout/address"
    html = shopper.client.get("/checkout/address").get_data(as_text=True)
    steps = re.findall(r'<li class="(\w+)"[^>]*>\s*<span class="step-no">\d</span> (\w+)', html)
    assert steps == [("current", "Address"), ("todo", "Delivery"), ("todo", "Payment"),
                     ("todo", "Confirmation")]
    assert 'aria-current="step"' in html
    assert shopper.address().headers["Location"] == "/checkout/shipping"
    html = shopper.client.get("/checkout/shipping").get_data(as_text=True)
    assert re.findall(r'<li class="(\w+)"', html)[:2] == ["done", "current"]
    assert shopper.choose_shipping("express").headers["Location"] == "/checkout/payment"
    html = shopper.client.get("/checkout/payment").get_data(as_text=True)
    assert "Pay $27.99" in html, "express shipping is never free"
    assert 'id="card-element"' in html and "/js.stripe.com/v3/" in html


TEST_CARDS = ("4242 4242 4242 4242: paid", "4000 0000 0000 0341: declined",
              "4000 0025 0000 3155: asks for 3-D Secure",
              "Any future expiry date (e.g. 12 / 34) and any CVC work.")


@pytest.mark.parametrize("demo", [True, False])
def test_only_the_demo_lists_the_test_cards_on_the_payment_page(app_factory, localstripe,
                                                               shop_db, demo):
    mug = factories.product("Mug", price=1500, stock=5)
    shopper = Shopper(app_factory(DEMO=demo).test_client(), localstripe)
    shopper.add_to_cart(mug.id)
    html = shopper.to_payment().get_data(as_text=True)
    for line in TEST_CARDS:
        assert (line in html) is demo, line


def test_inline_validation_keeps_what_the_shopper_typed(shopper, mug):
    shopper.add_to_cart(mug.id)
    response = shopper.address(email="ada@", postcode="!!", name="Ada Lovelace", country="XX")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'value="Ada Lovelace"' in html and 'value="12 Analytical Row"' in html
    assert 'value="ada@"' in html
    assert "Enter an email address like ada@example.com." in html
    assert "Not a valid" not in html
    assert "Use letters, digits, spaces or dashes." in html
    assert "Choose a country." in html
    assert 'aria-invalid="true"' in html
    shopper.address()
    bad = shopper.choose_shipping("teleport")
    assert bad.status_code == 400 and "Choose a delivery method." in bad.get_data(as_text=True)
    none = shopper.post("/checkout/shipping", {})
    assert none.status_code == 400 and "Choose a delivery method." in none.get_data(as_text=True)
    assert "Missing data" not in none.get_data(as_text=True)


def test_empty_address_fields_say_what_to_enter(shopper, mug):
    shopper.add_to_cart(mug.id)
    response = shopper.address(email="", name="  ", line1="", line2="", city="", postcode="",
                               country="")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for message in ("Enter your email address.", "Enter your full name.",
                    "Enter your street address.", "Enter your town or city.",
                    "Enter your postcode or ZIP.", "Choose a country."):
        assert html.count(message) == 1, message
    assert "Length must be" not in html and "Not a valid" not in html
    too_long = shopper.address(name="A" * 121, postcode="N")
    html = too_long.get_data(as_text=True)
    assert "Use at most 120 characters." in html
    assert "A postcode or ZIP has 2 to 20 characters." in html
    assert shopper.address(line2="").status_code == 302, "the second address line is optional"


def test_the_shop_promises_no_email_it_does_not_send(shopper, mug):
    shopper.add_to_cart(mug.id)
    address = shopper.client.get("/checkout/address").get_data(as_text=True)
    assert "receipt" not in address and "delivery updates" not in address
    assert "Email (so we can reach you about this order)" in address
    shopper.to_payment()
    body = shopper.pay(CARD_OK).get_json()
    html = shopper.client.get(body["redirect"]).get_data(as_text=True)
    assert "receipt" not in html.lower()
    order = only_order()
    assert "We do not send emails" in html
    assert f"<strong data-order-number>{order.number}</strong>" in html
    assert f'href="/orders/{order_token(order.id)}">order page</a>' in html


@pytest.mark.parametrize("field", ["name", "line1", "line2", "city"])
def test_control_characters_in_the_address_are_refused(shopper, mug, field):
    shopper.add_to_cart(mug.id)
    response = shopper.address(**{field: "12\x00 Analytical\x1b Row"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Remove the invisible control characters." in html
    assert 'value="12 Analytical Row"' in html, "what was typed is kept, less the controls"
    assert shopper.client.get("/checkout/payment").status_code == 302, "nothing was saved"


def test_signed_in_customer_checks_out_with_their_email(shopper, mug):
    shopper.signup("kim@example.com", name="Kim")
    shopper.add_to_cart(mug.id)
    html = shopper.client.get("/checkout/address").get_data(as_text=True)
    assert "Ordering as <strong>kim@example.com</strong>" in html
    shopper.address(email="someone-else@example.com")
    shopper.choose_shipping()
    shopper.client.get("/checkout/payment")
    assert only_order().email == "kim@example.com"


def test_successful_payment_marks_the_order_paid_and_takes_stock(shopper, mug, localstripe):
    shopper.add_to_cart(mug.id, 2)
    shopper.to_payment()
    response = shopper.pay(CARD_OK)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "succeeded"
    order = only_order()
    assert order.status == OrderStatus.PAID and order.payment_status == PaymentStatus.PAID
    assert order.total == 3000 and order.shipping_cost == 0
    attempt = order.payments[0]
    assert attempt.payment_intent_id.startswith("pi_")
    assert attempt.idempotency_key.startswith(f"order-{order.id}-")
    assert db.session.get(Product, mug.id).stock == 3
    assert db.session.get(Product, mug.id).sold_count == 2
    html = shopper.client.get(body["redirect"]).get_data(as_text=True)
    assert "Thank you! Your order is confirmed" in html and order.number in html
    assert "Your cart is empty" in shopper.client.get("/cart/").get_data(as_text=True)


def test_the_payment_page_with_an_empty_cart_says_the_cart_is_empty(shopper, mug):
    for when in ("before shopping", "after paying"):
        if when == "after paying":
            shopper.add_to_cart(mug.id)
            shopper.to_payment()
            shopper.client.get(shopper.pay(CARD_OK).get_json()["redirect"])
        response = shopper.client.get("/checkout/payment")
        assert response.status_code == 302 and response.headers["Location"] == "/cart/", when
        html = shopper.client.get("/cart/").get_data(as_text=True)
        assert 'class="flash flash-error" role="alert">Your cart is empty.</p>' in html, when
        assert "step first" not in html, when


def test_the_address_and_delivery_steps_with_an_empty_cart_say_the_cart_is_empty(shopper):
    for step in ("/checkout/address", "/checkout/shipping"):
        response = shopper.client.get(step)
        assert response.status_code == 302 and response.headers["Location"] == "/cart/", step
        html = shopper.client.get("/cart/").get_data(as_text=True)
        assert 'class="flash flash-error" role="alert">Your cart is empty.</p>' in html, step


def test_declined_card_shows_a_message_and_another_card_works(shopper, mug):
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    declined = shopper.pay(CARD_DECLINED)
    assert declined.status_code == 402
    assert declined.get_json()["error"] == "Your card was declined. Please try another card."
    order = only_order()
    assert order.status == OrderStatus.PENDING and order.payment_status == PaymentStatus.FAILED
    assert db.session.get(Product, mug.id).stock == 5
    # The payment page still works, for the same order, and a good card pays it.
    shopper.client.get("/checkout/payment")
    ok = shopper.pay(CARD_OK)
    assert ok.get_json()["status"] == "succeeded"
    order = only_order()
    assert order.is_paid and len(order.payments) == 2
    assert [a.status for a in order.payments] == [AttemptStatus.FAILED, AttemptStatus.SUCCEEDED]
    assert db.session.scalars(select(Order)).all() == [order], "a retry does not make a new order"


def test_three_d_secure_is_completed_in_the_browser(shopper, mug, localstripe):
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    body = shopper.pay(CARD_3DS).get_json()
    assert body["status"] == "requires_action" and body["client_secret"]
    order = only_order()
    assert order.payment_status == PaymentStatus.REQUIRES_ACTION and not order.is_paid
    # The browser's word is not enough: the order is paid only once Stripe says so.
    html = shopper.client.get(body["redirect"]).get_data(as_text=True)
    assert "Waiting for payment confirmation" in html
    intent_id = order.payments[0].payment_intent_id
    localstripe.authenticate(intent_id, body["client_secret"], success=True)
    html = shopper.client.get(body["redirect"]).get_data(as_text=True)
    assert "Thank you! Your order is confirmed" in html
    assert only_order().is_paid


def test_an_order_left_at_3d_secure_is_canceled_and_its_payment_cannot_complete(
        app, shopper, mug, localstripe):
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    body = shopper.pay(CARD_3DS).get_json()
    waiting = only_order()
    intent_id = waiting.payments[0].payment_intent_id
    young = app.test_cli_runner().invoke(args=["orders", "expire", "--after", "3600"])
    assert "0 orders canceled" in young.output  # it has not waited an hour
    assert expire_unauthenticated(timedelta(0)) == {"paid": 0, "canceled": 1}
    db.session.expire_all()
    order = db.session.get(Order, waiting.id)
    assert (order.status, order.payment_status) == (OrderStatus.CANCELED, PaymentStatus.FAILED)
    assert order.payments[0].error_code == "authentication_abandoned"
    with pytest.raises(requests.HTTPError):  # Stripe will not complete it now
        localstripe.authenticate(intent_id, body["client_secret"], success=True)
    shopper.client.get("/checkout/payment")  # the shopper may still buy: a new order
    assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"
    orders = db.session.scalars(select(Order).order_by(Order.id)).all()
    assert [(o.status, o.payment_status) for o in orders] == [
        (OrderStatus.CANCELED, PaymentStatus.FAILED), (OrderStatus.PAID, PaymentStatus.PAID)]


def test_expiry_finds_a_3d_secure_payment_whose_webhook_was_lost(shopper, mug, localstripe):
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    body = shopper.pay(CARD_3DS).get_json()
    intent_id = only_order().payments[0].payment_intent_id
    localstripe.authenticate(intent_id, body["client_secret"], success=True)  # no webhook here
    assert expire_unauthenticated(timedelta(0)) == {"paid": 1, "canceled": 0}
    db.session.expire_all()
    assert only_order().is_paid and only_order().status == OrderStatus.PAID


def test_failed_authentication_lets_the_shopper_retry(shopper, mug, localstripe):
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    body = shopper.pay(CARD_3DS).get_json()
    intent_id = only_order().payments[0].payment_intent_id
    localstripe.authenticate(intent_id, body["client_secret"], success=False)
    html = shopper.client.get(body["redirect"]).get_data(as_text=True)
    assert "Try another card" in html
    assert only_order().payment_status == PaymentStatus.FAILED
    shopper.client.get("/checkout/payment")
    assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"


def test_double_submit_of_the_same_card_charges_once(shopper, mug, localstripe):
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    card_ref = localstripe.card_ref(CARD_OK)
    first = shopper.post_json("/checkout/pay", {"card_ref": card_ref})
    again = shopper.post_json("/checkout/pay", {"card_ref": card_ref})
    assert first.get_json()["status"] == "succeeded"
    assert again.get_json() == first.get_json(), "the repeat gets the first answer"
    assert db.session.query(PaymentAttempt).count() == 1
    db.session.expire_all()
    assert db.session.get(Product, mug.id).stock == 4


def test_pay_rejects_bad_input_with_json(shopper, mug):
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    bad = shopper.post_json("/checkout/pay", {"card_ref": "4242424242424242"})
    assert bad.status_code == 400 and "card_ref" in bad.get_json()["errors"]
    no_csrf = shopper.client.post("/checkout/pay", json={"card_ref": "card_x"})
    assert no_csrf.status_code == 400 and "error" in no_csrf.get_json()


def test_stripe_unreachable_is_a_clear_retryable_error(app_factory, localstripe, shop_db):
    from .support import Shopper

    mug = factories.product("Mug", price=1500, stock=5)
    app = app_factory(STRIPE_API_BASE="http://127.0.0.1:9", STRIPE_TIMEOUT=2)
    shopper = Shopper(app.test_client(), localstripe)
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    response = shopper.pay(CARD_OK)
    assert response.status_code == 503
    assert "never taken twice" in response.get_json()["error"]
    assert only_order().status == OrderStatus.PENDING


def webhook(client, event: dict, secret: str | None = None):
    payload = json.dumps(event).encode()
    signature = sign_payload(payload) if secret is None else sign_payload(payload, secret)
    return client.post("/stripe/webhook", data=payload,
                       headers={"Stripe-Signature": signature, "Content-Type": "application/json"})


def paid_by_webhook_setup(shopper, mug, localstripe):
    """A 3-D Secure payment completed at Stripe, with our app not told yet."""
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    body = shopper.pay(CARD_3DS).get_json()
    intent_id = only_order().payments[0].payment_intent_id
    localstripe.authenticate(intent_id, body["client_secret"], success=True)
    [event] = localstripe.events_for(intent_id, "payment_intent.succeeded")
    return event


def test_signed_webhook_pays_the_order_once(shopper, mug, localstripe, client):
    event = paid_by_webhook_setup(shopper, mug, localstripe)
    assert not only_order().is_paid
    response = webhook(client, event)
    assert response.status_code == 200 and response.get_json()["status"] == "ok"
    order = only_order()
    assert order.is_paid and order.paid_at is not None
    assert db.session.get(StripeEvent, event["id"]) is not None
    stock_after = db.session.get(Product, mug.id).stock
    assert stock_after == 4
    duplicate = webhook(client, event)
    assert duplicate.status_code == 200 and duplicate.get_json()["status"] == "duplicate"
    db.session.expire_all()
    assert db.session.get(Product, mug.id).stock == 4, "a duplicate is a no-op"


def test_webhook_with_a_bad_signature_is_refused(shopper, mug, localstripe, client):
    event = paid_by_webhook_setup(shopper, mug, localstripe)
    assert webhook(client, event, secret="whsec_wrong").status_code == 400
    unsigned = client.post("/stripe/webhook", data=json.dumps(event))
    assert unsigned.status_code == 400
    assert not only_order().is_paid
    assert db.session.query(StripeEvent).count() == 0


def test_failed_payment_webhook_never_unpays_a_paid_order(shopper, mug, client):
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    shopper.pay(CARD_OK)
    order = only_order()
    intent = order.payments[0].payment_intent_id
    failed = {"id": "evt_late_failure", "type": "payment_intent.payment_failed",
              "data": {"object": {"id": intent, "metadata": {"order_id": str(order.id)},
                                  "last_payment_error": {"code": "card_declined",
                                                         "message": "declined"}}}}
    assert webhook(client, failed).status_code == 200
    order = only_order()
    assert order.is_paid and order.payment_status == PaymentStatus.PAID


def test_a_sold_out_item_is_not_charged(new_shopper, shop_db):
    last = factories.product("Last Lamp", price=3000, stock=1)
    first, second = new_shopper(), new_shopper()
    for s in (first, second):
        s.add_to_cart(last.id)
        s.to_payment()
    assert first.pay(CARD_OK).get_json()["status"] == "succeeded"
    late = second.pay(CARD_OK)
    assert late.status_code == 409
    assert late.get_json()["error"] == "Last Lamp is out of stock."
    assert db.session.query(PaymentAttempt).count() == 1


def test_the_last_unit_is_never_sold_twice(new_shopper, shop_db, localstripe):
    """Two buyers pass the stock check together (both in 3-D Secure); only one gets it."""
    last = factories.product("Last Lamp", price=3000, stock=1)
    buyers = [new_shopper(), new_shopper()]
    answers = []
    for s in buyers:
        s.add_to_cart(last.id)
        s.to_payment()
        answers.append(s.pay(CARD_3DS).get_json())
    intents = [a.payment_intent_id for a in
               db.session.scalars(select(PaymentAttempt).order_by(PaymentAttempt.id))]
    for intent, answer in zip(intents, answers, strict=True):
        localstripe.authenticate(intent, answer["client_secret"])
    pages = [s.client.get(a["redirect"]).get_data(as_text=True)
             for s, a in zip(buyers, answers, strict=True)]
    db.session.expire_all()
    assert db.session.get(Product, last.id).stock == 0
    orders = db.session.scalars(select(Order).order_by(Order.id)).all()
    assert [o.status for o in orders] == [OrderStatus.PAID, OrderStatus.CANCELED]
    assert orders[1].payment_status == PaymentStatus.REFUNDED
    assert "Thank you!" in pages[0] and "refunded in full" in pages[1]
    refunds = __import__("requests").get(
        f"{localstripe.url}/v1/refunds", headers={"Authorization": "Bearer sk_test_x"}, timeout=5
    ).json()["data"]
    assert [r["payment_intent"] for r in refunds if r["payment_intent"] == intents[1]]


def test_order_lines_snapshot_name_sku_and_price(shopper, mug):
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    shopper.pay(CARD_OK)
    original_sku = mug.sku
    product = db.session.get(Product, mug.id)
    product.title, product.price, product.sku = "Renamed Mug", 9900, "NEW-SKU"
    db.session.commit()
    [line] = only_order().lines
    assert (line.name, line.sku, line.unit_price) == ("Mug", original_sku, 1500)


def test_prices_come_from_the_catalog_not_the_client(shopper, mug):
    # A form that names its own price (as a tampered page could) is priced by the catalog.
    response = shopper.post("/cart/add", {"product_id": mug.id, "quantity": 1, "price": 1,
                                          "unit_price": 1, "total": 1})
    assert response.status_code == 302
    shopper.address()
    shopper.choose_shipping()
    shopper.client.get("/checkout/payment")
    assert only_order().subtotal == 1500
    assert [line.unit_price for line in only_order().lines] == [1500]
    # A price change before paying re-prices the pending order.
    product = db.session.get(Product, mug.id)
    product.price = 2000
    db.session.commit()
    shopper.client.get("/checkout/payment")
    assert only_order().subtotal == 2000


def test_payment_failed_webhook_marks_the_attempt_failed(shopper, mug, localstripe, client):
    """The shopper fails 3-D Secure and never comes back to the store: only the webhook can
    tell it the payment failed."""
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    body = shopper.pay(CARD_3DS).get_json()
    order = only_order()
    attempt = order.payments[0]
    intent_id = attempt.payment_intent_id
    assert attempt.status == AttemptStatus.REQUIRES_ACTION
    assert order.payment_status != PaymentStatus.FAILED
    localstripe.authenticate(intent_id, body["client_secret"], success=False)
    # Stripe sends payment_intent.payment_failed here; localstripe sends nothing, so the
    # event is made as Stripe makes it, around the intent as localstripe now has it.
    intent = requests.get(f"{localstripe.url}/v1/payment_intents/{intent_id}",
                          headers={"Authorization": "Bearer sk_test_x"}, timeout=5).json()
    assert intent["status"] == "requires_payment_method"
    db.session.expire_all()  # nothing in the store knows yet
    assert only_order().payments[0].status == AttemptStatus.REQUIRES_ACTION
    intent["last_payment_error"] = {"code": "payment_intent_authentication_failure",
                                    "message": "The bank did not authenticate the payment."}
    event = {"id": "evt_3ds_failed", "object": "event", "type": "payment_intent.payment_failed",
             "data": {"object": intent}}
    assert webhook(client, event).status_code == 200
    db.session.expire_all()
    order = only_order()
    attempt = order.payments[0]
    assert attempt.status == AttemptStatus.FAILED
    assert attempt.error_code == "authentication_failed"  # as the panel shows it
    assert order.payment_status == PaymentStatus.FAILED and not order.is_paid


def test_webhook_and_return_page_together_pay_once(shopper, mug, localstripe, client):
    """The confirmation page's retrieve and the webhook race; stock is taken once."""
    import threading

    event = paid_by_webhook_setup(shopper, mug, localstripe)
    order = only_order()
    from checkout.links import order_token

    confirmation = f"/checkout/confirmation/{order_token(order.id)}"
    results = []

    def hit(fn):
        results.append(fn().status_code)

    threads = [
        threading.Thread(target=hit, args=(lambda: webhook(client, event),)),
        threading.Thread(target=hit, args=(
            lambda: shopper.client.get(confirmation),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [200, 200]
    db.session.expire_all()
    assert db.session.get(Product, mug.id).stock == 4
    assert db.session.get(Product, mug.id).sold_count == 1


def failed_3ds(shopper, localstripe):
    """A guest pays with the 3-D Secure card and clicks "Fail authentication"."""
    body = shopper.pay(CARD_3DS).get_json()
    order = only_order()
    intent_id = order.payments[-1].payment_intent_id
    localstripe.authenticate(intent_id, body["client_secret"], success=False)
    return body, order, intent_id


def authentication_failed_event(localstripe, intent_id: str, event_id: str) -> dict:
    """payment_intent.payment_failed as Stripe sends it (localstripe sends none for 3DS)."""
    intent = requests.get(f"{localstripe.url}/v1/payment_intents/{intent_id}",
                          headers={"Authorization": "Bearer sk_test_x"}, timeout=5).json()
    intent["last_payment_error"] = {"code": "payment_intent_authentication_failure",
                                    "message": "The bank did not authenticate the payment."}
    return {"id": event_id, "object": "event", "type": "payment_intent.payment_failed",
            "data": {"object": intent}}


def test_a_failed_3d_secure_reported_by_the_browser_is_tracked_once_and_retried_on_the_same_order(
        shopper, mug, localstripe, client, touchpoints):
    shopper.add_to_cart(mug.id)
    page = shopper.to_payment().get_data(as_text=True)
    body, order, intent_id = failed_3ds(shopper, localstripe)
    assert f"Pay for order {order.number}" in page and body["order_number"] == order.number
    # payment.js reports the end of 3-D Secure; the shop asks Stripe, not the browser.
    checked = shopper.post_json(body["check"], {})
    assert checked.status_code == 402
    assert checked.get_json()["error"] == ("Card authentication failed. Please try again or "
                                           "use another card.")
    assert checked.get_json()["order_number"] == order.number
    order = only_order()
    assert order.payment_status == PaymentStatus.FAILED
    assert (order.payments[0].status, order.payments[0].error_code) == (
        AttemptStatus.FAILED, "authentication_failed")
    # Stripe's webhook about the same failure, and the browser reporting twice: no more.
    assert webhook(client, authentication_failed_event(localstripe, intent_id,
                                                       "evt_3ds_fail")).status_code == 200
    assert shopper.post_json(body["check"], {}).status_code == 402
    failed = touchpoints.of("payment_failed")
    assert [(f.props["code"], f.props["order_ref"]) for f in failed] == [
        ("authentication_failed", str(order.id))]
    # The retry pays the order the page named, and no other order is made.
    shopper.client.get("/checkout/payment")
    paid = shopper.pay(CARD_OK).get_json()
    assert (paid["status"], paid["order_number"]) == ("succeeded", order.number)
    assert db.session.scalars(select(Order)).all() == [only_order()]
    assert only_order().is_paid


def test_a_failed_3d_secure_told_only_by_the_webhook_is_tracked_once(
        shopper, mug, localstripe, client, touchpoints):
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    _body, order, intent_id = failed_3ds(shopper, localstripe)
    event = authentication_failed_event(localstripe, intent_id, "evt_3ds_fail_only")
    assert webhook(client, event).status_code == 200
    shopper.client.get("/checkout/payment")  # the next attempt asks Stripe again: no news
    assert [f.props["code"] for f in touchpoints.of("payment_failed")] == [
        "authentication_failed"]
    assert shopper.pay(CARD_OK).get_json()["order_number"] == order.number


def test_a_failed_3d_secure_nobody_reported_is_found_by_the_retry_on_the_same_order(
        shopper, mug, localstripe, touchpoints):
    """The browser's report is lost and the webhook has not come: the shopper pays again
    from the payment page, which settles the waiting payment with Stripe first."""
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    _body, order, _intent_id = failed_3ds(shopper, localstripe)
    assert only_order().payment_status == PaymentStatus.REQUIRES_ACTION
    page = shopper.client.get("/checkout/payment").get_data(as_text=True)
    assert f"Pay for order {order.number}" in page
    assert only_order().payments[0].error_code == "authentication_failed"
    assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"
    assert db.session.scalars(select(Order)).all() == [only_order()] and only_order().is_paid
    assert [f.props["code"] for f in touchpoints.of("payment_failed")] == [
        "authentication_failed"]


def test_a_3d_secure_dialog_left_open_is_canceled_when_the_shopper_pays_again(
        shopper, mug, localstripe, touchpoints):
    """The shopper closed the dialog (or reloaded) and pays again: the waiting payment is
    canceled at Stripe, so it cannot charge as well, and the same order is paid."""
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    body = shopper.pay(CARD_3DS).get_json()
    order = only_order()
    assert order.number in shopper.client.get("/checkout/payment").text  # a reload
    assert shopper.pay(CARD_OK).get_json()["order_number"] == order.number
    with pytest.raises(requests.HTTPError):  # Stripe will not complete it now
        localstripe.authenticate(order.payments[0].payment_intent_id, body["client_secret"])
    order = only_order()
    assert order.is_paid and [(a.status, a.error_code) for a in order.payments] == [
        (AttemptStatus.FAILED, "authentication_abandoned"), (AttemptStatus.SUCCEEDED, None)]
    assert db.session.scalars(select(Order)).all() == [order]
    assert [f.props["code"] for f in touchpoints.of("payment_failed")] == [
        "authentication_abandoned"]


def test_showing_the_payment_page_again_leaves_an_authentication_under_way(
        shopper, mug, localstripe):
    """A reload, a second tab or Back from the bank's page shows the same order and
    cancels nothing: the bank's check under way can still complete."""
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    body = shopper.pay(CARD_3DS).get_json()
    order = only_order()
    for _ in range(2):
        page = shopper.client.get("/checkout/payment")
        assert page.status_code == 200 and order.number in page.text
    localstripe.authenticate(order.payments[0].payment_intent_id, body["client_secret"],
                             success=True)  # raises if the payment had been canceled
    assert db.session.scalars(select(Order)).all() == [only_order()]


def test_the_browser_report_is_refused_without_csrf_and_for_an_unknown_order(shopper, mug):
    assert shopper.client.post("/checkout/pay/nope/check").status_code == 400
    assert shopper.post_json("/checkout/pay/nope/check", {}).status_code == 404
