"""Sign-up and log-in: customers with hashed passwords."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .errors import EmailTaken, InvalidCredentials
from .extensions import db
from .models import Customer


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


def authenticate(email: str, password: str) -> Customer:
    customer = find_by_email(email)
    if customer is None or not customer.check_password(password):
        raise InvalidCredentials("Email or password is wrong.")
    return customer
