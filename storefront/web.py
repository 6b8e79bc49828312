"""Request helpers shared by the storefront's views: the visitor's cart token, errors."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, jsonify, render_template, request, session
from flask_login import current_user

from . import cart as cart_service
from .models import Cart

CART_TOKEN = "cart_token"


def cart_token() -> str:
    """The anonymous cart key, kept in the signed session cookie."""
    token = session.get(CART_TOKEN)
    if not token:
        token = session[CART_TOKEN] = cart_service.new_token()
    return token


def customer_id() -> int | None:
    return current_user.id if current_user.is_authenticated else None


def current_cart(create: bool = False) -> Cart | None:
    if create:
        return cart_service.get_or_create_cart(cart_token(), customer_id())
    return cart_service.find_cart(session.get(CART_TOKEN), customer_id())


def current_summary(cart: Cart | None, method: str | None = None):
    cfg = current_app.config
    return cart_service.summarize(
        cart, cfg["STORE_CURRENCY"], cfg["FREE_SHIPPING_THRESHOLD"], method
    )


def wants_json() -> bool:
    # HTML wins a tie (Accept: */*); JSON only when asked for.
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return request.is_json or best == "application/json"


def error_response(message: str, status: int, errors: dict | None = None):
    if wants_json():
        body = {"error": message}
        if errors:
            body["errors"] = errors
        return jsonify(body), status
    return render_template("error.html", message=message, status=status), status


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths: no open redirect through ``next=``."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target
