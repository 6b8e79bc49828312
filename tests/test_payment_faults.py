"""Payment faults made for real: answers from Stripe lost or late, webhooks replayed out of
order with duplicates and forgeries. Never charge twice, never pay a failed order."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import func, select

from checkout.models import (
    AttemptStatus,
    Order,
    OrderStatus,
    PaymentAttempt,
    PaymentStatus,
    StripeEvent,
)
from storefront.extensions import db
from storefront.models import Product

from . import factories
from .support import CARD_3DS, CARD_DECLINED, CARD_OK, FlakyProxy, Shopper, sign_payload, value


@pytest.fixture
def proxy(localstripe):
    flaky = FlakyProxy(localstripe.port)
    yield flaky
    flaky.stop()


@pytest.fixture
def intents_of(localstripe):
    """This test's PaymentIntents for an order (localstripe outlives the test databases,
    whose order ids start again at 1)."""
    before = {i["id"] for i in localstripe.list_all("payment_intents")}

    def of(order_id: int) -> list[dict]:
        return [i for i in localstripe.list_all("payment_intents") if i["id"] not in before
                and i["metadata"].get("order_id") == str(order_id)]

    return of


def orders() -> list[Order]:
    db.session.expire_all()
    return list(db.session.scalars(select(Order).order_by(Order.id)))


@pytest.mark.parametrize("lost", ["create", "confirm"])
@pytest.mark.parametrize("mode", ["drop", "stall"])
def test_a_lost_answer_from_stripe_never_charges_twice(app_factory, localstripe, proxy, shop_db,
                                                       intents_of, lost, mode):
    """Stripe acts on the request, the answer is lost (connection dropped, or held past the
    timeout): the shopper gets a clear retryable error, the order stays pending, and the
    retry ends with exactly one charge."""
    lamp = factories.product("Desk Lamp", price=4200, stock=3)
    app = app_factory(STRIPE_API_BASE=proxy.url, STRIPE_TIMEOUT=1)
    shopper = Shopper(app.test_client(), localstripe)
    shopper.add_to_cart(lamp.id)
    shopper.to_payment()
    target = "POST /v1/payment_intents/" if lost == "confirm" else "POST /v1/payment_intents"
    proxy.lose_next(target, mode=mode)

    first = shopper.pay(CARD_OK)
    assert proxy.lost, "the fault happened"
    if lost == "create":
        # Creating an unconfirmed intent is safe to repeat, and the Stripe client does:
        # the shopper never sees the fault; a spare, never-confirmed intent is left.
        assert first.status_code == 200 and first.get_json()["status"] == "succeeded"
    else:
        assert first.status_code == 503
        assert "never taken twice" in first.get_json()["error"]
        [order] = orders()
        assert order.status == OrderStatus.PENDING and not order.is_paid
        charged = [i for i in intents_of(order.id) if i["status"] == "succeeded"]
        assert len(charged) == 1, "Stripe took the payment; only the answer was lost"
        retry = shopper.pay(CARD_OK)
        assert retry.status_code == 200 and retry.get_json()["status"] == "succeeded"

    [order] = orders()
    assert order.is_paid and order.status == OrderStatus.PAID
    intents = intents_of(order.id)
    assert [i["status"] for i in intents].count("succeeded") == 1, intents
    # A create whose answer was lost leaves at most a spare, never-confirmed intent.
    assert all(i["status"] in ("succeeded", "requires_confirmation") for i in intents)
    assert db.session.get(Product, lamp.id).stock == 2
    assert db.session.scalar(select(func.count()).select_from(PaymentAttempt)) == 1
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert value(metrics, "storefront_orders_total") == 1.0


def test_stripe_answering_late_then_a_webhook_pays_without_a_retry(app_factory, localstripe,
                                                                  proxy, shop_db, intents_of):
    """The confirm's answer is lost; Stripe's webhook arrives before the shopper retries."""
    lamp = factories.product("Desk Lamp", price=4200, stock=3)
    app = app_factory(STRIPE_API_BASE=proxy.url, STRIPE_TIMEOUT=1)
    shopper = Shopper(app.test_client(), localstripe)
    shopper.add_to_cart(lamp.id)
    shopper.to_payment()
    proxy.lose_next("POST /v1/payment_intents/")
    assert shopper.pay(CARD_OK).status_code == 503
    [order] = orders()
    [intent] = [i for i in intents_of(order.id) if i["status"] == "succeeded"]
    event = {"id": "evt_lost_answer", "type": "payment_intent.succeeded",
             "data": {"object": intent}}
    assert deliver(app.test_client(), event).status_code == 200
    [order] = orders()
    assert order.is_paid
    retry = shopper.pay(CARD_OK)
    assert retry.status_code == 400 and retry.get_json()["error"] == "Your cart is empty."
    assert db.session.get(Product, lamp.id).stock == 2
    assert [i["status"] for i in intents_of(order.id)] == ["succeeded"]


def deliver(client, event: dict, secret: str | None = None, signature: str | None = None):
    payload = json.dumps(event).encode()
    if signature is None:
        signature = sign_payload(payload) if secret is None else sign_payload(payload, secret)
    return client.post("/stripe/webhook", data=payload,
                       headers={"Stripe-Signature": signature,
                                "Content-Type": "application/json"})


def test_a_thousand_webhooks_out_of_order_with_duplicates_pay_each_order_once(
        app, client, new_shopper, localstripe, shop_db):
    """Real events from localstripe for 12 orders (paid by webhook after 3-D Secure, failed
    3-D Secure, declined then paid with another card), delivered 1,000 times in random order:
    every event many times, late failures after the payment, and one delivery in ten forged
    or tampered (400)."""
    rng = random.Random(20261122)
    products = [factories.product(f"Lamp {n}", price=1000 + n, stock=10) for n in range(12)]
    events: list[dict] = []
    expected_paid, expected_failed = set(), set()

    def events_of(order: Order, kind: str) -> list[dict]:
        found = []
        for attempt in order.payments:
            if attempt.payment_intent_id:
                found += localstripe.events_for(attempt.payment_intent_id, kind)
        return found

    for n, product in enumerate(products):
        shopper = new_shopper()
        shopper.add_to_cart(product.id, quantity=2)
        shopper.to_payment()
        kind = ("3ds_paid", "3ds_failed", "declined_then_paid")[n % 3]
        if kind == "declined_then_paid":
            assert shopper.pay(CARD_DECLINED).get_json()["status"] == "failed"
        body = shopper.pay(CARD_3DS).get_json()
        assert body["status"] == "requires_action"
        order = orders()[-1]
        intent = next(a for a in order.payments if a.status == AttemptStatus.REQUIRES_ACTION)
        localstripe.authenticate(intent.payment_intent_id, body["client_secret"],
                                 success=kind != "3ds_failed")
        order = orders()[-1]
        if kind == "3ds_failed":
            expected_failed.add(order.id)
            events += events_of(order, "payment_intent.payment_failed")
        else:
            expected_paid.add(order.id)
            events += events_of(order, "payment_intent.succeeded")
            events += events_of(order, "payment_intent.payment_failed")  # the declined card
    assert len(expected_paid) == 8 and len(expected_failed) == 4
    # localstripe sends no event when 3-D Secure fails; Stripe sends payment_failed. Make
    # those from a real payment_failed event (a declined card's) with the failed intent.
    template = next(e for e in events if e["type"] == "payment_intent.payment_failed")
    for order in orders():
        if order.id in expected_failed:
            [attempt] = order.payments
            failed = json.loads(json.dumps(template))
            failed["id"] = f"evt_3ds_failed_{attempt.id}"
            failed["data"]["object"].update(
                id=attempt.payment_intent_id,
                metadata={"order_id": str(order.id), "attempt_id": str(attempt.id)},
                last_payment_error={"code": "payment_intent_authentication_failure",
                                    "message": "Authentication failed."})
            events.append(failed)
    assert len({e["id"] for e in events}) == len(events) == 16
    for order in orders():
        assert not order.is_paid, "nothing told the shop yet: the webhooks must"

    deliveries = [rng.choice(events) for _ in range(1000 - len(events))] + events
    rng.shuffle(deliveries)
    answers = {200: 0, 400: 0}
    for i, event in enumerate(deliveries):
        if i % 10 == 3:  # a forgery: wrong secret, tampered body, or no signature at all
            forged = rng.choice(["secret", "tamper", "none"])
            if forged == "secret":
                response = deliver(client, event, secret="whsec_not_ours")
            elif forged == "tamper":
                tampered = json.loads(json.dumps(event))
                tampered["type"] = "payment_intent.succeeded"
                tampered["data"]["object"]["status"] = "succeeded"
                tampered["data"]["object"]["amount"] = 1  # the body always differs
                signature = sign_payload(json.dumps(event).encode())  # signed the original
                response = deliver(client, tampered, signature=signature)
            else:
                response = deliver(client, event, signature="")
            assert response.status_code == 400, forged
        else:
            response = deliver(client, event)
            assert response.status_code == 200, response.get_data(as_text=True)
        answers[response.status_code] += 1
    assert answers == {200: 900, 400: 100}

    db.session.expire_all()
    for order in orders():
        product = db.session.get(Product, order.lines[0].product_id)
        if order.id in expected_paid:
            assert order.is_paid and order.status == OrderStatus.PAID
            assert product.stock == 8, "stock taken once"
            assert product.sold_count == 2
            succeeded = [a for a in order.payments if a.status == AttemptStatus.SUCCEEDED]
            assert len(succeeded) == 1
        else:
            assert order.id in expected_failed
            assert not order.is_paid and order.status == OrderStatus.PENDING
            assert order.payment_status == PaymentStatus.FAILED
            assert product.stock == 10
    delivered_ids = {e["id"] for e in deliveries}
    assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == len(delivered_ids)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert value(metrics, "storefront_orders_total") == 8.0, "each purchase tracked once"
    assert value(metrics, "journey_touchpoints_total", touchpoint="purchase") == 8.0


def _during_confirm(monkeypatch, other_tab) -> None:
    """Run ``other_tab`` (a second tab of the same shopper) while the first tab's payment is
    on its way to Stripe: between its intent's creation and its confirmation."""
    from checkout import payments

    real_client, fired = payments.client, []

    def client(retries: int = 2):
        made = real_client(retries)
        confirm = made.v1.payment_intents.confirm

        def confirm_later(*args, **kwargs):
            if not fired:
                fired.append(True)
                other_tab()
            return confirm(*args, **kwargs)

        made.v1.payment_intents.confirm = confirm_later
        return made

    monkeypatch.setattr(payments, "client", client)


