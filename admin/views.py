"""The shop owner's panel: pages, and the session-authenticated JSON API each page reads.

JSON endpoints (all GET unless noted; ``from``/``to`` are ISO dates, default the last 7 days;
401 JSON without an admin session; 400 JSON for bad parameters):

- ``/admin/api/live`` — live journeys per stage now, shoppers, orders awaiting delivery
- ``/admin/api/overview?from&to`` — KPIs for today and the period, funnel, trend
- ``/admin/api/overview/before?from&to`` — the same KPIs for the stretch before today and
  before the period, up to the same point when it is under way (for the changes)
- ``/admin/api/funnel?from&to`` — funnel steps, by source, by device, time to convert
- ``/admin/api/funnel/dropped?stage&from&to`` — journeys that stopped at a stage
- ``/admin/api/abandonment?from&to`` — abandoned journeys, steps, failures, products, recovery
- ``/admin/api/journeys?q`` — find journeys by visitor, journey, customer or order (no q: the
  latest 20)
- ``/admin/api/journeys/<id>`` — one journey with its timeline
- ``/admin/api/visitors/<id>/timeline`` — every touchpoint of a visitor, across journeys
- ``/admin/api/orders?status&order`` — orders by status (or one order), late deliveries
- ``POST /admin/api/orders/<id>/advance`` — one fulfilment step (CSRF header required)
- ``/admin/api/returns?status&order`` — buyers' returns, the requested first;
  ``POST /admin/api/returns/<id>/refund`` (through Stripe) or ``/decline``, and a refunded
  one's ``/restock`` (its items back in stock, once) (CSRF header)
- ``/admin/abandonment.csv?from&to`` — every abandoned cart of the period as CSV (audited)
- ``/admin/api/reviews?from&to`` — reviews written in the period (latest, average, stars),
  orders delivered in it and reviewed
- ``/admin/api/outbox?kind&before`` — the messages for shoppers, newest first, 100 a page,
  each with whether it was sent
- ``/admin/api/audit`` — admin actions, newest first, 200 a page (``actor``, ``action``,
  ``before``): who, what, when, from which network
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from checkout import fulfilment, mail, payments, returns
from checkout.models import MessageKind, Order, ReturnStatus
from storefront.errors import DomainError
from storefront.extensions import db
from storefront.schemas import BaseSchema, load_form
from storefront.web import safe_next
from tracking.extension import utcnow
from tracking.models import STATUSES as JOURNEY_STATUSES
from tracking.touchpoints import STAGES, Stage

from . import audit, auth, export, queries

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static", static_url_path="/static")
bp.before_request(auth.require_admin)
bp.teardown_request(queries.close_connection)

MAX_PERIOD_DAYS = 366
PAGES = (("overview", "Overview"), ("funnel", "Funnel"), ("abandonment", "Abandonment"),
         ("journeys", "Journeys"), ("orders", "Orders"), ("reviews", "Reviews"),
         ("outbox", "Outbox"), ("audit", "Audit"))
OUTBOX_PAGE = 100
PERIOD_PAGES = ("overview", "funnel", "abandonment", "reviews")  # the pages with a period picker


_DATES = validate.Range(min=date(2000, 1, 1), max=date(2100, 12, 31),
                        error="Use a date between 2000 and 2100.")


class PeriodSchema(Schema):
    start = fields.Date(data_key="from", load_default=None, validate=_DATES)
    end = fields.Date(data_key="to", load_default=None, validate=_DATES)

    class Meta:
        unknown = "exclude"

    @validates_schema
    def ordered(self, data, **kwargs):
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise ValidationError("the period's 'from' date is after its 'to' date.", "from")
        if start and end and (end - start).days > MAX_PERIOD_DAYS:
            raise ValidationError(f"a period is at most {MAX_PERIOD_DAYS} days long.", "to")


class LoginSchema(BaseSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))
    next = fields.String(load_default=None, allow_none=True)


def _period() -> queries.Period:
    data = PeriodSchema().load(request.args)
    today = utcnow().date()
    end = data.get("end") or today
    start = data.get("start") or end - timedelta(days=6)
    return queries.Period.days(start, end)


@bp.app_context_processor
def _limits() -> dict:
    return {"max_period_days": MAX_PERIOD_DAYS}  # the period picker's own check


@bp.errorhandler(ValidationError)
def bad_parameters(exc: ValidationError):
    return jsonify(error="That cannot be shown:", errors=exc.messages), 400


@bp.errorhandler(DomainError)
def domain_error(exc: DomainError):
    return jsonify(error=str(exc)), exc.status_code


# -- sign in ---------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    form, errors, status = {"next": request.args.get("next", "")}, {}, 200
    if request.method == "POST":
        form, errors = load_form(LoginSchema(), request.form)
        if not errors:
            try:
                user = auth.authenticate(form["email"], form["password"], request.remote_addr)
            except DomainError as exc:
                errors, status = {"_schema": [str(exc)]}, exc.status_code
            else:
                auth.login(user)
                return redirect(safe_next(form.get("next"), url_for("admin.overview")))
        else:
            status = 400
    form.pop("password", None)
    response = render_template("admin/login.html", form=form, errors=errors)
    headers = {"Retry-After": "900"} if status == 429 else {}
    return response, status, headers


@bp.post("/logout")
def logout():
    auth.logout()
    flash("You are logged out.", "success")
    return redirect(url_for("admin.login"))


# -- pages -----------------------------------------------------------------------------------

def _page(name: str, **context):
    return render_template(f"admin/{name}.html", pages=PAGES, current=name,
                           period_pages=PERIOD_PAGES, admin=auth.current_admin(), **context)


@bp.get("/")
def overview():
    return _page("overview")


@bp.get("/funnel")
def funnel():
    return _page("funnel")


@bp.get("/abandonment")
def abandonment():
    return _page("abandonment")


@bp.get("/journeys")
def journeys():
    return _page("journeys")


@bp.get("/orders")
def orders():
    # Rendered on the server too, so the page (and its advance buttons) works without
    # JavaScript; the script redraws it from the JSON API.
    return _page("orders", data=queries.orders(request.args.get("status") or None,
                                               utcnow().date(), _order_id()),
                 order_id=_order_id(), returns=queries.returns(order_id=_order_id()))


def _order_id() -> int | None:
    """?order=331 or ?order=TP-000331: one order (a journey's order links here)."""
    return Order.id_from_number(request.args.get("order", "")[:20])


@bp.post("/orders/<int(min=1, max=2147483647):order_id>/advance")
def advance_order(order_id: int):
    """The form fallback of the orders page (the page's script uses the JSON endpoint)."""
    try:
        event = _advance(order_id)
    except DomainError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Order {event.order.number} is now {event.to_status.replace('_', ' ')}.",
              "success")
    return redirect(url_for("admin.orders", status=request.args.get("status") or None))


