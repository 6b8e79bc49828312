"""marshmallow schemas for the checkout steps and payment."""

from __future__ import annotations

import re

from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from storefront.schemas import EMAIL_MESSAGES, TOO_LONG, BaseSchema
from storefront.shipping import METHODS

COUNTRIES = {
    "US": "United States", "CA": "Canada", "GB": "United Kingdom", "IE": "Ireland",
    "FR": "France", "DE": "Germany", "NL": "Netherlands", "ES": "Spain", "IT": "Italy",
    "AU": "Australia",
}


class AddressSchema(BaseSchema):
    email = fields.Email(
        required=True, validate=validate.Length(max=254, error=TOO_LONG),
        error_messages=EMAIL_MESSAGES,
    )
    name = fields.String(
        required=True, validate=validate.Length(max=120, error=TOO_LONG),
        error_messages={"required": "Enter your full name."},
    )
    line1 = fields.String(
        required=True, validate=validate.Length(max=200, error=TOO_LONG),
        error_messages={"required": "Enter your street address."},
    )
    line2 = fields.String(load_default="", validate=validate.Length(max=200, error=TOO_LONG))
    city = fields.String(
        required=True, validate=validate.Length(max=120, error=TOO_LONG),
        error_messages={"required": "Enter your town or city."},
    )
    postcode = fields.String(
        required=True,
        validate=[
            validate.Length(min=2, max=20, error="A postcode or ZIP has 2 to 20 characters."),
            validate.Regexp(r"^[A-Za-z0-9 \-]+$", error="Use letters, digits, spaces or dashes."),
        ],
        error_messages={"required": "Enter your postcode or ZIP."},
    )
    country = fields.String(
        required=True, validate=validate.OneOf(list(COUNTRIES), error="Choose a country."),
        error_messages={"required": "Choose a country."},
    )

    @pre_load
    def blank_is_missing(self, data, **kwargs):
        # One plain "Enter your ..." per empty box, not a length rule; spaces count as empty.
        return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}


class ShippingSchema(BaseSchema):
    method = fields.String(
        required=True, validate=validate.OneOf(list(METHODS), error="Choose a delivery method."),
        error_messages={"required": "Choose a delivery method."},
    )


class PaySchema(BaseSchema):
    card_ref = fields.String(
        required=True,
        validate=[
            validate.Length(min=4, max=120),
            validate.Regexp(r"^(pm|card|src|tok)_[A-Za-z0-9_]+$", error="Not a card reference."),
        ],
    )


class ReviewSchema(BaseSchema):
    product_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    rating = fields.Integer(
        required=True, validate=validate.Range(min=1, max=5, error="Choose 1 to 5 stars."),
        error_messages={"required": "Choose a star rating.", "invalid": "Choose a star rating."},
    )
    title = fields.String(load_default="", validate=validate.Length(max=200, error=TOO_LONG))
    body = fields.String(
        required=True, error_messages={"required": "Write at least 3 characters."},
        validate=[validate.Length(min=3, error="Write at least {min} characters."),
                  validate.Length(max=5000, error=TOO_LONG)],
    )


RETURN_REASONS = {
    "damaged": "It arrived damaged",
    "wrong_item": "I received the wrong item",
    "not_as_described": "It is not as described",
    "no_longer_needed": "I no longer need it",
    "other": "Another reason",
}


NOTHING_CHOSEN = "Choose how many of which item you are sending back."


class ReturnSchema(BaseSchema):
    """A return request: the reason, a note, and ``qty-<order line id>`` fields gathered into
    ``quantities``."""

    reason = fields.String(
        required=True,
        validate=validate.OneOf(list(RETURN_REASONS), error="Choose why you are sending it back."),
        error_messages={"required": "Choose why you are sending it back."},
    )
    note = fields.String(load_default="", validate=validate.Length(max=500, error=TOO_LONG))
    quantities = fields.Dict(
        keys=fields.Integer(validate=validate.Range(min=1, max=2**31 - 1)),
        values=fields.Integer(validate=validate.Range(min=0, max=10_000)),
        load_default=dict)

    @pre_load
    def gather_quantities(self, data, **kwargs):
        return {**{key: value for key, value in data.items() if not key.startswith("qty-")},
                "quantities": quantities_of(data)}

    @validates_schema(skip_on_field_errors=False)
    def something_to_return(self, data, **kwargs):
        """Nothing chosen is said with the other fields' errors, not after they are mended
        (quantities that are not numbers have their own error)."""
        if "quantities" in data and not any(data["quantities"].values()):
            raise ValidationError(NOTHING_CHOSEN, "quantities")


QUANTITY_FIELD = re.compile(r"qty-([1-9][0-9]{0,9})")


def quantities_of(data) -> dict[str, str]:
    """``qty-<order line id>`` fields as {line id: quantity}: only ASCII digits, each line
    once (``qty-01`` beside ``qty-1``, or a full-width digit, is an error, not a guess)."""
    found: dict[str, str] = {}
    for key, value in data.items():
        if not key.startswith("qty-"):
            continue
        match = QUANTITY_FIELD.fullmatch(key)
        value = value if isinstance(value, str) else ""
        if match is None or match.group(1) in found or not (
                value == "" or value.isascii() and value.isdigit() and len(value) <= 5):
            raise ValidationError({"quantities": ["Choose a number for each item."]})
        if value not in ("", "0"):
            found[match.group(1)] = value
    return found
