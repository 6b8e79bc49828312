"""Benchmark the admin panel's endpoints, and its CSV export, on a big journeys table.

Creates a fresh PostgreSQL database, builds the schema with the project's migrations, seeds
the demo catalog, bulk-loads N synthetic journeys (spread over the last 90 days, with the
proportions of ../shared/JOURNEY_FACTS.md) with COPY, then signs in as an admin through the
Flask test client and times every GET endpoint listed in ``admin/views.py``'s docstring, for a
7-day and a 30-day period where the endpoint takes one. It also times the "naive" funnel that
counts distinct journeys per stage from ``journey_events``: the scan the panel avoids.

    .venv/bin/python benchmarks/admin_endpoints.py --journeys 100000
    .venv/bin/python benchmarks/admin_endpoints.py --journeys 1000000 --explain --keep
    .venv/bin/python benchmarks/admin_endpoints.py --reuse \
        --extra-sql benchmarks/proposed_indexes.sql
    .venv/bin/python benchmarks/admin_endpoints.py --journeys 100000 --events-fraction 1

Prints a table, the slowest SQL statements of endpoints over the target (with ``--explain``
their EXPLAIN ANALYZE), and one JSON line: {"benchmark": "admin_endpoints", ...}.
Everything runs against 127.0.0.1; every loop is bounded by --journeys / --repeat.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PROTECTED = {"postgres", "template0", "template1", "test", "tp_dev"}
ADMIN_EMAIL, ADMIN_PASSWORD = "bench-admin@example.com", "bench-password-123"
SESSION_TIMEOUT = 1800  # JOURNEY_SESSION_TIMEOUT / JOURNEY_ABANDON_AFTER defaults
SWEEP_GRACE = 60  # tracking.store.ABANDON_GRACE

STAGES = ("landing", "browse", "cart", "checkout", "payment", "purchase", "shipped",
          "delivered", "reviewed")

# (source, medium, campaign, referrer_host, share %, cart propensity) — as
# tracking.visitor.traffic_source records them: utm_* first, else the referrer, else direct.
SOURCES = (
    ("direct", "none", None, None, 28, 1.1),
    ("www.google.com", "referral", None, "www.google.com", 20, 1.0),
    ("google", "cpc", "brand-search", "www.google.com", 14, 1.2),
    ("facebook", "social", "summer-kitchen", "m.facebook.com", 10, 0.6),
    ("instagram", "social", "creator-picks", "l.instagram.com", 8, 0.5),
    ("newsletter", "email", "weekly-digest", None, 7, 1.8),
    ("www.bing.com", "referral", None, "www.bing.com", 5, 0.9),
)
DEVICES = (("mobile", 50, 0.75), ("desktop", 42, 1.3), ("tablet", 8, 1.0))  # about half mobile

# Funnel, conditional on the previous step. Landing -> purchase is ~2.5%; ~9.5% of journeys
# reach the cart and ~73% of those carts are abandoned (JOURNEY_FACTS: ~70%, "over 75%").
P_BROWSE = 0.58
P_CART = 0.16  # times the source and device propensities (both average ~1.0)
P_CHECKOUT = 0.50
P_PAYMENT = 0.68
P_PURCHASE = 0.80
P_RECOVERED_LATER = 0.05  # an abandoned cart whose visitor bought in a later journey
P_RETURNED_TO_BUY = 0.10  # a purchase made after the journey had been swept as abandoned
P_REVIEW = 0.15

LAST_TOUCHPOINT = {
    "landing": ("landing",),
    "browse": ("product_view", "product_view", "search", "category_view", "page_view"),
    "cart": ("cart_view", "add_to_cart", "add_to_cart", "remove_from_cart"),
    "checkout": ("checkout_start", "checkout_address", "checkout_shipping"),
    "payment": ("payment_submitted", "payment_failed", "payment_requires_action"),
    "purchase": ("purchase",),
    "shipped": ("shipped", "out_for_delivery"),
    "delivered": ("delivered",),
    "reviewed": ("review_submitted",),
}

JOURNEY_COLUMNS = (
    "id", "visitor_id", "customer_id", "order_ref", "stage", "stage_rank", "status",
    "started_at", "last_seen_at", "last_touchpoint",
    *(f"entered_{s}_at" for s in STAGES),
    "abandoned_at", "abandoned_stage", "recovered_at", "source", "medium", "campaign",
    "referrer_host", "device", "landing_page", "ip_net", "value", "currency", "sessions",
    "events",
)
EVENT_COLUMNS = ("event_id", "journey_id", "visitor_id", "session_id", "customer_id",
                 "order_ref", "touchpoint", "stage", "occurred_at", "props")
LINE_COLUMNS = ("journey_id", "product_id", "quantity", "unit_value")

NAIVE_FUNNEL = """
SELECT stage, count(DISTINCT journey_id) AS journeys
FROM journey_events
WHERE occurred_at >= %(start)s AND occurred_at < %(end)s AND stage IS NOT NULL
GROUP BY stage
"""


def log(message: str) -> None:
    print(message, flush=True)


def cumulative(weights) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return [c / total for c in out]


def pick(rng_random, cum: list[float], items):
    return items[min(bisect.bisect_right(cum, rng_random()), len(items) - 1)]


# -- database ----------------------------------------------------------------------------------

def bench_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + name


def check_name(name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name) or name in PROTECTED \
            or "bench" not in name:
        sys.exit(f"refusing database name {name!r}: use a name containing 'bench'")


def create_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def make_app(url: str):
    from storefront.app import create_app

    return create_app({
        "SQLALCHEMY_DATABASE_URI": url,
        "JOURNEY_DATABASE_URL": url,
        "SECRET_KEY": "bench",
        "TESTING": True,
        "JOURNEY_SWEEP_INTERVAL": 0,
    })


def build_schema_and_seed(app, orders: int) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        result = app.test_cli_runner().invoke(args=["seed", "--orders", str(orders)])
        if result.exit_code != 0:
            raise SystemExit(f"seed failed: {result.output}\n{result.exception!r}")
        log("  " + result.output.strip())


# -- data generation ---------------------------------------------------------------------------

class Generator:
    """Synthetic journeys with the writer's semantics (tracking/store.py): a monotone funnel,
    stage = furthest reached, idle journeys swept to abandoned at their stage, purchases,
    recoveries, and the post-purchase stages of the order."""

    def __init__(self, rng: Random, now: datetime, n: int, days: int, products, customers,
                 events_fraction: float):
        self.rng, self.now, self.n, self.span = rng, now, n, days * 86400.0
        self.events_fraction = events_fraction
        self.products = products  # [(id, price, slug, sku)]
        self.product_cum = cumulative(p[4] for p in products)
        self.source_cum = cumulative(s[4] for s in SOURCES)
        self.device_cum = cumulative(d[1] for d in DEVICES)
        self.visitors = [f"{rng.getrandbits(128):032x}" for _ in range(max(1, int(n / 1.35)))]
        synthetic = [str(1_000_000 + k) for k in range(max(1000, n // 40))]
        self.seeded_customers, self.synthetic_customers = customers, synthetic
        self.networks = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24"
                         for _ in range(5000)]
        slugs = [p[2] for p in products]
        self.landing_pages = ["/"] * 8 + [f"/p/{s}" for s in slugs[:14]] + ["/search"] * 2 \
            + [f"/c/{c}" for c in ("kitchen", "coffee-tea", "audio", "fitness")]
        self.next_order = 500_000
        self.lines: list[tuple] = []
        self.events: list[tuple] = []
        self.counts: dict[str, int] = defaultdict(int)

    def customer(self) -> str:
        rng = self.rng
        if self.seeded_customers and rng.random() < 0.05:
            return rng.choice(self.seeded_customers)
        return rng.choice(self.synthetic_customers)

    def journey(self, age: float) -> tuple:
        """One journey that started ``age`` (0..1 of the span) ago."""
        rng = self.rng
        r = rng.random
        now = self.now
        jid = f"{rng.getrandbits(128):032x}"
        visitor = self.visitors[rng.randrange(len(self.visitors))]
        source = pick(r, self.source_cum, SOURCES)
        device = pick(r, self.device_cum, DEVICES)
        started = now - timedelta(seconds=age * self.span)

        # Furthest stage planned, then clipped to what has happened by now.
        top = 1
        if r() < P_BROWSE:
            top = 2
            if r() < P_CART * source[5] * device[2]:
                top = 3
                if r() < P_CHECKOUT:
                    top = 4
                    if r() < P_PAYMENT:
                        top = 5
                        if r() < P_PURCHASE:
                            top = 6
        returned_to_buy = top == 6 and r() < P_RETURNED_TO_BUY
        entered: list[datetime] = [started]
        at = started
        if top >= 2:
            at += timedelta(seconds=rng.uniform(3, 120))
            entered.append(at)
        if top >= 3:
            at += timedelta(seconds=min(rng.expovariate(1 / 300), 3600))
            entered.append(at)
        if top >= 4:
            at += timedelta(seconds=rng.uniform(20, 600))
            entered.append(at)
        if top >= 5:
            at += timedelta(seconds=rng.uniform(30, 400))
            entered.append(at)
        swept_at = None  # a purchase after the journey was swept (came back from a reminder)
        if top >= 6:
            if returned_to_buy:
                swept_at = at + timedelta(seconds=SESSION_TIMEOUT + SWEEP_GRACE
                                          + rng.uniform(0, 60))
                at = swept_at + timedelta(seconds=rng.uniform(600, 6 * 86400))
            else:
                at += timedelta(seconds=rng.uniform(3, 60))
            entered.append(at)
            at += timedelta(hours=rng.uniform(6, 48))  # shipped
            entered.append(at)
            at += timedelta(days=rng.uniform(1, 4))  # delivered
            entered.append(at)
            if r() < P_REVIEW:
                at += timedelta(days=rng.uniform(1, 10))
                entered.append(at)
        while len(entered) > 1 and entered[-1] > now:
            entered.pop()
        top = len(entered)
        stage = STAGES[top - 1]
        purchased = top >= 6
        if swept_at is not None and (not purchased or swept_at > now):
            swept_at = None

        if purchased:
            last_seen = entered[-1]
        else:
            dwell = rng.uniform(0, 30) if top == 1 else rng.uniform(0, 300)
            last_seen = min(entered[-1] + timedelta(seconds=dwell), now)

        status, abandoned_at, abandoned_stage, recovered_at = "active", None, None, None
        if purchased:
            status = "purchased"
            if swept_at is not None:
                status, abandoned_at = "recovered", swept_at
                abandoned_stage, recovered_at = "payment", entered[5]
        else:
            sweep_at = last_seen + timedelta(seconds=SESSION_TIMEOUT + SWEEP_GRACE
                                             + rng.uniform(0, 60))
            if sweep_at <= now:
                status, abandoned_at, abandoned_stage = "abandoned", sweep_at, stage
                if top >= 3 and r() < P_RECOVERED_LATER:
                    back = abandoned_at + timedelta(seconds=rng.uniform(3600, 6 * 86400))
                    if back <= now:
                        status, recovered_at = "recovered", back
        self.counts[status] += 1
        self.counts[stage] += 1
        self.counts[device[0]] += 1

        # Cart lines: what the writer keeps from add/remove events.
        subtotal, lines = 0, []
        if top >= 3:
            chosen = set()
            for _ in range(pick(r, (0.55, 0.85, 1.0), (1, 2, 3))):
                product = pick(r, self.product_cum, self.products)
                if product[0] in chosen:
                    continue
                chosen.add(product[0])
                roll = r()
                quantity = 0 if roll < 0.05 else 1 if roll < 0.85 else 2 if roll < 0.97 else 3
                lines.append((jid, str(product[0]), quantity, product[1]))
                subtotal += quantity * product[1]
            self.lines.extend(lines)

        customer = None
        if (purchased and r() < 0.55) or (top >= 3 and r() < 0.15) or r() < 0.04:
            customer = self.customer()
        order_ref = None
        if top >= 5:
            self.next_order += 1
            order_ref = str(self.next_order)
        value = currency = None
        if purchased:
            value = subtotal + (0 if subtotal >= 2500 else 599)
            currency = "USD"

        sessions = 2 if swept_at is not None else (1 if r() < 0.9 else 2)
        events = top + (rng.randrange(0, 6) if top >= 2 else 0) + len(lines) + \
            (2 if top >= 4 else 0)
        last_touchpoint = rng.choice(LAST_TOUCHPOINT[stage])
        landing_page = rng.choice(self.landing_pages)
        row = (
            jid, visitor, customer, order_ref, stage, top, status, started, last_seen,
            last_touchpoint, *entered, *([None] * (9 - top)), abandoned_at, abandoned_stage,
            recovered_at, source[0], source[1], source[2], source[3], device[0], landing_page,
            self.networks[rng.randrange(len(self.networks))], value, currency, sessions,
            events,
        )
        if r() < self.events_fraction:
            self.add_events(jid, visitor, customer, order_ref, entered, lines, source, device,
                            landing_page, value, last_seen, swept_at)
        return row

    def add_events(self, jid, visitor, customer, order_ref, entered, lines, source, device,
                   landing_page, value, last_seen, swept_at) -> None:
        rng = self.rng
        session = f"{rng.getrandbits(128):032x}"
        out = self.events

        def event(touchpoint, stage, at, props, order=None, sess=None):
            uuid = f"{rng.getrandbits(128):032x}"
            eid = f"{uuid[:8]}-{uuid[8:12]}-4{uuid[13:16]}-a{uuid[17:20]}-{uuid[20:]}"
            out.append((eid, jid, visitor, sess or session, customer, order, touchpoint, stage,
                        at, json.dumps(props)))

        event("landing", "landing", entered[0], {
            "path": landing_page, "source": source[0], "medium": source[1],
            "campaign": source[2] or "", "referrer": source[3] or "", "device": device[0]})
        top = len(entered)
        if top >= 2:
            views = rng.randrange(1, 5)
            end = entered[2] if top >= 3 else last_seen
            step = (end - entered[1]) / (views + 1)
            for k in range(views):
                product = pick(rng.random, self.product_cum, self.products)
                event("product_view", "browse", entered[1] + step * k, {
                    "product_id": str(product[0]), "sku": product[3], "price": product[1],
                    "currency": "USD"})
        if top >= 3:
            for k, (_j, pid, quantity, unit) in enumerate(lines):
                at = entered[2] + timedelta(seconds=20 * k)
                event("add_to_cart", "cart", at, {"product_id": pid, "quantity": max(quantity, 1),
                                                  "value": unit * max(quantity, 1),
                                                  "currency": "USD"})
                if quantity == 0:
                    event("remove_from_cart", "cart", at + timedelta(seconds=10),
                          {"product_id": pid, "quantity": 1})
            event("cart_view", "cart", entered[2] + timedelta(seconds=70),
                  {"items": len(lines), "value": sum(q * u for _j, _p, q, u in lines),
                   "currency": "USD"})
        if top >= 4:
            event("checkout_start", "checkout", entered[3], {"currency": "USD"})
            event("checkout_address", "checkout", entered[3] + timedelta(seconds=40),
                  {"country": "US"})
            event("checkout_shipping", "checkout", entered[3] + timedelta(seconds=70),
                  {"method": "standard", "cost": 599})
        if top >= 5:
            event("payment_submitted", "payment", entered[4], {"order_ref": order_ref,
                                                               "currency": "USD"}, order_ref)
        if top >= 6:
            later = f"{rng.getrandbits(128):032x}" if swept_at is not None else None
            event("purchase", "purchase", entered[5], {
                "order_ref": order_ref, "value": value, "currency": "USD",
                "items": len(lines)}, order_ref, later)
        for index, (touchpoint, stage) in enumerate(
                (("shipped", "shipped"), ("delivered", "delivered"),
                 ("review_submitted", "reviewed")), start=6):
            if top > index:
                event(touchpoint, stage, entered[index], {"order_ref": order_ref}, order_ref,
                      f"{rng.getrandbits(128):032x}")


def copy_rows(conn, table: str, columns, rows, label: str, total: int) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    started = time.perf_counter()
    step = max(1, total // 10) if total >= 100_000 else max(1, total)
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for i, row in enumerate(rows, start=1):
            copy.write_row(row)
            if i % step == 0 or i == total:
                log(f"  {label}: {100 * i // total:3d}% ({i:,}/{total:,}) "
                    f"{time.perf_counter() - started:6.1f}s")


def generate(url: str, n: int, days: int, seed: int, events_fraction: float,
             layout: str, reminded: int = 30) -> dict:
    rng = Random(seed)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SET statement_timeout = '15min'")
        conn.execute("SET synchronous_commit = off")
        popularity = {}
        from storefront import catalog_data

        for row in catalog_data.PRODUCTS:
            popularity[row["slug"]] = row.get("popularity", 10) + 1
        products = [(pid, price, slug, sku, popularity.get(slug, 10)) for pid, price, slug, sku
                    in conn.execute("SELECT id, price, slug, sku FROM products ORDER BY id")]
        customers = [str(cid) for (cid,) in conn.execute("SELECT id FROM customers ORDER BY id")]
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)  # naive UTC, as the app
        gen = Generator(rng, now, n, days, products, customers, events_fraction)
        log(f"generating {n:,} journeys over {days} days "
            f"({len(products)} products, {len(customers)} seeded customers)")
        # The writer inserts a journey when it starts, so rows lie in started_at order on disk
        # ("chronological"); "random" is the worst case where a period touches every page.
        ages = [rng.random() for _ in range(n)]
        if layout == "chronological":
            ages.sort(reverse=True)
        copy_rows(conn, "journeys", JOURNEY_COLUMNS, (gen.journey(age) for age in ages),
                  "journeys", n)
        copy_rows(conn, "journey_cart_lines", LINE_COLUMNS, gen.lines, "cart lines",
                  len(gen.lines))
        if gen.events:
            copy_rows(conn, "journey_events", EVENT_COLUMNS, gen.events, "events",
                      len(gen.events))
        # The store's cart reminders (`orders remind`): for --reminded percent of the carts
        # left, an hour after, sent; the abandonment page looks their journeys up.
        reminders = conn.execute(
            "INSERT INTO outbox_messages (key, kind, to_email, subject, body, journey_id,"
            " visitor_id, created_at, sent_at, attempts)"
            " SELECT 'journey:' || id || ':reminder', 'cart_reminder', 'shopper@example.com',"
            " 'You left something in your cart', '...', id, visitor_id,"
            " abandoned_at + interval '1 hour', abandoned_at + interval '1 hour', 1"
            " FROM journeys WHERE abandoned_stage IN ('cart', 'checkout', 'payment')"
            " AND status IN ('abandoned', 'recovered') AND abandoned_at < %s"
            " AND abs(hashtext(id)) %% 100 < %s",
            (now - timedelta(hours=1), reminded)).rowcount
        log(f"  {reminders:,} cart reminders in the outbox")
        conn.commit()
        loaded = time.perf_counter() - started
        log(f"  loaded in {loaded:.1f}s; ANALYZE ...")
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) journeys")
        conn.execute("VACUUM (ANALYZE) journey_cart_lines")
        conn.execute("VACUUM (ANALYZE) journey_events")
        conn.execute("ANALYZE")
    counts = dict(gen.counts)
    carts = sum(counts.get(s, 0) for s in STAGES[2:])
    buyers = sum(counts.get(s, 0) for s in STAGES[5:])
    summary = {
        "journeys": n, "cart_lines": len(gen.lines), "events": len(gen.events),
        "cart_reminders": reminders,
        "seconds": round(time.perf_counter() - started, 1), "layout": layout,
        "purchase_rate": round(buyers / n, 4),
        "cart_abandonment_rate": round(1 - buyers / carts, 4) if carts else None,
        "mobile_share": round(counts.get("mobile", 0) / n, 4),
        "status": {s: counts.get(s, 0) for s in ("active", "purchased", "abandoned",
                                                   "recovered")},
        "stage": {s: counts.get(s, 0) for s in STAGES},
    }
    log(f"  generated: {json.dumps(summary)}")
    return summary


# -- timing ------------------------------------------------------------------------------------

class QueryLog:
    """Every SQL statement either engine runs while ``active``: (statement, params, ms)."""

    def __init__(self):
        self.active = False
        self.current: list[tuple[str, object, float]] = []

    def install(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        @event.listens_for(Engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            conn.info.setdefault("_bench_t0", []).append(time.perf_counter())

        @event.listens_for(Engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            t0 = conn.info["_bench_t0"].pop()
            if self.active:
                self.current.append((statement, parameters,
                                     (time.perf_counter() - t0) * 1000))


def login(client) -> None:
    page = client.get("/admin/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    if not match:
        raise SystemExit("no csrf_token on /admin/login")
    response = client.post("/admin/login", data={
        "csrf_token": match.group(1), "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"admin login failed: {response.status_code}")
    if client.get("/admin/api/live").status_code != 200:
        raise SystemExit("admin session not accepted by /admin/api/live")


def samples(url: str) -> dict:
    """Real ids to look up: a journey with events and a cart, its visitor, a purchase."""
    with psycopg.connect(url) as conn:
        jid, visitor = conn.execute(
            "SELECT j.id, j.visitor_id FROM journeys j WHERE j.stage_rank >= 3 AND EXISTS "
            "(SELECT 1 FROM journey_events e WHERE e.journey_id = j.id) "
            "ORDER BY j.started_at DESC LIMIT 1").fetchone() or conn.execute(
            "SELECT id, visitor_id FROM journeys ORDER BY started_at DESC LIMIT 1").fetchone()
        order_ref = conn.execute(
            "SELECT order_ref FROM journeys WHERE status = 'purchased' "
            "ORDER BY started_at DESC LIMIT 1").fetchone()
        email = conn.execute(
            "SELECT c.email FROM customers c JOIN journeys j ON j.customer_id = c.id::text "
            "LIMIT 1").fetchone() or conn.execute("SELECT email FROM customers LIMIT 1").fetchone()
    return {"journey": jid, "visitor": visitor,
            "order": f"TP-{int(order_ref[0]):06d}" if order_ref else "TP-000001",
            "email": email[0] if email else "nobody@example.com"}


def endpoints(today, ids: dict) -> list[tuple[str, str, str]]:
    """(name, period, url) for every GET endpoint of admin/views.py's docstring."""
    out = [("live", "-", "/admin/api/live")]
    periods = (("7d", today - timedelta(days=6)), ("30d", today - timedelta(days=29)))
    for label, first in periods:
        q = f"from={first.isoformat()}&to={today.isoformat()}"
        out += [
            ("overview", label, f"/admin/api/overview?{q}"),
            ("overview/before", label, f"/admin/api/overview/before?{q}"),
            ("funnel", label, f"/admin/api/funnel?{q}"),
            ("abandonment", label, f"/admin/api/abandonment?{q}"),
            # the whole file, generated and read (at most 10,000 rows)
            ("abandonment.csv", label, f"/admin/abandonment.csv?{q}"),
            ("reviews", label, f"/admin/api/reviews?{q}"),
        ]
        out += [(f"funnel/dropped?stage={s}", label, f"/admin/api/funnel/dropped?stage={s}&{q}")
                for s in STAGES[:5]]
    out += [
        ("journeys?q=<visitor>", "-", f"/admin/api/journeys?q={ids['visitor']}"),
        ("journeys?q=<journey>", "-", f"/admin/api/journeys?q={ids['journey']}"),
        ("journeys?q=<email>", "-", f"/admin/api/journeys?q={ids['email']}"),
        ("journeys?q=<order>", "-", f"/admin/api/journeys?q={ids['order']}"),
        ("journeys/<id>", "-", f"/admin/api/journeys/{ids['journey']}"),
        ("visitors/<id>/timeline", "-", f"/admin/api/visitors/{ids['visitor']}/timeline"),
        ("orders", "-", "/admin/api/orders"),
        ("orders?status=delivered", "-", "/admin/api/orders?status=delivered"),
        ("orders?status=unfulfilled", "-", "/admin/api/orders?status=unfulfilled"),
    ]
    return out


