"""Checkout steps, payment, confirmation, order pages, buyer reviews and returns."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from marshmallow import ValidationError
from sqlalchemy import select

from storefront import cart as cart_service
from storefront import shipping
from storefront.errors import DomainError
from storefront.extensions import db, journey
from storefront.schemas import load_form
from storefront.web import current_cart, current_summary, customer_id, error_response

from . import contacts, flow, links, mail, messages, payments, returns
from . import reviews as review_service
from .errors import CheckoutStepIncomplete
from .fulfilment import TIMELINE
from .models import AttemptStatus, Order, OrderReturn, OrderStatus
from .schemas import (
    COUNTRIES,
    RETURN_REASONS,
    AddressSchema,
    PaySchema,
    ReturnSchema,
    ReviewSchema,
    ShippingSchema,
    quantities_of,
)

bp = Blueprint(
    "checkout", __name__, template_folder="templates", static_folder="static",
    static_url_path="/static/checkout",
)
STATE = "checkout"


def _state() -> dict:
    return dict(session.get(STATE) or {})


def _save(state: dict) -> None:
    session[STATE] = state


def _nonempty_cart():
    cart = current_cart()
    if cart is None or not cart.items:
        return None
    return cart


def _render_step(name: str, status: int = 200, **context):
    cart = current_cart()
    state = _state()
    method = (state.get("shipping") or {}).get("method")
    return render_template(
        f"checkout/{name}.html",
        steps=flow.STEPS,
        current=name,
        cart=cart,
        summary=current_summary(cart, method),
        **context,
    ), status


@bp.get("/cart/return/<token>")
def cart_return(token: str):
    """A reminder's link: the lines it lists put in this browser's own cart (on any device,
    signed in or not). It opens no one's cart: a forwarded link shares a list of products,
    never a cart, its checkout or its order. A cart that already holds something is left
    as it is. The reminder's utm parameters go on to the cart page, where the journey
    lands, so it is counted as the reminder's."""
    lines = messages.lines_from_token(token)
    onward = url_for("cart.view", **{k: v for k, v in request.args.items()
                                     if k in messages.REMINDER_UTM})
    if not lines:
        flash("That cart link has expired: its products are still in the shop.", "error")
        return redirect(onward)
    mine = current_cart()
    if mine is not None and mine.items:
        flash("Your cart already holds something, so it is kept as it is.", "success")
        return redirect(onward)
    cart, missing = current_cart(create=True), 0
    for product_id, quantity in lines:
        product = cart_service.find_product(product_id)
        left = min(quantity, product.stock) if product is not None else 0
        try:
            if left > 0:
                cart_service.add_item(cart, product_id, left)
        except DomainError:  # no longer sold, or sold out meanwhile
            db.session.rollback()
            left = 0
        missing += left < quantity
    if missing:
        flash(f"{missing} of the products you left are no longer available as they were: "
              "your cart has what is left of them.", "error")
    return redirect(onward)


@bp.route("/checkout/", methods=["GET"])
def start():
    cart = _nonempty_cart()
    if cart is None:
        flash("Your cart is empty.", "error")
        return redirect(url_for("cart.view"))
    summary = current_summary(cart)
    journey.track("checkout_start", value=summary.subtotal.amount,
                  currency=summary.subtotal.currency)
    return redirect(url_for("checkout.address"))


@bp.route("/checkout/address", methods=["GET", "POST"])
def address():
    if _nonempty_cart() is None:
        flash("Your cart is empty.", "error")
        return redirect(url_for("cart.view"))
    state = _state()
    form = dict(state.get("address") or {})
    if current_user.is_authenticated:
        form.setdefault("email", current_user.email)
        form.setdefault("name", current_user.name)
    errors: dict = {}
    if request.method == "POST":
        data = request.form.to_dict()
        if current_user.is_authenticated:
            data["email"] = current_user.email
        form, errors = load_form(AddressSchema(), data)
        if not errors:
            state["address"] = form
            _save(state)
            contacts.keep(form)  # whom the owner can follow up if the guest leaves here
            journey.track("checkout_address", country=form["country"])
            return redirect(url_for("checkout.shipping_step"))
    return _render_step(
        "address", 400 if errors else 200, form=form, errors=errors, countries=COUNTRIES
    )