def _cancel(order_id: int) -> dict[str, int]:
    """An order left waiting for 3-D Secure, canceled as `orders expire` cancels one (its
    payment canceled at Stripe first; one paid after all is recorded paid instead)."""
    done = payments.expire_unauthenticated(timedelta(0), order_id=order_id)
    if done["canceled"] or done["paid"]:
        audit.record("order_canceled" if done["canceled"] else "order_found_paid",
                     auth.email(), target=Order.number_of(order_id),
                     detail="3-D Secure not completed" if done["canceled"] else "")
        db.session.commit()
    return done


@bp.post("/orders/<int(min=1, max=2147483647):order_id>/cancel")
def cancel_order(order_id: int):
    """Cancel an order left at 3-D Secure (a form: the orders page's button)."""
    done = _cancel(order_id)
    number = Order.number_of(order_id)
    if done["canceled"]:
        flash(f"Order {number} is canceled; its payment can no longer be completed.", "success")
    elif done["paid"]:
        flash(f"Order {number} was paid after all, and is recorded paid.", "success")
    else:
        flash(f"Order {number} is not waiting for 3-D Secure (or Stripe could not be asked: "
              "try again in a moment).", "error")
    return redirect(url_for("admin.orders", status=request.args.get("status") or None))


@bp.post("/api/orders/<int(min=1, max=2147483647):order_id>/cancel")
def api_cancel(order_id: int):
    done = _cancel(order_id)
    if not (done["canceled"] or done["paid"]):
        return jsonify(error="This order is not waiting for 3-D Secure, or Stripe could not "
                             "be asked just now."), 409
    return jsonify(order_id=order_id, canceled=bool(done["canceled"]), paid=bool(done["paid"]))


