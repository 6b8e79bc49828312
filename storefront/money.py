"""Money as integer minor units plus an ISO 4217 currency code."""

from __future__ import annotations

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


def parse_major(text: str, currency: str = "USD") -> Money:
    """'12.5' -> Money(1250). Raises ValueError for anything that is not a plain amount."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{text!r} is not an amount")
    exponent = 0 if currency in ZERO_DECIMAL else 2
    return Money(int((value * (10**exponent)).to_integral_value()), currency)
