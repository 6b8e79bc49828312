"""Orders, their lines, payments, Stripe events, the fulfilment history and returns."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storefront.extensions import db
from storefront.models import utcnow
from storefront.money import Money

# The largest id an INTEGER column holds (PostgreSQL's int4).
MAX_ID = 2**31 - 1


class OrderStatus(enum.StrEnum):
    PENDING = "pending"  # placed, waiting for payment
    PAID = "paid"
    CANCELED = "canceled"  # e.g. paid but the stock was gone: refunded


class PaymentStatus(enum.StrEnum):
    UNPAID = "unpaid"
    REQUIRES_ACTION = "requires_action"
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"


class FulfilmentStatus(enum.StrEnum):
    UNFULFILLED = "unfulfilled"
    PACKED = "packed"
    SHIPPED = "shipped"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"


class AttemptStatus(enum.StrEnum):
    CREATED = "created"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # Charged, but it paid nothing (the order changed meanwhile, or another attempt paid
    # it first): the charge was given back.
    REFUNDED = "refunded"


def enum_column(enum_cls: type[enum.StrEnum], default: enum.StrEnum):
    # Stored as plain strings: readable in SQL and no ALTER TYPE on PostgreSQL when values grow.
    return mapped_column(String(32), default=default.value, index=True)


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (CheckConstraint("total >= 0", name="total_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cart_id: Mapped[int | None] = mapped_column(ForeignKey("carts.id", ondelete="SET NULL"))
    # The shopper's journey, so touchpoints with no shopper request (Stripe's webhook, the
    # courier) land in it. None when the shopper is not tracked (Do Not Track, GPC).
    journey_id: Mapped[str | None] = mapped_column(String(32), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = enum_column(OrderStatus, OrderStatus.PENDING)
    payment_status: Mapped[str] = enum_column(PaymentStatus, PaymentStatus.UNPAID)
    fulfilment_status: Mapped[str] = enum_column(FulfilmentStatus, FulfilmentStatus.UNFULFILLED)

    ship_name: Mapped[str] = mapped_column(String(120))
    ship_line1: Mapped[str] = mapped_column(String(200))
    ship_line2: Mapped[str] = mapped_column(String(200), default="")
    ship_city: Mapped[str] = mapped_column(String(120))
    ship_postcode: Mapped[str] = mapped_column(String(20))
    ship_country: Mapped[str] = mapped_column(String(2))
    shipping_method: Mapped[str] = mapped_column(String(20))

    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int]
    shipping_cost: Mapped[int]
    total: Mapped[int]
    estimated_delivery: Mapped[date]

    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    paid_at: Mapped[datetime | None] = mapped_column(index=True)
    delivered_at: Mapped[datetime | None]

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )
    payments: Mapped[list[PaymentAttempt]] = relationship(
        back_populates="order", order_by="PaymentAttempt.id"
    )
    history: Mapped[list[FulfilmentEvent]] = relationship(
        back_populates="order", order_by="FulfilmentEvent.id"
    )

    @property
    def number(self) -> str:
        return self.number_of(self.id)

    @staticmethod
    def number_of(order_id: int) -> str:
        """The number the shop shows for an order id: 331 is "TP-000331"."""
        return f"TP-{order_id:06d}"

    @staticmethod
    def id_from_number(text: str) -> int | None:
        """331 from an order's number as ``number`` shows it ("TP-000331", any case) or from
        its id ("331"); None for anything else."""
        text = text.strip()
        digits = text[3:] if text[:3].upper() == "TP-" else text
        if not (digits.isascii() and digits.isdigit()):
            return None
        order_id = int(digits)
        # An id is a 32-bit integer: a larger number is no order (PostgreSQL would refuse
        # to compare it with the column, an error for what is only a wrong number).
        return order_id if 0 < order_id <= MAX_ID else None

    def money(self, amount: int) -> Money:
        return Money(amount, self.currency)

    @property
    def is_paid(self) -> bool:
        return self.payment_status == PaymentStatus.PAID


class OrderLine(db.Model):
    """A snapshot of what was bought: name, SKU and unit price as they were then."""

    __tablename__ = "order_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    sku: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[int]
    quantity: Mapped[int]

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


class PaymentAttempt(db.Model):
    """One Stripe PaymentIntent for an order; a retry with another card is a new attempt."""

    __tablename__ = "payment_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(120), unique=True)
    card_ref: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = enum_column(AttemptStatus, AttemptStatus.CREATED)
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    error_code: Mapped[str | None] = mapped_column(String(80))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="payments")


class StripeEvent(db.Model):
    """Every webhook event id we processed; the primary key makes a replay a no-op."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    type: Mapped[str] = mapped_column(String(80))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class FulfilmentEvent(db.Model):
    __tablename__ = "fulfilment_events"
    __table_args__ = (UniqueConstraint("order_id", "to_status", name="uq_fulfilment_step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(120), default="system")
    at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="history")


class CheckoutContact(db.Model):
    """The email and name a guest typed at checkout's first step, before any order exists:
    whom the owner can follow up when they leave at the delivery step, as Shopify's
    abandoned checkouts do (the panel's Abandonment and explorer, behind its login; never a
    metric or a log). One row a journey. Gone once that journey's order carries them (a
    journey that ended mid-checkout keeps its own: it names who abandoned it), with the
    visitor (``journey forget``), and after CHECKOUT_CONTACT_DAYS (``orders expire``).
    Never kept for a shopper the tracker does not follow (Do Not Track, GPC, unless
    JOURNEY_RESPECT_PRIVACY_SIGNALS is off) nor for one signed in (their account has it)."""

    __tablename__ = "checkout_contacts"

    journey_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    visitor_id: Mapped[str | None] = mapped_column(String(32), index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120))
    # The cart they were checking out: what a reminder brings back (messages.remind).
    cart_id: Mapped[int | None] = mapped_column(ForeignKey("carts.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)


class ReturnStatus(enum.StrEnum):
    REQUESTED = "requested"  # the buyer asked; the owner has not decided
    # The owner asked for the refund; Stripe's answer is not in (or was lost): never
    # declined, never asked of Stripe again before the store has looked for the refund
    REFUNDING = "refunding"
    REFUNDED = "refunded"  # the owner refunded the returned lines (Stripe)
    DECLINED = "declined"


class ReturnReason(enum.StrEnum):
    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    NO_LONGER_NEEDED = "no_longer_needed"
    OTHER = "other"


class OrderReturn(db.Model):
    """A buyer's request to send back some of a delivered order's lines, within RETURN_DAYS
    of delivery, and what the owner made of it: refunded (their price, through Stripe) or
    declined. A line is never returned more than it was bought (checkout.returns)."""

    __tablename__ = "order_returns"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = enum_column(ReturnStatus, ReturnStatus.REQUESTED)
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(500), default="")
    amount: Mapped[int]  # minor units: the returned lines' price (shipping is not refunded)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(254))
    refund_id: Mapped[str | None] = mapped_column(String(120))  # Stripe's re_...
    # The refund's own key, random (a fresh database's return 1 is not another's): Stripe's
    # idempotency key, and the metadata the store finds a refund by when an answer was lost
    refund_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    refunding_since: Mapped[datetime | None]  # when the refund was last asked for
    # The owner put the returned items back in stock (checkout.returns.restock): once.
    restocked_at: Mapped[datetime | None]
    restocked_by: Mapped[str | None] = mapped_column(String(254))

    order: Mapped[Order] = relationship()
    lines: Mapped[list[OrderReturnLine]] = relationship(
        back_populates="order_return", cascade="all, delete-orphan",
        order_by="OrderReturnLine.id")

    @property
    def number(self) -> str:
        return f"R-{self.id:06d}"

    @property
    def items(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def restockable_items(self) -> int:
        """The items Restock puts back: those whose product the shop still has."""
        return sum(line.quantity for line in self.lines if line.order_line.product_id)


class OrderReturnLine(db.Model):
    __tablename__ = "order_return_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("order_returns.id", ondelete="CASCADE"),
                                           index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"),
                                               index=True)
    quantity: Mapped[int]

    order_return: Mapped[OrderReturn] = relationship(back_populates="lines")
    order_line: Mapped[OrderLine] = relationship()


class MessageKind(enum.StrEnum):
    ORDER_CONFIRMATION = "order_confirmation"
    SHIPPING_UPDATE = "shipping_update"
    REVIEW_REQUEST = "review_request"
    CART_REMINDER = "cart_reminder"
    RETURN_UPDATE = "return_update"


class OutboxMessage(db.Model):
    """A message to a shopper, recorded in the outbox the owner reads in the panel: the
    order confirmation, each shipping update, the review request after delivery and the
    abandoned-cart reminder. ``key`` makes each one once however often its cause is seen
    (a webhook and the shopper's page both confirming a payment). ``flask orders send-mail``
    sends them through MAIL_URL (checkout.mail); without it, they are recorded only."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    to_email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"),
                                                 index=True)
    journey_id: Mapped[str | None] = mapped_column(String(32), index=True)
    visitor_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Sending (checkout.mail): when it may be tried (next); None once sent or given up, and
    # for a message recorded with no MAIL_URL set (the outbox's only).
    send_after: Mapped[datetime | None] = mapped_column(index=True)
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(String(200))  # our phrase and the SMTP code