def _refunded(localstripe, intent_id: str) -> bool:
    return any(r["payment_intent"] == intent_id for r in localstripe.list_all("refunds"))


def test_an_order_changed_while_its_payment_is_on_the_way_is_not_paid_by_the_old_amount(
        shopper, shop_db, localstripe, intents_of, monkeypatch):
    """Pay for a mug, and in another tab add a television while Stripe answers: the charge
    for the mug does not pay the order that now holds the television. It is refunded, the
    shopper is told, and paying again charges the order as it stands."""
    mug = factories.product("Mug", price=1500, stock=5)
    tv = factories.product("Television", price=200000, stock=5)
    shopper.add_to_cart(mug.id)
    shopper.to_payment()

    def second_tab():
        shopper.add_to_cart(tv.id)
        assert shopper.client.get("/checkout/payment").status_code == 200  # order rewritten

    _during_confirm(monkeypatch, second_tab)
    first = shopper.pay(CARD_OK)
    assert first.status_code == 402 and "refunded in full" in first.get_json()["error"]
    [order] = orders()
    assert not order.is_paid and order.total == 200000 + 1500  # free shipping over $100
    [charged] = intents_of(order.id)
    assert charged["amount"] == 1500 + 499 and _refunded(localstripe, charged["id"])
    assert db.session.get(Product, tv.id).stock == 5
    monkeypatch.undo()
    assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"
    [order] = orders()
    assert order.is_paid and [a.status for a in order.payments] == [AttemptStatus.REFUNDED,
                                                                    AttemptStatus.SUCCEEDED]
    paid = [i for i in intents_of(order.id) if i["id"] != charged["id"]]
    assert [i["amount"] for i in paid] == [order.total]