@bp.route("/checkout/shipping", methods=["GET", "POST"])
def shipping_step():
    if _nonempty_cart() is None:
        flash("Your cart is empty.", "error")
        return redirect(url_for("cart.view"))
    state = _state()
    try:
        flow.require_step("shipping", state)
    except CheckoutStepIncomplete as exc:
        flash(str(exc), "error")
        return redirect(url_for(f"checkout.{_endpoint(exc.step)}"))
    form = dict(state.get("shipping") or {"method": shipping.DEFAULT_METHOD})
    errors: dict = {}
    if request.method == "POST":
        form, errors = load_form(ShippingSchema(), request.form)
        if not errors:
            state["shipping"] = form
            _save(state)
            chosen = current_summary(current_cart(), form["method"])
            journey.track("checkout_shipping", method=form["method"], cost=chosen.shipping.amount)
            return redirect(url_for("checkout.payment"))
    cart = current_cart()
    options = [
        (m, current_summary(cart, m.code)) for m in shipping.METHODS.values()
    ]
    return _render_step("shipping", 400 if errors else 200, form=form, errors=errors,
                        options=options)


def _endpoint(step_name: str) -> str:
    return {"shipping": "shipping_step"}.get(step_name, step_name)


@bp.get("/checkout/payment")
def payment():
    state = _state()
    try:
        order = flow.place_order(current_cart(), state, customer_id(), settle=False)
    except CheckoutStepIncomplete as exc:
        flash(str(exc), "error")
        return redirect(url_for(f"checkout.{_endpoint(exc.step)}"))
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("cart.view"))
    return _render_step(
        "payment",
        order=order,
        stripe_js_url=current_app.config["STRIPE_JS_URL"],
        publishable_key=current_app.config["STRIPE_PUBLISHABLE_KEY"],
        return_url=url_for("checkout.confirmation", token=links.order_token(order.id)),
        demo=current_app.config["DEMO"],  # the demo's fake Stripe takes the README's cards
    )


@bp.post("/checkout/pay")
def pay():
    """JSON: the browser posts only the card reference Stripe.js gave it."""
    values, errors = load_form(PaySchema(), request.get_json(silent=True) or request.form)
    if errors:
        return jsonify(error="The card details could not be read.", errors=errors), 400
    state = _state()
    cart = current_cart()
    try:
        earlier = cart and payments.previous_attempt(cart.id, values["card_ref"])
        if earlier:
            order, result = earlier.order, payments.replay(earlier)
        else:
            order = flow.place_order(cart, state, customer_id())
            result = payments.pay(order, values["card_ref"])
    except CheckoutStepIncomplete as exc:
        return jsonify(error=str(exc), step=exc.step), 409
    except DomainError as exc:
        return jsonify(error=str(exc)), exc.status_code
    token = links.order_token(order.id)
    confirmation = url_for("checkout.confirmation", token=token)
    if result.status == "failed":
        return jsonify(status="failed", error=result.message, order_number=order.number), 402
    if result.status == "requires_action":
        return jsonify(status="requires_action", client_secret=result.client_secret,
                       redirect=confirmation, order_number=order.number,
                       check=url_for("checkout.check_payment", token=token))
    return jsonify(status="succeeded", redirect=confirmation, order_number=order.number)


@bp.post("/checkout/pay/<token>/check")
def check_payment(token: str):
    """JSON: the browser says 3-D Secure is over (it failed, or the dialog closed). Its word
    is not taken: Stripe is asked how the payment stands, and a failure is recorded (and
    tracked) once, however many of the browser, the webhook and the next attempt report it."""
    order = _order_from_token(token)
    try:
        payments.refresh(order)
    except DomainError as exc:
        return jsonify(error=str(exc)), exc.status_code
    confirmation = url_for("checkout.confirmation", token=token)
    if order.is_paid:
        return jsonify(status="succeeded", redirect=confirmation, order_number=order.number)
    latest = order.payments[-1] if order.payments else None
    if latest is not None and latest.status == AttemptStatus.FAILED:
        return jsonify(status="failed", order_number=order.number,
                       error=payments.decline_message(latest)), 402
    return jsonify(status=order.payment_status, order_number=order.number)


