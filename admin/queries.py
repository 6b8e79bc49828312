"""The panel's numbers, read from the journeys aggregates (never a scan of all events).

Definitions follow ARCHITECTURE.md. A period is a cohort of journeys *started* in it, so
every rate has one denominator; revenue and orders come from paid orders in the period.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import current_app, g, url_for
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import selectinload

from checkout.models import (
    MAX_ID,
    AttemptStatus,
    CheckoutContact,
    FulfilmentStatus,
    MessageKind,
    Order,
    OrderReturn,
    OrderReturnLine,
    OrderStatus,
    OutboxMessage,
    PaymentAttempt,
    PaymentStatus,
    ReturnStatus,
)
from storefront.extensions import db
from storefront.models import Customer, Product, Review
from tracking import store
from tracking.models import journey_cart_lines, journey_events, journeys
from tracking.touchpoints import ABANDONABLE, SHOPPING_STAGES, STAGES, Stage

J = journeys.c
FUNNEL = (Stage.LANDING, Stage.BROWSE, Stage.CART, Stage.CHECKOUT, Stage.PAYMENT,
          Stage.PURCHASE)
AFTER_PURCHASE = (Stage.SHIPPED, Stage.DELIVERED, Stage.REVIEWED)
STOPPABLE = FUNNEL[:-1]  # where a journey can stop: it ends there, idle (ARCHITECTURE.md)
AWAITING_DELIVERY = (Stage.PURCHASE, Stage.SHIPPED)
CART_STAGES = [s.label for s in ABANDONABLE]
TIME_TO_CONVERT = (  # (label, upper bound in seconds)
    ("< 1 min", 60), ("1–5 min", 300), ("5–30 min", 1800), ("30 min–2 h", 7200),
    ("2–24 h", 86400), ("1–7 days", 7 * 86400), ("> 7 days", None),
)
MAX_ROWS = 100

# Where an abandoned shopper left, in the owner's words, in checkout order: (key, stage,
# label). The Abandonment page's "By checkout step" and each abandoned journey's "Left at".
LEFT_AT = (
    ("cart", "cart", "Left at the cart"),
    ("address", "checkout", "Left at the address step"),
    ("delivery", "checkout", "Left at delivery"),
    ("payment_page", "checkout", "Left at the payment page"),
    ("payment_sent", "payment", "Left after sending the card"),
    ("authentication", "payment", "Left at 3-D Secure"),
    ("declined", "payment", "Card declined"),
)
LEFT_AT_LABELS = {key: label for key, _stage, label in LEFT_AT}
# The step a touchpoint leaves the shopper on. A checkout touchpoint fires when its step is
# *submitted*: after checkout_address the shopper is on the delivery step, after
# checkout_shipping on the payment page.
STEP_AFTER = {
    "add_to_cart": "cart", "remove_from_cart": "cart", "cart_view": "cart",
    "checkout_start": "address", "checkout_address": "delivery",
    "checkout_shipping": "payment_page", "payment_submitted": "payment_sent",
    "payment_requires_action": "authentication", "payment_failed": "declined",
}
# The pages of those steps, by the endpoint a page_view names (their GETs track no
# touchpoint of their own); a payment outcome is shown on the payment page itself.
STEP_OF_PAGE = {"cart.view": "cart", "checkout.address": "address",
                "checkout.shipping_step": "delivery", "checkout.payment": "payment_page"}
PAGE_OF_STEP = {"payment_sent": "payment_page", "authentication": "payment_page",
                "declined": "payment_page"}
# A journey's first step at a stage, if its events name none (bought nothing yet).
FIRST_STEP = {"cart": "cart", "checkout": "address", "payment": "payment_page"}


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive

    @classmethod
    def days(cls, first: date, last: date) -> Period:
        return cls(datetime.combine(first, time.min),
                   datetime.combine(last + timedelta(days=1), time.min))

    @classmethod
    def today(cls, now: datetime) -> Period:
        """The UTC day ``now`` is in: the overview's Today."""
        return cls.days(now.date(), now.date())

    @property
    def hourly(self) -> bool:
        return self.end - self.start <= timedelta(days=2)

    def as_dict(self) -> dict:
        return {"from": self.start.date().isoformat(),
                "to": (self.end - timedelta(days=1)).date().isoformat()}

    def before(self, now: datetime) -> Period:
        """The period of the same length just before this one, to compare it with. A
        period still under way is compared up to the same point: today so far with
        yesterday until this time of day, this week so far with last week's same days
        and hours (a whole yesterday against half a today would read as a fall)."""
        length = self.end - self.start
        end = self.start
        if self.start < now < self.end:
            end = now - length
        return Period(self.start - length, end)

    def describe(self) -> dict:
        """``from`` and ``to`` (dates, inclusive) and, when it ends within its last day,
        ``until`` (the time it ends at)."""
        last = self.end if self.end.time() != time.min else self.end - timedelta(days=1)
        until = self.end.isoformat(timespec="minutes") if self.end.time() != time.min else None
        return {"from": self.start.date().isoformat(), "to": last.date().isoformat(),
                "until": until}


def _conn() -> Connection:
    """The tracker's database (JOURNEY_DATABASE_URL may differ from the shop's): one
    connection per request, closed at teardown."""
    if "_admin_journeys_conn" not in g:
        g._admin_journeys_conn = current_app.extensions["journey"].engine.connect()
    return g._admin_journeys_conn


def close_connection(_exc=None) -> None:
    conn = g.pop("_admin_journeys_conn", None)
    if conn is not None:
        conn.close()


def _started_in(period: Period):
    return and_(J.started_at >= period.start, J.started_at < period.end)


def _entered(stage: Stage):
    return J[f"entered_{stage.label}_at"]


def _count_if(condition):
    return func.sum(case((condition, 1), else_=0))


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _dialect() -> str:
    return _conn().dialect.name


def _seconds_between(later, earlier):
    if _dialect() == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


BUCKET_FORMAT = {True: "%Y-%m-%dT%H:00", False: "%Y-%m-%d"}


def _bucket(column, hourly: bool, dialect: str | None = None):
    """Truncate a timestamp to the hour or day (formatted afterwards, in Python), in the
    tracker's database or, given its ``dialect``, the shop's."""
    if (dialect or _dialect()) == "postgresql":
        return func.date_trunc("hour" if hourly else "day", column)
    return func.strftime(BUCKET_FORMAT[hourly], column)


# -- live and overview ---------------------------------------------------------------------

def live(now: datetime, session_timeout: float) -> dict:
    """Live journeys per stage (ARCHITECTURE.md's "live", as journey_active counts them);
    ``shoppers`` are those at a shopping stage, seen within the session timeout, and
    ``awaiting_delivery`` the paid ones not yet delivered, however long ago last seen."""
    counts = store.count_active(_conn(), now, timedelta(seconds=session_timeout))
    return {"at": now.isoformat(timespec="seconds"),
            "stages": [{"stage": s.label, "live": counts.get(s.label, 0)} for s in STAGES],
            "shoppers": sum(counts.get(s.label, 0) for s in SHOPPING_STAGES),
            "awaiting_delivery": sum(counts.get(s.label, 0) for s in AWAITING_DELIVERY),
            "total": sum(counts.values())}


