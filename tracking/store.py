"""The database side: insert events, fold them into journeys, sweep, count, forget.

Every state change is a conditional UPDATE whose row count says whether *this* call made
it, so several writers (gunicorn workers, hosts) sharing one database count each stage
entry, abandonment and recovery exactly once.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    DateTime,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection, Dialect, Row
from sqlalchemy.sql import Select

from .events import Event
from .models import journey_cart_lines, journey_events, journeys
from .touchpoints import ABANDONABLE, EXITS, STAGES, Stage


def _dialect_insert(name: str):
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


@dataclass
class BatchOutcome:
    written: int = 0
    duplicates: int = 0
    entered: list[tuple[str, float]] = field(default_factory=list)  # (stage, seconds from start)
    recovered: int = 0
    unresolved: list[Event] = field(default_factory=list)  # an order or visitor no journey holds


_STAGE = {s.label: s for s in STAGES}
_ENTERED = {s: f"entered_{s.label}_at" for s in STAGES}
_REACHED = {s: tuple(t for t in STAGES if t <= s) for s in STAGES}  # a monotone funnel


class _Statements:
    """The writer's statements, built once per dialect: each batch only binds values."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        insert = _dialect_insert(dialect.name)
        c = journeys.c
        self.insert_events = _Bulk(journey_events.insert().inline(), dialect, _EVENT_KEYS)
        # SQLite's rows are built as tuples; psycopg takes the named rows as they are.
        self.event_tuple = (_event_tuples(self.insert_events) if self.insert_events.sqlite
                            else None)
        self.insert_new_events = (
            insert(journey_events)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(journey_events.c.event_id)
        )
        self.insert_journeys = insert(journeys).on_conflict_do_nothing(index_elements=["id"])
        # SQLite lets one writer at a time in: from a batch's first statement to its commit
        # this connection holds the database's write lock, so a journey read missing is
        # still missing when it is inserted, and no other writer's batch interleaves. Two
        # shortcuts rely on that (PostgreSQL, with row locks, folds every journey the long
        # way): a new journey's row is known without reading it back, and a journey whose
        # batch holds only routine events (Event.routine) is updated without being read.
        self.one_writer = dialect.name == "sqlite"
        # Not started_at: a routine event's journey_started_at is the cookie's journey start,
        # which its row was made with, and an indexed column in SET costs every row its
        # index entries (so customer_id only where the batch names one: a customer the
        # cookie had, which the row has unless it came with identify(via=None)).
        counts = {
            "events": c.events + bindparam("n", type_=c.events.type),
            "sessions": c.sessions + bindparam("s", type_=c.sessions.type),
            # SET reads the row as it was: the latest touchpoint wins, as in _merge
            "last_touchpoint": case((bindparam("at", type_=c.last_seen_at.type)
                                     >= c.last_seen_at, bindparam("tp")),
                                    else_=c.last_touchpoint),
            "last_seen_at": func.max(c.last_seen_at,
                                     bindparam("at", type_=c.last_seen_at.type)),
        }
        # Only a row at the stage the batch's events belong to, or further, and not yet
        # purchased. A row behind it lost the event that entered that stage (a full queue,
        # a full spool); a purchased one was paid by a webhook the cookie has not seen, and
        # a customer it learns now recovers that customer's carts. Both are folded the
        # long way, which enters the stage and recovers the carts.
        by_id = update(journeys).where(
            c.id == bindparam("j_id"),
            c.stage_rank >= bindparam("r", type_=c.stage_rank.type),
            c.stage_rank < literal_column(str(int(Stage.PURCHASE))))
        self.count_in = {
            False: _Bulk(by_id.values(counts), dialect, None),
            True: _Bulk(by_id.values({**counts, "customer_id": bindparam("c")}), dialect, None),
        }
        # their rows as tuples, from (at, tp, s, n, c, j_id, r) (SQLite's "?" order)
        self.count_in_row = ({named: bulk.order(_COUNT_IN_KEYS)
                              for named, bulk in self.count_in.items()}
                             if self.one_writer else None)
        self.ranks = select(c.id, c.stage_rank).where(c.id.in_(bindparam("ids", expanding=True)))
        # A plain INSERT: with the write lock held it cannot conflict, and if it ever did,
        # the IntegrityError has the batch written again, reading the row (_AppState._write).
        self.insert_whole_journeys = _Bulk(journeys.insert(), dialect, _JOURNEY_KEYS)
        # Only what the fold reads (_merge, write_batch): a third of the row's columns, and
        # none of the wide text ones (landing page, campaign, ...).
        read = select(*(c[name] for name in _FOLD_READS)).where(
            c.id.in_(bindparam("ids", expanding=True)))
        if dialect.name == "postgresql":  # locked, in one order: two writers never deadlock
            read = read.order_by(c.id).with_for_update()
        self.read_journeys = read
        upsert = insert(journey_cart_lines)
        lines = journey_cart_lines.c
        self.upsert_cart = upsert.on_conflict_do_update(
            index_elements=["journey_id", "product_id"],
            set_={"quantity": lines.quantity + upsert.excluded.quantity,
                  "unit_value": case((upsert.excluded.unit_value > 0,
                                      upsert.excluded.unit_value), else_=lines.unit_value)},
        )

    def read(self, conn: Connection, ids: list[str]) -> dict[str, dict]:
        """The fold's columns of these journeys, by id. On SQLite, the SQL for this many
        ids, run by the driver and its datetimes parsed here: SQLAlchemy's cache key for
        the select and its per-column result processing were most of a small batch's read."""
        if not self.one_writer:
            return {row["id"]: row for row in
                    conn.execute(self.read_journeys, {"ids": ids}).mappings()}
        parse, times = datetime.fromisoformat, _FOLD_TIMES
        found = {}
        for values in conn.exec_driver_sql(_read_sql(len(ids)), tuple(ids)):
            row = dict(zip(_FOLD_READS, values, strict=True))
            for name in times:
                if row[name] is not None:
                    row[name] = parse(row[name])
            found[row["id"]] = row
        return found

    @functools.lru_cache(maxsize=8)  # noqa: B019 - two instances, kept for the process
    def recover_earlier(self, by_visitor: bool, by_customer: bool):
        """Carts abandoned by this visitor or customer within the window before a purchase:
        recovered. Built once per kind of owner; each call only binds values."""
        c = journeys.c
        owners = []
        if by_visitor:
            owners.append(c.visitor_id == bindparam("visitor"))
        if by_customer:
            owners.append(c.customer_id == bindparam("customer"))
        return (
            update(journeys)
            .where(
                c.id != bindparam("journey_id"),
                c.status == "abandoned",
                c.abandoned_stage.in_([s.label for s in ABANDONABLE]),
                c.last_seen_at <= bindparam("purchased_at", type_=journeys.c.last_seen_at.type),
                c.last_seen_at >= bindparam("window_start", type_=journeys.c.last_seen_at.type),
                or_(*owners),
            )
            .values(status="recovered",
                    recovered_at=bindparam("recovered", type_=c.recovered_at.type))
        )

    @functools.lru_cache(maxsize=256)  # noqa: B019 - two instances, kept for the process
    def update_journey(self, columns: tuple[str, ...]) -> _Bulk:
        """UPDATE of these columns by id; batches group rows that change the same ones."""
        return _Bulk(update(journeys).where(journeys.c.id == bindparam("j_id"))
                     .values({name: bindparam(f"v_{name}") for name in columns}),
                     self.dialect, None)


