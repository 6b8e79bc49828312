"""Checkout's domain errors."""

from storefront.errors import DomainError


class CheckoutStepIncomplete(DomainError):
    """A later step was requested before an earlier one was done."""

    def __init__(self, message: str, step: str):
        super().__init__(message)
        self.step = step


class EmptyCart(DomainError):
    pass


class PaymentDeclined(DomainError):
    status_code = 402


class PaymentUnavailable(DomainError):
    status_code = 503


class InvalidTransition(DomainError):
    status_code = 409


class OrderNotPayable(DomainError):
    status_code = 409


class SoldOutWhilePaying(DomainError):
    """Another buyer took the last units while this payment went through: it is refunded."""

    status_code = 409
