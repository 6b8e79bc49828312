"""Returns: a buyer sends back lines of a delivered order, within RETURN_DAYS of delivery;
the owner refunds them (their price, through Stripe: shipping is not refunded) or declines.

- A line is never returned more than it was bought: the order is locked while a request is
  checked and saved (PostgreSQL's row lock; SQLite's one writer), and the quantities are
  checked again with the request in place.
- A refund is asked of Stripe once (an idempotency key per return), before the return is
  marked refunded; one Stripe could not make leaves it requested, to try again.
- Each step is a touchpoint of the order's journey (``return_requested``,
  ``order_refunded``: no stage moves) and a message in the outbox.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import stripe
from flask import current_app
from sqlalchemy import func, select

from storefront.errors import DomainError
from storefront.extensions import db, journey
from storefront.models import utcnow

from . import messages, payments
from .models import (
    AttemptStatus,
    FulfilmentStatus,
    Order,
    OrderReturn,
    OrderReturnLine,
    PaymentAttempt,
    ReturnStatus,
)

log = logging.getLogger(__name__)


class ReturnNotAllowed(DomainError):
    status_code = 409


class ReturnNotFound(DomainError):
    status_code = 404


class RefundUnavailable(DomainError):
    status_code = 503


def window_closes(order: Order):
    """When the order's return window closes (None: not delivered, so not open)."""
    if order.delivered_at is None:
        return None
    return order.delivered_at + timedelta(days=current_app.config["RETURN_DAYS"])


def returnable(order: Order) -> dict[int, int]:
    """Order line id -> how many of it may still be returned (lines with none left are
    absent); empty when the order cannot be returned now."""
    closes = window_closes(order)
    if (not order.is_paid or order.fulfilment_status != FulfilmentStatus.DELIVERED
            or closes is None or utcnow() > closes):
        return {}
    taken = _taken(order.id)
    left = {line.id: line.quantity - taken.get(line.id, 0) for line in order.lines}
    return {line_id: n for line_id, n in left.items() if n > 0}


def _taken(order_id: int) -> dict[int, int]:
    """Quantities of each line in this order's returns that are not declined."""
    return dict(db.session.execute(
        select(OrderReturnLine.order_line_id, func.sum(OrderReturnLine.quantity))
        .join(OrderReturn, OrderReturn.id == OrderReturnLine.return_id)
        .where(OrderReturn.order_id == order_id, OrderReturn.status != ReturnStatus.DECLINED)
        .group_by(OrderReturnLine.order_line_id)).all())


def request_return(order: Order, quantities: dict[int, int], reason: str,
                   note: str = "") -> OrderReturn:
    """The buyer's request: ``quantities`` by order line id (0s ignored)."""
    wanted = {line_id: n for line_id, n in quantities.items() if n}
    if not wanted:
        raise ReturnNotAllowed("Choose how many of which item you are sending back.")
    # Locked for the check and the insert: two requests at once cannot both take the last.
    order = db.session.scalar(select(Order).where(Order.id == order.id).with_for_update())
    left = returnable(order)
    if not left:
        db.session.rollback()
        if order.fulfilment_status != FulfilmentStatus.DELIVERED:
            raise ReturnNotAllowed("You can return items once your order has been delivered.")
        raise ReturnNotAllowed(
            f"The {current_app.config['RETURN_DAYS']}-day return window for this order has "
            "closed, or everything in it is already being returned.")
    lines = {line.id: line for line in order.lines}
    for line_id, n in wanted.items():
        if line_id not in lines:
            db.session.rollback()
            raise ReturnNotAllowed("That item is not in this order.")
        if n > left.get(line_id, 0):
            db.session.rollback()
            raise ReturnNotAllowed(
                f"You can return at most {left.get(line_id, 0)} of {lines[line_id].name}.")
    order_return = OrderReturn(
        order=order, reason=reason, note=note, currency=order.currency,
        amount=sum(lines[line_id].unit_price * n for line_id, n in wanted.items()),
        lines=[OrderReturnLine(order_line_id=line_id, quantity=n)
               for line_id, n in sorted(wanted.items())])
    db.session.add(order_return)
    db.session.flush()
    taken = _taken(order.id)  # again, with this one in: SQLite's reads took no lock
    if any(taken.get(line_id, 0) > lines[line_id].quantity for line_id in wanted):
        db.session.rollback()
        raise ReturnNotAllowed("Everything you chose is already being returned.")
    db.session.commit()
    journey.track("return_requested", journey_id=order.journey_id, order_ref=order.id,
                  reason=reason, items=order_return.items, value=order_return.amount,
                  currency=order_return.currency)
    messages.return_moved(order, order_return)
    return order_return


def _locked(return_id: int) -> OrderReturn:
    found = db.session.scalar(
        select(OrderReturn).where(OrderReturn.id == return_id).with_for_update())
    if found is None:
        raise ReturnNotFound(f"There is no return {return_id}.")
    if found.status != ReturnStatus.REQUESTED:
        db.session.rollback()
        raise ReturnNotAllowed(f"Return {found.number} is already {found.status}.")
    return found


def refund(return_id: int, actor: str) -> OrderReturn:
    """Refund a requested return's lines through Stripe, then mark it refunded."""
    order_return = _locked(return_id)
    order = order_return.order
    intent = db.session.scalar(
        select(PaymentAttempt.payment_intent_id)
        .where(PaymentAttempt.order_id == order.id,
               PaymentAttempt.status == AttemptStatus.SUCCEEDED)
        .order_by(PaymentAttempt.id.desc()).limit(1))
    if intent is None:
        db.session.rollback()
        raise ReturnNotAllowed(f"Order {order.number} has no card payment to refund.")
    try:
        refunded = payments.client().v1.refunds.create(
            params={"payment_intent": intent, "amount": order_return.amount,
                    "metadata": {"order_id": str(order.id), "return_id": str(return_id)}},
            options={"idempotency_key": f"return-{return_id}"})
    except stripe.StripeError as exc:
        db.session.rollback()
        log.warning("refund of return %s (order %s) failed: %s", return_id, order.id,
                    type(exc).__name__)
        raise RefundUnavailable("Stripe could not make the refund just now; nothing was "
                                "refunded. Try again in a moment.") from None
    order_return.status, order_return.refund_id = ReturnStatus.REFUNDED, refunded.id
    order_return.decided_at, order_return.decided_by = utcnow(), actor[:254]
    db.session.commit()
    journey.track("order_refunded", journey_id=order.journey_id, order_ref=order.id,
                  value=order_return.amount, currency=order_return.currency)
    messages.return_moved(order_return.order, order_return)
    return order_return


def decline(return_id: int, actor: str) -> OrderReturn:
    order_return = _locked(return_id)
    order_return.status = ReturnStatus.DECLINED
    order_return.decided_at, order_return.decided_by = utcnow(), actor[:254]
    db.session.commit()
    messages.return_moved(order_return.order, order_return)
    return order_return