def test_two_cards_paying_one_order_at_once_charge_it_once(shopper, shop_db, localstripe,
                                                            intents_of, monkeypatch):
    """Two tabs pay the same order with two cards at the same moment: both reach Stripe, the
    first to be confirmed pays the order, and the other charge is refunded."""
    mug = factories.product("Mug", price=1500, stock=5)
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    second = []
    _during_confirm(monkeypatch, lambda: second.append(shopper.pay(CARD_OK).get_json()))
    first = shopper.pay(CARD_OK).get_json()
    assert second[0]["status"] == "succeeded" and first["status"] == "succeeded"
    [order] = orders()
    assert order.is_paid
    statuses = sorted(a.status for a in order.payments)
    assert statuses == [AttemptStatus.REFUNDED, AttemptStatus.SUCCEEDED]
    refunded = next(a for a in order.payments if a.status == AttemptStatus.REFUNDED)
    assert _refunded(localstripe, refunded.payment_intent_id)
    assert db.session.get(Product, mug.id).stock == 4  # taken once


def test_the_webhook_and_the_shoppers_request_confirming_one_charge_keep_it(
        app, shopper, shop_db, localstripe, intents_of, monkeypatch):
    """The webhook for a charge lands while the shopper's own request records it: whichever
    is second finds the charge recorded and gives nothing back."""
    import threading

    from checkout import payments

    mug = factories.product("Mug", price=1500, stock=5)
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    real_lock, fired, delivered = payments._lock_order, [], []

    def webhook_first(order_id):
        # the webhook arrives between the request's read of its attempt and its lock
        if not fired:
            fired.append(True)  # once: the webhook's own confirmation takes the lock too
            [intent] = [i for i in intents_of(order_id) if i["status"] == "succeeded"]
            event = {"id": "evt_race", "type": "payment_intent.succeeded",
                     "data": {"object": intent}}
            thread = threading.Thread(target=lambda: delivered.append(
                deliver(app.test_client(), event).status_code))
            thread.start()
            thread.join(30)
        return real_lock(order_id)

    monkeypatch.setattr(payments, "_lock_order", webhook_first)
    assert shopper.pay(CARD_OK).get_json()["status"] == "succeeded"
    assert delivered == [200]
    [order] = orders()
    [intent] = intents_of(order.id)
    assert order.is_paid and [a.status for a in order.payments] == [AttemptStatus.SUCCEEDED]
    assert not _refunded(localstripe, intent["id"])
    assert db.session.get(Product, mug.id).stock == 4


def test_expiry_goes_on_past_an_order_that_sold_out_while_it_waited(
        app, shopper, shop_db, localstripe):
    """A 3-D Secure payment completed with its webhook lost, its stock sold meanwhile: the
    order is canceled and refunded, and the run goes on to the next order."""
    from datetime import timedelta

    from checkout.payments import expire_unauthenticated

    mug = factories.product("Mug", price=1500, stock=1)
    cup = factories.product("Cup", price=1500, stock=5)
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    body = shopper.pay(CARD_3DS).get_json()
    other = Shopper(app.test_client(), localstripe)
    other.add_to_cart(cup.id)
    other.to_payment(email="b@example.com")
    assert other.pay(CARD_3DS).get_json()["status"] == "requires_action"
    first = orders()[0]
    localstripe.authenticate(first.payments[0].payment_intent_id, body["client_secret"])
    db.session.get(Product, mug.id).stock = 0
    db.session.commit()
    assert expire_unauthenticated(timedelta(0)) == {"paid": 0, "canceled": 2}
    assert [(o.status, o.payment_status) for o in orders()] == [
        (OrderStatus.CANCELED, PaymentStatus.REFUNDED),
        (OrderStatus.CANCELED, PaymentStatus.FAILED)]
