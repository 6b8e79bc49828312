"""The Stripe webhook: verified with the signing secret, each event id processed once."""

from __future__ import annotations

import json
import logging

import stripe
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from storefront.extensions import csrf, db

from . import payments
from .models import StripeEvent

log = logging.getLogger(__name__)
bp = Blueprint("stripe_webhook", __name__)


def _order_id(intent) -> int | None:
    raw = (intent.get("metadata") or {}).get("order_id")
    return int(raw) if raw and str(raw).isdigit() else None


def on_succeeded(intent) -> None:
    payments.record_succeeded(intent["id"], _order_id(intent), intent.get("amount"),
                              intent.get("currency"))


def on_failed(intent) -> None:
    error = intent.get("last_payment_error") or {}
    payments.record_failed(
        intent["id"], _order_id(intent), error.get("code") or "failed",
        error.get("message") or "Payment failed",
    )


HANDLERS = {
    "payment_intent.succeeded": on_succeeded,
    "payment_intent.payment_failed": on_failed,
}


@bp.post("/stripe/webhook")
@csrf.exempt
def stripe_webhook():
    payload = request.get_data()
    signature = request.headers.get("Stripe-Signature", "")
    try:
        event = stripe.Webhook.construct_event(
            payload, signature, current_app.config["STRIPE_WEBHOOK_SECRET"]
        )
    except (ValueError, stripe.SignatureVerificationError):
        return jsonify(error="invalid payload or signature"), 400

    db.session.add(StripeEvent(id=event["id"], type=event["type"]))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return jsonify(status="duplicate"), 200
    handler = HANDLERS.get(event["type"])
    if handler is not None:
        # Plain dicts from the verified payload (stripe's objects are not dicts).
        handler(json.loads(payload)["data"]["object"])  # commits together with the event id
    db.session.commit()
    return jsonify(status="ok"), 200
