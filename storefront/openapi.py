"""The OpenAPI description of the JSON endpoints, built from the same marshmallow schemas
that validate them (apispec), served at /openapi.json and fuzzed by the tests."""

from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, jsonify

from .schemas import CartAddSchema, CartUpdateSchema

ERROR = {"description": "Invalid input, with a message (and per-field errors)",
         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
AUTH_ERROR = {"description": "No admin session",
              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
JSON_OK = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
CSRF = {"name": "X-CSRFToken", "in": "header", "required": True, "schema": {"type": "string"},
        "description": "The page's CSRF token (meta csrf-token); the session cookie goes with it"}


def _body(schema: str) -> dict:
    return {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _period(*extra: dict) -> list[dict]:
    dates = [{"name": name, "in": "query", "required": False,
              "schema": {"type": "string", "format": "date"}} for name in ("from", "to")]
    return [*dates, *extra]


def build_spec() -> dict:
    from admin.views import DROPPED_STAGES  # noqa: PLC0415 - admin imports the store
    from checkout.models import MessageKind  # noqa: PLC0415
    from checkout.schemas import PaySchema  # noqa: PLC0415

    spec = APISpec(title="Touchpoint JSON API", version="1", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()])
    spec.components.schema("CartAdd", schema=CartAddSchema)
    spec.components.schema("CartUpdate", schema=CartUpdateSchema)
    spec.components.schema("CartRemove", schema=CartUpdateSchema(partial=("quantity",)))
    spec.components.schema("Pay", schema=PaySchema)
    spec.components.schema("Error", {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "errors": {"type": "object"}}})

    shop = {"200": JSON_OK, "400": ERROR, "404": ERROR, "409": ERROR}
    spec.path(path="/cart/", operations={"get": {
        "summary": "The cart (send Accept: application/json)", "responses": {"200": JSON_OK}}})
    for path, schema in (("/cart/add", "CartAdd"), ("/cart/update", "CartUpdate"),
                         ("/cart/remove", "CartRemove")):
        spec.path(path=path, operations={"post": {
            "summary": f"Cart: {path.rsplit('/', 1)[1]}", "parameters": [CSRF],
            "requestBody": _body(schema), "responses": shop}})
    spec.path(path="/checkout/pay", operations={"post": {
        "summary": "Pay the order with a card reference from Stripe.js", "parameters": [CSRF],
        "requestBody": _body("Pay"),
        "responses": {**shop, "402": ERROR, "503": ERROR}}})
    spec.path(path="/checkout/pay/{token}/check", operations={"post": {
        "summary": "After 3-D Secure: ask Stripe how the order's payment stands (a failure "
                   "is recorded once)",
        "parameters": [CSRF, {"name": "token", "in": "path", "required": True,
                              "schema": {"type": "string"}}],
        "responses": {"200": JSON_OK, "400": ERROR, "402": ERROR, "404": ERROR,
                      "503": ERROR}}})
    spec.path(path="/stripe/webhook", operations={"post": {
        "summary": "Stripe's signed webhook (400 unless the signature verifies)",
        "parameters": [{"name": "Stripe-Signature", "in": "header", "required": True,
                        "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"type": "object"}}}},
        "responses": {"200": JSON_OK, "400": ERROR}}})

    panel = {"200": JSON_OK, "400": ERROR, "401": AUTH_ERROR}
    stage = {"name": "stage", "in": "query", "required": True,
             "schema": {"type": "string", "enum": list(DROPPED_STAGES)}}
    for path, params, summary in (
        ("/admin/api/live", [], "Live journeys per stage"),
        ("/admin/api/overview", _period(), "KPIs, funnel and trend for a period"),
        ("/admin/api/overview/before", _period(),
         "The same KPIs for the stretch before today and before the period, to compare with"),
        ("/admin/api/funnel", _period(), "The funnel by source, device and time to convert"),
        ("/admin/api/funnel/dropped", _period(stage), "Journeys that stopped at a stage"),
        ("/admin/api/abandonment", _period(), "Abandonment and recovery"),
        ("/admin/api/journeys", [{"name": "q", "in": "query", "required": False,
                                  "schema": {"type": "string"}}], "Find journeys"),
        ("/admin/api/journeys/{journey_id}", [{"name": "journey_id", "in": "path",
                                               "required": True, "schema": {"type": "string"}}],
         "One journey and its timeline"),
        ("/admin/api/visitors/{visitor_id}/timeline", [{
            "name": "visitor_id", "in": "path", "required": True, "schema": {"type": "string"}}],
         "A visitor's touchpoints across journeys"),
        ("/admin/api/orders", [{"name": "status", "in": "query", "required": False,
                                "schema": {"type": "string"}}], "Orders and late deliveries"),
        ("/admin/api/reviews", _period(),
         "Reviews written in a period, orders delivered in it and reviewed"),
        ("/admin/api/outbox", [
            {"name": "kind", "in": "query", "required": False,
             "schema": {"type": "string", "enum": [k.value for k in MessageKind]}},
            {"name": "before", "in": "query", "required": False,
             "schema": {"type": "integer"}}],
         "The messages for shoppers, newest first, and whether each was sent"),
        ("/admin/api/returns", [
            {"name": "status", "in": "query", "required": False,
             "schema": {"type": "string",
                        "enum": ["requested", "refunding", "refunded", "declined"]}},
            {"name": "order", "in": "query", "required": False, "schema": {"type": "string"}}],
         "Buyers' returns, the requested first"),
        ("/admin/api/audit", [{"name": n, "in": "query", "schema": {"type": t}} for n, t in
                              (("actor", "string"), ("action", "string"),
                               ("before", "integer"))],
         "Admin actions, newest first, 200 a page"),
    ):
        spec.path(path=path, operations={"get": {
            "summary": summary, "parameters": params,
            "responses": {**panel, "404": ERROR}}})
    for thing, action, summary, errors in (
            ("order", "advance", "Move an order one fulfilment step", ()),
            ("order", "cancel", "Cancel an order left waiting for 3-D Secure", ()),
            ("return", "refund", "Refund a requested return through Stripe", ("503",)),
            ("return", "decline", "Decline a requested return", ()),
            ("return", "restock", "Put a refunded return's items back in stock, once", ())):
        spec.path(path=f"/admin/api/{thing}s/{{{thing}_id}}/{action}", operations={"post": {
            "summary": summary,
            "parameters": [CSRF, {"name": f"{thing}_id", "in": "path", "required": True,
                                  "schema": {"type": "integer"}}],
            "responses": {**panel, "404": ERROR, "409": ERROR,
                          **dict.fromkeys(errors, ERROR)}}})
    return spec.to_dict()


def init_app(app: Flask) -> None:
    from .extensions import journey  # noqa: PLC0415

    @journey.exempt
    def openapi():
        if "openapi" not in app.extensions:
            app.extensions["openapi"] = build_spec()
        return jsonify(app.extensions["openapi"])

    app.add_url_rule("/openapi.json", "openapi", openapi)