def _stopped(stage: Stage) -> str:
    return f"stopped_{stage.label}"


# The keys of _stage_counts(): journeys, reached per stage, stopped per stoppable stage.
COUNT_KEYS = ("journeys", *(s.label for s in (*FUNNEL, *AFTER_PURCHASE)),
              *(_stopped(s) for s in STOPPABLE))


def _stage_counts():
    """Journeys that reached each stage, and that stopped at each stoppable one: furthest
    stage there and ended (abandoned: a bounce, a browse exit, an abandoned cart...). Still
    active ones have not stopped yet; a recovered cart was bought in a later journey."""
    # count(column) counts the non-null ones: cheaper than sum(CASE ...) on a big period.
    reached = [func.count(_entered(s)).label(s.label) for s in (*FUNNEL, *AFTER_PURCHASE)]
    stopped = [_count_if(and_(J.status == "abandoned", J.stage == s.label)).label(_stopped(s))
               for s in STOPPABLE]
    return [*reached, *stopped]


def funnel_counts(period: Period) -> dict[str, int]:
    stmt = select(func.count().label("journeys"), *_stage_counts()).where(_started_in(period))
    row = _conn().execute(stmt).mappings().one()
    return {k: int(v or 0) for k, v in row.items()}


# A journey that came with no utm_campaign: not a campaign, left out of "By campaign".
NO_CAMPAIGN = "(none)"


def funnel_page(period: Period, top: int = 8) -> dict:
    """Steps, by source, by device and by campaign (utm_campaign), from one pass over the
    period (not four). Each row's ``revenue``: what its journeys' purchases paid (minor
    units), so a source or campaign is judged by money, not only by conversion."""
    # The columns as they are (no coalesce per row: a third of the scan's time at 1,000,000
    # journeys), named here; value is set by the purchase alone, so its sum is the revenue.
    rows = _conn().execute(
        select(J.source, J.device, J.campaign, func.count().label("journeys"),
               func.sum(J.value).label("revenue"), *_stage_counts())
        .where(_started_in(period)).group_by(J.source, J.device, J.campaign)
    ).mappings().all()
    missing = {"source": "(unknown)", "device": "(unknown)", "campaign": NO_CAMPAIGN}
    labels = (*COUNT_KEYS, "revenue")
    total = dict.fromkeys(labels, 0)
    groups: dict[str, dict[str, dict[str, int]]] = {"source": {}, "device": {}, "campaign": {}}
    for row in rows:
        for key in labels:
            total[key] += int(row[key] or 0)
        for by in groups:
            bucket = groups[by].setdefault(row[by] or missing[by], dict.fromkeys(labels, 0))
            for key in labels:
                bucket[key] += int(row[key] or 0)
    groups["campaign"].pop(NO_CAMPAIGN, None)

    def breakdown_of(by: str) -> list[dict]:
        ranked = sorted(groups[by].items(), key=lambda kv: -kv[1]["journeys"])[:top]
        return [{by: name, "journeys": counts["journeys"],
                 "conversion_rate": _ratio(counts["purchase"], counts["landing"]),
                 "purchases": counts["purchase"], "revenue": counts["revenue"],
                 "steps": funnel_steps(counts)[:len(FUNNEL)]} for name, counts in ranked]

    return {"steps": funnel_steps(total), "by_source": breakdown_of("source"),
            "by_device": breakdown_of("device"), "by_campaign": breakdown_of("campaign")}


def funnel_steps(counts: dict[str, int]) -> list[dict]:
    """Each step: journeys that reached it, their share, and ``dropped``: how many stopped
    at it (the "Who stopped" list's journeys); None where a journey cannot stop."""
    first = counts.get(FUNNEL[0].label, 0)
    steps, previous = [], None
    for stage in (*FUNNEL, *AFTER_PURCHASE):
        n = counts.get(stage.label, 0)
        steps.append({
            "stage": stage.label,
            "journeys": n,
            "of_first": _ratio(n, first),
            "of_previous": _ratio(n, previous) if previous is not None else None,
            "dropped": counts.get(_stopped(stage), 0) if stage in STOPPABLE else None,
        })
        previous = n
    return steps


# The counts the abandonment and bounce rates are made of (each in the API beside them).
DECIDED_COUNTS = ("carts", "carts_abandoned", "carts_open", "checkouts", "checkouts_abandoned",
                  "checkouts_open", "bounces", "landings_open")
# The KPIs read from the tracker's journeys; the rest are the shop's orders and returns.
JOURNEY_KPIS = ("visitors", "journeys", "conversion_rate", "cart_abandonment_rate",
                "checkout_abandonment_rate", "bounce_rate", *DECIDED_COUNTS)


def _tracking_began() -> datetime | None:
    """When the tracker's first journey started (None: none yet), by the started_at index:
    before then the journeys' figures were not counted, rather than none."""
    return _conn().scalar(select(func.min(J.started_at)))


def kpis_before(period: Period, now: datetime) -> dict:
    """The KPIs of the stretch just before ``period`` (Period.before), to compare with:
    ``kpis`` None for a period not begun yet (nothing to compare), and the journeys' KPIs
    None where tracking had not begun by the stretch's start (its zero visitors were not
    counted, not absent: "up from 0" would praise turning the tracker on); the orders'
    are the shop's and compare whatever the tracker saw."""
    before = period.before(now)
    out = {"compared_with": before.describe(), "tracked": True, "untracked": [], "kpis": None}
    if now < period.start:
        return out
    # Its journeys as they stood as long ago as it is (its orders' returns too): each
    # stretch's journeys have had the same time to be bought or left.
    out["kpis"] = figures = kpis(before, as_of=now - (period.end - period.start))
    first = _tracking_began()
    if first is None or first > before.start:
        out["tracked"], out["untracked"] = False, list(JOURNEY_KPIS)
        figures.update(dict.fromkeys(JOURNEY_KPIS))
    return out


def _as_it_stood(as_of: datetime | None):
    """(entered(stage), count_entered(stage), left, open_, on_landing): the journeys as
    they are now, or as they stood at ``as_of`` (a stage entered, a cart left and not yet
    bought back, nothing decided, before then), for comparing a stretch with the one
    before it at the same point of its life (kpis_before). Null-safe: a time not set is a
    thing that has not happened."""
    if as_of is None:
        # count(column) counts the non-null ones: cheaper than sum(CASE ...) on a big period
        return ((lambda stage: _entered(stage).is_not(None)),
                (lambda stage: func.count(_entered(stage))), J.status == "abandoned",
                J.status == "active", J.stage == Stage.LANDING.label)

    def not_by_then(column):
        return or_(column.is_(None), column >= as_of)

    left = and_(J.abandoned_at < as_of, not_by_then(J.recovered_at))
    open_ = and_(not_by_then(_entered(Stage.PURCHASE)), not_by_then(J.abandoned_at))
    return ((lambda stage: _entered(stage) < as_of),
            (lambda stage: _count_if(_entered(stage) < as_of)), left, open_,
            not_by_then(_entered(Stage.BROWSE)))