_FOLD_READS = ("id", "visitor_id", "customer_id", "order_ref", "stage_rank", "status",
               "started_at", "last_seen_at", "sessions", "events",
               *(f"entered_{s.label}_at" for s in STAGES))
_FOLD_TIMES = tuple(name for name in _FOLD_READS
                    if isinstance(journeys.c[name].type, DateTime))


@functools.lru_cache(maxsize=64)
def _read_sql(count: int) -> str:
    """SQLite: the fold's read of ``count`` journeys (a batch has at most
    JOURNEY_BATCH_SIZE; the cache keeps the 64 latest sizes)."""
    return (f"SELECT {', '.join(_FOLD_READS)} FROM {journeys.name} "
            f"WHERE id IN ({', '.join('?' * count)})")


_COUNT_IN_KEYS = ("at", "tp", "s", "n", "c", "j_id", "r")
_NEW_ROW = dict.fromkeys(_FOLD_READS)  # what a new journey's row holds besides _new_journey
_JOURNEY_KEYS = tuple(journeys.c.keys())
_NO_VALUES = dict.fromkeys(_JOURNEY_KEYS)
_EVENT_KEYS = ("event_id", "journey_id", "visitor_id", "session_id", "customer_id", "order_ref",
               "touchpoint", "stage", "occurred_at", "props", "product_id")


