"""A guest's checkout email before an order exists (CheckoutContact): kept at the address
step, dropped once an order carries it, erased with the visitor and after
CHECKOUT_CONTACT_DAYS."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask
from flask_login import current_user
from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError

from storefront.extensions import db, journey
from storefront.models import utcnow
from storefront.web import current_cart
from tracking import visitor_forgotten

from . import messages
from .models import CheckoutContact

log = logging.getLogger(__name__)


def keep(address: dict) -> None:
    """Keep the email and name a guest gave, under their journey. Best effort: a failure is
    logged and the checkout goes on (it has the address in the session)."""
    journey_id = journey.current_journey_id()
    if journey_id is None or current_user.is_authenticated:
        return
    try:
        contact = db.session.get(CheckoutContact, journey_id)
        if contact is None:
            contact = CheckoutContact(journey_id=journey_id)
            db.session.add(contact)
        contact.visitor_id = journey.current_visitor_id()
        contact.email, contact.name = address["email"], address["name"]
        cart = current_cart()
        contact.cart_id = cart.id if cart is not None else None
        contact.updated_at = utcnow()
        db.session.commit()
    except SQLAlchemyError as exc:  # e.g. a second tab's step inserting the same journey's row
        db.session.rollback()
        # The error's class and SQL only (the engine hides its values): never the email.
        log.warning("checkout: the guest's contact was not kept: %s",
                    type(getattr(exc, "orig", None) or exc).__name__)


def drop_for(journey_id: str | None) -> None:
    """The journey's order now carries the email: the contact is not needed (committed with
    the order)."""
    if journey_id:
        db.session.execute(delete(CheckoutContact).where(CheckoutContact.journey_id == journey_id))


def erase_older_than(days: int) -> int:
    """Erase contacts no order came of, last given more than ``days`` ago."""
    cutoff = utcnow() - timedelta(days=days)
    erased = db.session.execute(
        delete(CheckoutContact).where(CheckoutContact.updated_at < cutoff)).rowcount
    db.session.commit()
    return erased


@visitor_forgotten.connect
def _forget(sender: Flask, visitor_id: str, **_extra) -> None:
    """``journey forget VISITOR``: their checkout contacts and cart reminders go with their
    journeys."""
    if "sqlalchemy" not in getattr(sender, "extensions", {}):  # not a store's app
        return
    with sender.app_context():
        db.session.execute(delete(CheckoutContact).where(CheckoutContact.visitor_id == visitor_id))
        messages.erase_reminders_for(visitor_id)
        db.session.commit()
