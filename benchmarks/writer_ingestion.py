"""Benchmark the journey writer's ingestion rate, in events/s, into SQLite and PostgreSQL.

Generates realistic ``tracking.events.Event`` objects (default 50,000 events over about
8,000 journeys: landing, product views, category/search/page views, add/remove to cart,
cart view, the three checkout steps, payment_submitted, purchase and order_view, a second
session for some, a customer for some; every prop validated by the touchpoint's schema in
``tracking/touchpoints.py``; ids time-ordered as the tracker makes them, so index pages are
dirtied as in production), ordered by time as they would leave the writer's queue, and then
times, on the same rows and a fresh schema each time (built by the project's migrations, the
tracker's tables in the one database measured):

  tracker     ``store.write_batch`` in batches of --batch (the tracker's 50), each inside
              ``engine.begin()`` on the tracker's own ``_make_engine`` (exactly what
              ``_AppState._write`` does);
  baseline    a raw bulk insert of the same event rows into ``journey_events`` only, also one
              transaction per batch (SQLite: sqlite3 ``executemany``; PostgreSQL: psycopg 3
              ``cursor.copy``), plus the same as one single transaction for reference;
  writer      the real ``EventWriter`` of a ``create_app`` app: enqueue every event, then
              ``flush()`` (the JourneyTracker end to end, without HTTP).

    .venv/bin/python benchmarks/writer_ingestion.py                  # both databases
    .venv/bin/python benchmarks/writer_ingestion.py --only sqlite --events 10000

Prints progress, a table, where the tracker's time goes (statements per batch, insert vs
fold) and one JSON line: {"benchmark": "writer_ingestion", ...}. Everything runs against
127.0.0.1 and /tmp; every loop is bounded by --events and --max-seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter as Tally
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from sqlalchemy import event as sa_event  # noqa: E402
from sqlalchemy import text  # noqa: E402

from benchmarks._pg import check_name, pg_recreate, pg_url  # noqa: E402
from benchmarks._report import log, table  # noqa: E402
from tracking import store  # noqa: E402
from tracking.config import BY_NAME  # noqa: E402
from tracking.events import Event  # noqa: E402
from tracking.extension import _make_engine  # noqa: E402
from tracking.touchpoints import CATALOGUE  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
RECOVERY_WINDOW = timedelta(days=7)  # JOURNEY_RECOVERY_WINDOW default
EVENT_COLUMNS = ("event_id", "journey_id", "visitor_id", "session_id", "customer_id",
                 "order_ref", "touchpoint", "stage", "occurred_at", "props")
TRACKER_TABLES = ("journey_events", "journeys", "journey_cart_lines")

SOURCES = (  # (utm source, medium, campaign, referrer host, weight)
    ("", "", "", "", 30), ("google", "organic", "", "www.google.com", 25),
    ("google", "cpc", "brand-search", "www.google.com", 14),
    ("facebook", "social", "summer-kitchen", "m.facebook.com", 10),
    ("newsletter", "email", "weekly-digest", "", 8), ("bing", "organic", "", "www.bing.com", 5),
    ("instagram", "social", "creator-picks", "l.instagram.com", 8),
)
DEVICES = (("mobile", 50), ("desktop", 42), ("tablet", 8))


# -- events ------------------------------------------------------------------------------------

class Generator:
    """Journeys as the tracker records them (tracking/extension.py ``_record``/``_attach``):
    shopper touchpoints carry journey, visitor and session ids and the journey's start; the
    first event of the journey and of each later session says new_session; the landing
    carries the journey's context columns. payment_submitted, purchase and order_view are
    tracked with an explicit ``journey_id`` (checkout/payments.py, webhooks), so they carry the
    journey and the order but no visitor or session, exactly like the real ones."""

    def __init__(self, rng: Random, now: datetime, products: int = 400):
        self.rng = rng
        self.now = now
        self.products = [(str(i), f"SKU-{i:05d}", rng.randrange(399, 25_000))
                         for i in range(1, products + 1)]
        self.visitors: list[str] = []
        self.last_start: dict[str, datetime] = {}
        self.customers = [str(c) for c in range(1, 2001)]
        self.next_order = 100_000
        self.events: list[Event] = []
        self.journeys = 0
        self.tally: Tally[str] = Tally()

    def _weighted(self, items):
        total = sum(i[-1] for i in items)
        pick = self.rng.uniform(0, total)
        for item in items:
            pick -= item[-1]
            if pick <= 0:
                return item
        return items[-1]

    def timed_id(self, at: datetime) -> str:
        """An id laid out as the tracker makes them (tracking/visitor.py ``new_id``): 48 bits
        of milliseconds, then 80 random bits, so ids of the same minutes sort together."""
        ms = int(at.replace(tzinfo=UTC).timestamp() * 1000)
        return f"{ms:012x}{self.rng.getrandbits(80):020x}"

    def journey(self, started: datetime) -> None:
        rng, r = self.rng, self.rng.random
        self.journeys += 1
        jid = self.timed_id(started)
        previous = None
        if self.visitors and r() < 0.2:  # a returning visitor
            visitor = rng.choice(self.visitors)
            previous = self.last_start[visitor]
        else:
            visitor = self.timed_id(started)
            self.visitors.append(visitor)
        self.last_start[visitor] = started
        session = self.timed_id(started)
        customer = rng.choice(self.customers) if r() < 0.1 else None
        source = self._weighted(SOURCES)
        device = self._weighted(DEVICES)[0]
        at = started
        first = True
        reached = 0  # the furthest stage rank so far, as the shopper's cookie carries it

        def add(tp: str, props: dict, shopper: bool = True, order_ref: str | None = None):
            nonlocal first, reached
            spec = CATALOGUE[tp]
            e = Event(event_id=self.timed_id(at), touchpoint=tp,
                      stage=spec.stage.label if spec.stage else None, occurred_at=at,
                      props=spec.validate(props), journey_id=jid, order_ref=order_ref,
                      stored=True)
            if shopper:
                e.visitor_id, e.session_id, e.customer_id = visitor, session, customer
                e.journey_started_at = started
                # as the request path marks it (Event.routine; one customer per journey)
                e.routine = not first and order_ref is None and spec.routine_after(reached)
                reached = max(reached, spec.rank)
                e.new_session, first = first, False
            self.events.append(e)
            self.tally[tp] += 1
            return e

        def wait(low: float, high: float) -> None:
            nonlocal at
            at += timedelta(seconds=rng.uniform(low, high))

        product = rng.choice(self.products) if r() < 0.45 else None
        path = f"/p/product-{product[0]}" if product else rng.choice(("/", "/", "/search",
                                                                      "/c/kitchen"))
        landing = add("landing", {"path": path, "source": source[0], "medium": source[1],
                                  "campaign": source[2], "referrer": source[3],
                                  "device": device})
        landing.context = {"source": source[0] or None, "medium": source[1] or None,
                           "campaign": source[2] or None, "referrer_host": source[3] or None,
                           "device": device, "landing_page": path,
                           "ip_net": f"{rng.randrange(1, 224)}.{rng.randrange(256)}."
                                     f"{rng.randrange(256)}.0/24"}
        if previous is not None:  # tracking/extension.py _attach: the visitor's last journey
            landing.context["previous_started_at"] = previous
        if r() > 0.82:
            return  # a bounce
        viewed = []
        for _ in range(rng.choice((1, 2, 3, 3, 3, 4, 5))):
            wait(5, 90)
            if r() < 0.15:
                add("category_view", {"category": rng.choice(("kitchen", "audio", "coffee-tea",
                                                              "fitness"))})
                wait(3, 40)
            if r() < 0.1:
                add("search", {"query": rng.choice(("kettle", "headphones", "mat")),
                               "results": rng.randrange(0, 40)})
                wait(3, 30)
            product = rng.choice(self.products)
            viewed.append(product)
            add("product_view", {"product_id": product[0], "sku": product[1],
                                 "price": product[2], "currency": "USD"})
            if r() < 0.25:
                wait(5, 60)
                add("page_view", {"endpoint": rng.choice(("shop.landing", "account.login"))})
        if r() < 0.08:  # came back later: a second session of the same journey
            wait(1900, 5000)
            session = self.timed_id(at)
            first = True
            product = rng.choice(viewed)
            add("product_view", {"product_id": product[0], "sku": product[1],
                                 "price": product[2], "currency": "USD"})
        if r() > 0.42:
            return  # browsed, left
        cart = {}
        for product in rng.sample(viewed, k=min(len(viewed), rng.choice((1, 1, 1, 2)))):
            wait(5, 60)
            quantity = rng.choice((1, 1, 1, 2))
            cart[product[0]] = quantity * product[2]
            add("add_to_cart", {"product_id": product[0], "quantity": quantity,
                                "value": quantity * product[2], "currency": "USD"})
        if len(cart) > 1 and r() < 0.2:
            wait(5, 60)
            removed = next(iter(cart))
            add("remove_from_cart", {"product_id": removed, "quantity": 1})
            cart.pop(removed)
        wait(3, 30)
        value = sum(cart.values())
        add("cart_view", {"items": len(cart), "value": value, "currency": "USD"})
        if r() > 0.55:
            return  # abandoned cart
        wait(5, 60)
        add("checkout_start", {"value": value, "currency": "USD"})
        wait(20, 120)
        add("checkout_address", {"country": rng.choice(("US", "US", "CA", "GB"))})
        wait(10, 60)
        add("checkout_shipping", {"method": "standard", "cost": 599})
        if r() > 0.75:
            return  # abandoned checkout
        self.next_order += 1
        order = str(self.next_order)
        wait(20, 120)
        add("payment_submitted", {"order_ref": order, "value": value + 599, "currency": "USD"},
            shopper=False, order_ref=order)
        if r() > 0.85:
            return  # payment failed or abandoned
        wait(2, 20)
        add("purchase", {"order_ref": order, "value": value + 599, "currency": "USD",
                         "items": len(cart)}, shopper=False, order_ref=order)
        if r() < 0.8:
            wait(1, 10)
            add("order_view", {"order_ref": order}, shopper=False, order_ref=order)


def generate_events(n: int, seed: int, now: datetime | None = None
                    ) -> tuple[list[Event], int, Tally]:
    rng = Random(seed)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    gen = Generator(rng, now)
    # Journeys start over a 3-hour window ending 2 hours ago (so all events are in the past).
    window = 3 * 3600
    while len(gen.events) < n:
        gen.journey(now - timedelta(hours=2) - timedelta(seconds=rng.uniform(0, window)))
    events = sorted(gen.events, key=lambda e: e.occurred_at)  # as they leave the queue
    return events, gen.journeys, gen.tally


def batches(events: list[Event], size: int):
    for i in range(0, len(events), size):
        yield events[i:i + size]


# -- databases ---------------------------------------------------------------------------------

def migrate(url: str) -> None:
    """The schema, exactly as the project builds it."""
    from flask_migrate import upgrade

    from storefront.app import create_app
    from storefront.extensions import db

    # The tracker's tables in this same database (on SQLite the store would otherwise give
    # them a file of their own beside it): each measurement writes one database.
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url,
                      "JOURNEY_DATABASE_URL": url, "JOURNEY_SWEEP_INTERVAL": 0})
    with app.app_context():
        upgrade()
        db.engine.dispose()


class Target:
    """One database: a fresh, empty tracker schema before every measurement."""

    def __init__(self, kind: str, args, workdir: Path):
        self.kind = kind
        self.args = args
        if kind == "sqlite":
            self.template = workdir / "template.db"
            self.path = workdir / "run.db"
            self.url = f"sqlite:///{self.path}"
            migrate(f"sqlite:///{self.template}")
        else:
            check_name(args.db_name)
            pg_recreate(args.admin_url, args.db_name)
            self.url = pg_url(args.admin_url, args.db_name, "postgresql+psycopg")
            self.raw_url = pg_url(args.admin_url, args.db_name)
            migrate(self.url)

    def fresh(self) -> None:
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            shutil.copyfile(self.template, self.path)
        else:
            with psycopg.connect(self.raw_url, autocommit=True) as conn:
                conn.execute("TRUNCATE journey_events, journeys, journey_cart_lines "
                             "RESTART IDENTITY")
                conn.execute("VACUUM ANALYZE journey_events, journeys, journey_cart_lines")

    def counts(self, engine) -> dict[str, int]:
        with engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in TRACKER_TABLES}

    def close(self) -> None:
        if self.kind == "postgresql" and not self.args.keep:
            pg_recreate(self.args.admin_url, self.args.db_name, drop_only=True)


# -- measurements ------------------------------------------------------------------------------

class Progress:
    def __init__(self, label: str, total: int):
        self.label, self.total = label, total
        self.started = time.perf_counter()
        self.next_at = self.started + 5.0

    def __call__(self, done: int, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now >= self.next_at:
            self.next_at = now + 5.0
            elapsed = now - self.started
            log(f"    {self.label}: {done:>7,}/{self.total:,} events  {elapsed:6.1f}s  "
                f"{done / elapsed if elapsed else 0:8,.0f} ev/s")


def run_tracker(target: Target, events: list[Event], args) -> dict:
    """store.write_batch per batch inside engine.begin(): _AppState._write without metrics."""
    target.fresh()
    engine = _make_engine(target.url)
    statements = Tally()

    # Time the events' INSERT apart from the fold into journeys (the SQL statements only).
    insert_seconds = 0.0

    @sa_event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        statements[statement.split(None, 1)[0].upper()] += 1
        conn.info["bench_t"] = time.perf_counter()

    @sa_event.listens_for(engine, "after_cursor_execute")
    def _time(conn, cursor, statement, parameters, context, executemany):
        nonlocal insert_seconds
        if statement.startswith("INSERT INTO journey_events"):
            insert_seconds += time.perf_counter() - conn.info.pop("bench_t")

    with engine.connect() as conn:  # open the pool's connection outside the timing
        conn.execute(text("SELECT 1"))
    progress = Progress(f"{target.kind} tracker", len(events))
    written = done = 0
    entered = 0
    per_batch = []
    deadline = time.perf_counter() + args.max_seconds
    try:
        started = time.perf_counter()
        for batch in batches(events, args.batch):
            t = time.perf_counter()
            with engine.begin() as conn:
                outcome = store.write_batch(conn, batch, RECOVERY_WINDOW)
            per_batch.append(time.perf_counter() - t)
            written += outcome.written
            entered += len(outcome.entered)
            done += len(batch)
            progress(done)
            if time.perf_counter() > deadline:
                log(f"    stopped at --max-seconds {args.max_seconds}: partial result")
                break
        elapsed = time.perf_counter() - started
    finally:
        progress(done, force=True)
    counts = target.counts(engine)
    engine.dispose()
    per_batch.sort()
    return {"events": done, "seconds": elapsed, "rate": done / elapsed, "written": written,
            "stage_entries": entered, "insert_seconds": insert_seconds,
            "fold_seconds": elapsed - insert_seconds,
            "statements": dict(statements), "statements_per_batch":
                sum(statements.values()) / max(len(per_batch), 1),
            "batch_p50_ms": 1000 * per_batch[len(per_batch) // 2],
            "batch_max_ms": 1000 * per_batch[-1], "rows": counts,
            "partial": done < len(events)}


def _sqlite_row(e: Event) -> tuple:
    return (e.event_id, e.journey_id, e.visitor_id, e.session_id, e.customer_id, e.order_ref,
            e.touchpoint, e.stage, e.occurred_at.isoformat(" ", "microseconds"),
            json.dumps(e.props))


def _pg_row(e: Event) -> tuple:
    return (e.event_id, e.journey_id, e.visitor_id, e.session_id, e.customer_id, e.order_ref,
            e.touchpoint, e.stage, e.occurred_at, json.dumps(e.props))


def run_baseline(target: Target, events: list[Event], args, one_transaction: bool) -> dict:
    """The same rows into journey_events only, as fast as the driver goes (row conversion,
    JSON encoding and commits included in the time)."""
    target.fresh()
    label = f"{target.kind} baseline" + (" (1 txn)" if one_transaction else "")
    chunks = [events] if one_transaction else list(batches(events, args.batch))
    progress = Progress(label, len(events))
    done = 0
    if target.kind == "sqlite":
        engine = _make_engine(target.url)  # the tracker's pragmas (WAL, synchronous=NORMAL)
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            stmt = (f"INSERT INTO journey_events ({', '.join(EVENT_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})")
            started = time.perf_counter()
            for chunk in chunks:
                cur.executemany(stmt, [_sqlite_row(e) for e in chunk])
                raw.commit()
                done += len(chunk)
                progress(done)
            elapsed = time.perf_counter() - started
        finally:
            raw.close()
        counts = target.counts(engine)
        engine.dispose()
    else:
        copy_sql = sql.SQL("COPY journey_events ({}) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, EVENT_COLUMNS)))
        with psycopg.connect(target.raw_url) as conn:
            started = time.perf_counter()
            for chunk in chunks:
                with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                    for e in chunk:
                        copy.write_row(_pg_row(e))
                conn.commit()
                done += len(chunk)
                progress(done)
            elapsed = time.perf_counter() - started
        engine = _make_engine(target.url)
        counts = target.counts(engine)
        engine.dispose()
    progress(done, force=True)
    return {"events": done, "seconds": elapsed, "rate": done / elapsed, "rows": counts}


def make_app(target: Target, args, spool_dir: Path, queue_size: int):
    from storefront.app import create_app

    return create_app({
        "TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": target.url,
        "JOURNEY_DATABASE_URL": target.url,  # the one database migrate() built
        "JOURNEY_SWEEP_INTERVAL": 0, "JOURNEY_BATCH_SIZE": args.batch,
        "JOURNEY_QUEUE_SIZE": queue_size,
        "JOURNEY_SPOOL_DIR": str(spool_dir),  # not instance/journey-spool
    })


def run_writer(target: Target, events: list[Event], args, workdir: Path) -> dict:
    """The real EventWriter of a create_app app: enqueue all, then flush()."""
    from storefront.extensions import db

    target.fresh()
    # The default queue (10,000) would send most of an instant burst of 50,000 to the
    # spool: big enough for the whole burst, so the rate is the writer's (the spool path is
    # measured by run_spool).
    app = make_app(target, args, workdir / f"spool-{target.kind}-writer", len(events) + 1)
    state = app.extensions["journey"]
    with state.engine.connect() as conn:  # open the pool's connection outside the timing
        conn.execute(text("SELECT 1"))
    writer = state.writer
    progress = Progress(f"{target.kind} EventWriter", len(events))
    started = time.perf_counter()
    for e in events:
        writer.enqueue(e)
    enqueued = time.perf_counter() - started
    log(f"    enqueued {len(events):,} in {enqueued:.2f}s; depth now {writer.depth:,}; "
        "flushing")
    finished = threading.Event()

    def watch() -> None:  # progress while flush() blocks; ends with it
        while not finished.wait(5.0):
            progress(len(events) - writer.depth, force=True)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        writer.flush(timeout=3 * args.max_seconds)
    finally:
        elapsed = time.perf_counter() - started
        finished.set()
        watcher.join()
    left = writer.depth
    written = state.metrics.written._value.get()
    dropped = {reason: state.metrics.dropped.labels(reason)._value.get()
               for reason in ("invalid", "queue_full", "error", "no_journey", "spool_full")}
    spooled = int(state.metrics.spooled._value.get())
    progress(int(written), force=True)
    writer.stop(timeout=5)
    counts = target.counts(state.engine)
    state.engine.dispose()
    with app.app_context():
        db.engine.dispose()
    return {"events": len(events), "seconds": elapsed, "rate": written / elapsed,
            "enqueue_seconds": enqueued, "written": int(written), "left_in_queue": left,
            "dropped": {k: int(v) for k, v in dropped.items() if v}, "spooled": spooled,
            "rows": counts, "partial": left > 0}


def run_spool(target: Target, events: list[Event], args, workdir: Path) -> dict:
    """A burst bigger than the queue: what enqueue() costs the request thread once the queue
    is full. Such an event goes to a bounded overflow (no disk on the request thread), which
    the writer thread appends to the durable spool (tracking/spool.py) in batches, one fsync
    each; an event the overflow cannot take either is dropped and counted. After flush()
    every event of the burst is stored or counted dropped."""
    from storefront.extensions import db

    target.fresh()
    queue_size = args.spool_queue
    burst = events[:queue_size + args.spool_events]  # the writer takes a batch out at once
    spool_dir = workdir / f"spool-{target.kind}-full"
    app = make_app(target, args, spool_dir, queue_size)
    state = app.extensions["journey"]
    with state.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    writer = state.writer
    fast, slow = [], []
    deadline = time.perf_counter() + args.max_seconds
    for e in burst:
        full = writer.depth >= queue_size
        t = time.perf_counter()
        writer.enqueue(e)
        (slow if full else fast).append(time.perf_counter() - t)
        if time.perf_counter() > deadline:
            log(f"    stopped at --max-seconds {args.max_seconds}")
            break
    log(f"    {len(fast) + len(slow):,} enqueued into a queue of {queue_size:,}, "
        f"{len(slow):,} of them while it was full; flushing (spools the overflow, replays "
        "the spool)")
    t = time.perf_counter()
    writer.flush(timeout=2 * args.max_seconds)
    flushed = time.perf_counter() - t
    writer.stop(timeout=5)
    spooled = int(state.metrics.spooled._value.get())
    dropped = int(sum(s.value for metric in state.metrics.dropped.collect()
                      for s in metric.samples if s.name.endswith("_total")))
    counts = target.counts(state.engine)
    state.engine.dispose()
    with app.app_context():
        db.engine.dispose()

    def pct(xs, q):
        xs = sorted(xs)
        return 1e6 * xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else 0.0

    return {"queue_size": queue_size, "burst": len(fast) + len(slow), "spooled": spooled,
            "queued_p50_us": pct(fast, 0.5), "queued_p99_us": pct(fast, 0.99),
            "spooled_p50_us": pct(slow, 0.5), "spooled_p99_us": pct(slow, 0.99),
            "spooled_max_us": pct(slow, 1.0), "spooled_total_s": sum(slow),
            "flush_s": flushed, "rows": counts, "dropped": dropped,
            "all_accounted": counts["journey_events"] + dropped == len(fast) + len(slow)}


def bench_target(kind: str, events: list[Event], journeys: int, args, workdir: Path) -> dict:
    log(f"\n== {kind}: building the schema (migrations)")
    target = Target(kind, args, workdir)
    try:
        log(f"== {kind}: tracker write_batch, batches of {args.batch}")
        tracker = run_tracker(target, events, args)
        log(f"== {kind}: baseline, raw insert into journey_events only")
        baseline = run_baseline(target, events, args, one_transaction=False)
        baseline_one = run_baseline(target, events, args, one_transaction=True)
        log(f"== {kind}: EventWriter enqueue all + flush()")
        # The same events the tracker measurement got through (all, unless it hit the cap).
        writer = run_writer(target, events[:tracker["events"]], args, workdir)
        spool = None
        if args.spool_events and kind == args.spool_on:
            log(f"== {kind}: enqueue with the queue full (overflow, then the durable spool)")
            spool = run_spool(target, events, args, workdir)
    finally:
        target.close()
    expected_ok = (tracker["rows"]["journey_events"] == tracker["events"]
                   and writer["rows"]["journey_events"] == writer["written"] == writer["events"]
                   and writer["rows"]["journeys"] == tracker["rows"]["journeys"]
                   and (tracker["partial"] or tracker["rows"]["journeys"] == journeys))
    if not expected_ok:
        log(f"!! {kind}: row counts do not match: tracker {tracker['rows']}, "
            f"writer {writer['rows']}, expected {len(events)} events / {journeys} journeys")
    return {"tracker": tracker, "baseline": baseline, "baseline_one_txn": baseline_one,
            "writer": writer, "spool": spool, "ratio": baseline["rate"] / tracker["rate"],
            "ratio_one_txn": baseline_one["rate"] / tracker["rate"], "rows_ok": expected_ok}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=BY_NAME["JOURNEY_BATCH_SIZE"].default,
                        help="JOURNEY_BATCH_SIZE (default: the tracker's, the most a worker "
                             "writes per batch)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--max-seconds", type=float, default=75.0,
                        help="stop the tracker measurement after this long; the rate is then "
                             "over the events written so far (the table says how many), and "
                             "the EventWriter run gets that same prefix")
    parser.add_argument("--spool-queue", type=int, default=1000,
                        help="queue size for the queue-full (spool) measurement")
    parser.add_argument("--spool-events", type=int, default=2000,
                        help="events enqueued past the full queue (0: skip the measurement)")
    parser.add_argument("--spool-on", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--db-name", default="touchpoint_bench_writer")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args(argv)
    if not 0 < args.events <= 1_000_000:
        parser.error("--events must be between 1 and 1,000,000")

    log(f"generating {args.events:,} events ...")
    t = time.perf_counter()
    events, journeys, tally = generate_events(args.events, args.seed)
    log(f"  {len(events):,} events over {journeys:,} journeys in {time.perf_counter() - t:.1f}s;"
        f" {len(events) / journeys:.2f} events/journey")
    log("  " + ", ".join(f"{k} {v:,}" for k, v in tally.most_common()))
    per_batch_journeys = [len({e.journey_id for e in b}) for b in batches(events, args.batch)]
    log(f"  distinct journeys per batch of {args.batch}: "
        f"{sum(per_batch_journeys) / len(per_batch_journeys):.0f} on average")

    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    load_start = os.getloadavg()
    results = {}
    workdir = Path(tempfile.mkdtemp(prefix="touchpoint_bench_writer_", dir="/tmp"))
    try:
        for kind in kinds:
            results[kind] = bench_target(kind, events, journeys, args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    load_end = os.getloadavg()
    jpb = sum(per_batch_journeys) / len(per_batch_journeys)
    log("")
    log(f"Writer ingestion: {len(events):,} events over {journeys:,} journeys, batches of "
        f"{args.batch} (~{jpb:.0f} journeys per batch); load average "
        f"{load_start[0]:.1f} -> {load_end[0]:.1f} on {os.cpu_count()} CPUs")
    rows = []
    for kind, r in results.items():
        tr, w = r["tracker"], r["writer"]
        rows.append((kind, f"{tr['events']:,}" + (" (capped)" if tr["partial"] else ""),
                     f"{tr['rate']:,.0f}", f"{r['baseline']['rate']:,.0f}", f"{r['ratio']:,.0f}x",
                     f"{r['baseline_one_txn']['rate']:,.0f}",
                     f"{w['rate']:,.0f}" + (" (partial)" if w["partial"] else "")))
    table(("database", "events timed", "tracker write_batch ev/s",
           f"baseline ev/s ({args.batch}/txn)",
           "baseline / tracker", "baseline ev/s (1 txn)", "EventWriter ev/s"), rows)
    log("")
    log("Where the tracker's time goes (write_batch run):")
    rows = []
    for kind, r in results.items():
        tr = r["tracker"]
        rows.append((kind, f"{tr['seconds']:.1f}", f"{tr['insert_seconds']:.1f}",
                     f"{tr['fold_seconds']:.1f} ({100 * tr['fold_seconds'] / tr['seconds']:.0f}%)",
                     f"{tr['statements_per_batch']:,.0f}",
                     f"{tr['statements_per_batch'] / args.batch:.1f}",
                     f"{tr['batch_p50_ms']:,.0f}", f"{tr['batch_max_ms']:,.0f}"))
    table(("database", "total s", "INSERT events s", "fold s", "SQL statements / batch",
           "per event", "batch p50 ms", "batch max ms"), rows)
    for kind, r in results.items():
        stm = r["tracker"]["statements"]
        log(f"  {kind} statements: " + ", ".join(f"{k} {v:,}" for k, v in
                                                   sorted(stm.items(), key=lambda kv: -kv[1])))
        w = r["writer"]
        log(f"  {kind} EventWriter: enqueue {w['enqueue_seconds']:.2f}s, written {w['written']:,}"
            f", spooled {w['spooled']}, dropped {w['dropped'] or 0}, left in queue "
            f"{w['left_in_queue']}")
    spools = [(kind, r["spool"]) for kind, r in results.items() if r["spool"]]
    for kind, sp in spools:
        log("")
        log(f"enqueue() on the request thread, {kind}, queue of {sp['queue_size']:,}, burst of "
            f"{sp['burst']:,} ({sp['spooled']:,} went to the spool, {sp['dropped']:,} dropped "
            "and counted):")
        table(("enqueue", "p50 us", "p99 us", "max us", "total s"), [
            ("into the queue", f"{sp['queued_p50_us']:,.1f}", f"{sp['queued_p99_us']:,.1f}",
             "", ""),
            ("queue full: to the overflow (spooled by the writer thread)",
             f"{sp['spooled_p50_us']:,.1f}", f"{sp['spooled_p99_us']:,.1f}",
             f"{sp['spooled_max_us']:,.1f}", f"{sp['spooled_total_s']:.2f}"),
        ])
        log(f"  flush() afterwards (writes the queue, replays the spool): {sp['flush_s']:.1f}s;"
            f" {sp['rows']['journey_events']:,} stored + {sp['dropped']:,} dropped = the "
            f"burst: {sp['all_accounted']}")
    summary = {
        "benchmark": "writer_ingestion", "events": len(events), "journeys": journeys,
        "batch": args.batch, "journeys_per_batch": round(jpb),
        "loadavg": [round(load_start[0], 2), round(load_end[0], 2)],
        **{f"{kind}_{key}": value for kind, r in results.items() for key, value in (
            ("events_timed", r["tracker"]["events"]),
            ("tracker_eps", round(r["tracker"]["rate"])),
            ("baseline_eps", round(r["baseline"]["rate"])),
            ("baseline_one_txn_eps", round(r["baseline_one_txn"]["rate"])),
            ("ratio", round(r["ratio"], 1)),
            ("writer_eps", round(r["writer"]["rate"])),
            ("statements_per_batch", round(r["tracker"]["statements_per_batch"])),
            ("fold_share", round(r["tracker"]["fold_seconds"] / r["tracker"]["seconds"], 3)),
            ("rows_ok", r["rows_ok"]),
            ("spooled_enqueue_p50_us", round(r["spool"]["spooled_p50_us"]) if r["spool"]
             else None),
            ("spooled_enqueue_p99_us", round(r["spool"]["spooled_p99_us"]) if r["spool"]
             else None),
            ("partial", r["tracker"]["partial"] or r["writer"]["partial"]),
        )},
    }
    log(json.dumps(summary))
    return 0 if all(r["rows_ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
