"""The cart page and its add / change / remove actions."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from .. import cart as cart_service
from ..errors import DomainError, OutOfStock
from ..extensions import journey
from ..schemas import CartAddSchema, CartUpdateSchema, load_form
from ..web import current_cart, current_summary, error_response, wants_json

bp = Blueprint("cart", __name__, url_prefix="/cart")


def _cart_json(cart):
    summary = current_summary(cart)
    return {
        "items": [
            {"product_id": i.product_id, "title": i.product.title, "quantity": i.quantity,
             "unit_price": i.product.price, "line_total": i.line_total.amount}
            for i in (cart.items if cart else [])
        ],
        "item_count": summary.item_count,
        "subtotal": summary.subtotal.amount,
        "shipping": summary.shipping.amount,
        "total": summary.total.amount,
        "currency": summary.subtotal.currency,
        "estimated_delivery": summary.estimated_delivery.isoformat(),
    }


@bp.get("/")
def view():
    cart = current_cart()
    summary = current_summary(cart)
    journey.track("cart_view", items=summary.item_count, value=summary.subtotal.amount,
                  currency=summary.subtotal.currency)
    if wants_json():
        return jsonify(_cart_json(cart))
    return render_template("cart.html", cart=cart, summary=summary)


def _apply(schema, action):
    data = request.get_json(silent=True) if request.is_json else request.form
    values, errors = load_form(schema, data or {})
    if errors:
        return error_response("Please check the quantity.", 400, errors)
    cart = current_cart(create=True)
    try:
        message = action(cart, values)
    except DomainError as exc:
        return error_response(str(exc), exc.status_code)
    if wants_json():
        return jsonify(_cart_json(cart))
    flash(message, "success")
    return redirect(url_for("cart.view"))


@bp.post("/add")
def add():
    if wants_json():  # the API's answers stay as documented: 400, or 409 past the stock
        def action(cart, values):
            item = cart_service.add_item(cart, values["product_id"], values["quantity"])
            return f"Added {item.product.title} to your cart."

        return _apply(CartAddSchema(), action)
    return _add_from_product_page()


def _add_from_product_page():
    """A product page's Add to cart: a quantity past the stock (or not a quantity) goes back
    to the product page with what went wrong said on it, instead of an error page."""
    values, errors = load_form(CartAddSchema(), request.form)
    product = cart_service.find_product(values.get("product_id"))
    back = (url_for("shop.product", slug=product.slug) if product is not None
            else url_for("cart.view"))
    if errors:
        flash(" ".join(errors.get("quantity") or ["That item could not be added."]), "error")
        return redirect(back)
    cart = current_cart(create=True)
    try:
        item = cart_service.add_item(cart, values["product_id"], values["quantity"])
    except OutOfStock as exc:
        line = cart_service.line_of(cart, values["product_id"])
        held = f" Your cart already has {line.quantity}." if line else ""
        flash(f"{exc}{held} Nothing was added.", "error")
        return redirect(back)
    except DomainError as exc:  # no such product: the error page, as before
        return error_response(str(exc), exc.status_code)
    flash(f"Added {item.product.title} to your cart.", "success")
    return redirect(url_for("cart.view"))


@bp.post("/update")
def update():
    if wants_json():  # the API's answers stay as documented: 400, or 409 past the stock
        def action(cart, values):
            cart_service.set_quantity(cart, values["product_id"], values["quantity"])
            return "Cart updated."

        return _apply(CartUpdateSchema(), action)
    return _update_from_cart_page()


def _update_from_cart_page():
    """The cart page's Update: every answer is the cart again, with what happened said on
    it; a quantity past the stock becomes the stock, as the shopper would have chosen."""
    values, errors = load_form(CartUpdateSchema(), request.form)
    if errors:
        flash(" ".join(errors.get("quantity") or ["That item could not be changed."]), "error")
        return redirect(url_for("cart.view"))
    cart = current_cart(create=True)
    wanted = values["quantity"]
    line = cart_service.line_of(cart, values["product_id"])
    title = line.product.title if line else ""
    try:
        item = cart_service.set_quantity(cart, values["product_id"], wanted, up_to_stock=True)
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("cart.view"))
    kept = item.quantity if item else 0
    if kept < wanted:
        flash(f"Only {kept} of {title} left in stock; your cart now has {kept}." if kept
              else f"{title} is out of stock; it is no longer in your cart.", "error")
    else:
        flash("Cart updated.", "success")
    return redirect(url_for("cart.view"))


@bp.post("/remove")
def remove():
    def action(cart, values):
        cart_service.remove_item(cart, values["product_id"])
        return "Removed from your cart."

    return _apply(CartUpdateSchema(partial=("quantity",)), action)
