"""Shipping methods, their cost and the delivery date a shopper is promised."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from .money import Money


@dataclass(frozen=True)
class ShippingMethod:
    code: str
    name: str
    price: int  # minor units
    min_days: int  # business days
    max_days: int
    free_over_threshold: bool


METHODS: dict[str, ShippingMethod] = {
    m.code: m
    for m in (
        ShippingMethod("standard", "Standard", 499, 3, 5, True),
        ShippingMethod("express", "Express", 1299, 1, 2, False),
    )
}
DEFAULT_METHOD = "standard"


def add_business_days(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def shipping_cost(method: ShippingMethod, subtotal: Money, free_threshold: int) -> Money:
    if method.free_over_threshold and subtotal.amount >= free_threshold:
        return Money(0, subtotal.currency)
    return Money(method.price, subtotal.currency)


def estimated_delivery(method: ShippingMethod, ordered_on: date) -> date:
    """The promise is the latest date of the method's window."""
    return add_business_days(ordered_on, method.max_days)