def kpis(period: Period, funnel: dict[str, int] | None = None,
         as_of: datetime | None = None) -> dict:
    """The KPIs; pass a dict as ``funnel`` to get the stage counts from the same scan. With
    ``as_of``, the journeys' outcomes (and the returns asked for) as they stood then."""
    first_in_period = or_(J.previous_started_at.is_(None), J.previous_started_at < period.start)
    entered, count_entered, left, open_, on_landing = _as_it_stood(as_of)
    row = _conn().execute(
        select(
            func.count().label("journeys"),
            _count_if(first_in_period).label("visitors"),
            *_stage_counts(),
            count_entered(Stage.PURCHASE).label("converted"),
            count_entered(Stage.CART).label("carts"),
            count_entered(Stage.CHECKOUT).label("checkouts"),
            _count_if(and_(left, J.abandoned_stage.in_(CART_STAGES)))
            .label("carts_abandoned"),
            _count_if(and_(left,
                           J.abandoned_stage.in_([Stage.CHECKOUT.label, Stage.PAYMENT.label])))
            .label("checkouts_abandoned"),
            _count_if(and_(left, J.abandoned_stage == Stage.LANDING.label))
            .label("bounces"),
            # Not decided yet: still active, neither bought nor left. A rate over them would
            # read low in the morning and climb all day as they are decided.
            _count_if(and_(open_, entered(Stage.CART))).label("carts_open"),
            _count_if(and_(open_, entered(Stage.CHECKOUT))).label("checkouts_open"),
            _count_if(and_(open_, on_landing)).label("landings_open"),
        ).where(_started_in(period))
    ).mappings().one()
    r = {k: int(v or 0) for k, v in row.items()}
    if funnel is not None:
        funnel.update({k: r[k] for k in COUNT_KEYS})
    # Money is money: orders and revenue are every order paid in the period, as the books
    # (and Shopify) have them, whether or not its shopper was tracked (orders from before
    # the tracker, Do-Not-Track shoppers, bots). AOV is revenue over those same orders.
    # ``tracked_orders`` (and their revenue) are the ones placed in a tracked journey, the
    # side of the page the funnel and conversion rate count, as GA4 would.
    # A refunded order is still paid (payment_status stays so: its lines' price went back,
    # not the order), so revenue is what was taken; refunds are the money that went back in
    # the period, on the day the owner refunded it, as a bank statement has them, and net
    # revenue the difference. The return rate is a cohort's: of the period's paid orders,
    # how many the buyer asked to return something from (refunded, declined or waiting).
    tracked = Order.journey_id.is_not(None)
    asked = OrderReturn.order_id == Order.id
    returned = select(OrderReturn.id).where(
        asked if as_of is None else and_(asked, OrderReturn.created_at < as_of)).exists()
    orders, revenue, tracked_orders, tracked_revenue, returned_orders = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Order.total), 0),
               _count_if(tracked), func.coalesce(func.sum(case((tracked, Order.total),
                                                                else_=0)), 0),
               _count_if(returned)).where(
            Order.payment_status == PaymentStatus.PAID,
            Order.paid_at >= period.start, Order.paid_at < period.end)
    ).one()
    refunds, refunded_returns = db.session.execute(
        select(func.coalesce(func.sum(OrderReturn.amount), 0), func.count()).where(
            OrderReturn.status == ReturnStatus.REFUNDED,
            OrderReturn.decided_at >= period.start, OrderReturn.decided_at < period.end)
    ).one()
    return {
        "visitors": r["visitors"],
        "journeys": r["journeys"],
        "conversion_rate": _ratio(r["converted"], r["journeys"]),
        # Of the decided: carts (checkouts, landings) still active are in neither part, so
        # the rate of a day under way is the day's rate so far, not one that climbs as
        # the open carts are decided (the notes say how many are open).
        "cart_abandonment_rate": _ratio(r["carts_abandoned"], r["carts"] - r["carts_open"]),
        "checkout_abandonment_rate": _ratio(r["checkouts_abandoned"],
                                            r["checkouts"] - r["checkouts_open"]),
        "bounce_rate": _ratio(r["bounces"], r["journeys"] - r["landings_open"]),
        **{k: r[k] for k in DECIDED_COUNTS},
        "orders": int(orders),
        "revenue": int(revenue),
        "average_order_value": int(revenue) // int(orders) if orders else None,
        "tracked_orders": int(tracked_orders or 0),
        "tracked_revenue": int(tracked_revenue or 0),
        "refunds": int(refunds),
        "refunded_returns": int(refunded_returns),
        "net_revenue": int(revenue) - int(refunds),
        "returned_orders": int(returned_orders or 0),
        "return_rate": _ratio(int(returned_orders or 0), int(orders)),
    }


def trend(period: Period, now: datetime | None = None) -> list[dict]:
    """Journeys started, purchases and carts abandoned per hour (a period of a day or two)
    or per day, up to the bucket ``now`` is in: hours still to come are not zeros. Beside
    the tracked purchases, ``orders``: every order paid, as the KPI tiles count them (from
    the shop's database, which may be another than the tracker's), and ``revenue``: what
    they paid, in minor units, as the Revenue tile adds it. ``partial`` marks the
    bucket ``now`` is in: its counts are so far, not a dip. Before the tracker's first
    journey the journeys' figures are None, not 0: not counted, rather than none (orders
    are the shop's, counted throughout)."""
    hourly = period.hourly
    empty = {"journeys": 0, "purchases": 0, "abandoned": 0, "orders": 0, "revenue": 0}
    series: dict[str, dict] = {}
    paid = _bucket(Order.paid_at, hourly, db.session.get_bind().dialect.name).label("bucket")
    for when, n, revenue in db.session.execute(
            select(paid, func.count(), func.coalesce(func.sum(Order.total), 0)).where(
                Order.payment_status == PaymentStatus.PAID,
                Order.paid_at >= period.start, Order.paid_at < period.end).group_by(paid)):
        if isinstance(when, datetime):
            when = when.strftime(BUCKET_FORMAT[hourly])
        series.setdefault(when, dict(empty)).update(orders=n, revenue=int(revenue))
    for key, column, condition in (
        ("journeys", J.started_at, None),
        ("purchases", _entered(Stage.PURCHASE), None),
        ("abandoned", J.abandoned_at,
         and_(J.status == "abandoned", J.abandoned_stage.in_(CART_STAGES))),
    ):
        bucket = _bucket(column, hourly).label("bucket")
        stmt = (select(bucket, func.count()).where(column >= period.start, column < period.end)
                .group_by(bucket))
        if condition is not None:
            stmt = stmt.where(condition)
        for when, n in _conn().execute(stmt):
            if isinstance(when, datetime):
                when = when.strftime(BUCKET_FORMAT[hourly])
            series.setdefault(when, dict(empty))[key] = n
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    first = _tracking_began()
    out, at = [], period.start
    while at < period.end and (now is None or at <= now):
        label = at.strftime(BUCKET_FORMAT[hourly])
        point = {"at": label, **series.get(label, empty),
                 "partial": now is not None and now < at + step}
        if first is None or at + step <= first:
            point.update(dict.fromkeys(UNTRACKED_TREND))
        out.append(point)
        at += step
    return out


