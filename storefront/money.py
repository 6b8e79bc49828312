"""Money as integer minor units plus an ISO 4217 currency code."""

from __future__ import annotations

import re
from dataclasses import dataclass

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
# Currencies whose minor unit is not 1/100 (Stripe's zero-decimal list, abridged).
ZERO_DECIMAL = {"JPY", "KRW", "VND", "CLP", "ISK"}


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str = "USD"

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("Money.amount must be an int of minor units")

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if not isinstance(factor, int):
            raise TypeError("Money can only be multiplied by an int")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    @property
    def exponent(self) -> int:
        return 0 if self.currency in ZERO_DECIMAL else 2

    @property
    def major(self) -> float:
        """Major units, for display and Prometheus only; never for arithmetic."""
        return self.amount / (10**self.exponent)

    def format(self) -> str:
        symbol = SYMBOLS.get(self.currency, self.currency + " ")
        sign = "-" if self.amount < 0 else ""
        if self.exponent == 0:
            return f"{sign}{symbol}{abs(self.amount):,}"
        units, cents = divmod(abs(self.amount), 100)
        return f"{sign}{symbol}{units:,}.{cents:02d}"

    def __str__(self) -> str:
        return self.format()


# What a shopper types as an amount: digits, and a few decimals. Read with a pattern before
# Decimal sees it: Decimal takes "1e999990", and making an int of it is half a minute of a
# worker's CPU (and "1e999999999" overflows).
_PLAIN_AMOUNT = re.compile(r"\d{1,15}(?:\.\d{0,6})?|\.\d{1,6}")
# The most an amount may be in minor units: the largest a price column holds (PostgreSQL's
# integer), so a filter never asks the database for a number it refuses.
MAX_MINOR_UNITS = 2**31 - 1


def parse_major(text: str, currency: str = "USD") -> Money:
    """'12.5' -> Money(1250). Raises ValueError for anything that is not a plain amount, or
    is more than MAX_MINOR_UNITS."""
    from decimal import Decimal

    plain = text.strip()
    if not _PLAIN_AMOUNT.fullmatch(plain):
        raise ValueError(f"{text[:40]!r} is not an amount")
    exponent = 0 if currency in ZERO_DECIMAL else 2
    minor = int((Decimal(plain) * (10**exponent)).to_integral_value())
    if minor > MAX_MINOR_UNITS:
        raise ValueError(f"{text[:40]!r} is more than any price")
    return Money(minor, currency)
