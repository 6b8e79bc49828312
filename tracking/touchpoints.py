"""The closed catalogue of touchpoints: each with its stage, property schema and the names
GA4 and Segment's e-commerce spec use for the same moment."""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate


class Stage(enum.IntEnum):
    """Journey stages, ordered: a journey's stage is the furthest it reached."""

    LANDING = 1
    BROWSE = 2
    CART = 3
    CHECKOUT = 4
    PAYMENT = 5
    PURCHASE = 6
    SHIPPED = 7
    DELIVERED = 8
    REVIEWED = 9

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Stage:
        return cls[label.upper()]


STAGES: tuple[Stage, ...] = tuple(Stage)
SHOPPING_STAGES = frozenset({Stage.LANDING, Stage.BROWSE, Stage.CART, Stage.CHECKOUT,
                             Stage.PAYMENT})
# Idle journeys at these stages are abandoned after JOURNEY_ABANDON_AFTER ...
ABANDONABLE = (Stage.CART, Stage.CHECKOUT, Stage.PAYMENT)
# ... and at these they end after the session timeout: a bounce, a browse exit.
EXITS = (Stage.LANDING, Stage.BROWSE)


class Props(Schema):
    class Meta:
        unknown = RAISE


class Text(fields.String):
    """A string property. No NUL character: PostgreSQL's text cannot hold one, and the batch
    holding it would be refused (writer.Refused)."""

    default_error_messages = {"nul": "Must not contain NUL characters."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("nul")
        return text


class IdText(Text):
    """An id: text, or an integer, which is stored as its digits (``product.id`` as it is,
    as ``order_ref`` takes it)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)


def Count(minimum: int = 0, maximum: int | None = None) -> fields.Integer:  # noqa: N802
    """A whole number, and only that: 1.5 items or "2" is an error, never truncated."""
    return fields.Integer(strict=True, validate=validate.Range(min=minimum, max=maximum))


Id = IdText(validate=validate.Length(min=1, max=64))
# Minor units (1999 for 19.99), a whole number: 19.99 is refused, not stored as 19.
Amount = Count(0, 10**12)
Currency = Text(validate=validate.Regexp(r"^[A-Z]{3}$"))
Short = Text(validate=validate.Length(max=200))
# What the cart is kept by (store._cart_deltas): an add or removal names its product.
ProductId = IdText(required=True, validate=validate.Length(min=1, max=64))


def _schema(name: str, **declared: fields.Field) -> type[Schema]:
    return Props.from_dict(declared, name=f"{name}Props")


@dataclass(frozen=True)
class Touchpoint:
    name: str
    stage: Stage | None
    schema: type[Schema]
    ga4: str
    segment: str
    description: str
    # Read on every event: plain values, where the enum's label, int() and hashing are
    # each a Python-level call.
    stage_label: str | None = field(init=False)
    rank: int = field(init=False)  # the stage's rank; 0 for none
    shopping: bool = field(init=False)  # a stage of SHOPPING_STAGES

    def __post_init__(self):
        object.__setattr__(self, "stage_label", self.stage.label if self.stage else None)
        object.__setattr__(self, "rank", int(self.stage) if self.stage else 0)
        object.__setattr__(self, "shopping", self.stage in SHOPPING_STAGES)

    def routine_after(self, reached: int) -> bool:
        """Whether this touchpoint, in a journey whose furthest stage rank is ``reached``
        (the visitor's cookie), can change only its counts and times (Event.routine, with
        the same journey, customer and no order): a stage it had reached, before a purchase
        (a purchased journey that learns a customer recovers that customer's carts, which
        only the writer's full fold does), not a landing (it sets the journey's source) or
        a purchase (its status and value)."""
        return self.rank <= reached < _PURCHASE_RANK and self.name not in _NEVER_ROUTINE

    def validate(self, props: dict) -> dict:
        """The properties, checked and cleaned by the schema (ValidationError if invalid).

        Validation is a pure function of the properties, and a shop sends the same ones
        again and again (the same product's page, the same landing source), so results
        are memoised in a bounded LRU; unhashable values skip it."""
        try:  # the values' types too: 1, 1.0 and True are equal keys, not equal props
            key = (self.name, tuple(props.items()), tuple(map(type, props.values())))
            return dict(_validated(key))
        except TypeError:  # an unhashable value (a list, a dict)
            return self._validator.load(props)

    @functools.cached_property
    def _validator(self) -> Schema:
        # One instance per touchpoint: building a Schema costs 4x the load itself, and
        # load() keeps no state between calls.
        return self.schema()


_PURCHASE_RANK = int(Stage.PURCHASE)
_NEVER_ROUTINE = frozenset({"landing", "purchase"})


@functools.lru_cache(maxsize=2048)
def _validated(key: tuple) -> dict:
    # Only successful loads are cached (a ValidationError propagates); the caller copies.
    return CATALOGUE[key[0]]._validator.load(dict(key[1]))


def _tp(name, stage, ga4, segment, description, **props) -> Touchpoint:
    return Touchpoint(name, stage, _schema(name, **props), ga4, segment, description)


_CATALOGUE = (
    _tp("landing", Stage.LANDING, "session_start", "Page Viewed",
        "first page of a journey: source, referrer, device, landing page",
        path=Text(validate=validate.Length(max=500)), source=Short, medium=Short,
        campaign=Short, referrer=Short, device=Text(
            validate=validate.OneOf(["mobile", "tablet", "desktop"]))),
    _tp("page_view", None, "page_view", "Page Viewed",
        "a page with no touchpoint of its own (keeps the session alive)",
        endpoint=Text(validate=validate.Length(max=200))),
    _tp("search", Stage.BROWSE, "search", "Products Searched", "a search was run",
        query=Text(validate=validate.Length(max=200)),
        results=Count()),
    _tp("category_view", Stage.BROWSE, "view_item_list", "Product List Viewed",
        "a category page", category=Id),
    _tp("product_view", Stage.BROWSE, "view_item", "Product Viewed", "a product page",
        product_id=Id, sku=Short, price=Amount, currency=Currency),
    _tp("add_to_cart", Stage.CART, "add_to_cart", "Product Added", "a product added to the cart",
        product_id=ProductId, quantity=Count(1, 10_000),
        value=Amount, currency=Currency),
    _tp("remove_from_cart", Stage.CART, "remove_from_cart", "Product Removed",
        "a product removed from the cart", product_id=ProductId,
        quantity=Count(0, 10_000)),
    _tp("cart_view", Stage.CART, "view_cart", "Cart Viewed", "the cart page",
        items=Count(), value=Amount, currency=Currency),
    _tp("checkout_start", Stage.CHECKOUT, "begin_checkout", "Checkout Started",
        "the shopper entered the checkout", value=Amount, currency=Currency),
    _tp("checkout_address", Stage.CHECKOUT, "—", "Checkout Step Completed (step 1)",
        "the address step was completed",
        country=Text(validate=validate.Length(equal=2))),
    _tp("checkout_shipping", Stage.CHECKOUT, "add_shipping_info",
        "Checkout Step Completed (step 2)", "a delivery method was chosen",
        method=Short, cost=Amount),
    _tp("payment_submitted", Stage.PAYMENT, "add_payment_info", "Payment Info Entered",
        "card details sent for payment", order_ref=Id, value=Amount, currency=Currency),
    _tp("payment_requires_action", Stage.PAYMENT, "—", "—",
        "the bank asked for 3-D Secure authentication", order_ref=Id),
    _tp("payment_failed", Stage.PAYMENT, "—", "—",
        "a payment attempt failed (`code`: the card's decline code, `authentication_failed` "
        "for a failed 3-D Secure, `authentication_abandoned` for one left open when the "
        "shopper paid again)",
        order_ref=Id, code=Short),
    _tp("purchase", Stage.PURCHASE, "purchase", "Order Completed",
        "the order is paid, confirmed by the payment provider",
        order_ref=Id, value=Amount, currency=Currency,
        items=Count()),
    _tp("shipped", Stage.SHIPPED, "—", "Order Updated (shipped)", "the order left the warehouse",
        order_ref=Id),
    _tp("out_for_delivery", Stage.SHIPPED, "—", "Order Updated (out for delivery)",
        "the courier is on the way", order_ref=Id),
    _tp("delivered", Stage.DELIVERED, "—", "Order Updated (delivered)", "the order was received",
        order_ref=Id, delivery_seconds=fields.Float(validate=validate.Range(min=0))),
    _tp("review_submitted", Stage.REVIEWED, "—", "Product Reviewed", "the buyer wrote a review",
        order_ref=Id, product_id=Id, rating=Count(1, 5)),
    _tp("order_view", None, "—", "Order Viewed",
        "the buyer looked at their order (confirmation, tracking): filed under the order's "
        "journey, so checking an order is never a new visit that bounces", order_ref=Id),
    _tp("return_requested", None, "—", "Order Return Requested",
        "the buyer asked to send back lines of a delivered order (`reason`: damaged, "
        "wrong_item, not_as_described, no_longer_needed, other; `value`: their price)",
        order_ref=Id, reason=Short, items=Count(), value=Amount, currency=Currency),
    _tp("order_refunded", None, "refund", "Order Refunded",
        "the shop refunded returned lines through the payment provider",
        order_ref=Id, value=Amount, currency=Currency),
    _tp("signup", None, "sign_up", "Signed Up", "an account was created"),
    _tp("login", None, "login", "Signed In", "the shopper logged in"),
)

CATALOGUE: dict[str, Touchpoint] = {tp.name: tp for tp in _CATALOGUE}
NAMES: tuple[str, ...] = tuple(CATALOGUE)

# Touchpoints a stranger's request may never start a journey with (they belong to one).
POST_PURCHASE = frozenset(
    name for name, tp in CATALOGUE.items() if tp.stage is not None and tp.stage >= Stage.PURCHASE
)

__all__ = ["ABANDONABLE", "CATALOGUE", "EXCLUDE", "EXITS", "NAMES", "STAGES", "Stage",
           "Touchpoint"]


def docs_table() -> str:
    """The catalogue as a Markdown table (the README's is generated from this)."""
    rows = ["| touchpoint | stage | GA4 event | Segment event | properties | when |",
            "|---|---|---|---|---|---|"]
    for tp in CATALOGUE.values():
        props = ", ".join(f"`{name}`" for name in tp.schema._declared_fields) or "—"
        stage = tp.stage.label if tp.stage else "—"
        rows.append(f"| `{tp.name}` | {stage} | {tp.ga4} | {tp.segment} | {props} | "
                    f"{tp.description} |")
    return "\n".join(rows)