# The trend's figures that come from journeys: None where the tracker had not begun.
UNTRACKED_TREND = ("journeys", "purchases", "abandoned")


# -- funnel --------------------------------------------------------------------------------

def time_to_convert(period: Period) -> list[dict]:
    seconds = _seconds_between(_entered(Stage.PURCHASE), J.started_at)
    buckets = []
    lower = 0
    for _label, upper in TIME_TO_CONVERT:
        condition = seconds >= lower if upper is None else and_(seconds >= lower,
                                                                seconds < upper)
        buckets.append(_count_if(condition).label(f"b{len(buckets)}"))
        lower = upper or lower
    row = _conn().execute(
        select(*buckets).where(_started_in(period), _entered(Stage.PURCHASE).is_not(None))
    ).one()
    return [{"bucket": label, "journeys": int(n or 0)}
            for (label, _), n in zip(TIME_TO_CONVERT, row, strict=True)]


def _journey_summary(row) -> dict:
    return {
        "id": row.id, "visitor_id": row.visitor_id, "customer_id": row.customer_id,
        "stage": row.stage, "status": row.status, "source": row.source, "device": row.device,
        "started_at": row.started_at.isoformat(timespec="seconds"),
        "last_seen_at": row.last_seen_at.isoformat(timespec="seconds"),
        "last_touchpoint": row.last_touchpoint,
        "abandoned_stage": row.abandoned_stage,
        "abandoned_at": row.abandoned_at.isoformat(timespec="seconds")
        if row.abandoned_at else None,
        "recovered_at": row.recovered_at.isoformat(timespec="seconds")
        if row.recovered_at else None,
        "order_ref": row.order_ref, "value": row.value,
    }


def dropped_at(period: Period, stage: Stage, limit: int = MAX_ROWS) -> list[dict]:
    """Journeys whose furthest stage is ``stage`` and that went no further (not active): the
    ones a funnel step's ``dropped`` counts."""
    rows = _conn().execute(
        select(journeys).where(_started_in(period), J.stage == stage.label,
                               J.status == "abandoned")
        .order_by(J.last_seen_at.desc()).limit(limit)
    ).all()
    summaries = _with_contacts(_with_carts([_journey_summary(r) for r in rows]))
    return _with_left_at(rows, summaries) if stage in ABANDONABLE else summaries


def _with_carts(summaries: list[dict]) -> list[dict]:
    ids = [s["id"] for s in summaries]
    if not ids:
        return summaries
    lines = _conn().execute(
        select(journey_cart_lines).where(journey_cart_lines.c.journey_id.in_(ids),
                                         journey_cart_lines.c.quantity > 0)
    ).all()
    titles = _product_titles({line.product_id for line in lines})
    by_journey: dict[str, list[dict]] = {}
    for line in lines:
        by_journey.setdefault(line.journey_id, []).append({
            "product_id": line.product_id, "title": titles.get(line.product_id, "?"),
            "quantity": line.quantity, "value": line.quantity * line.unit_value,
        })
    for summary in summaries:
        items = by_journey.get(summary["id"], [])
        summary["cart"] = items
        summary["cart_value"] = sum(i["value"] for i in items)
    return summaries


def _with_contacts(summaries: list[dict]) -> list[dict]:
    """Who each journey's shopper is, for the owner to follow up: ``name`` and ``email``
    from the customer's account, else from the journey's order (a guest's checkout
    address), where a guest who typed at the address step since the order was placed (or
    before any order: CheckoutContact) is named by what they typed last; and the order's
    ``order_id`` and ``order_number``. Shown in the panel only
    (behind its login), never in /metrics or a log."""
    if not summaries:
        return summaries
    customer_ids = {int(s["customer_id"]) for s in summaries
                    if (s["customer_id"] or "").isascii() and (s["customer_id"] or "").isdigit()}
    customers = {str(c.id): c for c in db.session.scalars(
        select(Customer).where(Customer.id.in_(customer_ids)))} if customer_ids else {}
    refs = {Order.id_from_number(s["order_ref"]) for s in summaries if s["order_ref"]} - {None}
    ids = [s["id"] for s in summaries]
    found = db.session.execute(
        select(Order.id, Order.journey_id, Order.email, Order.ship_name)
        .where(or_(Order.id.in_(refs), Order.journey_id.in_(ids)))
        .order_by(Order.id)).all()
    by_id = {str(o.id): o for o in found}
    by_journey = {o.journey_id: o for o in found if o.journey_id}  # the latest one
    # A guest who left between the address step and the order: what they typed there.
    typed = {c.journey_id: c for c in db.session.execute(
        select(CheckoutContact.journey_id, CheckoutContact.email, CheckoutContact.name)
        .where(CheckoutContact.journey_id.in_(ids)))}
    for summary in summaries:
        order = by_id.get(summary["order_ref"] or "") or by_journey.get(summary["id"])
        customer = customers.get(summary["customer_id"] or "")
        contact = typed.get(summary["id"])
        # A contact outlives the journey's order only when typed after it (placing the order
        # drops it): the guest went back and changed it, so it is the one to follow up.
        summary["email"] = (customer.email if customer else contact.email if contact
                            else order.email if order else None)
        summary["name"] = (customer.name if customer else contact.name if contact
                           else order.ship_name if order else None)
        summary["order_id"] = order.id if order else None
        summary["order_number"] = Order.number_of(order.id) if order else None
    return summaries


def _products(product_ids: set[str]) -> dict[str, dict]:
    """Each product's title and shop page, by id (as the touchpoints' product_id has it)."""
    ids = [int(p) for p in product_ids if p.isascii() and p.isdigit()]
    if not ids:
        return {}
    return {str(pid): {"id": pid, "title": title, "url": url_for("shop.product", slug=slug)}
            for pid, title, slug in db.session.execute(
                select(Product.id, Product.title, Product.slug).where(Product.id.in_(ids)))}


def _product_titles(product_ids: set[str]) -> dict[str, str]:
    return {pid: product["title"] for pid, product in _products(product_ids).items()}


# -- abandonment ---------------------------------------------------------------------------

