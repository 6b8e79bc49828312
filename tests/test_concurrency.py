"""Many buyers at once for the last units; one customer editing a cart from two devices.

Threads, each with its own browser (test client), against one app: the requests run at once
in the database (PostgreSQL takes them on as many connections as the pool gives).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from checkout.models import Order, OrderStatus, PaymentStatus
from storefront.extensions import db
from storefront.models import Cart, Product

from . import factories
from .support import CARD_OK


def _on_postgresql(backend, request) -> None:
    if backend == "sqlite" and request.config.getoption("--db") == "both":
        pytest.skip("row locks under real concurrency: PostgreSQL, the production database")


def test_fifty_buyers_for_the_last_five_units(app, new_shopper, localstripe, shop_db, backend,
                                              request):
    _on_postgresql(backend, request)
    last = factories.product("Last Lamp", price=3000, stock=5)
    shoppers = [new_shopper() for _ in range(50)]
    for shopper in shoppers:  # all 50 reach the payment step while 5 are in stock
        shopper.add_to_cart(last.id)
        assert shopper.to_payment().status_code == 200
    cards = [localstripe.card_ref(CARD_OK) for _ in shoppers]
    start = threading.Barrier(len(shoppers))

    def buy(i: int):
        start.wait(30)
        return shoppers[i].post_json("/checkout/pay", {"card_ref": cards[i]})

    with ThreadPoolExecutor(len(shoppers)) as pool:
        answers = list(pool.map(buy, range(len(shoppers))))

    codes = sorted(a.status_code for a in answers)
    assert all(code in (200, 409) for code in codes), codes
    succeeded = [a for a in answers if a.status_code == 200
                 and a.get_json()["status"] == "succeeded"]
    assert len(succeeded) == 5, [(a.status_code, a.get_json()) for a in answers]
    refunded = [a for a in answers if "refunded" in (a.get_json().get("error") or "")]
    db.session.expire_all()
    product = db.session.get(Product, last.id)
    assert product.stock == 0 and product.sold_count == 5
    orders = list(db.session.scalars(select(Order)))
    assert len(orders) == 50
    paid = [o for o in orders if o.is_paid and o.status == OrderStatus.PAID]
    assert len(paid) == 5
    for order in orders:
        if order in paid:
            continue
        # Either refused before any charge (sold out), or charged in the race and refunded.
        assert order.status in (OrderStatus.PENDING, OrderStatus.CANCELED)
        if order.status == OrderStatus.CANCELED:
            assert order.payment_status == PaymentStatus.REFUNDED
            intent = requests.get(
                f"{localstripe.url}/v1/payment_intents/{order.payments[-1].payment_intent_id}",
                headers={"Authorization": "Bearer sk_test_localstripe"}, timeout=10).json()
            [charge] = intent["charges"]["data"]
            assert charge["refunded"] and charge["amount_refunded"] == charge["amount"]
    canceled = [o for o in orders if o.status == OrderStatus.CANCELED]
    assert len(refunded) == len(canceled), "whoever was refunded was told so"


def test_one_cart_edited_from_two_devices_at_once(app, new_shopper, shop_db, backend, request):
    _on_postgresql(backend, request)
    mug = factories.product("Mug", price=1500, stock=100)
    bowl = factories.product("Bowl", price=900, stock=100)
    phone, laptop = new_shopper(), new_shopper()
    phone.signup("two-devices@example.com")
    laptop.login("two-devices@example.com")
    start = threading.Barrier(2)

    def edit(device, product_id: int, adds: int):
        start.wait(30)
        return [device.add_to_cart(product_id).status_code for _ in range(adds)]

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(edit, (phone, laptop), (mug.id, mug.id), (20, 20)))
        results += list(pool.map(edit, (phone, laptop), (bowl.id, mug.id), (15, 5)))
    assert all(code == 302 for codes in results for code in codes), results

    db.session.expire_all()
    [cart] = db.session.scalars(select(Cart).where(Cart.customer_id.is_not(None)))
    lines = {item.product_id: item.quantity for item in cart.items}
    assert lines == {mug.id: 45, bowl.id: 15}, "every add counted once, in one line each"
    for device in (phone, laptop):  # both devices show the same cart
        body = device.client.get("/cart/", headers={"Accept": "application/json"}).get_json()
        assert {i["product_id"]: i["quantity"] for i in body["items"]} == lines