# What the owner can do with a return (checkout.returns).
RETURN_ACTIONS = {"refund": returns.refund, "decline": returns.decline,
                  "restock": returns.restock}


def _decide_return(return_id: int, action: str):
    """Refund, decline or restock a return, its audit entry committed with it: the return's
    new status (return_refunded, return_declined), or return_restocked."""
    def record(made) -> None:
        if action == "restock":
            name = "return_restocked"
            items = (f"{made.restockable_items} of {audit.items(made.items)} back in "
                     "stock")
        else:
            name, items = f"return_{made.status}", audit.items(made.items)
        audit.record(name, auth.email(), target=made.number,
                     detail=f"order {made.order.number}, "
                            f"{made.order.money(made.amount).format()}, {items}")

    return RETURN_ACTIONS[action](return_id, auth.email(), record=record)


def _decide_return_form(return_id: int, action: str):
    """The orders page's Refund, Decline and Restock buttons (forms)."""
    try:
        made = _decide_return(return_id, action)
    except DomainError as exc:
        flash(str(exc), "error")
    else:
        if action == "restock":
            gone = made.items - made.restockable_items  # their products deleted since
            flash(f"Return {made.number}: {audit.items(made.restockable_items)} back in stock"
                  + (f"; {gone} no longer sold, so not." if gone else "."), "success")
        else:
            flash(f"Return {made.number} is {made.status}"
                  + (f": {made.order.money(made.amount).format()} back to the buyer's card."
                     if made.status == "refunded" else "."), "success")
    return redirect(url_for("admin.orders", _anchor="returns"))


@bp.post("/returns/<int(min=1, max=2147483647):return_id>/refund")
def refund_return(return_id: int):
    return _decide_return_form(return_id, "refund")


@bp.post("/returns/<int(min=1, max=2147483647):return_id>/decline")
def decline_return(return_id: int):
    return _decide_return_form(return_id, "decline")


@bp.post("/returns/<int(min=1, max=2147483647):return_id>/restock")
def restock_return(return_id: int):
    return _decide_return_form(return_id, "restock")


@bp.get("/api/returns")
def api_returns():
    status = request.args.get("status") or None
    if status is not None and status not in {s.value for s in ReturnStatus}:
        return jsonify(error="status is one of "
                             + ", ".join(s.value for s in ReturnStatus)), 400
    return jsonify(queries.returns(status, _order_id()))


def _decided(made) -> Response:
    restocked = made.restocked_at
    return jsonify(id=made.id, number=made.number, status=made.status, amount=made.amount,
                   currency=made.currency, refund_id=made.refund_id,
                   restocked_at=restocked and restocked.isoformat(timespec="seconds"))


@bp.post("/api/returns/<int(min=1, max=2147483647):return_id>/refund")
def api_refund_return(return_id: int):
    return _decided(_decide_return(return_id, "refund"))


@bp.post("/api/returns/<int(min=1, max=2147483647):return_id>/decline")
def api_decline_return(return_id: int):
    return _decided(_decide_return(return_id, "decline"))


@bp.post("/api/returns/<int(min=1, max=2147483647):return_id>/restock")
def api_restock_return(return_id: int):
    return _decided(_decide_return(return_id, "restock"))


@bp.get("/reviews")
def reviews():
    return _page("reviews")