def _left_at(rows) -> dict[str, str]:
    """Each journey's step (LEFT_AT's key), from rows with ``id``, ``last_touchpoint`` and
    ``abandoned_stage`` (or ``stage``). A last touchpoint that is a step says it; any other
    (a product_view, a page_view, a search) is folded into the step the shopper was on,
    read from that journey's step touchpoints and step pages (indexed by journey)."""
    out: dict[str, str] = {}
    unclear: dict[str, str] = {}
    for row in rows:
        stage = row.abandoned_stage or row.stage
        if row.last_touchpoint in STEP_AFTER:
            out[row.id] = STEP_AFTER[row.last_touchpoint]
        else:
            unclear[row.id] = stage
    e = journey_events.c
    ids = list(unclear)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        events = _conn().execute(
            select(e.journey_id, e.touchpoint, e.props)
            .where(e.journey_id.in_(chunk),
                   e.touchpoint.in_([*STEP_AFTER, "page_view"]))
            .order_by(e.journey_id, e.occurred_at, e.id)
        ).all()
        for event in events:
            step = STEP_AFTER.get(event.touchpoint)
            if step is None:  # a page_view: a step's page, unless it shows the step's outcome
                page = STEP_OF_PAGE.get((event.props or {}).get("endpoint"))
                current = out.get(event.journey_id)
                if page is None or page == PAGE_OF_STEP.get(current, current):
                    continue
                step = page
            out[event.journey_id] = step
    for journey_id, stage in unclear.items():
        out.setdefault(journey_id, FIRST_STEP.get(stage, "cart"))
    return out


def abandonment(period: Period, now: datetime) -> dict:
    """Carts, checkouts and payments left idle in the period. Abandoned means what it means
    on every page of the panel (the funnel's "stopped here", the overview's abandonment
    rates and trend): status 'abandoned'. A cart the shopper came back and bought later is
    ``recovered``, counted beside it, not in it."""
    left = _carts_left(period)  # abandoned or recovered
    cart_abandoned = and_(left, J.status == "abandoned")
    recent = _conn().execute(
        select(journeys).where(cart_abandoned)
        .order_by(J.abandoned_at.desc()).limit(50)
    ).all()
    by_stage: dict[str, dict[str, int]] = {}
    for stage, status, n in _conn().execute(
            select(J.abandoned_stage, J.status, func.count())
            .where(left, J.status.in_(("abandoned", "recovered")))
            .group_by(J.abandoned_stage, J.status)):
        by_stage.setdefault(stage, {"abandoned": 0, "recovered": 0})[status] = int(n)
    by_step = _conn().execute(
        select(J.abandoned_stage, J.last_touchpoint, func.count().label("n"))
        .where(cart_abandoned).group_by(J.abandoned_stage, J.last_touchpoint)
        .order_by(func.count().desc())
    ).all()
    left_at = dict.fromkeys(LEFT_AT_LABELS, 0)
    for step in _left_at(_conn().execute(
            select(J.id, J.last_touchpoint, J.abandoned_stage, J.stage)
            .where(cart_abandoned)).all()).values():
        left_at[step] += 1
    lines = journey_cart_lines.c
    top = _conn().execute(
        select(lines.product_id, func.count().label("journeys"),
               func.sum(lines.quantity).label("units"),
               func.sum(lines.quantity * lines.unit_value).label("value"))
        .join(journeys, J.id == lines.journey_id)
        .where(cart_abandoned, lines.quantity > 0)
        .group_by(lines.product_id).order_by(func.count().desc()).limit(10)
    ).all()
    # What the abandoned carts held (every one of the period's, not the 50 listed)
    left_in_carts = _conn().scalar(
        select(func.coalesce(func.sum(lines.quantity * lines.unit_value), 0))
        .select_from(journey_cart_lines.join(journeys, J.id == lines.journey_id))
        .where(cart_abandoned, lines.quantity > 0))
    titles = _product_titles({r.product_id for r in top})
    total = sum(s["abandoned"] for s in by_stage.values())
    recovered = sum(s["recovered"] for s in by_stage.values())
    failures = db.session.execute(
        select(func.coalesce(PaymentAttempt.error_code, "unknown"), func.count())
        .where(PaymentAttempt.status == AttemptStatus.FAILED,
               PaymentAttempt.created_at >= period.start, PaymentAttempt.created_at < period.end)
        .group_by(PaymentAttempt.error_code).order_by(func.count().desc())
    ).all()
    return {
        "abandoned": total,
        "abandoned_value": int(left_in_carts or 0),  # minor units
        "by_stage": [{"stage": s, "journeys": by_stage.get(s, {}).get("abandoned", 0),
                      "recovered": by_stage.get(s, {}).get("recovered", 0)}
                     for s in CART_STAGES],
        "by_step": [{"stage": r.abandoned_stage, "last_touchpoint": r.last_touchpoint,
                     "journeys": r.n} for r in by_step],
        # by_step in the owner's words: the checkout step each shopper was on, in order.
        "left_at": [{"step": key, "stage": stage, "label": label, "journeys": left_at[key]}
                    for key, stage, label in LEFT_AT],
        "recovered": int(recovered),
        # Of the carts left in the period, the share bought later.
        "recovery_rate": _ratio(recovered, total + recovered),
        "payment_failures": [{"code": code, "attempts": n} for code, n in failures],
        "top_products": [{"product_id": r.product_id, "title": titles.get(r.product_id, "?"),
                          "journeys": r.journeys, "units": int(r.units or 0),
                          "value": int(r.value or 0)} for r in top],
        "journeys": _with_reminders(_with_left_at(recent, _with_contacts(
            _with_carts([_journey_summary(r) for r in recent])))),
        "reminders": _reminder_outcomes(period, now),
    }