class _Bulk:
    """A statement compiled once for a dialect and run by the driver's executemany, with
    values converted here as SQLAlchemy's bind processors would (datetimes to ISO text on
    SQLite, JSON to text), in a fraction of the Python those take per row and value."""

    def __init__(self, statement, dialect: Dialect, keys):
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self.sql = str(compiled)
        self.names = tuple(compiled.positiontup or ())  # "?" placeholders, in this order
        self.sqlite = dialect.name != "postgresql"

    def rows(self, conn: Connection, rows: list[dict]) -> int:
        """Run for every row; the rows the statement changed."""
        if self.sqlite:
            params = [tuple(_sqlite(row[name]) for name in self.names) for row in rows]
        else:  # psycopg's named %(key)s placeholders; datetimes go as they are
            params = rows
        return conn.exec_driver_sql(self.sql, params).rowcount

    def tuples(self, conn: Connection, params: list[tuple]) -> int:
        """SQLite: rows already in placeholder order, values already converted."""
        return conn.exec_driver_sql(self.sql, params).rowcount

    def order(self, keys: tuple[str, ...]) -> Callable[[tuple], tuple]:
        """SQLite: a function from values in ``keys``' order to a row in the placeholders'
        order (one C call per row; a value a placeholder names twice comes twice)."""
        return operator.itemgetter(*(keys.index(name) for name in self.names))


def _event_tuples(bulk: _Bulk):
    """A function from an event to its SQLite row, in the insert's placeholder order: no
    dict per event, one C call to order the values."""
    order = bulk.order(_EVENT_KEYS)
    dumps = json.dumps

    def row(e: Event) -> tuple:
        return order((e.event_id, e.journey_id, e.visitor_id, e.session_id, e.customer_id,
                      e.order_ref, e.touchpoint, e.stage,
                      e.occurred_at.isoformat(" ", "microseconds"), dumps(e.props),
                      _product_id(e.props)))

    return row


def _sqlite(value):
    # SQLAlchemy's SQLite DateTime stores "YYYY-MM-DD HH:MM:SS.ffffff", which this is.
    return value.isoformat(" ", "microseconds") if value.__class__ is datetime else value


_BY_DIALECT: dict[tuple[str, str], _Statements] = {}


def _statements(conn: Connection) -> _Statements:
    """Compiled for the connection's own dialect and driver (its placeholders and casts),
    once per kind of database in the process."""
    key = (conn.dialect.name, conn.dialect.driver)
    found = _BY_DIALECT.get(key)
    if found is None:
        found = _BY_DIALECT[key] = _Statements(conn.dialect)
    return found


def insert_events(conn: Connection, events: list[Event]) -> set[str]:
    """Insert; return the event ids that were new (a replayed id is skipped)."""
    rows = [_event_row(e) for e in events]
    return set(conn.execute(_statements(conn).insert_new_events, rows)
               .scalars().all())


def _event_row(e: Event, json_text: bool = False) -> dict:
    return {"event_id": e.event_id, "journey_id": e.journey_id, "visitor_id": e.visitor_id,
            "session_id": e.session_id, "customer_id": e.customer_id,
            "order_ref": e.order_ref, "touchpoint": e.touchpoint, "stage": e.stage,
            "occurred_at": e.occurred_at,
            "props": json.dumps(e.props) if json_text else e.props,
            "product_id": _product_id(e.props)}


