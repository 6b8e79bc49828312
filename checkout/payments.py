"""Stripe payments: one PaymentIntent per attempt; an order is paid only on Stripe's word."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import stripe
from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from storefront import catalog
from storefront.errors import DomainError
from storefront.extensions import db, journey
from storefront.models import Cart, Product, utcnow

from . import messages
from .errors import OrderNotPayable, PaymentUnavailable, SoldOutWhilePaying
from .models import AttemptStatus, Order, OrderStatus, PaymentAttempt, PaymentStatus

log = logging.getLogger(__name__)


def client(retries: int = 2) -> stripe.StripeClient:
    cfg = current_app.config
    return stripe.StripeClient(
        cfg["STRIPE_SECRET_KEY"],
        base_addresses={"api": cfg["STRIPE_API_BASE"]},
        http_client=stripe.RequestsClient(timeout=cfg["STRIPE_TIMEOUT"]),
        max_network_retries=retries,
    )


@dataclass(frozen=True)
class PaymentResult:
    attempt: PaymentAttempt
    status: str  # succeeded | requires_action | failed
    client_secret: str | None = None
    message: str | None = None


def _lock_order(order_id: int) -> Order:
    """Row lock on PostgreSQL (SQLite serialises writers anyway)."""
    return db.session.scalar(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(
            populate_existing=True
        )
    )


def previous_attempt(cart_id: int, card_ref: str) -> PaymentAttempt | None:
    """The attempt this cart already made with this card reference (a double submit)."""
    return db.session.scalar(
        select(PaymentAttempt)
        .join(Order)
        .where(Order.cart_id == cart_id, PaymentAttempt.card_ref == card_ref)
        .order_by(PaymentAttempt.id.desc())
    )


def replay(attempt: PaymentAttempt) -> PaymentResult:
    """Answer a repeated submit with what happened the first time, asking Stripe again."""
    if attempt.payment_intent_id is None or attempt.status == AttemptStatus.FAILED:
        message = _decline_message(attempt.error_code or "", attempt.error_message or "Declined")
        return PaymentResult(attempt, "failed", message=message)
    return _result_from_intent(attempt, _retrieve(attempt.payment_intent_id))


UNREACHABLE = ("We could not reach the payment service. Please try again: a payment is never "
               "taken twice.")


def pay(order: Order, card_ref: str) -> PaymentResult:
    """Pay ``order`` with the card reference from Stripe.js, in two steps that make a lost
    answer harmless:

    1. create the PaymentIntent *unconfirmed* and keep its id on the attempt (a create
       repeated after a lost answer makes at most a spare intent that never charges);
    2. confirm that intent by id. If the answer to the confirm is lost (a timeout, a dropped
       connection), the retry finds the intent by the id we kept and asks Stripe how it
       stands, instead of paying again.

    Idempotency keys (the order and the card reference) make each step safe to repeat on
    real Stripe as well; they are not relied on (localstripe ignores them). A double submit
    of the same card finds the same attempt row; another card after a decline is a new one.
    """
    if order.status != OrderStatus.PENDING or order.is_paid:
        raise OrderNotPayable("This order is already paid or closed.")
    settled = _earlier_payment_taken(order)
    if settled is not None:  # e.g. a confirm whose answer was lost, retried with a new token
        return settled
    key = f"order-{order.id}-{card_ref}"
    by_key = select(PaymentAttempt).where(PaymentAttempt.idempotency_key == key)
    attempt = db.session.scalar(by_key)
    if attempt is None:
        attempt = PaymentAttempt(
            order=order, idempotency_key=key, card_ref=card_ref, amount=order.total,
            currency=order.currency,
        )
        db.session.add(attempt)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            attempt = db.session.scalar(by_key)
    elif attempt.status == AttemptStatus.FAILED:
        return replay(attempt)
    if attempt.status == AttemptStatus.CREATED:
        journey.track("payment_submitted", journey_id=order.journey_id, order_ref=order.id,
                      value=order.total, currency=order.currency)
    try:
        if attempt.payment_intent_id is None:
            intent = client().v1.payment_intents.create(
                params={
                    "amount": order.total,
                    "currency": order.currency.lower(),
                    "payment_method": card_ref,
                    "payment_method_types": ["card"],
                    # No "description": localstripe refuses it; the number is in metadata.
                    "metadata": {"order_id": str(order.id), "order_number": order.number,
                                 "attempt_id": str(attempt.id)},
                },
                options={"idempotency_key": f"{key}-create"},
            )
            attempt.payment_intent_id = intent.id
            db.session.commit()
        else:
            intent = _retrieve(attempt.payment_intent_id)
        if intent.status in ("requires_confirmation", "requires_payment_method"):
            # No automatic network retries here: a server without idempotency keys would
            # confirm twice. The shopper's retry is safe (step 2 above).
            intent = client(retries=0).v1.payment_intents.confirm(
                intent.id, options={"idempotency_key": f"{key}-confirm"})
    except stripe.CardError as exc:
        intent_id = _intent_id_from_error(exc)
        if intent_id and attempt.payment_intent_id is None:
            attempt.payment_intent_id = intent_id
        return _fail(attempt, exc.code or "card_declined", exc.user_message or str(exc))
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        log.warning("Stripe unreachable for order %s: %s", order.id, type(exc).__name__)
        db.session.rollback()
        raise PaymentUnavailable(UNREACHABLE) from None
    except stripe.InvalidRequestError as exc:
        return _fail(attempt, exc.code or "invalid_request", "The card could not be used.")
    return _result_from_intent(attempt, intent)


def _earlier_payment_taken(order: Order) -> PaymentResult | None:
    """Stripe.js makes a new card reference for every submit, so a retry after a lost answer
    is a new attempt. Before another card is charged, ask Stripe about every earlier attempt
    whose outcome we never heard (sent, or waiting for 3-D Secure): if one was paid, that
    is the answer, and nothing is charged again."""
    for earlier in order.payments:
        if (earlier.payment_intent_id is None
                or earlier.status not in (AttemptStatus.CREATED, AttemptStatus.REQUIRES_ACTION)):
            continue
        intent = _retrieve(earlier.payment_intent_id)
        if intent.status == "succeeded":
            return _result_from_intent(earlier, intent)
    return None


def _intent_id_from_error(exc: stripe.StripeError) -> str | None:
    error = (exc.json_body or {}).get("error") or {}
    intent = error.get("payment_intent")
    if isinstance(intent, dict):
        return intent.get("id")
    return None


def _fail(attempt: PaymentAttempt, code: str, message: str) -> PaymentResult:
    first_time = _mark_failed(attempt, code, message)
    db.session.commit()
    if first_time:
        _track_failed(attempt)
    return PaymentResult(attempt, "failed",
                         message=_decline_message(attempt.error_code or "",
                                                  attempt.error_message or message))


# Stripe's code for a failed 3-D Secure check, as the shop owner reads it in the panel and
# the journey (Abandonment -> payment failures, the payment_failed touchpoint).
AUTHENTICATION_FAILED = "authentication_failed"
_CODES = {"payment_intent_authentication_failure": AUTHENTICATION_FAILED}


def failure_code(code: str | None) -> str:
    code = code or "failed"
    return _CODES.get(code, code)[:80]


def _mark_failed(attempt: PaymentAttempt, code: str, message: str) -> bool:
    """Mark the attempt failed; True only for the one caller that changed it. The shopper's
    browser (its report after 3-D Secure), the webhook and the next attempt can all learn of
    the same failure at once: a compare-and-set on the attempt's status makes exactly one of
    them record (and track) it. The order shows the failure unless it is paid, or a later
    attempt of it is under way."""
    db.session.flush()  # e.g. an intent id just linked to the attempt
    order = _lock_order(attempt.order_id)  # the order first, as record_succeeded does
    changed = db.session.execute(
        update(PaymentAttempt)
        .where(PaymentAttempt.id == attempt.id,
               PaymentAttempt.status.in_([AttemptStatus.CREATED, AttemptStatus.REQUIRES_ACTION]))
        .values(status=AttemptStatus.FAILED, error_code=failure_code(code),
                error_message=message[:2000])
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(attempt)
    latest = db.session.scalar(select(func.max(PaymentAttempt.id))
                               .where(PaymentAttempt.order_id == order.id))
    if changed and not order.is_paid and attempt.id == latest:
        order.payment_status = PaymentStatus.FAILED
    return bool(changed)


def _track_failed(attempt: PaymentAttempt) -> None:
    journey.track("payment_failed", journey_id=attempt.order.journey_id,
                  order_ref=attempt.order_id, code=(attempt.error_code or "failed")[:200])


def _decline_message(code: str, message: str) -> str:
    if failure_code(code) == AUTHENTICATION_FAILED:
        return "Card authentication failed. Please try again or use another card."
    return f"{message.rstrip('.')}. Please try another card."


def decline_message(attempt: PaymentAttempt) -> str:
    return _decline_message(attempt.error_code or "", attempt.error_message or "Declined")


def _retrieve(intent_id: str):
    try:
        return client().v1.payment_intents.retrieve(intent_id)
    except (stripe.APIConnectionError, stripe.RateLimitError):
        raise PaymentUnavailable(UNREACHABLE) from None
    except stripe.InvalidRequestError:
        log.warning("payment intent %s is unknown to Stripe", intent_id)
        raise PaymentUnavailable(
            "The payment service does not know this payment. Please pay again."
        ) from None


def _result_from_intent(attempt: PaymentAttempt, intent) -> PaymentResult:
    if intent.status == "succeeded":
        record_succeeded(intent.id, attempt.order_id, intent.amount, intent.currency)
        order = db.session.get(Order, attempt.order_id)
        db.session.refresh(order)
        db.session.refresh(attempt)
        if attempt.status == AttemptStatus.REFUNDED and not order.is_paid:
            return PaymentResult(attempt, "failed", message=(
                "Your order changed while the payment went through, so that payment has been "
                "refunded in full. Please check your order and pay again."))
        if order.status == OrderStatus.CANCELED and order.payment_status == PaymentStatus.REFUNDED:
            raise SoldOutWhilePaying(
                "Sorry: the last one sold while your payment went through. Your payment has "
                "been refunded in full.")
        return PaymentResult(attempt, "succeeded")
    if intent.status == "requires_action":
        first_time = attempt.status != AttemptStatus.REQUIRES_ACTION
        attempt.status = AttemptStatus.REQUIRES_ACTION
        if not attempt.order.is_paid:
            attempt.order.payment_status = PaymentStatus.REQUIRES_ACTION
        db.session.commit()
        if first_time:
            journey.track("payment_requires_action", journey_id=attempt.order.journey_id,
                          order_ref=attempt.order_id)
        return PaymentResult(attempt, "requires_action", client_secret=intent.client_secret)
    error = intent.last_payment_error.to_dict() if intent.last_payment_error else {}
    return _fail(attempt, error.get("code") or intent.status, error.get("message") or "Declined")


def refresh(order: Order) -> Order:
    """Ask Stripe about the order's latest attempt (the return page's server-side check)."""
    if order.is_paid or order.status != OrderStatus.PENDING:
        return order
    attempt = next((a for a in reversed(order.payments) if a.payment_intent_id), None)
    if attempt is None or attempt.status == AttemptStatus.FAILED:
        return order
    _result_from_intent(attempt, _retrieve(attempt.payment_intent_id))
    db.session.refresh(order)
    return order


def _cancel_intent(intent):
    """A payment still waiting at Stripe canceled, so it can no longer charge; one that
    completed meanwhile (Stripe refuses to cancel it) is asked about again. The intent as
    it now is."""
    try:
        return client(retries=0).v1.payment_intents.cancel(intent.id)
    except stripe.InvalidRequestError:
        return _retrieve(intent.id)


def settle_waiting(order: Order, cancel: bool = True) -> Order:
    """Before the shopper pays an order again, settle the attempts it left waiting for 3-D
    Secure, asking Stripe about each: paid after all is recorded paid; failed (the bank
    refused the authentication, and neither the browser nor the webhook told us) is
    recorded failed; still waiting (the dialog was closed, the page reloaded) is canceled at
    Stripe, so it can no longer charge, and recorded failed ("authentication_abandoned").
    The retry then goes on the same order: the number the shopper sees is the one paid.
    ``cancel=False`` (the page shown again, no new payment): one still waiting is left to
    the bank."""
    for attempt in list(order.payments):
        if attempt.status != AttemptStatus.REQUIRES_ACTION or not attempt.payment_intent_id:
            continue
        intent = _retrieve(attempt.payment_intent_id)
        if intent.status == "requires_action" and not cancel:
            continue
        if intent.status == "requires_action":
            try:
                intent = _cancel_intent(intent)
            except (stripe.APIConnectionError, stripe.RateLimitError):
                db.session.rollback()
                raise PaymentUnavailable(UNREACHABLE) from None
            if intent.status == "canceled":
                _fail(attempt, "authentication_abandoned", "3-D Secure was not completed")
                continue
        _result_from_intent(attempt, intent)
    db.session.refresh(order)
    return order


def expire_unauthenticated(older_than: timedelta, now: datetime | None = None,
                           order_id: int | None = None) -> dict[str, int]:
    """Orders left waiting for 3-D Secure (the shopper closed the dialog, or placed a new
    order instead) longer than ``older_than``: Stripe is asked once more. One paid after all
    (its webhook lost) is recorded paid; any other has its payment canceled at Stripe, so
    it can no longer be completed, and is canceled here, its attempt failed
    ("authentication_abandoned"). Stock is taken only when paid, so none is released.
    Returns {"paid": n, "canceled": n}; an order Stripe cannot be asked about now is left
    for the next run. ``order_id``: that order only (the panel's Cancel, at any age)."""
    cutoff = (now or utcnow()) - older_than
    done = {"paid": 0, "canceled": 0}
    query = (select(Order).where(Order.status == OrderStatus.PENDING,
                                 Order.payment_status == PaymentStatus.REQUIRES_ACTION)
             .order_by(Order.id))
    if order_id is not None:  # the owner's cancel, from the panel
        query = query.where(Order.id == order_id)
    waiting = db.session.scalars(query).all()
    for order in waiting:
        attempt = next((a for a in reversed(order.payments)
                        if a.status == AttemptStatus.REQUIRES_ACTION and a.payment_intent_id),
                       None)
        if attempt is None or attempt.created_at > cutoff:
            continue
        try:
            intent = _retrieve(attempt.payment_intent_id)
            if intent.status != "succeeded" and intent.status != "canceled":
                intent = _cancel_intent(intent)
        except (PaymentUnavailable, stripe.StripeError):
            log.warning("order %s: Stripe could not be asked about its 3-D Secure payment; "
                        "left for the next run", order.id, exc_info=True)
            db.session.rollback()
            continue
        if intent.status == "succeeded":
            try:
                _result_from_intent(attempt, intent)
            except DomainError as exc:  # sold out meanwhile: canceled and refunded
                log.warning("order %s: paid after all, then %s", order.id, exc)
                done["canceled"] += 1
                continue
            done["paid"] += 1
            continue
        if intent.status != "canceled":  # neither paid nor canceled: next run
            continue
        _fail(attempt, "authentication_abandoned", "3-D Secure was not completed")
        order = _lock_order(order.id)
        if order.payment_status != PaymentStatus.PAID:
            order.status = OrderStatus.CANCELED
            done["canceled"] += 1
        db.session.commit()
    return done


def _attempt_for(intent_id: str, order_id: int | None) -> PaymentAttempt | None:
    attempt = db.session.scalar(
        select(PaymentAttempt).where(PaymentAttempt.payment_intent_id == intent_id)
    )
    if attempt is None and order_id is not None:
        # A declined create answered with an error before we learned the intent id.
        attempt = db.session.scalar(
            select(PaymentAttempt)
            .where(PaymentAttempt.order_id == order_id, PaymentAttempt.payment_intent_id.is_(None))
            .order_by(PaymentAttempt.id.desc())
        )
        if attempt is not None:
            attempt.payment_intent_id = intent_id
    return attempt


def record_succeeded(intent_id: str, order_id: int | None, amount: int | None = None,
                     currency: str | None = None) -> bool:
    """Mark the order paid, take the stock, clear the cart. True only the first time.

    Paid only for what Stripe charged: ``amount`` and ``currency`` (the intent's) must be
    the order's total as it stands when it is claimed — an order rewritten while its
    payment was on its way (the cart changed in another tab) is not paid by the old
    amount. A charge that does not pay the order (that mismatch, or a second card's charge
    for an order another attempt paid first) is refunded, and its attempt marked so.

    Stock is taken with one conditional UPDATE per line, so the last unit cannot be sold
    twice; if any line is short the order is cancelled and the charge refunded.
    """
    attempt = _attempt_for(intent_id, order_id)
    if attempt is None:
        log.warning("payment %s succeeded for an unknown order", intent_id)
        return False
    order = _lock_order(attempt.order_id)
    if _settled(attempt):  # heard before (webhook and return page): nothing more to do
        db.session.commit()
        return False
    conditions = [Order.id == order.id, Order.status == OrderStatus.PENDING,
                  Order.payment_status != PaymentStatus.PAID]
    if amount is not None:
        conditions.append(Order.total == amount)
    if currency is not None:
        conditions.append(Order.currency == currency.upper())
    # Compare-and-set as the transaction's first write: of two concurrent confirmations
    # (webhook and return page) exactly one claims the order, on SQLite as on PostgreSQL.
    claimed = db.session.execute(
        update(Order)
        .where(*conditions)
        .values(status=OrderStatus.PAID, payment_status=PaymentStatus.PAID, paid_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed and _settled(attempt):
        # SQLite has no row lock: the other confirmation of this same charge committed
        # while this one waited for the write lock. It paid the order; nothing to give back.
        db.session.commit()
        return False
    if not claimed:  # a charge that pays nothing: given back
        db.session.refresh(order)
        attempt.status = AttemptStatus.REFUNDED
        attempt.error_code = ("amount_mismatch" if order.status == OrderStatus.PENDING
                              and not order.is_paid else "already_settled")
        attempt.error_message = (f"charged {amount} {currency}; the order is "
                                 f"{order.total} {order.currency}, {order.payment_status}")
        db.session.commit()
        log.error("payment %s does not pay order %s (%s): refunding it", intent_id, order.id,
                  attempt.error_message)
        _refund(intent_id, order)
        return False
    attempt.status = AttemptStatus.SUCCEEDED
    db.session.refresh(order)
    if not _take_stock(order):
        order.status = OrderStatus.CANCELED
        order.payment_status = PaymentStatus.REFUNDED
        db.session.commit()
        _refund(intent_id, order)
        return False
    quantities: dict[int, int] = {}
    for line in order.lines:
        if line.product_id is not None:
            quantities[line.product_id] = quantities.get(line.product_id, 0) + line.quantity
    catalog.record_sale(quantities)
    if order.cart_id is not None:
        cart = db.session.get(Cart, order.cart_id)
        if cart is not None:
            cart.items.clear()
    db.session.commit()
    # After the commit: a tracking failure can never roll the purchase back.
    journey.track("purchase", journey_id=order.journey_id, order_ref=order.id,
                  value=order.total, currency=order.currency,
                  items=sum(line.quantity for line in order.lines))
    messages.order_paid(order)  # the confirmation, in the outbox (its failure is logged)
    return True


def _settled(attempt: PaymentAttempt) -> bool:
    """Whether this charge was recorded already, as the database says now, not as this
    session first read it: the webhook and the shopper's request confirm the same charge,
    often at the same moment."""
    status = db.session.scalar(select(PaymentAttempt.status)
                               .where(PaymentAttempt.id == attempt.id))
    return status in (AttemptStatus.SUCCEEDED, AttemptStatus.REFUNDED)


def _take_stock(order: Order) -> bool:
    """One conditional UPDATE per line; all lines or none (savepoint). In the products'
    order, as a restock takes them (checkout.returns): two orders of the same products in
    other orders of lines never wait on each other's row locks crosswise (PostgreSQL's
    deadlock, one confirmation's 500)."""
    savepoint = db.session.begin_nested()
    for line in sorted(order.lines, key=lambda line: line.product_id or 0):
        taken = db.session.execute(
            update(Product)
            .where(Product.id == line.product_id, Product.stock >= line.quantity)
            .values(stock=Product.stock - line.quantity)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not taken:
            savepoint.rollback()
            return False
    savepoint.commit()
    return True


def _refund(intent_id: str, order: Order) -> None:
    try:
        client().v1.refunds.create(
            params={"payment_intent": intent_id}, options={"idempotency_key": f"refund-{intent_id}"}
        )
    except stripe.StripeError:
        log.exception("refund of %s for order %s failed; refund it by hand", intent_id, order.id)


def record_failed(intent_id: str, order_id: int | None, code: str, message: str) -> bool:
    """A failed attempt never touches a paid order; each failure is recorded (and tracked)
    once, whoever reports it first."""
    attempt = _attempt_for(intent_id, order_id)
    if attempt is None:
        return False
    changed = _mark_failed(attempt, code, message)
    db.session.commit()
    if changed:
        _track_failed(attempt)
    return changed