def _reminder_outcomes(period: Period, now: datetime) -> dict:
    """Whether the reminders bring carts back: of the carts left in the period that were
    still left when a reminder could go out, those the store sent one about and the rest,
    and how many of each were bought later (after the reminder, for the reminded).

    A reminder goes out a while after a cart is left (`orders remind --after`), and only
    while it is still left; a cart bought back before then, or left too lately to have
    been reminded yet, could never be in the reminded group, so it is in neither (else it
    would swell the others' share and make reminders look useless). That while is read
    from the reminders themselves: the shortest time any of them took.

    The reminders are in the shop's database and the journeys in the tracker's (two
    databases, perhaps): the reminders written from the period's start until REMIND_SPAN
    after its end, then their journeys looked up by id, REMINDER_CHUNK at a time; the
    period's carts counted by status and recovery time in one grouped query."""
    m = OutboxMessage
    sent = db.session.execute(
        _first_reminders(m.journey_id.is_not(None), _reached(), m.created_at >= period.start,
                         m.created_at < period.end + REMIND_SPAN)
        .execution_options(yield_per=REMINDER_CHUNK))
    reminded = {"carts": 0, "recovered": 0}
    delay: timedelta | None = None
    latest = period.start  # the latest reminded cart's abandonment
    for part in sent.partitions(REMINDER_CHUNK):
        chunk = dict(part)
        for row in _conn().execute(  # by primary key: the period is checked here
                select(J.id, J.status, J.abandoned_at, J.abandoned_stage, J.recovered_at)
                .where(J.id.in_(list(chunk)))):
            at = chunk[row.id]
            if (row.abandoned_at is None or row.abandoned_stage not in CART_STAGES
                    or not period.start <= row.abandoned_at < period.end
                    or row.status not in ("abandoned", "recovered")):
                continue
            if row.status == "recovered" and (row.recovered_at is None
                                              or row.recovered_at < at):
                continue  # bought back before its reminder: one without (counted below)
            waited = at - row.abandoned_at
            delay = waited if delay is None else min(delay, waited)
            latest = max(latest, row.abandoned_at)
            reminded["carts"] += 1
            reminded["recovered"] += row.status == "recovered"
    others = {"carts": 0, "recovered": 0}
    if delay is not None:
        # Whole seconds (SQLite shifts by seconds), none below 0 (a clock set back)
        delay = timedelta(seconds=max(0, int(delay.total_seconds())))
        # Every cart left in the period and still left `delay` after (and that long ago),
        # by status: the reminded ones are taken off below.
        still_left = or_(J.recovered_at.is_(None),
                         store._shifted(_conn(), J.abandoned_at, delay) <= J.recovered_at)
        for status, n in _conn().execute(
                select(J.status, func.count())
                .where(_carts_left(period), J.status.in_(("abandoned", "recovered")),
                       # reminded ones included, whatever the clocks said
                       still_left, J.abandoned_at <= max(now - delay, latest))
                .group_by(J.status)):
            others["carts"] += int(n)
            others["recovered"] += int(n) if status == "recovered" else 0
        others["carts"] -= reminded["carts"]
        others["recovered"] -= reminded["recovered"]
    for group in (reminded, others):
        group["recovery_rate"] = _ratio(group["recovered"], group["carts"])
    return {"reminded": reminded, "not_reminded": others,
            "reminder_delay_seconds": int(delay.total_seconds()) if delay is not None else None}


REMINDER_CHUNK = 500
# A reminder is written within `orders remind --within` (2 days by default) of the cart's
# abandonment: a week after the period's end is far past any cart of the period's.
REMIND_SPAN = timedelta(days=7)


def _first_reminders(*where):
    """(journey_id, when its first cart reminder was written) of the journeys ``where``
    picks, from the shop's outbox."""
    m = OutboxMessage
    return (select(m.journey_id, func.min(m.created_at))
            .where(m.kind == MessageKind.CART_REMINDER, *where).group_by(m.journey_id))


def _reached():
    """A reminder that reached the shopper: sent, or recorded where the store sends no mail
    (the owner's to send); not one still waiting or refused."""
    m = OutboxMessage
    return or_(m.sent_at.is_not(None), and_(m.send_after.is_(None), m.error.is_(None)))


def _with_reminders(summaries: list[dict]) -> list[dict]:
    """``reminded_at``: when the store wrote to the shopper about the cart (`orders
    remind`) and it reached them, or None: the owner sees which carts were followed up
    already. ``reminder_waiting_since``: a reminder written and not sent yet (the mail
    timer's next run, a server refusing for now), as the reminders' outcomes count it: not
    reminded yet."""
    ids = [s["id"] for s in summaries]
    m = OutboxMessage
    # Each journey's first reminder by the outbox's own status (message_status): sent or
    # recorded reached the shopper; waiting (the mail timer, a server refusing for now)
    # and not_sent (refused for good, too old) did not. One query, the earliest first.
    first: dict[str, dict[str, datetime]] = {}
    if ids:
        for row in db.session.execute(
                select(m.journey_id, m.created_at, m.sent_at, m.send_after, m.error)
                .where(m.kind == MessageKind.CART_REMINDER, m.journey_id.in_(ids))
                .order_by(m.created_at)):
            state = message_status(row)
            first.setdefault(row.journey_id, {}).setdefault(
                "reached" if state in ("sent", "recorded") else state, row.created_at)
    for summary in summaries:
        found = first.get(summary["id"], {})
        at, queued, refused = found.get("reached"), found.get("waiting"), found.get("not_sent")
        summary["reminded_at"] = at.isoformat(timespec="seconds") if at else None
        summary["reminder_waiting_since"] = (queued.isoformat(timespec="seconds")
                                             if queued and not at else None)
        summary["reminder_not_sent_at"] = (refused.isoformat(timespec="seconds")
                                           if refused and not (at or queued) else None)
    return summaries


def _carts_left(period: Period):
    """Carts, checkouts and payments left idle in the period, abandoned or later recovered."""
    return and_(J.abandoned_at >= period.start, J.abandoned_at < period.end,
                J.abandoned_stage.in_(CART_STAGES))


EXPORT_BATCH = 500
# About 3 MB and 3 s: well inside a sync worker's 30 s (gunicorn's timeout covers the whole
# response) even for a slow client. A period with more: the latest, and the file says so.
EXPORT_LIMIT = 10_000


def count_abandoned(period: Period) -> int:
    return _conn().scalar(select(func.count()).select_from(journeys).where(
        _carts_left(period), J.status == "abandoned"))


def abandoned_journeys(period: Period, batch: int = EXPORT_BATCH,
                       limit: int = EXPORT_LIMIT) -> Iterator[dict]:
    """Every cart, checkout and payment abandoned in the period, not only the page's latest
    50, newest first, each as the page lists it (who, cart, step): ``batch`` at a time
    (store.abandoned_carts), so an export of a busy year holds one batch in memory. At most
    ``limit``."""
    for rows in store.abandoned_carts(lambda query: _conn().execute(query).all(),
                                      period.start, period.end, newest_first=True,
                                      batch=batch, limit=limit):
        yield from _with_left_at(rows, _with_contacts(
            _with_carts([_journey_summary(r) for r in rows])))


def _with_left_at(rows, summaries: list[dict]) -> list[dict]:
    steps = _left_at(rows)
    for summary in summaries:
        step = steps.get(summary["id"])
        summary["left_at"] = step
        summary["left_at_label"] = LEFT_AT_LABELS.get(step)
    return summaries


# -- journey explorer ----------------------------------------------------------------------