def _product_id(props: dict) -> str | None:
    found = props.get("product_id")
    return None if found is None else str(found)[:64]


def resolve_journeys(conn: Connection, events: list[Event]) -> None:
    """Events tracked with only an order or a visitor reference (no request, no journey id):
    the journey that holds that order, else the journey a shopper's own purchase was made in
    (Event.fallback_journey_id), else the visitor's latest journey. The batch's own
    events come first: the one that tied the order to its journey (payment_submitted) may
    be written in this very batch, a webhook's purchase right behind it."""
    c = journeys.c
    by_order: dict[str, tuple[str, str | None]] = {}
    by_visitor: dict[str, str] = {}
    for event in sorted(events, key=_occurred_at):
        if event.journey_id is None:
            continue
        if event.order_ref:
            by_order[event.order_ref] = (event.journey_id, event.visitor_id)
        if event.visitor_id:
            by_visitor[event.visitor_id] = event.journey_id
    for event in events:
        if event.journey_id is not None:
            continue
        found = None
        if event.order_ref:
            found = by_order.get(event.order_ref) or conn.execute(
                select(c.id, c.visitor_id).where(c.order_ref == event.order_ref)
                .order_by(c.started_at.desc()).limit(1)
            ).first()
        if found is None and getattr(event, "fallback_journey_id", None):
            found = (event.fallback_journey_id, event.visitor_id)
        if found is None and event.visitor_id:
            found = ((by_visitor[event.visitor_id], event.visitor_id)
                     if event.visitor_id in by_visitor else conn.execute(
                         select(c.id, c.visitor_id).where(c.visitor_id == event.visitor_id)
                         .order_by(c.last_seen_at.desc()).limit(1)).first())
        if found is not None:
            event.journey_id, event.visitor_id = found[0], event.visitor_id or found[1]


def write_batch(conn: Connection, events: list[Event], recovery_window: timedelta, *,
                replayed: bool = False, pause: Callable[[], None] = lambda: None
                ) -> BatchOutcome:
    """Store a batch of events and fold them into their journeys, in a few statements per
    batch (not per event or per journey).

    ``replayed=False`` (fresh events, new ids): a plain bulk insert, which raises
    IntegrityError if an id was stored before; the caller then retries the batch with
    ``replayed=True``, which skips the stored ids (spool replays always do).

    ``pause`` is called between steps: the writer thread uses it to let request threads
    have the GIL, so a batch never holds a page up for a whole switch interval.
    """
    outcome = BatchOutcome()
    candidates = [e for e in events if e.stored]
    if any(e.journey_id is None for e in candidates):
        resolve_journeys(conn, candidates)
    stored = [e for e in candidates if e.journey_id is not None]
    outcome.unresolved = [e for e in candidates if e.journey_id is None]
    if not stored:
        return outcome
    st = _statements(conn)
    if replayed:
        new_ids = insert_events(conn, stored)
        outcome.duplicates = len(stored) - len(new_ids)
        stored = [e for e in stored if e.event_id in new_ids]
        if not stored:
            return outcome
    else:
        if st.event_tuple is not None:
            st.insert_events.tuples(conn, list(map(st.event_tuple, stored)))
        else:
            st.insert_events.rows(conn, [_event_row(e, json_text=True) for e in stored])
    outcome.written = len(stored)
    pause()

    by_journey: dict[str, list[Event]] = {}
    for event in stored:
        by_journey.setdefault(event.journey_id, []).append(event)
    ids = sorted(by_journey)
    cart: dict[tuple[str, str], list[int]] = {}
    for journey_id in ids:
        batch = by_journey[journey_id]
        batch.sort(key=_occurred_at)
        _cart_deltas(journey_id, batch, cart)
    if st.one_writer:
        routine = [j for j in ids if all(e.routine for e in by_journey[j])]
        if routine:
            # Counted in without a read; a journey with no row yet (its first events are in
            # another worker's queue, or were erased) is folded the long way after all.
            ids = sorted(set(ids).difference(routine)
                         | _count_in(conn, st, routine, by_journey))
            pause()
    if ids:
        _fold(conn, st, ids, by_journey, outcome, recovery_window, pause)
    if cart:
        conn.execute(st.upsert_cart, [
            {"journey_id": j, "product_id": p, "quantity": q, "unit_value": v}
            for (j, p), (q, v) in sorted(cart.items())])
    return outcome


