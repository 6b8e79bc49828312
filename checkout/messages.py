"""The outbox: the messages the store has for shoppers (OutboxMessage), each recorded once.

- the order confirmation, when an order is paid;
- a shipping update when it ships, goes out for delivery and is delivered;
- a review request with the delivery, linking to the order's review form;
- the abandoned-cart reminder (``flask orders remind``, hourly), to a shopper who left a
  cart, a checkout or a payment, whose email the store knows, with a link that brings the
  cart back on any device.

Recorded after the change that causes them is committed, in a transaction of their own: a
message that cannot be recorded is logged (never with its address) and never undoes an
order. The texts are templates (``checkout/templates/messages/``); links are absolute,
from STORE_URL, else the request's own address.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app, has_request_context, render_template, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import and_, delete, exists, select
from sqlalchemy.exc import IntegrityError

from storefront.extensions import db, journey
from storefront.models import Cart, Customer, utcnow
from storefront.money import Money
from tracking.models import journeys
from tracking.touchpoints import ABANDONABLE

from . import links
from .models import (
    CheckoutContact,
    FulfilmentStatus,
    MessageKind,
    Order,
    OrderStatus,
    OutboxMessage,
)

log = logging.getLogger(__name__)

CART_LINK_SALT = "touchpoint.cart-reminder"
CART_LINK_DAYS = 14
# The reminder link's own traffic source: the journey it starts says it came from here.
REMINDER_UTM = {"utm_source": "reminder", "utm_medium": "email",
                "utm_campaign": "abandoned_cart"}
SHIPPING_SUBJECTS = {
    FulfilmentStatus.SHIPPED: "Your order {number} has shipped",
    FulfilmentStatus.OUT_FOR_DELIVERY: "Your order {number} is out for delivery",
    FulfilmentStatus.DELIVERED: "Your order {number} has been delivered",
}


def _absolute(endpoint: str, **values) -> str:
    """A link for a message: under STORE_URL if set, else the request's address (a webhook
    or the panel's), else the demo's."""
    base = current_app.config.get("STORE_URL")
    if not base and has_request_context():
        return url_for(endpoint, _external=True, **values)
    with current_app.test_request_context(base_url=base or "http://127.0.0.1:5000"):
        return url_for(endpoint, _external=True, **values)


def _record(kind: MessageKind, key: str, to: str, subject: str, template: str, *,
            order: Order | None = None, journey_id: str | None = None,
            visitor_id: str | None = None, **context) -> bool:
    """Record one message, once per ``key``. True if this call recorded it."""
    try:
        if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)):
            return False
        body = render_template(f"messages/{template}.txt", order=order, **context)
        db.session.add(OutboxMessage(
            key=key, kind=kind, to_email=to, subject=subject[:200], body=body,
            order_id=order.id if order is not None else None,
            journey_id=journey_id or (order.journey_id if order is not None else None),
            visitor_id=visitor_id))
        db.session.commit()
        return True
    except IntegrityError:  # the webhook and the shopper's page, at the same moment
        db.session.rollback()
        return False
    except Exception as exc:  # noqa: BLE001 - never the order's failure, nor the response's
        db.session.rollback()
        log.warning("outbox: the %s message for %s was not recorded: %s", kind, key,
                    type(getattr(exc, "orig", None) or exc).__name__)
        return False


def _order_link(order: Order) -> str:
    return _absolute("checkout.order_page", token=links.order_token(order.id))


def _store_name() -> str:
    return current_app.config["STORE_NAME"]


def order_paid(order: Order) -> None:
    """The order confirmation (a paid order's items, total and delivery estimate)."""
    _record(MessageKind.ORDER_CONFIRMATION, f"order:{order.id}:confirmation", order.email,
            f"Your {_store_name()} order {order.number}", "order_confirmation", order=order,
            link=_order_link(order), total=Money(order.total, order.currency).format(),
            store=_store_name())


def order_moved(order: Order, to: FulfilmentStatus) -> None:
    """A shipping update; with the delivery, the request for a review."""
    subject = SHIPPING_SUBJECTS.get(to)
    if subject is None:  # packing is the warehouse's own step
        return
    link = _order_link(order)
    _record(MessageKind.SHIPPING_UPDATE, f"order:{order.id}:{to}", order.email,
            subject.format(number=order.number), "shipping_update", order=order, link=link,
            status=to, store=_store_name())
    if to == FulfilmentStatus.DELIVERED:
        _record(MessageKind.REVIEW_REQUEST, f"order:{order.id}:review", order.email,
                f"How was your order {order.number}?", "review_request", order=order,
                link=f"{link}#review", store=_store_name())


# -- abandoned-cart reminders -----------------------------------------------------------------

def _cart_links() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=CART_LINK_SALT)


