"""Domain errors raised by services; views turn them into pages or JSON."""


class DomainError(Exception):
    """A rule of the shop was broken; the message is safe to show to the shopper."""

    status_code = 400


class NotFound(DomainError):
    status_code = 404


class OutOfStock(DomainError):
    status_code = 409


class InvalidCredentials(DomainError):
    status_code = 401


class EmailTaken(DomainError):
    status_code = 409