def _count_in(conn: Connection, st: _Statements, journey_ids: list[str],
              by_journey: dict[str, list[Event]]) -> set[str]:
    """Routine events added to their journeys' rows in one statement, without reading
    them: counts, sessions, last-seen time and latest touchpoint, merged as _merge merges
    them.
    Returns the journeys whose row it left alone, to be folded the long way: those with no
    row yet, those whose row is behind the stage the events belong to (the event that
    entered it never reached the database) and those already purchased."""
    params: dict[bool, list[tuple]] = {False: [], True: []}
    needed: dict[str, int] = {}
    stage_of = _STAGE.get
    for journey_id in journey_ids:
        batch = by_journey[journey_id]
        last = batch[-1]
        customer = _latest_customer(batch)
        named = customer is not None
        needed[journey_id] = top = int(max(stage_of(e.stage, 0) for e in batch))
        params[named].append(st.count_in_row[named]((
            last.occurred_at.isoformat(" ", "microseconds"), last.touchpoint,
            sum(1 for e in batch if e.new_session), len(batch), customer, journey_id, top)))
    changed = sum(st.count_in[named].tuples(conn, rows) for named, rows in params.items()
                  if rows)
    if changed == len(journey_ids):
        return set()
    counted = {journey_id for journey_id, at_rank in conn.execute(st.ranks, {"ids": journey_ids})
               if needed[journey_id] <= at_rank < Stage.PURCHASE}
    return set(journey_ids) - counted


def _fold(conn: Connection, st: _Statements, ids: list[str],
          by_journey: dict[str, list[Event]], outcome: BatchOutcome,
          recovery_window: timedelta, pause: Callable[[], None]) -> None:
    """These journeys' rows read (locked on PostgreSQL), merged with their events and
    written back: stage entries, recoveries, everything a batch can change."""
    rows = st.read(conn, ids)
    pause()
    missing = [j for j in ids if j not in rows]
    fresh: set[str] = set()
    if missing:  # new journeys (or a batch that overtook its journey's first one)
        new = [_new_journey(j, by_journey[j]) for j in missing]
        if st.one_writer:  # no one else can insert it: merged first, inserted whole below
            rows.update((row["id"], {**_NEW_ROW, **row}) for row in new)
            fresh.update(missing)
        else:  # another writer may have inserted it first (ON CONFLICT DO NOTHING)
            conn.execute(st.insert_journeys, new)
            rows.update((row["id"], row) for row in
                        conn.execute(st.read_journeys, {"ids": missing}).mappings())

    updates: dict[tuple[str, ...], list[dict]] = {}
    inserts: list[dict] = []
    recoveries = []
    for n, journey_id in enumerate(ids, 1):
        if n % 16 == 0:
            pause()
        batch, row = by_journey[journey_id], rows[journey_id]
        visitor = next((e.visitor_id for e in batch if e.visitor_id), None)
        customer = _latest_customer(batch)
        values = _merge(row, batch, outcome, visitor, customer)
        if journey_id in fresh:
            inserts.append({**_NO_VALUES, **row, **values})
        else:
            columns = tuple(sorted(values))
            params = {f"v_{k}": v for k, v in values.items()}
            params["j_id"] = journey_id
            updates.setdefault(columns, []).append(params)
        purchased_at = row["entered_purchase_at"] or values.get("entered_purchase_at")
        # Earlier carts are recovered when the purchase is written, and again only when the
        # journey learns a visitor or customer it did not have (a cart abandoned after this
        # is the sweep's to recover: store.sweep).
        if purchased_at is not None and (values.get("status") or "visitor_id" in values
                                         or "customer_id" in values):
            recoveries.append((journey_id, purchased_at, row["visitor_id"] or visitor,
                               customer or row["customer_id"]))
    pause()
    if inserts:
        st.insert_whole_journeys.rows(conn, inserts)
    for columns, params in updates.items():
        st.update_journey(columns).rows(conn, params)
    for journey_id, purchased_at, visitor, customer in recoveries:
        outcome.recovered += _recover_earlier(conn, st, journey_id, purchased_at, visitor,
                                              customer, recovery_window)