def find_journeys(query: str) -> dict:
    """A visitor id, journey id, customer email or id, or order number (TP-000123) or id.
    An email also finds the journeys of orders placed with it (a guest has no account) and
    of guests who typed it at checkout before any order."""
    q = query.strip()
    conditions = [J.visitor_id == q, J.id == q]
    customer = None
    if "@" in q:
        customer = db.session.scalar(select(Customer).where(Customer.email == q.lower()))
        # Checkout keeps the email as typed; not indexed, and an explorer search is rare.
        ordered = db.session.execute(
            select(Order.id, Order.journey_id).where(func.lower(Order.email) == q.lower())
            .order_by(Order.id.desc()).limit(MAX_ROWS)).all()
        if ordered:
            conditions.append(J.order_ref.in_([str(o.id) for o in ordered]))
            conditions.append(J.id.in_([o.journey_id for o in ordered if o.journey_id]))
        typed = db.session.scalars(
            select(CheckoutContact.journey_id)
            .where(func.lower(CheckoutContact.email) == q.lower())
            .order_by(CheckoutContact.updated_at.desc()).limit(MAX_ROWS)).all()
        if typed:
            conditions.append(J.id.in_(typed))
    elif q.isascii() and q.isdigit() and 0 < int(q) <= MAX_ID:  # int() takes digits
        customer = db.session.get(Customer, int(q))  # str.isdigit() does not; int4 ids
    if customer is not None:
        conditions.append(J.customer_id == str(customer.id))
    order_id = Order.id_from_number(q)
    if order_id is not None:
        order = db.session.get(Order, order_id)
        conditions.append(J.order_ref == str(order_id))
        if order is not None and order.journey_id:
            conditions.append(J.id == order.journey_id)
    rows = _conn().execute(
        select(journeys).where(or_(*conditions)).order_by(J.started_at.desc()).limit(50)
    ).all()
    return {"query": q, "journeys": _with_contacts([_journey_summary(r) for r in rows])}


# The furthest stages a journey of each status can be at (the writer's and the sweeper's
# rules): active and abandoned before purchase; purchased from it on; recovered, a cart
# left and bought later (in it, after 3-D Secure, or in another journey).
_UNPAID = tuple(s.label for s in STAGES if s < Stage.PURCHASE)
STATUS_STAGES = {
    "active": _UNPAID,
    "abandoned": _UNPAID,
    "purchased": tuple(s.label for s in STAGES if s >= Stage.PURCHASE),
    "recovered": tuple(s.label for s in STAGES if s >= Stage.CART),
}


def recent_journeys(limit: int = 20, *, stage: str | None = None,
                    status: str | None = None) -> dict:
    """The journeys started last (the explorer before a search, as PostHog's person list
    opens), of a furthest ``stage`` and a ``status`` if given ("abandoned at checkout"):
    read by the started_at index, not a sort of every journey (a filter reads on down
    the index until it has ``limit``)."""
    stmt = select(journeys).order_by(J.started_at.desc()).limit(limit)
    if stage:
        stmt = stmt.where(J.stage == stage)
    if status:
        stmt = stmt.where(J.status == status)
    # A pair no journey can be in (landing and purchased): none, without reading on down
    # the whole index for twenty that do not exist
    possible = not (stage and status) or stage in STATUS_STAGES[status]
    rows = _conn().execute(stmt).all() if possible else []
    return {"query": "", "recent": True, "stage": stage, "status": status,
            "journeys": _with_contacts([_journey_summary(r) for r in rows])}


def timeline(journey_ids: list[str]) -> list[dict]:
    rows = _conn().execute(
        select(journey_events).where(journey_events.c.journey_id.in_(journey_ids))
        .order_by(journey_events.c.occurred_at, journey_events.c.id).limit(2000)
    ).all()
    products = _products({str((row.props or {}).get("product_id")) for row in rows
                          if (row.props or {}).get("product_id") is not None})
    out, previous, session = [], None, None
    for row in rows:
        product = products.get(str((row.props or {}).get("product_id")))
        out.append({
            "at": row.occurred_at.isoformat(timespec="seconds"),
            "touchpoint": row.touchpoint, "stage": row.stage, "journey_id": row.journey_id,
            # Back-office touchpoints (a webhook, the courier) have no session of their own:
            # they neither open one nor end the shopper's.
            "session_id": row.session_id,
            "new_session": row.session_id is not None and row.session_id != session,
            "back_office": row.session_id is None,
            "since_previous": (row.occurred_at - previous).total_seconds()
            if previous else None,
            "props": row.props,
            # The product a product_id names, for the timeline to show and link.
            **({"product": product} if product else {}),
        })
        previous, session = row.occurred_at, row.session_id or session
    return out


def journey_detail(journey_id: str) -> dict | None:
    row = _conn().execute(select(journeys).where(J.id == journey_id)).first()
    if row is None:
        return None
    summary = _with_contacts(_with_carts([_journey_summary(row)]))[0]
    entered = [(s.label, row._mapping[f"entered_{s.label}_at"]) for s in STAGES]
    # A list, in stage order (a JSON object's keys come back sorted).
    summary["stages"] = [{"stage": label, "at": at.isoformat(timespec="seconds") if at else None}
                         for label, at in entered]
    return {"journey": summary, "timeline": timeline([journey_id])}


# -- orders and reviews ----------------------------------------------------------------------

# How far back the late deliveries list the ones delivered (the open ones: all of them).
LATE_DELIVERED_DAYS = 30


def orders(status: str | None, today: date, order_id: int | None = None) -> dict:
    """Orders by status (``order_id``: that one order, as a journey's order links to it)."""
    counts = {
        "payment": dict(db.session.execute(
            select(Order.payment_status, func.count()).group_by(Order.payment_status)).all()),
        "fulfilment": dict(db.session.execute(
            select(Order.fulfilment_status, func.count())
            .where(Order.payment_status == PaymentStatus.PAID)
            .group_by(Order.fulfilment_status)).all()),
    }
    stmt = select(Order).order_by(Order.id.desc()).limit(MAX_ROWS)
    if status in {s.value for s in FulfilmentStatus}:
        stmt = stmt.where(Order.fulfilment_status == status,
                          Order.payment_status == PaymentStatus.PAID)
    elif status in {s.value for s in PaymentStatus}:
        stmt = stmt.where(Order.payment_status == status)
    if order_id is not None:
        stmt = stmt.where(Order.id == order_id)
    # Late: the open ones first, the longest overdue at the top (the ones to chase), then
    # those delivered late lately, the latest first. Oldest-due first, a shop's hundred
    # past late parcels had pushed today's late order off the list.
    late_open = and_(Order.payment_status == PaymentStatus.PAID,
                     Order.fulfilment_status != FulfilmentStatus.DELIVERED,
                     Order.estimated_delivery < today)
    late_delivered = and_(
        Order.fulfilment_status == FulfilmentStatus.DELIVERED,
        func.date(Order.delivered_at) > Order.estimated_delivery,
        Order.delivered_at >= datetime.combine(today - timedelta(days=LATE_DELIVERED_DAYS),
                                               time.min))
    late = db.session.scalars(select(Order).where(late_open).order_by(
        Order.estimated_delivery, Order.id).limit(MAX_ROWS)).all()
    if len(late) < MAX_ROWS:
        late += db.session.scalars(select(Order).where(late_delivered).order_by(
            Order.delivered_at.desc(), Order.id.desc()).limit(MAX_ROWS - len(late))).all()
    return {
        "counts": counts,
        "orders": [_order_summary(o, today) for o in db.session.scalars(stmt)],
        "late": [_order_summary(o, today) for o in late],
    }


