"""The outbox: the messages the store has for shoppers (OutboxMessage), each recorded once.

- the order confirmation, when an order is paid;
- a shipping update when it ships, goes out for delivery and is delivered;
- a review request with the delivery, linking to the order's review form;
- a return's request, refund or refusal (checkout.returns);
- the abandoned-cart reminder (``flask orders remind``, hourly), to a shopper who left a
  cart, a checkout or a payment, whose email the store knows, with a link that puts the
  products it lists in the cart of whoever follows it, on any device.

Recorded after the change that causes them is committed, in a transaction of their own: a
message that cannot be recorded is logged (never with its address) and never undoes an
order. With MAIL_URL set, each waits to be sent by ``flask orders send-mail``
(checkout.mail). The texts are templates (``checkout/templates/messages/``); links are absolute,
from STORE_URL, else the address of the store's own request that caused the message.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta

from flask import current_app, has_request_context, render_template, url_for
from flask.globals import request_ctx
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.exc import IntegrityError

from storefront.extensions import db, journey
from storefront.models import Cart, Customer, utcnow
from storefront.money import Money
from tracking import store

from . import links, mail
from .models import (
    CheckoutContact,
    FulfilmentStatus,
    MessageKind,
    Order,
    OrderStatus,
    OutboxMessage,
)

log = logging.getLogger(__name__)


class MessageError(RuntimeError):
    """A message cannot be made here (no address for its links): said to whoever ran it."""


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


def require_store_url() -> None:
    """Outside a request, the links need STORE_URL (the demo and tests use 127.0.0.1)."""
    config = current_app.config
    if not (config.get("STORE_URL") or config.get("DEMO") or current_app.testing):
        raise MessageError("STORE_URL is not set: the links in shoppers' messages need "
                           "the store's public address, e.g. https://shop.example.com")


def _absolute(endpoint: str, **values) -> str:
    """A link for a message: under STORE_URL if set, else the request's address (a webhook
    or the panel's); from the CLI with no STORE_URL, the demo's address in the demo and
    tests, and an error elsewhere (a customer's link to 127.0.0.1 is no link)."""
    config = current_app.config
    base = config.get("STORE_URL")
    # This app's own request (an app context pushed inside another app's request, as a CLI
    # run from a test, is no request of this store's).
    if not base and has_request_context() and request_ctx.app is current_app._get_current_object():
        return url_for(endpoint, _external=True, **values)
    if not base:
        require_store_url()
        base = "http://127.0.0.1:5000"
    with current_app.test_request_context(base_url=base):
        return url_for(endpoint, _external=True, **values)


def _record(kind: MessageKind, key: str, to: str, subject: str, template: str, *,
            order: Order | None = None, journey_id: str | None = None,
            visitor_id: str | None = None, **context) -> bool:
    """Record one message, once per ``key``. True if this call recorded it."""
    try:
        if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)):
            return False
        body = render_template(f"messages/{template}.txt", order=order, **context)
        now = utcnow()
        db.session.add(OutboxMessage(
            key=key, kind=kind, to_email=to, subject=subject[:200], body=body,
            order_id=order.id if order is not None else None,
            journey_id=journey_id or (order.journey_id if order is not None else None),
            visitor_id=visitor_id, created_at=now,
            send_after=now if mail.enabled() else None))
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


def _never_raises(make):
    """A message's maker: whatever goes wrong (its link, its template, the database) is
    logged, never the purchase's or the fulfilment step's failure."""
    @functools.wraps(make)
    def wrapper(order: Order, *args) -> None:
        order_id = order.id  # read now: after a rollback it would be a query
        try:
            make(order, *args)
        except Exception as exc:  # noqa: BLE001
            db.session.rollback()
            log.warning("outbox: %s for order %s was not recorded: %s: %s", make.__name__,
                        order_id, type(exc).__name__,
                        exc if isinstance(exc, MessageError) else "see the debug log")
            log.debug("outbox: %s failed", make.__name__, exc_info=True)
    return wrapper


@_never_raises
def order_paid(order: Order) -> None:
    """The order confirmation (a paid order's items, total and delivery estimate)."""
    _record(MessageKind.ORDER_CONFIRMATION, f"order:{order.id}:confirmation", order.email,
            f"Your {_store_name()} order {order.number}", "order_confirmation", order=order,
            link=_order_link(order), total=Money(order.total, order.currency).format(),
            store=_store_name())


@_never_raises
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


RETURN_SUBJECTS = {
    "requested": "We have your return request for order {number}",
    "refunded": "Your refund for order {number}",
    "declined": "About your return for order {number}",
}


@_never_raises
def return_moved(order: Order, order_return) -> None:
    """The buyer's return: requested, refunded or declined (checkout.returns)."""
    _record(MessageKind.RETURN_UPDATE, f"return:{order_return.id}:{order_return.status}",
            order.email, RETURN_SUBJECTS[order_return.status].format(number=order.number),
            "return_update", order=order, order_return=order_return,
            link=_order_link(order), amount=order.money(order_return.amount).format(),
            store=_store_name())


# -- abandoned-cart reminders -----------------------------------------------------------------

LINK_LINES = 50  # a reminder lists, and its link carries, at most this many cart lines


def _cart_links() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(links.signing_keys(), salt=CART_LINK_SALT)