def _latest_customer(events: list[Event]) -> str | None:
    """The customer the batch's latest event names (events in time order): a journey's
    customer is its latest."""
    return next((e.customer_id for e in reversed(events) if e.customer_id), None)


def _occurred_at(event: Event) -> datetime:
    return event.occurred_at


def _new_journey(journey_id: str, events: list[Event]) -> dict:
    first = events[0]
    return {
        "id": journey_id, "visitor_id": next((e.visitor_id for e in events if e.visitor_id),
                                             None),
        "customer_id": first.customer_id, "stage": Stage.LANDING.label, "stage_rank": 0,
        "status": "active",
        "started_at": min((e.journey_started_at or e.occurred_at) for e in events),
        "last_seen_at": first.occurred_at, "last_touchpoint": first.touchpoint,
        "sessions": 0, "events": 0,
    }


def _merge(row, events: list[Event], outcome: BatchOutcome, visitor: str | None,
           customer: str | None) -> dict:
    """One batch's events merged into their journey's row (read locked: FOR UPDATE on
    PostgreSQL; SQLite's write lock is already held). Batches of one journey may arrive in
    any order (several workers, several writers), so every column is merged, never
    overwritten blindly: earliest start, latest last-seen, furthest stage, first non-empty
    visitor (``visitor``: the batch's first; ``customer``: its latest). A stage entry or a
    recovery is counted by exactly one writer: the one whose locked read saw it missing."""
    last = events[-1]
    started = min((e.journey_started_at or e.occurred_at) for e in events)
    order_ref = next((e.order_ref for e in events if e.order_ref), None)
    start = min(row["started_at"], started)
    values: dict = {
        "events": row["events"] + len(events),
        # The first event of a journey and the first of each later session say new_session.
        "sessions": row["sessions"] + sum(1 for e in events if e.new_session),
    }
    if start != row["started_at"]:
        values["started_at"] = start
    if last.occurred_at >= row["last_seen_at"]:
        values["last_seen_at"], values["last_touchpoint"] = last.occurred_at, last.touchpoint
    if visitor and row["visitor_id"] is None:
        values["visitor_id"] = visitor
    if customer and customer != row["customer_id"]:
        values["customer_id"] = customer
    if order_ref and row["order_ref"] is None:
        values["order_ref"] = order_ref

    first_at: dict[Stage, datetime] = {}
    top = None
    for event in events:
        if event.touchpoint == "landing" and event.context:
            values.update({k: v for k, v in event.context.items() if v is not None})
        if event.stage:
            reached = _STAGE[event.stage]
            if top is None or reached > top:
                top = reached
            for stage in _REACHED[reached]:
                if stage not in first_at:
                    first_at[stage] = event.occurred_at
    if top is not None and int(top) > row["stage_rank"]:
        values["stage"], values["stage_rank"] = top.label, int(top)
    # Stage entries: reaching a stage passes every earlier one (a monotone funnel).
    for stage, at in sorted(first_at.items()):
        entered = row[_ENTERED[stage]]
        if entered is None:
            values[_ENTERED[stage]] = at
            outcome.entered.append((stage.label, max((at - start).total_seconds(), 0.0)))
        elif at < entered:  # a later event of the stage came first (another worker's batch)
            values[_ENTERED[stage]] = at  # the entry's time moves back; it is not counted again

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
    return values


