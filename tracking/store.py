"""The database side: insert events, fold them into journeys, sweep, count, forget.

Every state change is a conditional UPDATE whose row count says whether *this* call made
it, so several writers (gunicorn workers, hosts) sharing one database count each stage
entry, abandonment and recovery exactly once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from .events import Event
from .models import journey_cart_lines, journey_events, journeys
from .touchpoints import ABANDONABLE, EXITS, STAGES, Stage


def _insert(conn: Connection, table):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


@dataclass
class BatchOutcome:
    written: int = 0
    duplicates: int = 0
    entered: list[tuple[str, float]] = field(default_factory=list)  # (stage, seconds from start)
    recovered: int = 0
    unresolved: int = 0  # named an order or visitor no journey holds


def insert_events(conn: Connection, events: list[Event]) -> set[str]:
    """Insert; return the event ids that were new (a replayed id is skipped)."""
    rows = [
        {
            "event_id": e.event_id, "journey_id": e.journey_id, "visitor_id": e.visitor_id,
            "session_id": e.session_id, "customer_id": e.customer_id, "order_ref": e.order_ref,
            "touchpoint": e.touchpoint, "stage": e.stage, "occurred_at": e.occurred_at,
            "props": e.props,
        }
        for e in events
    ]
    stmt = (
        _insert(conn, journey_events)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(journey_events.c.event_id)
    )
    return set(conn.execute(stmt, rows).scalars().all())


def resolve_journeys(conn: Connection, events: list[Event]) -> None:
    """Events tracked with only an order or a visitor reference (no request, no journey id):
    the journey that holds that order, else the visitor's latest journey."""
    c = journeys.c
    for event in events:
        if event.journey_id is not None:
            continue
        found = None
        if event.order_ref:
            found = conn.execute(
                select(c.id, c.visitor_id).where(c.order_ref == event.order_ref)
                .order_by(c.started_at.desc()).limit(1)
            ).first()
        if found is None and event.visitor_id:
            found = conn.execute(
                select(c.id, c.visitor_id).where(c.visitor_id == event.visitor_id)
                .order_by(c.last_seen_at.desc()).limit(1)
            ).first()
        if found is not None:
            event.journey_id, event.visitor_id = found.id, event.visitor_id or found.visitor_id


def write_batch(conn: Connection, events: list[Event], recovery_window: timedelta) -> BatchOutcome:
    outcome = BatchOutcome()
    candidates = [e for e in events if e.stored]
    resolve_journeys(conn, candidates)
    stored = [e for e in candidates if e.journey_id is not None]
    outcome.unresolved = len(candidates) - len(stored)
    if not stored:
        return outcome
    new_ids = insert_events(conn, stored)
    outcome.written = len(new_ids)
    outcome.duplicates = len(stored) - len(new_ids)
    by_journey: OrderedDict[str, list[Event]] = OrderedDict()
    for event in stored:
        if event.event_id in new_ids:
            by_journey.setdefault(event.journey_id, []).append(event)
    for journey_id, journey_events_ in by_journey.items():
        _fold(conn, journey_id, sorted(journey_events_, key=lambda e: e.occurred_at), outcome,
              recovery_window)
    return outcome