def cart_link_token(cart_id: int) -> str:
    return _cart_links().dumps(cart_id)


def cart_from_token(token: str) -> Cart | None:
    """The cart a reminder's link names, while the link is fresh (CART_LINK_DAYS)."""
    try:
        cart_id = _cart_links().loads(token, max_age=CART_LINK_DAYS * 86400)
    except BadSignature:  # also SignatureExpired
        return None
    return db.session.get(Cart, cart_id) if isinstance(cart_id, int) else None


def remind(after: timedelta, within: timedelta, now: datetime | None = None) -> dict[str, int]:
    """Record a reminder for each journey abandoned with a cart between ``within`` and
    ``after`` ago (and still abandoned: not bought later), whose shopper the store can
    write to (their account, the email they typed at checkout, or their unpaid order) and
    whose cart still holds something. Once per journey, and not to an email that has
    bought since the shopper left."""
    now = now or utcnow()
    found = _abandoned_carts(since=now - within, until=now - after)
    done = {"reminded": 0, "skipped": 0}
    for row in found:
        target = _reminder_target(row)
        if target is None:
            done["skipped"] += 1
            continue
        email, name, cart = target
        if _bought_since(email, row["last_seen_at"]):
            done["skipped"] += 1
            continue
        link = _absolute("checkout.cart_return", token=cart_link_token(cart.id), **REMINDER_UTM)
        items = [(item.quantity, item.product.title) for item in cart.items]
        if _record(MessageKind.CART_REMINDER, f"journey:{row['id']}:reminder", email,
                   f"You left something in your {_store_name()} cart", "cart_reminder",
                   journey_id=row["id"], visitor_id=row["visitor_id"], name=name,
                   items=items, link=link, store=_store_name()):
            done["reminded"] += 1
    return done


REMIND_AT_MOST = 5000  # journeys a run looks at (the oldest first); the next run goes on


def _abandoned_carts(since: datetime, until: datetime) -> list[dict]:
    """Journeys left at the cart, checkout or payment in [since, until), still abandoned,
    from the tracker's database (which may be another than the shop's)."""
    state = journey.state()
    if not state.enabled or not state.database_url:
        return []
    j = journeys.c
    with state.engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            select(j.id, j.visitor_id, j.customer_id, j.last_seen_at)
            .where(j.status == "abandoned",
                   j.abandoned_stage.in_([s.label for s in ABANDONABLE]),
                   j.abandoned_at >= since, j.abandoned_at < until)
            .order_by(j.abandoned_at).limit(REMIND_AT_MOST)).mappings()]


def _reminder_target(row: dict) -> tuple[str, str, Cart] | None:
    """(email, name, cart) for an abandoned journey, or None: no one to write to, or the
    cart is empty now (bought, or emptied)."""
    email = name = cart = None
    customer_id = row["customer_id"]
    if customer_id and customer_id.isascii() and customer_id.isdigit():
        customer = db.session.get(Customer, int(customer_id))
        if customer is not None:
            email, name = customer.email, customer.name
            cart = db.session.scalar(select(Cart).where(Cart.customer_id == customer.id))
    if email is None:
        contact = db.session.get(CheckoutContact, row["id"])
        if contact is not None:
            email, name = contact.email, contact.name
            cart = db.session.get(Cart, contact.cart_id) if contact.cart_id else None
    if email is None:
        order = db.session.scalar(
            select(Order).where(Order.journey_id == row["id"], Order.status == OrderStatus.PENDING)
            .order_by(Order.id.desc()).limit(1))
        if order is not None:
            email, name = order.email, order.ship_name
            cart = db.session.get(Cart, order.cart_id) if order.cart_id else None
    if email is None or cart is None or not cart.items:
        return None
    return email, name, cart


def _bought_since(email: str, at: datetime) -> bool:
    return bool(db.session.scalar(select(exists().where(and_(
        Order.email == email, Order.paid_at.is_not(None), Order.paid_at >= at)))))


def erase_reminders_for(visitor_id: str) -> None:
    """``journey forget``: reminders name a visitor's journey (orders' messages stay with
    the orders, the shop's records)."""
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.visitor_id == visitor_id))


def erase_reminders_older_than(days: int) -> int:
    erased = db.session.execute(delete(OutboxMessage).where(
        OutboxMessage.kind == MessageKind.CART_REMINDER,
        OutboxMessage.created_at < utcnow() - timedelta(days=days))).rowcount
    db.session.commit()
    return erased