def _order_from_token(token: str) -> Order:
    order_id = links.order_id_from_token(token)
    order = db.session.get(Order, order_id) if order_id else None
    if order is None:
        abort(404)
    return order


@bp.get("/checkout/confirmation/<token>")
def confirmation(token: str):
    order = _order_from_token(token)
    try:
        payments.refresh(order)  # the return page asks Stripe, never the browser
    except DomainError as exc:
        flash(str(exc), "error")
    if order.is_paid:
        session.pop(STATE, None)
    _track_order_view(order)
    return render_template(
        "checkout/confirmation.html", order=order, steps=flow.STEPS, current="confirmation",
        order_url=url_for("checkout.order_page", token=token), mail_sent=mail.enabled(),
        **_receipt_context(),
    )


PAYMENT_WORDS = {"unpaid": "not paid", "requires_action": "payment waiting for your bank",
                 "paid": "paid", "failed": "payment failed", "refunded": "refunded"}


def _receipt_context() -> dict:
    return {"countries": COUNTRIES, "methods": shipping.METHODS, "payment_words": PAYMENT_WORDS}


def _order_context(order: Order, token: str | None):
    history = {e.to_status: e.at for e in order.history}
    return dict(
        order=order,
        timeline=[(s, history.get(s) if s != "paid" else order.paid_at) for s in TIMELINE],
        reviewable=review_service.reviewable_product_ids(order),
        returnable=returns.returnable(order),
        returns_made=db.session.scalars(select(OrderReturn).where(OrderReturn.order_id == order.id)
                                        .order_by(OrderReturn.id)).all(),
        return_closes=returns.window_closes(order),
        return_reasons=RETURN_REASONS, return_form={}, return_errors={},
        token=token,
        **_receipt_context(),
    )


def _track_order_view(order: Order) -> None:
    journey.track("order_view", journey_id=order.journey_id, order_ref=order.id)


@bp.get("/orders/<token>")
def order_page(token: str):
    order = _order_from_token(token)
    _track_order_view(order)
    return render_template("orders/detail.html", **_order_context(order, token),
                           form={}, errors={})


@bp.get("/account/orders")
@login_required
def my_orders():
    orders = db.session.scalars(
        select(Order)
        .where(Order.customer_id == current_user.id, Order.status != OrderStatus.PENDING)
        .order_by(Order.id.desc())
    ).all()
    return render_template("orders/list.html", orders=orders, token_for=links.order_token)


@bp.post("/orders/<token>/returns")
def return_request(token: str):
    order = _order_from_token(token)
    form, errors = load_form(ReturnSchema(), request.form)
    if errors:  # what the buyer chose stays chosen
        try:
            form["quantities"] = {int(k): int(v) for k, v in quantities_of(request.form).items()}
        except ValidationError:
            form["quantities"] = {}
    else:
        try:
            made = returns.request_return(order, form["quantities"], form["reason"],
                                          form.get("note", ""))
        except DomainError as exc:
            errors = {"quantities": [str(exc)]}
        else:
            flash(f"Your return {made.number} is requested: send the items back with its "
                  "number, and we refund you once we have looked at them.", "success")
            return redirect(url_for("checkout.order_page", token=token, _anchor="returns"))
    context = {**_order_context(order, token), "return_form": form, "return_errors": errors}
    return render_template("orders/detail.html", **context, form={}, errors={}), 400


@bp.post("/orders/<token>/reviews")
def review(token: str):
    order = _order_from_token(token)
    form, errors = load_form(ReviewSchema(), request.form)
    if not errors:
        try:
            review_service.submit_review(
                order, form["product_id"], form["rating"], form.get("title", ""), form["body"]
            )
        except DomainError as exc:
            return error_response(str(exc), exc.status_code)
        flash("Thank you for your review!", "success")
        return redirect(url_for("checkout.order_page", token=token))
    return render_template(
        "orders/detail.html", **_order_context(order, token), form=form, errors=errors
    ), 400