def _fold(conn: Connection, journey_id: str, events: list[Event], outcome: BatchOutcome,
          recovery_window: timedelta) -> None:
    """Apply one batch's events to their journey. Batches of one journey may arrive in any
    order (several workers, several writers), so every column is merged, never overwritten
    blindly: earliest start, latest last-seen, furthest stage, first non-empty visitor.

    The row is read locked (FOR UPDATE on PostgreSQL; SQLite's write lock is already held),
    merged in Python and written back with one UPDATE: a stage entry or a recovery is counted
    by exactly one writer, in a few statements per journey rather than one per stage.
    """
    first, last = events[0], events[-1]
    started = min((e.journey_started_at or e.occurred_at) for e in events)
    visitor = next((e.visitor_id for e in events if e.visitor_id), None)
    conn.execute(
        _insert(conn, journeys)
        .values(id=journey_id, visitor_id=visitor, customer_id=first.customer_id,
                stage=Stage.LANDING.label, stage_rank=0, status="active", started_at=started,
                last_seen_at=first.occurred_at, last_touchpoint=first.touchpoint,
                sessions=0, events=0)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    c = journeys.c
    read = select(c.started_at, c.last_seen_at, c.visitor_id, c.customer_id, c.order_ref,
                  c.stage_rank, c.status,
                  *(c[f"entered_{s.label}_at"] for s in STAGES)).where(c.id == journey_id)
    if conn.dialect.name == "postgresql":
        read = read.with_for_update()
    row = conn.execute(read).one()._mapping

    top = max((Stage.from_label(e.stage) for e in events if e.stage), default=None)
    customer = next((e.customer_id for e in reversed(events) if e.customer_id), None)
    order_ref = next((e.order_ref for e in events if e.order_ref), None)
    start = min(row["started_at"], started)
    values: dict = {
        "events": c.events + len(events),
        # The first event of a journey and the first of each later session say new_session.
        "sessions": c.sessions + sum(1 for e in events if e.new_session),
    }
    if start != row["started_at"]:
        values["started_at"] = start
    if last.occurred_at >= row["last_seen_at"]:
        values["last_seen_at"], values["last_touchpoint"] = last.occurred_at, last.touchpoint
    if visitor and row["visitor_id"] is None:
        values["visitor_id"] = visitor
    if customer:
        values["customer_id"] = customer
    if order_ref and row["order_ref"] is None:
        values["order_ref"] = order_ref
    if top is not None and int(top) > row["stage_rank"]:
        values["stage"], values["stage_rank"] = top.label, int(top)
    for event in events:
        if event.touchpoint == "landing" and event.context:
            values.update({k: v for k, v in event.context.items() if v is not None})

    # Stage entries: reaching a stage passes every earlier one (a monotone funnel).
    first_at: dict[Stage, datetime] = {}
    for event in events:
        if event.stage:
            reached = Stage.from_label(event.stage)
            for stage in STAGES:
                if stage <= reached and stage not in first_at:
                    first_at[stage] = event.occurred_at
    for stage, at in sorted(first_at.items()):
        if row[f"entered_{stage.label}_at"] is None:
            values[f"entered_{stage.label}_at"] = at
            outcome.entered.append((stage.label, max((at - start).total_seconds(), 0.0)))

    purchase = next((e for e in events if e.touchpoint == "purchase"), None)
    if purchase is not None and row["status"] in ("active", "abandoned"):
        values.update(value=purchase.props.get("value"),
                      currency=purchase.props.get("currency"),
                      order_ref=purchase.order_ref or purchase.props.get("order_ref"))
        if row["status"] == "abandoned":  # swept while 3-D Secure took its time
            values.update(status="recovered", recovered_at=purchase.occurred_at)
            outcome.recovered += 1
        else:
            values["status"] = "purchased"
    conn.execute(update(journeys).where(c.id == journey_id).values(**values))
    _update_cart(conn, journey_id, events)

    purchased_at = row["entered_purchase_at"] or values.get("entered_purchase_at")
    if purchased_at is not None and (purchase is not None or visitor or customer):
        outcome.recovered += _recover_earlier(
            conn, journey_id, purchased_at, row["visitor_id"] or visitor,
            customer or row["customer_id"], recovery_window)


def _update_cart(conn: Connection, journey_id: str, events: list[Event]) -> None:
    deltas: dict[str, list[int]] = {}  # product -> [quantity change, unit value]
    for event in events:
        sign = {"add_to_cart": 1, "remove_from_cart": -1}.get(event.touchpoint)
        if sign is None:
            continue
        line = deltas.setdefault(str(event.props["product_id"]), [0, 0])
        quantity = int(event.props.get("quantity") or 0)
        line[0] += sign * quantity
        if sign > 0 and quantity and event.props.get("value") is not None:
            line[1] = int(event.props["value"]) // quantity
    lines = journey_cart_lines.c
    for product_id, (quantity, unit_value) in deltas.items():
        stmt = _insert(conn, journey_cart_lines).values(
            journey_id=journey_id, product_id=product_id, quantity=quantity,
            unit_value=unit_value)
        stmt = stmt.on_conflict_do_update(
            index_elements=["journey_id", "product_id"],
            set_={"quantity": lines.quantity + stmt.excluded.quantity,
                  "unit_value": case((stmt.excluded.unit_value > 0, stmt.excluded.unit_value),
                                     else_=lines.unit_value)},
        )
        conn.execute(stmt)


def _recover_earlier(conn: Connection, journey_id: str, purchased_at: datetime,
                     visitor: str | None, customer: str | None,
                     recovery_window: timedelta) -> int:
    """Carts this visitor (or customer) abandoned before a purchase within the window are
    recovered, not lost (Matomo counts them abandoned forever)."""
    c = journeys.c
    owners = [c.visitor_id == visitor] if visitor else []
    if customer:
        owners.append(c.customer_id == customer)
    if not owners:
        return 0
    return conn.execute(
        update(journeys)
        .where(
            c.id != journey_id,
            c.status == "abandoned",
            c.abandoned_stage.in_([s.label for s in ABANDONABLE]),
            c.last_seen_at <= purchased_at,
            c.last_seen_at >= purchased_at - recovery_window,
            or_(*owners),
        )
        .values(status="recovered", recovered_at=purchased_at)
    ).rowcount


def sweep(conn: Connection, now: datetime, session_timeout: timedelta,
          abandon_after: timedelta, recovery_window: timedelta,
          grace: timedelta) -> tuple[dict[str, int], int]:
    """Abandon idle journeys, once each: ({stage: how many this call abandoned}, recovered).

    A cart abandoned before its visitor's later purchase was written (the sweep ran late) is
    recovered at once: abandoned and recovered, as it happened."""
    counts: dict[str, int] = {}
    for stages, idle in ((ABANDONABLE, abandon_after), (EXITS, session_timeout)):
        cutoff = now - idle - grace
        for stage in stages:
            n = conn.execute(
                update(journeys)
                .where(journeys.c.status == "active", journeys.c.stage == stage.label,
                       journeys.c.last_seen_at < cutoff)
                .values(status="abandoned", abandoned_at=now, abandoned_stage=stage.label)
            ).rowcount
            if n:
                counts[stage.label] = n
    recovered = 0
    if any(counts.get(s.label) for s in ABANDONABLE):
        c = journeys.c
        buyer = journeys.alias("buyer")
        later_purchase = (
            select(buyer.c.id)
            .where(
                buyer.c.id != c.id,
                or_(buyer.c.visitor_id == c.visitor_id,
                    and_(c.customer_id.is_not(None), buyer.c.customer_id == c.customer_id)),
                buyer.c.entered_purchase_at >= c.last_seen_at,
                buyer.c.entered_purchase_at <= c.last_seen_at + recovery_window,
            )
            .exists()
        )
        recovered = conn.execute(
            update(journeys)
            .where(c.status == "abandoned", c.abandoned_at == now,
                   c.abandoned_stage.in_([s.label for s in ABANDONABLE]), later_purchase)
            .values(status="recovered", recovered_at=now)
        ).rowcount
    return counts, recovered


def count_active(conn: Connection, now: datetime, session_timeout: timedelta) -> dict[str, int]:
    live_shopping = and_(journeys.c.status == "active",
                         journeys.c.last_seen_at >= now - session_timeout)
    awaiting_delivery = and_(journeys.c.status.in_(["purchased", "recovered"]),
                             journeys.c.stage.in_([Stage.PURCHASE.label, Stage.SHIPPED.label]))
    rows = conn.execute(
        select(journeys.c.stage, func.count())
        .where(or_(live_shopping, awaiting_delivery))
        .group_by(journeys.c.stage)
    )
    return {stage: count for stage, count in rows}


def is_purchased(conn: Connection, journey_id: str) -> bool:
    status = conn.execute(
        select(journeys.c.status).where(journeys.c.id == journey_id)
    ).scalar_one_or_none()
    return status in ("purchased", "recovered")


def forget(conn: Connection, visitor_id: str) -> tuple[int, int]:
    """Erase a visitor: their events (also those filed by journey only) and journeys."""
    theirs = select(journeys.c.id).where(journeys.c.visitor_id == visitor_id)
    events = conn.execute(
        delete(journey_events).where(
            or_(journey_events.c.visitor_id == visitor_id,
                journey_events.c.journey_id.in_(theirs))
        )
    ).rowcount
    conn.execute(delete(journey_cart_lines).where(journey_cart_lines.c.journey_id.in_(theirs)))
    removed = conn.execute(delete(journeys).where(journeys.c.visitor_id == visitor_id)).rowcount
    return events, removed