def summarise(times: list[float]) -> dict:
    return {"median_ms": round(statistics.median(times), 1), "min_ms": round(min(times), 1),
            "max_ms": round(max(times), 1)}


def time_endpoints(client, qlog: QueryLog, plan, warmup: int, repeat: int) -> dict:
    results = {}
    for name, period, url in plan:
        for _ in range(warmup):
            client.get(url)
        times, per_query, status, size = [], defaultdict(list), None, 0
        statements: dict[int, tuple[str, object]] = {}
        for _ in range(repeat):
            qlog.current = []
            qlog.active = True
            t0 = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            qlog.active = False
            status, size = response.status_code, len(response.get_data())
            for index, (statement, params, ms) in enumerate(qlog.current):
                per_query[index].append(ms)
                statements.setdefault(index, (statement, params))
        key = name if period == "-" else f"{name} [{period}]"
        results[key] = {**summarise(times), "status": status, "bytes": size,
                        "queries": [{"median_ms": round(statistics.median(ms), 1),
                                     "sql": statements[i][0], "params": statements[i][1]}
                                    for i, ms in sorted(per_query.items())]}
    return results


def time_naive(url: str, today, warmup: int, repeat: int) -> dict:
    results = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for label, days in (("7d", 7), ("30d", 30)):
            start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time())
            params = {"start": start, "end": datetime.combine(today + timedelta(days=1),
                                                              datetime.min.time())}
            scanned = conn.execute("SELECT count(*) FROM journey_events WHERE occurred_at >= "
                                   "%(start)s AND occurred_at < %(end)s", params).fetchone()[0]
            for _ in range(warmup):
                conn.execute(NAIVE_FUNNEL, params).fetchall()
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                conn.execute(NAIVE_FUNNEL, params).fetchall()
                times.append((time.perf_counter() - t0) * 1000)
            results[f"naive funnel from journey_events [{label}]"] = {
                **summarise(times), "status": "sql", "bytes": 0, "events_scanned": scanned,
                "queries": []}
    return results