def _cart_deltas(journey_id: str, events: list[Event], cart: dict) -> None:
    """Net quantity and latest unit value per (journey, product) from add/remove events."""
    for event in events:
        sign = _CART_SIGN.get(event.touchpoint)
        product = event.props.get("product_id")
        if sign is None or product is None:  # none: spooled before the schema required it
            continue
        line = cart.setdefault((journey_id, str(product)), [0, 0])
        quantity = int(event.props.get("quantity") or 0)
        line[0] += sign * quantity
        if sign > 0 and quantity and event.props.get("value") is not None:
            line[1] = int(event.props["value"]) // quantity


_CART_SIGN = {"add_to_cart": 1, "remove_from_cart": -1}


def _recover_earlier(conn: Connection, st: _Statements, journey_id: str,
                     purchased_at: datetime, visitor: str | None, customer: str | None,
                     recovery_window: timedelta) -> int:
    """Carts this visitor (or customer) abandoned before a purchase within the window are
    recovered, not lost (Matomo counts them abandoned forever)."""
    if not visitor and not customer:
        return 0
    return conn.execute(st.recover_earlier(bool(visitor), bool(customer)), {
        "journey_id": journey_id, "purchased_at": purchased_at,
        "window_start": purchased_at - recovery_window, "recovered": purchased_at,
        "visitor": visitor, "customer": customer,
    }).rowcount


def _shifted(conn: Connection, column, delta: timedelta):
    """``column + delta`` in SQL. SQLite has no date arithmetic: ``+`` there adds a number to
    the leading digits of the date's text (the year), and the comparison with a date is then
    always false. There strftime shifts the date to the second and the stored microseconds
    are put back, so the text compares exactly as the dates do (``delta``: whole seconds,
    as JOURNEY_RECOVERY_WINDOW is)."""
    if conn.dialect.name == "sqlite":
        shift = f"{round(delta.total_seconds()):+d} seconds"
        # whole seconds in (SQLite would round .9995 up into the next second), the fraction
        # put back as it was stored
        return func.strftime("%Y-%m-%d %H:%M:%S", func.substr(column, 1, 19), shift).concat(
            func.substr(column, 20))
    return column + delta


# How far back a sweep looks for abandoned carts that a purchase recovers. The writer
# recovers them when it writes the purchase, but on PostgreSQL a sweep abandoning a cart and
# a writer storing the purchase can each miss the other's uncommitted row; the next sweeps
# (one a minute) see both. An hour also covers a batch delayed in the spool that far.
RECOVERY_LOOKBACK = timedelta(hours=1)


