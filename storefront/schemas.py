"""marshmallow schemas for every shopper input of the storefront."""

from __future__ import annotations

import re

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

from .catalog import SORTS
from .money import parse_major

# C0 and C1 controls and DEL; tab, line feed and carriage return are how text is typed.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CONTROL_CHARACTERS_MESSAGE = "Remove the invisible control characters."
MAX_QUERY = 200  # characters of a search that are searched for
# Shopper-facing words for the rules marshmallow would otherwise word for developers.
TOO_LONG = "Use at most {max} characters."
EMAIL_MESSAGES = {"required": "Enter your email address.",
                  "invalid": "Enter an email address like ada@example.com."}


def has_control_characters(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is not None


class MoneyField(fields.Field):
    """'12.50' in, minor units out; empty means no bound."""

    default_error_messages = {"invalid": "Enter an amount like 25 or 19.99."}

    def _deserialize(self, value, attr, data, **kwargs):
        if value in (None, ""):
            return None
        try:
            return parse_major(str(value)).amount
        except ValueError:
            raise self.make_error("invalid") from None


class ClippedString(fields.String):
    """Text cut to ``length`` characters rather than refused: a long search pasted into a
    link still searches."""

    def __init__(self, length: int, **kwargs):
        super().__init__(**kwargs)
        self.length = length

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs)[: self.length]


class BaseSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    @pre_load
    def strip_strings(self, data, **kwargs):
        if hasattr(data, "to_dict"):
            data = data.to_dict()
        return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}

    @pre_load
    def reject_control_characters(self, data, **kwargs):
        # No shop field needs them, and PostgreSQL refuses a NUL in text with an error (a 500).
        bad = {
            key: [CONTROL_CHARACTERS_MESSAGE]
            for key, value in data.items()
            if key in self.load_fields and isinstance(value, str) and has_control_characters(value)
        }
        if bad:
            raise ValidationError(bad)
        return data


class ListingSchema(BaseSchema):
    q = ClippedString(MAX_QUERY, load_default="")
    category = fields.String(load_default=None, allow_none=True, validate=validate.Length(
        max=80, error="Choose a category from the list."))
    min_price = MoneyField(load_default=None)
    max_price = MoneyField(load_default=None)
    in_stock = fields.Boolean(load_default=False, truthy={"1", "on", "true", "yes"},
                              error_messages={"invalid": "Tick or untick In stock only."})
    sort = fields.String(load_default=None, validate=validate.OneOf(
        SORTS, error="Choose a sort order from the list."))
    page = fields.Integer(
        load_default=1, error_messages={"invalid": "A page is a number, like 2."},
        validate=validate.Range(min=1, max=10_000, error="Pages go from {min} to {max}."),
    )

    @pre_load
    def blank_to_default(self, data, **kwargs):
        return {k: v for k, v in data.items() if v != "" or k == "q"}

    @validates_schema
    def price_range(self, data, **kwargs):
        low, high = data.get("min_price"), data.get("max_price")
        if low is not None and high is not None and low > high:
            raise ValidationError("The minimum price is above the maximum.", "max_price")


QUANTITY_MESSAGES = {"required": "Enter a quantity.", "invalid": "Enter a whole number."}


class CartAddSchema(BaseSchema):
    product_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    quantity = fields.Integer(
        load_default=1, error_messages=QUANTITY_MESSAGES,
        validate=validate.Range(min=1, max=99, error="Choose a quantity from {min} to {max}."),
    )


class CartUpdateSchema(BaseSchema):
    product_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    quantity = fields.Integer(
        required=True, error_messages=QUANTITY_MESSAGES,
        validate=validate.Range(min=0, max=99, error="Choose a quantity from {min} to {max}."),
    )


class SignUpSchema(BaseSchema):
    name = fields.String(required=True, validate=validate.Length(
        min=1, max=120, error="Enter your name (at most {max} characters)."),
        error_messages={"required": "Enter your name."})
    email = fields.Email(required=True, validate=validate.Length(max=254, error=TOO_LONG),
                         error_messages=EMAIL_MESSAGES)
    password = fields.String(required=True, validate=validate.Length(
        min=8, max=200, error="Use {min} to {max} characters for your password."),
        error_messages={"required": "Choose a password of 8 to 200 characters."})


class LoginSchema(BaseSchema):
    email = fields.Email(required=True, error_messages=EMAIL_MESSAGES)
    password = fields.String(
        required=True, error_messages={"required": "Enter your password."},
        validate=[validate.Length(min=1, error="Enter your password."),
                  validate.Length(max=200, error=TOO_LONG)],
    )
    next = fields.String(load_default=None, allow_none=True)


def load_form(schema: Schema, data) -> tuple[dict, dict[str, list[str]]]:
    """Validate; return (values, errors). On errors, values keeps what the shopper typed."""
    try:
        return schema.load(data), {}
    except ValidationError as exc:
        raw = data.to_dict() if hasattr(data, "to_dict") else dict(data)
        # HTML cannot carry control characters: the page keeps the rest of what was typed.
        raw = {k: CONTROL_CHARACTERS.sub("", v) if isinstance(v, str) else v
               for k, v in raw.items()}
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return raw, messages