@bp.get("/abandonment.csv")
def abandonment_csv():
    """Every cart, checkout and payment abandoned in the period as a spreadsheet (the page
    lists the latest 50; at most EXPORT_LIMIT): whom to follow up, what they left and where.
    It holds shoppers' emails, so it is audited, never cached, and not made for another
    site's link."""
    period = _period()
    days = period.as_dict()
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        # Another site's link: no download (and no audit entry) the owner did not ask for;
        # the page, with the button to press.
        return redirect(url_for("admin.abandonment", **days))
    total = queries.count_abandoned(period)
    limit = queries.EXPORT_LIMIT
    audit.record("abandoned_exported", auth.email(), target=f"{days['from']} to {days['to']}",
                 detail=f"{min(total, limit)} of {total} journeys")
    db.session.commit()
    rows = export.abandoned_rows(
        queries.abandoned_journeys(period, limit=limit), current_app.config["STORE_CURRENCY"],
        lambda journey_id: url_for("admin.journeys", journey=journey_id, _external=True))
    response = Response(stream_with_context(export.csv_text(export.ABANDONED_HEADER, rows)),
                        mimetype="text/csv")
    name = f"abandoned-{days['from']}-to-{days['to']}"
    if total > limit:  # the latest only: said where the owner sees it, the file's name
        name += f"-latest-{limit}-of-{total}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


# -- JSON API --------------------------------------------------------------------------------

@bp.get("/api/live")
def api_live():
    return jsonify(queries.live(utcnow(), current_app.config["JOURNEY_SESSION_TIMEOUT"]))


@bp.get("/api/overview")
def api_overview():
    period = _period()
    now = utcnow()  # one moment for every part (read thrice, they could straddle midnight)
    counts: dict[str, int] = {}
    kpis = queries.kpis(period, funnel=counts)  # one scan for KPIs and funnel
    return jsonify(
        period=period.as_dict(),
        today=queries.kpis(queries.Period.today(now)),
        kpis=kpis,
        funnel=queries.funnel_steps(counts),
        trend=queries.trend(period, now),
        live=queries.live(now, current_app.config["JOURNEY_SESSION_TIMEOUT"]),
    )


@bp.get("/api/overview/before")
def api_overview_before():
    """The overview's KPIs for the stretch just before today and before the period, for
    its tiles to say how they changed: asked for after the overview is drawn, so the
    tiles never wait for it."""
    now = utcnow()
    period = _period()
    return jsonify(today=queries.kpis_before(queries.Period.today(now), now),
                   period=queries.kpis_before(period, now))


@bp.get("/api/funnel")
def api_funnel():
    period = _period()
    return jsonify(period=period.as_dict(), **queries.funnel_page(period),
                   time_to_convert=queries.time_to_convert(period))


DROPPED_STAGES = tuple(s.label for s in queries.STOPPABLE)


class DroppedSchema(PeriodSchema):
    stage = fields.String(required=True, validate=validate.OneOf(DROPPED_STAGES))


@bp.get("/api/funnel/dropped")
def api_dropped():
    data = DroppedSchema().load(request.args)
    period = _period()
    stage = Stage.from_label(data["stage"])
    return jsonify(period=period.as_dict(), stage=stage.label,
                   journeys=queries.dropped_at(period, stage))


@bp.get("/api/abandonment")
def api_abandonment():
    period = _period()
    return jsonify(period=period.as_dict(), **queries.abandonment(period, utcnow()))


class FindSchema(Schema):
    q = fields.String(load_default="", validate=validate.Length(max=200))
    # The latest journeys of a furthest stage and a status (no search): "abandoned at
    # checkout", "purchased"
    stage = fields.String(load_default=None, validate=validate.OneOf(
        [s.label for s in STAGES]))
    status = fields.String(load_default=None, validate=validate.OneOf(JOURNEY_STATUSES))

    class Meta:
        unknown = "exclude"


@bp.get("/api/journeys")
def api_find():
    data = FindSchema().load({k: v for k, v in request.args.items() if v != ""})
    if not data["q"].strip():  # no search: the latest journeys (of a stage, a status)
        return jsonify(queries.recent_journeys(stage=data["stage"], status=data["status"]))
    return jsonify(queries.find_journeys(data["q"]))


@bp.get("/api/journeys/<journey_id>")
def api_journey(journey_id: str):
    detail = queries.journey_detail(journey_id[:32])
    if detail is None:
        return jsonify(error="No such journey."), 404
    return jsonify(detail)