def explain(url: str, statement: str, params) -> str:
    with psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).fetchall()
    return "\n".join(r[0] for r in rows)


def print_table(results: dict, target: float) -> None:
    width = max(len(k) for k in results) + 2
    log("")
    log(f"{'endpoint':<{width}}{'median ms':>10}{'min ms':>9}{'max ms':>9}{'status':>8}"
        f"{'bytes':>9}  ")
    log("-" * (width + 53))
    for name, r in results.items():
        flag = "  OVER" if r["median_ms"] > target and not name.startswith("naive") else ""
        extra = f"  ({r['events_scanned']:,} events)" if "events_scanned" in r else ""
        log(f"{name:<{width}}{r['median_ms']:>10.1f}{r['min_ms']:>9.1f}{r['max_ms']:>9.1f}"
            f"{r['status']!s:>8}"
            f"{r['bytes']:>9}{flag}{extra}")


def print_slow(results: dict, target: float, url: str, with_plans: bool) -> None:
    slow = {k: r for k, r in results.items()
            if r["median_ms"] > target and r["queries"]}
    if not slow:
        return
    log(f"\nSlowest SQL statements of endpoints over {target:.0f} ms:")
    explained: set[str] = set()
    for name, r in slow.items():
        log(f"\n== {name}: {r['median_ms']:.1f} ms median, {len(r['queries'])} statements, "
            f"{sum(q['median_ms'] for q in r['queries']):.1f} ms in SQL")
        top = sorted(r["queries"], key=lambda q: -q["median_ms"])[:3]
        for q in top:
            one_line = " ".join(q["sql"].split())
            log(f"  {q['median_ms']:8.1f} ms  {one_line[:220]}")
        if with_plans and top[0]["sql"] not in explained:
            explained.add(top[0]["sql"])
            try:
                log("  EXPLAIN (ANALYZE, BUFFERS) of the slowest:")
                for line in explain(url, top[0]["sql"], top[0]["params"]).splitlines():
                    log("    " + line)
            except Exception as exc:  # report, keep going
                log(f"    (explain failed: {exc})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90, help="spread journeys over these days")
    parser.add_argument("--events-fraction", type=float, default=0.01,
                        help="share of journeys that also get journey_events rows")
    parser.add_argument("--layout", choices=("chronological", "random"),
                        default="chronological",
                        help="physical order of journeys rows: by started_at (as the writer "
                             "inserts them) or shuffled (worst case)")
    parser.add_argument("--orders", type=int, default=2000, help="seed --orders")
    parser.add_argument("--reminded", type=int, default=30, choices=range(101),
                        metavar="0-100", help="percent of the carts left with a reminder")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--target-ms", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--db-name", default="touchpoint_bench")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="time an existing database (from --keep) without regenerating")
    parser.add_argument("--extra-sql", type=Path, default=None,
                        help="SQL file run in the benchmark database after loading, before "
                             "timing (e.g. benchmarks/proposed_indexes.sql)")
    parser.add_argument("--explain", action="store_true",
                        help="EXPLAIN ANALYZE the slowest statement of each slow endpoint")
    args = parser.parse_args(argv)
    if not (1 <= args.journeys <= 20_000_000 and 1 <= args.repeat <= 100
            and 0 <= args.warmup <= 10 and 0 <= args.events_fraction <= 1):
        parser.error("out of bounds: 1 <= journeys <= 20M, 1 <= repeat <= 100, "
                     "0 <= warmup <= 10, 0 <= events-fraction <= 1")
    if not args.admin_url.startswith(("postgresql://postgres@127.0.0.1:",
                                      "postgresql://postgres@localhost:")):
        parser.error("--admin-url must point at 127.0.0.1")
    check_name(args.db_name)
    url = bench_url(args.admin_url, args.db_name)

    generation = None
    if not args.reuse:
        log(f"creating database {args.db_name} ...")
        create_database(args.admin_url, args.db_name)
    app = make_app(url)
    try:
        if not args.reuse:
            t0 = time.perf_counter()
            build_schema_and_seed(app, args.orders)
            log(f"  schema and seed in {time.perf_counter() - t0:.1f}s")
            generation = generate(url, args.journeys, args.days, args.seed,
                                  args.events_fraction, args.layout, args.reminded)
        if args.extra_sql is not None:
            t0 = time.perf_counter()
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SET statement_timeout = '10min'")
                conn.execute(args.extra_sql.read_text())
                conn.execute("VACUUM (ANALYZE) journeys")
            log(f"applied {args.extra_sql} in {time.perf_counter() - t0:.1f}s")
        with psycopg.connect(url) as conn:
            n = conn.execute("SELECT count(*) FROM journeys").fetchone()[0]
            events = conn.execute("SELECT count(*) FROM journey_events").fetchone()[0]
            pg = conn.execute("SHOW server_version").fetchone()[0]
            buffers = conn.execute("SHOW shared_buffers").fetchone()[0]
            work_mem = conn.execute("SHOW work_mem").fetchone()[0]
            size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('journeys'))"
                                ).fetchone()[0]
        log(f"\njourneys: {n:,} ({size} with indexes), events: {events:,}; PostgreSQL {pg}, "
            f"shared_buffers {buffers}, work_mem {work_mem}")

        from admin import auth
        from tracking.extension import utcnow

        with app.app_context():
            auth.create_user(ADMIN_EMAIL, ADMIN_PASSWORD)
        qlog = QueryLog()
        qlog.install()
        client = app.test_client()
        login(client)
        today = utcnow().date()
        ids = samples(url)
        plan = endpoints(today, ids)
        load_before = os.getloadavg()[0]
        log(f"timing {len(plan)} endpoint variants x ({args.warmup} warm-up + {args.repeat}) "
            f"and the naive funnel ... (load average {load_before:.2f} on {os.cpu_count()} "
            f"CPUs; other processes' load inflates the timings)")
        results = time_endpoints(client, qlog, plan, args.warmup, args.repeat)
        results.update(time_naive(url, today, args.warmup, args.repeat))
        overview_30d = next(u for k, p, u in plan if k == "overview" and p == "30d")
        kpis = client.get(overview_30d).get_json()["kpis"]
        log(f"panel's 30-day KPIs: {json.dumps(kpis)}")
        load_after = os.getloadavg()[0]
        print_table(results, args.target_ms)
        print_slow(results, args.target_ms, url, args.explain)
        over = [k for k, r in results.items()
                if r["median_ms"] > args.target_ms and not k.startswith("naive")]
        bad = [k for k, r in results.items() if r["status"] not in (200, "sql")]
        log(f"\n{len(over)} endpoint variant(s) over {args.target_ms:.0f} ms median"
            + (f": {', '.join(over)}" if over else ""))
        if bad:
            log(f"non-200 responses: {', '.join(bad)}")
        print(json.dumps({
            "benchmark": "admin_endpoints", "journeys": n, "events": events,
            "target_ms": args.target_ms, "repeat": args.repeat, "generation": generation,
            "load_average": [round(load_before, 2), round(load_after, 2)],
            "extra_sql": str(args.extra_sql) if args.extra_sql else None,
            "cpus": os.cpu_count(),
            "over_target": over,
            "results": {k: {f: v for f, v in r.items() if f != "queries"}
                        for k, r in results.items()},
        }), flush=True)
        return 1 if bad else 0
    finally:
        with app.app_context():
            from storefront.extensions import db

            db.engine.dispose()
        engine = getattr(app.extensions.get("journey"), "_engine", None)
        if engine is not None:
            engine.dispose()
        if not args.keep:
            log(f"dropping database {args.db_name}")
            drop_database(args.admin_url, args.db_name)


if __name__ == "__main__":
    sys.exit(main())
