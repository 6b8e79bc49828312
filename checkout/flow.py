"""The checkout as a declared sequence of steps, and placing the order from the cart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import select

from storefront import cart as cart_service
from storefront import shipping
from storefront.errors import OutOfStock
from storefront.extensions import db, journey
from storefront.models import Cart

from . import contacts, payments
from .errors import (
    CheckoutStepIncomplete,
    EmptyCart,
    OrderNotPayable,
    PaymentUnavailable,
)
from .models import Order, OrderLine, OrderStatus, PaymentStatus


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    needs: tuple[str, ...]  # keys of the checkout state that must be filled first


# Solidus-style checkout_flow: each step maps one-to-one onto a journey touchpoint.
STEPS: tuple[Step, ...] = (
    Step("address", "Address", ()),
    Step("shipping", "Delivery", ("address",)),
    Step("payment", "Payment", ("address", "shipping")),
    Step("confirmation", "Confirmation", ()),
)
STEP_NAMES = tuple(s.name for s in STEPS)


def step(name: str) -> Step:
    return STEPS[STEP_NAMES.index(name)]


def require_step(name: str, state: dict) -> None:
    """Raise CheckoutStepIncomplete pointing at the first missing earlier step."""
    for needed in step(name).needs:
        if not state.get(needed):
            raise CheckoutStepIncomplete(
                f"Please complete the {step(needed).title.lower()} step first.", needed
            )


def place_order(cart: Cart | None, state: dict, customer_id: int | None, *,
                settle: bool = True) -> Order:
    """Create, or bring up to date, the pending order for this cart.

    Prices come from the catalog now, never from the client; lines snapshot name, SKU and
    unit price. An order with a payment in flight or done is never rewritten. An order
    left waiting for 3-D Secure is settled with Stripe first (its payment paid, failed, or
    canceled) and then reused: a retry after a failed authentication keeps the number the
    shopper was shown, and leaves no stuck order behind. ``settle=False`` (the page shown
    again: a reload, a second tab, Back from the bank) records what Stripe says of such a
    payment but cancels none still under way, and leaves that order as it is.
    """
    if cart is None or not cart.items:  # first: after paying, the steps are done with too
        raise EmptyCart("Your cart is empty.")
    require_step("payment", state)
    cfg = current_app.config
    method = shipping.METHODS[state["shipping"]["method"]]
    summary = cart_service.summarize(
        cart, cfg["STORE_CURRENCY"], cfg["FREE_SHIPPING_THRESHOLD"], method.code
    )
    if summary.stock_problems:
        raise OutOfStock(" ".join(summary.stock_problems))
    order = db.session.scalar(
        select(Order)
        .where(
            Order.cart_id == cart.id,
            Order.status == OrderStatus.PENDING,
            Order.payment_status.in_([PaymentStatus.UNPAID, PaymentStatus.FAILED,
                                      PaymentStatus.REQUIRES_ACTION]),
        )
        .order_by(Order.id.desc())
    )
    # Settled (a payment still at 3-D Secure canceled at Stripe) only when the shopper pays
    # again: showing the page (a reload, a second tab, Back from the bank) must not cancel
    # an authentication under way.
    if order is not None and order.payment_status == PaymentStatus.REQUIRES_ACTION:
        payments.settle_waiting(order, cancel=settle)
        if not settle and order.payment_status == PaymentStatus.REQUIRES_ACTION:
            return order  # the bank still checking: shown as it is, not rewritten
        if order.is_paid or order.status != OrderStatus.PENDING:
            raise OrderNotPayable("This order is already paid: see your confirmation.")
        if order.payment_status == PaymentStatus.REQUIRES_ACTION:  # another attempt waits
            raise PaymentUnavailable("Your bank is still checking an earlier payment. "
                                     "Please try again in a moment.")
    if order is None:
        order = Order(cart_id=cart.id)
        db.session.add(order)
    address = state["address"]
    order.customer_id = customer_id
    order.journey_id = journey.current_journey_id() or order.journey_id
    order.email = address["email"]
    order.ship_name = address["name"]
    order.ship_line1 = address["line1"]
    order.ship_line2 = address.get("line2", "")
    order.ship_city = address["city"]
    order.ship_postcode = address["postcode"]
    order.ship_country = address["country"]
    order.shipping_method = method.code
    order.currency = summary.subtotal.currency
    order.subtotal = summary.subtotal.amount
    order.shipping_cost = summary.shipping.amount
    order.total = summary.total.amount
    order.estimated_delivery = shipping.estimated_delivery(method, date.today())
    order.lines = [
        OrderLine(
            product_id=item.product_id,
            sku=item.product.sku,
            name=item.product.title,
            unit_price=item.product.price,
            quantity=item.quantity,
        )
        for item in cart.items
    ]
    contacts.drop_for(order.journey_id)  # the order carries the email from now on
    db.session.commit()
    return order
