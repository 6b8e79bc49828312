"""Fulfilment as a state machine with an explicit allowed-moves table and a recorded history."""

from __future__ import annotations

from sqlalchemy import select

from storefront.extensions import db, journey
from storefront.models import utcnow

from . import messages
from .errors import InvalidTransition
from .models import FulfilmentEvent, FulfilmentStatus, Order

S = FulfilmentStatus
ALLOWED_MOVES: dict[FulfilmentStatus, frozenset[FulfilmentStatus]] = {
    S.UNFULFILLED: frozenset({S.PACKED}),
    S.PACKED: frozenset({S.SHIPPED}),
    S.SHIPPED: frozenset({S.OUT_FOR_DELIVERY}),
    S.OUT_FOR_DELIVERY: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
}
# The one step forward from each state, for "advance".
NEXT: dict[FulfilmentStatus, FulfilmentStatus] = {
    S.UNFULFILLED: S.PACKED,
    S.PACKED: S.SHIPPED,
    S.SHIPPED: S.OUT_FOR_DELIVERY,
    S.OUT_FOR_DELIVERY: S.DELIVERED,
}
# Packing happens inside the warehouse: the shopper's journey sees the rest.
TOUCHPOINTS = {S.SHIPPED: "shipped", S.OUT_FOR_DELIVERY: "out_for_delivery",
               S.DELIVERED: "delivered"}
TIMELINE = ("paid", S.PACKED, S.SHIPPED, S.OUT_FOR_DELIVERY, S.DELIVERED)


def transition(order: Order, to: FulfilmentStatus, actor: str = "system") -> FulfilmentEvent:
    current = FulfilmentStatus(order.fulfilment_status)
    if not order.is_paid:
        raise InvalidTransition(f"Order {order.number} is not paid; it cannot be fulfilled.")
    if to not in ALLOWED_MOVES[current]:
        raise InvalidTransition(f"Order {order.number} cannot go from {current} to {to}.")
    event = FulfilmentEvent(order=order, from_status=current, to_status=to, actor=actor)
    order.fulfilment_status = to
    if to == S.DELIVERED:
        order.delivered_at = event.at = utcnow()
    db.session.add(event)
    db.session.commit()
    if to in TOUCHPOINTS:
        props = {}
        if to == S.DELIVERED and order.paid_at:
            props["delivery_seconds"] = (order.delivered_at - order.paid_at).total_seconds()
        journey.track(TOUCHPOINTS[to], journey_id=order.journey_id, order_ref=order.id, **props)
    messages.order_moved(order, to)  # the shopper's update, in the outbox
    return event


def advance(order_id: int, actor: str = "system") -> FulfilmentEvent:
    """Move an order one step along the delivery timeline (the CLI and the admin call this)."""
    order = db.session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None:
        raise InvalidTransition(f"There is no order {order_id}.")
    current = FulfilmentStatus(order.fulfilment_status)
    if current not in NEXT:
        raise InvalidTransition(f"Order {order.number} is already {current}.")
    return transition(order, NEXT[current], actor)
