"""marshmallow schemas for the checkout steps and payment."""

from __future__ import annotations

from marshmallow import fields, validate

from storefront.schemas import BaseSchema
from storefront.shipping import METHODS

COUNTRIES = {
    "US": "United States", "CA": "Canada", "GB": "United Kingdom", "IE": "Ireland",
    "FR": "France", "DE": "Germany", "NL": "Netherlands", "ES": "Spain", "IT": "Italy",
    "AU": "Australia",
}


class AddressSchema(BaseSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    line1 = fields.String(required=True, validate=validate.Length(min=1, max=200))
    line2 = fields.String(load_default="", validate=validate.Length(max=200))
    city = fields.String(required=True, validate=validate.Length(min=1, max=120))
    postcode = fields.String(
        required=True,
        validate=[
            validate.Length(min=2, max=20),
            validate.Regexp(r"^[A-Za-z0-9 \-]+$", error="Use letters, digits, spaces or dashes."),
        ],
    )
    country = fields.String(
        required=True, validate=validate.OneOf(list(COUNTRIES), error="Choose a country.")
    )


class ShippingSchema(BaseSchema):
    method = fields.String(
        required=True, validate=validate.OneOf(list(METHODS), error="Choose a delivery method.")
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
        required=True, validate=validate.Range(min=1, max=5, error="Choose 1 to 5 stars.")
    )
    title = fields.String(load_default="", validate=validate.Length(max=200))
    body = fields.String(required=True, validate=validate.Length(min=3, max=5000))
