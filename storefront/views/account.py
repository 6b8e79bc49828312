"""Sign up, log in, log out. Guest checkout needs none of these."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import accounts
from .. import cart as cart_service
from ..errors import DomainError
from ..extensions import journey
from ..schemas import LoginSchema, SignUpSchema, load_form
from ..web import CART_TOKEN, safe_next

bp = Blueprint("account", __name__, url_prefix="/account")


def _start_session(customer, via: str) -> None:
    token = session.get(CART_TOKEN)
    accounts.start_fresh_session()
    login_user(customer, remember=True)
    journey.identify(customer.id, via=via)  # stitches this journey to the customer
    cart = cart_service.merge_into_customer(token, customer.id)
    session[CART_TOKEN] = cart.token


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    form, errors = {}, {}
    if request.method == "POST":
        form, errors = load_form(SignUpSchema(), request.form)
        if not errors:
            try:
                customer = accounts.sign_up(form["email"], form["name"], form["password"])
            except DomainError as exc:
                errors = {"email": [str(exc)]}
            else:
                _start_session(customer, "signup")
                flash(f"Welcome, {customer.name}! Your account is ready.", "success")
                return redirect(safe_next(request.args.get("next"), url_for("shop.landing")))
    form.pop("password", None)
    return render_template("signup.html", form=form, errors=errors), 400 if errors else 200


@bp.route("/login", methods=["GET", "POST"])
def login():
    form, errors, status = {"next": request.args.get("next", "")}, {}, 200
    if request.method == "POST":
        form, errors = load_form(LoginSchema(), request.form)
        status = 400 if errors else 200
        if not errors:
            try:
                customer = accounts.authenticate(form["email"], form["password"],
                                                 request.remote_addr)
            except DomainError as exc:
                errors = {"_schema": [str(exc)]}
                status = 429 if isinstance(exc, accounts.LoginThrottled) else 400
            else:
                _start_session(customer, "login")
                flash("You are logged in.", "success")
                return redirect(safe_next(form.get("next"), url_for("shop.landing")))
    form.pop("password", None)
    headers = {"Retry-After": "900"} if status == 429 else {}
    return render_template("login.html", form=form, errors=errors), status, headers


@bp.post("/logout")
@login_required
def logout():
    accounts.end_sessions(current_user.id)
    logout_user()
    journey.identify(None, via=None)
    session.pop(CART_TOKEN, None)
    session.pop("checkout", None)
    flash("You are logged out.", "success")
    return redirect(url_for("shop.landing"))