def cart_link_token(lines: list[tuple[int, int]]) -> str:
    """A link's token: the lines the reminder lists, (product id, quantity), signed. It names
    no cart: following it adds these to the follower's own cart, so a forwarded (or an old)
    link can neither open nor change the shopper's cart, its checkout or its order."""
    return _cart_links().dumps([[p, q] for p, q in lines[:LINK_LINES]])


def lines_from_token(token: str) -> list[tuple[int, int]] | None:
    """The lines a reminder's link lists, while it is fresh (CART_LINK_DAYS); None if it
    is not one of the store's, or too old."""
    try:
        value = _cart_links().loads(token, max_age=CART_LINK_DAYS * 86400)
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(value, list):
        return None
    return [(p, q) for p, q in value if isinstance(p, int) and isinstance(q, int) and q > 0]


def remind(after: timedelta, within: timedelta, now: datetime | None = None) -> dict[str, int]:
    """Record a reminder for each journey abandoned with a cart between ``within`` and
    ``after`` ago (and still abandoned: not bought later), whose shopper the store can
    write to (their account, the email they typed at checkout, or their unpaid order) and
    whose cart still holds something: one per journey, and at most one to an email in any
    ``within`` (two devices, two visits: one message), none to an email that has bought
    since the shopper left. Every such journey is looked at, REMIND_BATCH at a time."""
    now = now or utcnow()
    done = {"reminded": 0, "skipped": 0}
    for batch in _abandoned_carts(since=now - within, until=now - after):
        keys = {f"journey:{row.id}:reminder": row for row in batch}
        made = set(db.session.scalars(select(OutboxMessage.key)
                                      .where(OutboxMessage.key.in_(list(keys)))))
        for key, row in keys.items():
            if key in made:
                continue
            target = _reminder_target(row)
            if target is None:
                done["skipped"] += 1
                continue
            email, name, cart = target
            if _bought_since(email, row.last_seen_at) or _reminded_since(email, now - within):
                done["skipped"] += 1
                continue
            shown = cart.items[:LINK_LINES]
            lines = [(item.product_id, item.quantity) for item in shown]
            try:
                link = _absolute("checkout.cart_return", token=cart_link_token(lines),
                                 **REMINDER_UTM)
            except Exception as exc:  # noqa: BLE001 - e.g. STORE_URL unset: said once per run
                raise MessageError(str(exc)) from exc
            items = [(item.quantity, item.product.title) for item in shown]
            if _record(MessageKind.CART_REMINDER, key, email,
                       f"You left something in your {_store_name()} cart", "cart_reminder",
                       journey_id=row.id, visitor_id=row.visitor_id, name=name,
                       items=items, more=len(cart.items) - len(shown), link=link,
                       store=_store_name()):
                done["reminded"] += 1
    return done


REMIND_BATCH = 500


def _abandoned_carts(since: datetime, until: datetime):
    """store.abandoned_carts from the tracker's database (which may be another than the
    shop's), oldest first, each batch on a connection of its own (none is held while the
    shop's database is asked about the batch)."""
    state = journey.state()
    if not state.enabled or not state.database_url:
        return iter(())

    def read(query):
        with state.engine.connect() as conn:
            return conn.execute(query).all()

    return store.abandoned_carts(read, since, until, batch=REMIND_BATCH)


def _reminder_target(row) -> tuple[str, str, Cart] | None:
    """(email, name, cart) for an abandoned journey, or None: no one to write to, or the
    cart is empty now (bought, or emptied)."""
    email = name = cart = None
    customer_id = row.customer_id
    if customer_id and customer_id.isascii() and customer_id.isdigit():
        customer = db.session.get(Customer, int(customer_id))
        if customer is not None:
            email, name = customer.email, customer.name
            cart = db.session.scalar(select(Cart).where(Cart.customer_id == customer.id))
    if email is None:
        contact = db.session.get(CheckoutContact, row.id)
        if contact is not None:
            email, name = contact.email, contact.name
            cart = _their_cart(contact.cart_id, contact.updated_at)
    if email is None:
        order = db.session.scalar(
            select(Order).where(Order.journey_id == row.id, Order.status == OrderStatus.PENDING)
            .order_by(Order.id.desc()).limit(1))
        if order is not None:
            email, name = order.email, order.ship_name
            cart = _their_cart(order.cart_id, order.created_at)
    if email is None or cart is None or not cart.items:
        return None
    return email, name, cart


def _their_cart(cart_id: int | None, known_at: datetime) -> Cart | None:
    """The guest cart with this id, if it is the one they had then: SQLite hands a deleted
    cart's id (merged into an account at login) to the next new cart, and a cart made after
    the shopper typed their email is someone else's."""
    cart = db.session.get(Cart, cart_id) if cart_id else None
    if cart is None or cart.customer_id is not None or cart.created_at > known_at:
        return None
    return cart


# Both sides lowered by the database's own lower(): SQLite's folds ASCII only, so "ÅSA@x" and
# "åsa@x" differ there, but the same address typed the same way always matches.
def _bought_since(email: str, at: datetime) -> bool:
    return bool(db.session.scalar(select(exists().where(and_(
        func.lower(Order.email) == func.lower(email), Order.paid_at.is_not(None),
        Order.paid_at >= at)))))


def _reminded_since(email: str, at: datetime) -> bool:
    return bool(db.session.scalar(select(exists().where(and_(
        OutboxMessage.kind == MessageKind.CART_REMINDER,
        func.lower(OutboxMessage.to_email) == func.lower(email),
        OutboxMessage.created_at >= at)))))


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
