"""Sign-up and log-in: customers with hashed passwords; the login throttle and the fresh
session at sign-in, which the admin panel's sign-in uses too."""

from __future__ import annotations

from datetime import timedelta

from flask import session
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from tracking.visitor import truncate_ip

from .errors import DomainError, EmailTaken, InvalidCredentials
from .extensions import db
from .models import Customer, LoginFailure, utcnow
from .web import CART_TOKEN

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
# What a sign-in keeps of the session: the visitor's cart and the checkout they typed
# (checkout.views.STATE); a page links to the login from the checkout's first step.
SURVIVES_SIGN_IN = (CART_TOKEN, "checkout")


class LoginThrottled(DomainError):
    status_code = 429


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_by_email(email: str) -> Customer | None:
    return db.session.scalar(
        select(Customer).where(func.lower(Customer.email) == normalise_email(email))
    )


def sign_up(email: str, name: str, password: str) -> Customer:
    if find_by_email(email) is not None:
        raise EmailTaken("An account with that email already exists. Log in instead.")
    customer = Customer(email=normalise_email(email), name=name.strip())
    customer.set_password(password)
    db.session.add(customer)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise EmailTaken("An account with that email already exists. Log in instead.") from None
    return customer


def authenticate(email: str, password: str, remote_addr: str | None) -> Customer:
    attempt = begin_attempt("customer", normalise_email(email), remote_addr)
    customer = find_by_email(email)
    if customer is None or not customer.check_password(password):
        end_attempt(attempt, succeeded=False)
        db.session.commit()
        raise InvalidCredentials("Email or password is wrong.")
    end_attempt(attempt, succeeded=True)
    db.session.commit()
    return customer


def customer_for_session(session_id: str) -> Customer | None:
    """The customer a session or remember cookie names (``Customer.get_id``), while its
    session version is still theirs: after a logout or a new password, nobody."""
    customer_id, _, version = session_id.partition(":")
    if not (customer_id.isdigit() and version.isdigit()):
        return None  # an id alone is from before session versions: log in again
    customer = db.session.get(Customer, int(customer_id))
    if customer is None or customer.session_version != int(version):
        return None
    return customer


def end_sessions(customer_id: int) -> None:
    """Logout: every session and remember cookie of this customer stops working, a copy of
    this browser's included."""
    db.session.execute(update(Customer).where(Customer.id == customer_id)
                       .values(session_version=Customer.session_version + 1))
    db.session.commit()


# -- shared by the customers' and the admins' sign-in ------------------------------------------

def _recent_failures(realm: str, email: str, ip_net: str) -> int:
    return db.session.scalar(
        select(func.count()).select_from(LoginFailure).where(
            LoginFailure.at >= utcnow() - WINDOW, LoginFailure.realm == realm,
            LoginFailure.email == email, LoginFailure.ip_net == ip_net,
        )
    )


def begin_attempt(realm: str, email: str, remote_addr: str | None) -> LoginFailure:
    """Throttle logins per (email, network): five failures in 15 minutes refuse that pair
    until the oldest is 15 minutes old. Per pair, not per email or per network: an attacker
    elsewhere cannot lock the owner out, nor one network every account on it.

    The attempt is recorded as a failure, and committed, before its password is checked,
    then counted: parallel guesses each see the others', so at most MAX_FAILURES of them
    reach the (slow) password check. ``end_attempt`` takes it back on success."""
    ip_net = truncate_ip(remote_addr) or "unknown"
    attempt = LoginFailure(realm=realm, email=email, ip_net=ip_net)
    db.session.add(attempt)
    db.session.commit()
    if _recent_failures(realm, email, ip_net) > MAX_FAILURES:
        db.session.delete(attempt)  # a refused attempt does not lengthen the lockout
        db.session.commit()
        raise LoginThrottled("Too many failed logins. Try again in 15 minutes.")
    return attempt


def end_attempt(attempt: LoginFailure, succeeded: bool) -> None:
    """In the caller's transaction: a success is no failure; a failure stays counted."""
    if succeeded:
        db.session.delete(attempt)
    else:
        db.session.execute(delete(LoginFailure).where(
            LoginFailure.at < utcnow() - WINDOW))  # the table stays small


def start_fresh_session() -> None:
    """At a sign-in, empty the session but for what the visitor was doing, so nothing from
    before it is trusted after it: its CSRF token, or a value planted in the cookie."""
    kept = {key: session[key] for key in SURVIVES_SIGN_IN if key in session}
    session.clear()
    session.update(kept)
