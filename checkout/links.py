"""Signed order links: a guest reaches their order page without an account."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

SALT = "touchpoint.order-link"


def signing_keys() -> list[str]:
    """itsdangerous's key rotation: the current key last, SECRET_KEY_FALLBACKS before it
    (signs with the last, reads with any): a guest's emailed order link outlives a new
    SECRET_KEY."""
    return [*current_app.config.get("SECRET_KEY_FALLBACKS", ()),
            current_app.config["SECRET_KEY"]]


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(signing_keys(), salt=SALT)


def order_token(order_id: int) -> str:
    return _serializer().dumps(order_id)


def order_id_from_token(token: str) -> int | None:
    try:
        value = _serializer().loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None