def _order_summary(order: Order, today: date) -> dict:
    delivered = order.delivered_at.date() if order.delivered_at else None
    reference = delivered or today
    return {
        "id": order.id, "number": order.number, "email": order.email,
        "status": order.status, "payment_status": order.payment_status,
        "fulfilment_status": order.fulfilment_status, "total": order.total,
        "currency": order.currency, "created_at": order.created_at.isoformat(timespec="seconds"),
        "estimated_delivery": order.estimated_delivery.isoformat(),
        "delivered_at": order.delivered_at.isoformat(timespec="seconds")
        if order.delivered_at else None,
        "days_late": max((reference - order.estimated_delivery).days, 0)
        if order.status == OrderStatus.PAID else 0,
        "journey_id": order.journey_id,
        "can_advance": order.is_paid and order.fulfilment_status != FulfilmentStatus.DELIVERED,
        # left at 3-D Secure: the owner may cancel it (as `orders expire` does)
        "can_cancel": (order.status == OrderStatus.PENDING
                       and order.payment_status == PaymentStatus.REQUIRES_ACTION),
    }


def returns(status: str | None = None, order_id: int | None = None,
            limit: int = MAX_ROWS) -> dict:
    """Returns, the requested (waiting for the owner) first, then the latest decided; how
    many of each status."""
    # Each row names its order's email and its lines' names: loaded with the page, a few
    # queries in all rather than three lazy loads a row.
    query = (select(OrderReturn)
             .options(selectinload(OrderReturn.order),
                      selectinload(OrderReturn.lines).selectinload(OrderReturnLine.order_line))
             .order_by((OrderReturn.status == ReturnStatus.REQUESTED).desc(),
                       OrderReturn.id.desc()).limit(limit))
    if status:
        query = query.where(OrderReturn.status == status)
    if order_id is not None:
        query = query.where(OrderReturn.order_id == order_id)
    counts = dict(db.session.execute(
        select(OrderReturn.status, func.count()).group_by(OrderReturn.status)).all())
    return {
        "returns": [{
            "id": r.id, "number": r.number, "order_id": r.order_id,
            "order_number": Order.number_of(r.order_id), "email": r.order.email,
            "status": r.status, "reason": r.reason, "note": r.note, "items": r.items,
            "amount": r.amount, "currency": r.currency,
            "created_at": r.created_at.isoformat(timespec="seconds"),
            "decided_at": r.decided_at.isoformat(timespec="seconds") if r.decided_at else None,
            "decided_by": r.decided_by,
            "restocked_at": (r.restocked_at.isoformat(timespec="seconds")
                             if r.restocked_at else None),
            "restocked_by": r.restocked_by,
            "lines": [{"name": line.order_line.name, "quantity": line.quantity}
                      for line in r.lines],
        } for r in db.session.scalars(query)],
        "counts": {s.value: int(counts.get(s.value, 0)) for s in ReturnStatus},
    }


def reviews(period: Period, limit: int = 20) -> dict:
    """Reviews written in the period (how many, their average and stars, the latest
    ``limit``), and of the orders delivered in it, how many their buyer has reviewed so far
    (by order: an order with two reviews is one). Not the funnel's Reviewed step, a share of
    the journeys started in the period."""
    written = and_(Review.created_at >= period.start, Review.created_at < period.end)
    delivered_in = and_(Order.fulfilment_status == FulfilmentStatus.DELIVERED,
                        Order.delivered_at >= period.start, Order.delivered_at < period.end)
    recent = db.session.execute(
        select(Review, Product.title, Product.slug).join(Product, Product.id == Review.product_id)
        .where(written).order_by(Review.created_at.desc()).limit(limit)
    ).all()
    delivered = db.session.scalar(select(func.count()).select_from(Order).where(delivered_in))
    reviewed_orders = db.session.scalar(
        select(func.count(func.distinct(Order.id))).select_from(Order)
        .join(Review, Review.order_id == Order.id).where(delivered_in))
    count, average = db.session.execute(
        select(func.count(), func.avg(Review.rating)).where(written)).one()
    histogram = dict(db.session.execute(
        select(Review.rating, func.count()).where(written).group_by(Review.rating)).all())
    return {
        "reviews": count,
        "average_rating": round(float(average), 2) if average is not None else None,
        "review_rate": _ratio(reviewed_orders, delivered),
        "reviewed_orders": int(reviewed_orders or 0),
        "delivered_orders": delivered,
        "histogram": [{"rating": r, "reviews": int(histogram.get(r, 0))} for r in range(5, 0, -1)],
        "recent": [{"rating": r.rating, "title": r.title, "body": r.body,
                    "author": r.author_name, "verified": r.verified, "product": title,
                    "slug": slug, "created_at": r.created_at.isoformat(timespec="seconds")}
                   for r, title, slug in recent],
    }


# -- outbox ----------------------------------------------------------------------------------

def outbox(kind: str | None, before: int | None, limit: int) -> dict:
    """The latest messages (of one ``kind``), older than the message ``before``; how many of
    each kind in all; how many are sent, waiting and not sent, and since when the oldest
    waiting one has waited."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    if before:
        query = query.where(OutboxMessage.id < before)
    found = db.session.scalars(query).all()
    counts = dict(db.session.execute(
        select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)).all())
    waiting, sent, not_sent, oldest = db.session.execute(select(
        func.count(OutboxMessage.send_after), func.count(OutboxMessage.sent_at),
        func.count(case((and_(OutboxMessage.send_after.is_(None),
                              OutboxMessage.sent_at.is_(None),
                              OutboxMessage.error.is_not(None)), 1))),
        func.min(case((OutboxMessage.send_after.is_not(None), OutboxMessage.created_at))),
    )).one()
    return {
        "messages": [{
            "id": m.id, "kind": m.kind, "to": m.to_email, "subject": m.subject, "body": m.body,
            "created_at": m.created_at.isoformat(timespec="seconds"),
            "order_id": m.order_id,
            "order_number": Order.number_of(m.order_id) if m.order_id else None,
            "journey_id": m.journey_id,
            "status": message_status(m), "attempts": m.attempts, "error": m.error,
            "sent_at": m.sent_at.isoformat(timespec="seconds") if m.sent_at else None,
            "send_after": m.send_after.isoformat(timespec="seconds") if m.send_after else None,
        } for m in found],
        "older": found[-1].id if len(found) == limit else None,
        "counts": {k.value: int(counts.get(k.value, 0)) for k in MessageKind},
        "sending": {"sent": sent, "waiting": waiting, "not_sent": not_sent,
                    "oldest_waiting": oldest.isoformat(timespec="seconds") if oldest else None},
    }


def message_status(m: OutboxMessage) -> str:
    """sent; waiting (to be sent, perhaps again); not_sent (refused for good, or too old);
    recorded (no MAIL_URL when it was made: the outbox's only)."""
    if m.sent_at is not None:
        return "sent"
    if m.send_after is not None:
        return "waiting"
    return "not_sent" if m.error else "recorded"