@bp.get("/api/visitors/<visitor_id>/timeline")
def api_visitor(visitor_id: str):
    found = queries.find_journeys(visitor_id[:32])["journeys"]
    ids = [j["id"] for j in found if j["visitor_id"] == visitor_id]
    return jsonify(visitor_id=visitor_id, journeys=found, timeline=queries.timeline(ids))


@bp.get("/api/orders")
def api_orders():
    status = request.args.get("status") or None
    return jsonify(queries.orders(status, date.today(), _order_id()))


def _advance(order_id: int):
    event = fulfilment.advance(order_id, actor=auth.actor())
    audit.record("order_advanced", auth.email(), target=event.order.number,
                 detail=f"{event.from_status} -> {event.to_status}")
    db.session.commit()
    return event


@bp.post("/api/orders/<int(min=1, max=2147483647):order_id>/advance")
def api_advance(order_id: int):
    event = _advance(order_id)
    return jsonify(order_id=order_id, from_status=event.from_status,
                   to_status=event.to_status, actor=event.actor)


@bp.get("/api/reviews")
def api_reviews():
    period = _period()
    return jsonify(period=period.as_dict(), **queries.reviews(period))


class AuditSchema(Schema):
    actor = fields.String(load_default=None, validate=validate.Length(max=254))
    action = fields.String(load_default=None, validate=validate.Length(max=64))
    before = fields.Integer(load_default=None, strict=False,
                            validate=validate.Range(min=1, max=2**63 - 1))

    class Meta:
        unknown = "exclude"


AUDIT_PAGE = 200


def _audit(args) -> dict:
    """One page of the log, filtered; ``older`` is where the next page starts (None: the
    last page)."""
    data = AuditSchema().load(args)
    entries = audit.recent(AUDIT_PAGE, actor=data["actor"] or None,
                           action=data["action"] or None, before=data["before"])
    older = entries[-1]["id"] if len(entries) == AUDIT_PAGE else None
    return {"entries": entries, "older": older, "actor": data["actor"] or "",
            "action": data["action"] or ""}


@bp.get("/audit", endpoint="audit")
def audit_page():
    try:
        found = _audit(request.args)
    except ValidationError:  # a hand-edited address: the page, with what went wrong
        found, error = _audit({}), "That filter or page does not exist; showing the latest."
        return _page("audit", **found, error=error, **audit.choices()), 400
    return _page("audit", **found, error=None, **audit.choices())


@bp.app_template_filter("audit_action")
def _audit_action(action: str) -> str:
    return audit.action_words(action)


bp.add_app_template_global(audit.detail_words, "audit_detail")


@bp.app_template_global("audit_link")
def _audit_link(target: str, detail: str) -> str | None:
    """Where an entry's target is on the orders page: an order ("TP-000123"), or a return
    ("R-…", with its order's returns), for a link to it."""
    found = audit.order_number(target, detail)
    order_id = Order.id_from_number(found[0]) if found else None
    if order_id is None:
        return None
    return url_for("admin.orders", order=order_id, _anchor=found[1] or None)


@bp.get("/api/audit")
def api_audit():
    return jsonify(_audit(request.args))


class OutboxSchema(Schema):
    kind = fields.String(load_default=None,
                         validate=validate.OneOf([k.value for k in MessageKind]))
    before = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))

    class Meta:
        unknown = "exclude"


def _outbox(args) -> dict:
    data = OutboxSchema().load(args)
    found = queries.outbox(data["kind"], data["before"], OUTBOX_PAGE)
    return {**found, "kind": data["kind"] or "", "mail": mail.enabled()}


@bp.get("/outbox", endpoint="outbox")
def outbox_page():
    try:
        found, status, error = _outbox(request.args), 200, None
    except ValidationError:
        found, status = _outbox({}), 400
        error = "That kind or page does not exist; showing the latest."
    return _page("outbox", **found, error=error, kinds=[k.value for k in MessageKind]), status


@bp.get("/api/outbox")
def api_outbox():
    return jsonify(_outbox(request.args))
