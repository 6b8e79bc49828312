"""Returns: a buyer sends back lines of a delivered order, within RETURN_DAYS of delivery;
the owner refunds them (their price, through Stripe: shipping is not refunded) or declines.

- A line is never returned more than it was bought: the order is locked while a request is
  checked and saved (PostgreSQL's row lock; SQLite's one writer), and the quantities are
  checked again with the request in place.
- A refund is claimed before Stripe is asked (two clicks, or a Refund and a Decline, never
  both go on, on SQLite as on PostgreSQL), asked once under a random key of its own, and
  looked for at Stripe before it is ever asked again: a lost answer never refunds twice.
- A refund does not restock by itself (the owner looks the goods over first): ``restock``
  puts a refunded return's quantities back in stock, once.
- Each step is a touchpoint of the order's journey (``return_requested``,
  ``order_refunded``: no stage moves) and a message in the outbox.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import timedelta

import stripe
from flask import current_app
from sqlalchemy import and_, func, or_, select, update

from storefront.errors import DomainError
from storefront.extensions import db, journey
from storefront.models import Product, utcnow

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
from .schemas import NOTHING_CHOSEN

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
        raise ReturnNotAllowed(NOTHING_CHOSEN)
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


# Longer than a refund request can take (Stripe's timeout, no retries): a refund still
# "refunding" after this was lost on the way, and may be asked for again, after a look.
REFUND_CLAIM = timedelta(minutes=2)
# The failures that leave the refund's fate unknown (no answer, a timeout, a 5xx; a 429,
# treated alike); any other StripeError is Stripe saying it made no refund.
_UNKNOWN = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError)


def _get(return_id: int) -> OrderReturn:
    found = db.session.get(OrderReturn, return_id)
    if found is None:
        raise ReturnNotFound(f"There is no return {return_id}.")
    return found


def refund(return_id: int, actor: str,
           record: Callable[[OrderReturn], object] | None = None) -> OrderReturn:
    """Refund a requested return's lines through Stripe, then mark it refunded.

    1. The return is claimed (requested -> refunding, a compare-and-set committed before
       Stripe is asked: two clicks, or a click and a Decline, never both go on) with a
       random key of its own.
    2. Stripe is asked for the refund once (no automatic resend), under that key and with it
       in the metadata. A refund whose answer was lost stays "refunding": it cannot be
       declined, and may be asked for again after REFUND_CLAIM, when the store first looks
       for a refund with its key at Stripe and takes that one if it is there.
    3. Marked refunded (refunding -> refunded, with ``record``'s audit entry in the same
       commit); the touchpoint and the buyer's message follow.
    """
    now = utcnow()
    claimed = db.session.execute(
        update(OrderReturn)
        .where(OrderReturn.id == return_id,
               or_(OrderReturn.status == ReturnStatus.REQUESTED,
                   and_(OrderReturn.status == ReturnStatus.REFUNDING,
                        OrderReturn.refunding_since < now - REFUND_CLAIM)))
        .values(status=ReturnStatus.REFUNDING, refunding_since=now,
                refund_key=func.coalesce(OrderReturn.refund_key, secrets.token_hex(16)))
    ).rowcount
    db.session.commit()
    order_return = _get(return_id)
    if claimed != 1:
        if order_return.status == ReturnStatus.REFUNDING:
            raise ReturnNotAllowed(
                f"Return {order_return.number} is being refunded, or Stripe's answer to its "
                "refund was lost. Try again in two minutes: the store looks for the refund "
                "at Stripe first, so it is never made twice.")
        raise ReturnNotAllowed(f"Return {order_return.number} is already {order_return.status}.")
    order, key = order_return.order, order_return.refund_key
    intent = db.session.scalar(
        select(PaymentAttempt.payment_intent_id)
        .where(PaymentAttempt.order_id == order.id,
               PaymentAttempt.status == AttemptStatus.SUCCEEDED)
        .order_by(PaymentAttempt.id.desc()).limit(1))
    if intent is None:
        _unclaim(return_id, now)
        raise ReturnNotAllowed(f"Order {order.number} has no card payment to refund.")
    try:
        made = _refund_made(intent, key) or payments.client(retries=0).v1.refunds.create(
            params={"payment_intent": intent, "amount": order_return.amount,
                    "metadata": {"return_key": key, "order_id": str(order.id),
                                 "return": order_return.number}},
            options={"idempotency_key": f"return-{key}"})
    except _UNKNOWN as exc:
        log.warning("refund of return %s (order %s): no answer from Stripe (%s); it stays "
                    "refunding", return_id, order.id, type(exc).__name__)
        raise RefundUnavailable(
            "Stripe did not answer, so the refund may or may not have been made. Try again "
            "in two minutes: the store looks for it at Stripe first, so it is never made "
            "twice.") from None
    except stripe.StripeError as exc:
        _unclaim(return_id, now)
        log.warning("refund of return %s (order %s) refused by Stripe: %s %s", return_id,
                    order.id, type(exc).__name__, getattr(exc, "code", None) or "")
        raise ReturnNotAllowed(
            f"Stripe refused the refund ({getattr(exc, 'code', None) or type(exc).__name__}): "
            "nothing was refunded. Refund it in Stripe's dashboard, or decline the "
            "return.") from None
    done = db.session.execute(
        update(OrderReturn)
        .where(OrderReturn.id == return_id, OrderReturn.status == ReturnStatus.REFUNDING,
               OrderReturn.refund_key == key)
        .values(status=ReturnStatus.REFUNDED, refund_id=made.id, decided_at=utcnow(),
                decided_by=actor[:254])).rowcount
    db.session.expire_all()
    order_return = _get(return_id)
    if done == 1 and record is not None:
        record(order_return)
    db.session.commit()
    if done == 1:
        journey.track("order_refunded", journey_id=order.journey_id, order_ref=order.id,
                      value=order_return.amount, currency=order_return.currency)
        messages.return_moved(order, order_return)
    return order_return


def restock(return_id: int, actor: str,
            record: Callable[[OrderReturn], object] | None = None) -> OrderReturn:
    """Put a refunded return's items back in stock, once (after the owner has looked the
    goods over: a refund does not restock by itself), with ``record``'s audit entry in the
    same commit. A line whose product was deleted since has no stock to go back to."""
    done = db.session.execute(
        update(OrderReturn)
        .where(OrderReturn.id == return_id, OrderReturn.status == ReturnStatus.REFUNDED,
               OrderReturn.restocked_at.is_(None))
        .values(restocked_at=utcnow(), restocked_by=actor[:254])
    ).rowcount
    db.session.expire_all()
    order_return = _get(return_id)
    if done != 1:
        db.session.rollback()
        if order_return.restocked_at is not None:
            raise ReturnNotAllowed(f"Return {order_return.number}'s items are already back "
                                   "in stock.")
        raise ReturnNotAllowed(f"Return {order_return.number} is {order_return.status}: only "
                               "a refunded return's items go back in stock.")
    back: dict[int, int] = {}
    for line in order_return.lines:
        if line.order_line.product_id is not None:
            back[line.order_line.product_id] = (back.get(line.order_line.product_id, 0)
                                                + line.quantity)
    # In the products' order, as a paid order's stock is taken (payments._take_stock): two
    # restocks, or a restock and a payment, never wait on each other's row locks crosswise.
    for product_id in sorted(back):
        db.session.execute(
            update(Product).where(Product.id == product_id)
            .values(stock=Product.stock + back[product_id])
            .execution_options(synchronize_session=False))
    if record is not None:
        record(order_return)
    db.session.commit()
    return order_return


def _refund_made(intent: str, key: str):
    """The refund made earlier under this key, if its answer was lost (None if none)."""
    found = payments.client(retries=1).v1.refunds.list(
        params={"payment_intent": intent, "limit": 100})
    return next((r for r in found.data
                 if r.metadata and r.metadata.to_dict().get("return_key") == key), None)


def _unclaim(return_id: int, claimed_at) -> None:
    """Stripe said no (or there is nothing to refund): requested again, to decline or
    retry."""
    db.session.execute(
        update(OrderReturn)
        .where(OrderReturn.id == return_id, OrderReturn.status == ReturnStatus.REFUNDING,
               OrderReturn.refunding_since == claimed_at)
        .values(status=ReturnStatus.REQUESTED, refunding_since=None))
    db.session.commit()


def decline(return_id: int, actor: str,
            record: Callable[[OrderReturn], object] | None = None) -> OrderReturn:
    """Decline a requested return (one being refunded cannot be), with ``record``'s audit
    entry in the same commit."""
    done = db.session.execute(
        update(OrderReturn)
        .where(OrderReturn.id == return_id, OrderReturn.status == ReturnStatus.REQUESTED)
        .values(status=ReturnStatus.DECLINED, decided_at=utcnow(), decided_by=actor[:254])
    ).rowcount
    db.session.expire_all()
    order_return = _get(return_id)
    if done != 1:
        db.session.rollback()
        raise ReturnNotAllowed(f"Return {order_return.number} is already {order_return.status}.")
    if record is not None:
        record(order_return)
    db.session.commit()
    messages.return_moved(order_return.order, order_return)
    return order_return