def sweep(conn: Connection, now: datetime, session_timeout: timedelta,
          abandon_after: timedelta, recovery_window: timedelta,
          grace: timedelta) -> tuple[dict[str, int], int]:
    """Abandon idle journeys, once each: ({stage: how many this call abandoned}, recovered).

    A cart abandoned before its visitor's later purchase was written (the sweep ran late),
    or in the last RECOVERY_LOOKBACK, is recovered here: abandoned and recovered, as it
    happened."""
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
    # Carts abandoned now or lately (a purchase may have landed in between): recovered once
    # each, as status == "abandoned" says.
    c = journeys.c
    buyer = journeys.alias("buyer")
    later_purchase = (
        select(buyer.c.id)
        .where(
            buyer.c.id != c.id,
            or_(buyer.c.visitor_id == c.visitor_id,
                and_(c.customer_id.is_not(None), buyer.c.customer_id == c.customer_id)),
            buyer.c.entered_purchase_at >= c.last_seen_at,
            buyer.c.entered_purchase_at <= _shifted(conn, c.last_seen_at,
                                                    recovery_window),
        )
        .exists()
    )
    recovered = conn.execute(
        update(journeys)
        .where(c.status == "abandoned", c.abandoned_at >= now - RECOVERY_LOOKBACK,
               c.abandoned_at <= now,
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


# Rendered as a literal, not a bound value, so PostgreSQL can match the partial index
# ix_journey_events_product_views even in a generic (prepared) plan.
_PRODUCT_VIEW = journey_events.c.touchpoint == literal_column("'product_view'")


def co_viewed(conn: Connection, product_id: str, since: datetime, viewers: int,
              limit: int) -> list[tuple[str, int]]:
    """Products the latest ``viewers`` visitors who viewed this one also viewed since
    ``since``: [(product_id, visitors)], most visitors first.

    A visitor's events are found through their journeys (``journeys.visitor_id``, then
    ``journey_events.journey_id``), both indexed: an index on the events' own visitor_id
    would cost every insert a B-tree page of its own (a fifth of what the writer writes)
    for this one query."""
    e, j = journey_events.c, journeys.c
    recent = (
        select(j.visitor_id)
        .select_from(journey_events.join(journeys, journeys.c.id == e.journey_id))
        .where(_PRODUCT_VIEW, e.product_id == product_id,
               e.occurred_at >= since, j.visitor_id.is_not(None))
        .group_by(j.visitor_id)
        .order_by(func.max(e.occurred_at).desc())
        .limit(viewers)
        .subquery()
    )
    theirs = (select(j.id.label("journey_id"), j.visitor_id)
              .join(recent, recent.c.visitor_id == j.visitor_id).subquery())
    visitors = func.count(func.distinct(theirs.c.visitor_id))
    rows = conn.execute(
        select(e.product_id, visitors)
        .join(theirs, theirs.c.journey_id == e.journey_id)
        .where(_PRODUCT_VIEW, e.product_id != product_id,
               e.product_id.is_not(None), e.occurred_at >= since)
        .group_by(e.product_id)
        .order_by(visitors.desc(), e.product_id)
        .limit(limit)
    )
    return [(str(pid), n) for pid, n in rows]


def abandoned_carts(read: Callable[[Select], Sequence[Row]], since: datetime, until: datetime,
                    *, newest_first: bool = False, batch: int = 500,
                    limit: int | None = None) -> Iterator[Sequence[Row]]:
    """Journeys left at the cart, checkout or payment in [since, until) and still abandoned
    (not recovered by a later purchase), whole rows, ``batch`` at a time in (abandoned_at,
    id) order (``newest_first``: the reverse), at most ``limit``. Read by keyset, not
    offset: one sweep gives many journeys the same abandoned_at, and only a batch is held.
    ``read`` runs a query (the panel's request connection; a job's own, per batch)."""
    c = journeys.c
    where = (c.status == "abandoned", c.abandoned_stage.in_([s.label for s in ABANDONABLE]),
             c.abandoned_at >= since, c.abandoned_at < until)
    key = tuple_(c.abandoned_at, c.id)
    order = (c.abandoned_at.desc(), c.id.desc()) if newest_first else (c.abandoned_at, c.id)
    after, sent = None, 0
    while limit is None or sent < limit:
        size = batch if limit is None else min(batch, limit - sent)
        query = select(journeys).where(*where).order_by(*order).limit(size)
        if after is not None:
            query = query.where(key < after if newest_first else key > after)
        rows = read(query)
        if rows:
            yield rows
        sent += len(rows)
        if len(rows) < size:
            return
        after = (rows[-1].abandoned_at, rows[-1].id)


def is_purchased(conn: Connection, journey_id: str) -> bool:
    status = conn.execute(
        select(journeys.c.status).where(journeys.c.id == journey_id)
    ).scalar_one_or_none()
    return status in ("purchased", "recovered")


def forget(conn: Connection, visitor_id: str) -> tuple[int, int]:
    """Erase a visitor: their journeys, every event filed under them, and any event that
    names them under another journey (a host's ``track(journey_id=..., visitor_id=...)``
    may). The last part reads the events without an index: erasure is rare, and complete."""
    theirs = select(journeys.c.id).where(journeys.c.visitor_id == visitor_id)
    events = conn.execute(
        delete(journey_events).where(
            or_(journey_events.c.journey_id.in_(theirs),
                journey_events.c.visitor_id == visitor_id))
    ).rowcount
    conn.execute(delete(journey_cart_lines).where(journey_cart_lines.c.journey_id.in_(theirs)))
    removed = conn.execute(delete(journeys).where(journeys.c.visitor_id == visitor_id)).rowcount
    return events, removed
