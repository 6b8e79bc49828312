"""Benchmark GET /metrics: scrape time, number of series and bytes, with 10,000 products and
100,000 visitors, single-process and in prometheus_client's multiprocess mode (gunicorn).

What it builds (PostgreSQL by default, or a SQLite file under /tmp with --db sqlite):

* the schema, with the project's migrations;
* 10,000 products in 12 categories, bulk-inserted (COPY / executemany) into ``products``;
* 100,000 distinct visitors, each a fresh cookie-less shopper, driven through the tracker's
  real request hooks in-process: ``app.test_request_context(path)`` ->
  ``app.preprocess_request()`` (the tracker's before_request: visitor cookie, bot and privacy
  checks) -> the ``journey.track(...)`` call the view makes (product_view of a random one of
  the 10,000 products, category_view, search, add_to_cart, cart_view, checkout_start, a
  purchase by webhook, ...) -> ``app.process_response()`` (after_request: landing/page_view,
  the signed cookie, the per-endpoint request counter and latency histogram). Some visitors
  make 2-4 requests with the cookie of the first (cart, checkout, purchase); some are bots,
  some send Sec-GPC, some hit missing products (404) or unknown paths (<unmatched>). View
  functions and templates are not run: the metrics only see what the tracker sees.
* The events those requests produce are NOT written by the tracker's writer (at the writer's
  measured few hundred events/s that alone would take many minutes; see
  writer_ingestion.py): ``EventWriter.enqueue`` of the benchmark's app is replaced by a
  collector, and one ``journeys`` row per journey (stage, status, times, context: what the
  writer would have folded) is bulk-inserted, so ``journey_active`` counts 100,000 live
  journeys from the database as in production. ``tracking_events_written`` therefore stays 0;
  its series exists either way, and no label depends on stored rows.

Then it times GET /metrics through the Flask test client, ``--scrapes`` times each, "warm"
(journey_active served from its JOURNEY_ACTIVE_CACHE_SECONDS cache) and "cold" (cache
invalidated before each scrape, so every scrape runs the count over ``journeys``), and counts
series (non-comment lines) and bytes. It does so after 1,000, 10,000 and 100,000 visitors
(series must not grow with products or visitors), then again in multiprocess mode: fresh
subprocesses with PROMETHEUS_MULTIPROC_DIR set to a fresh directory before prometheus_client
is imported, --workers of them each driving visitors/workers fresh visitors (as gunicorn
workers would), then one more serving the scrapes.

    .venv/bin/python benchmarks/metrics_scrape.py
    .venv/bin/python benchmarks/metrics_scrape.py --db sqlite --visitors 20000

Prints progress, tables and one JSON line: {"benchmark": "metrics_scrape", ...}. Everything
runs on 127.0.0.1 and /tmp; every loop is bounded by --visitors, --scrapes and --max-seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter as Tally
from datetime import UTC, datetime
from pathlib import Path
from random import Random

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._pg import check_name, pg_recreate, pg_url  # noqa: E402
from benchmarks._report import log, table  # noqa: E402

# Nothing that imports prometheus_client may be imported at module level: the multiprocess
# roles must set PROMETHEUS_MULTIPROC_DIR first (it is read when prometheus_client loads).

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
CATEGORIES = ("kitchen", "coffee-tea", "audio", "fitness", "outdoor", "home", "office",
              "garden", "toys", "books", "beauty", "pets")
WORDS = ("kettle", "headphones", "yoga mat", "grinder", "lamp", "tent", "desk", "pan",
         "speaker", "bottle", "backpack", "chair")
BROWSER_UAS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
)
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
REFERRERS = (None, None, "https://www.google.com/", "https://m.facebook.com/",
             "https://www.bing.com/search?q=shop")
# (kind, weight): what a fresh visitor does.
VISITS = (("product", 50), ("landing", 14), ("category", 8), ("search", 6), ("cart", 10),
          ("product_404", 3), ("bot", 3), ("gpc", 2), ("unmatched", 2), ("login", 2))
STAGES = ("landing", "browse", "cart", "checkout", "payment", "purchase", "shipped",
          "delivered", "reviewed")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- database ----------------------------------------------------------------------------------

def make_app(url: str, spool_dir: str):
    from storefront.app import create_app

    return create_app({
        "TESTING": True, "SECRET_KEY": "bench-metrics", "SQLALCHEMY_DATABASE_URI": url,
        "JOURNEY_SWEEP_INTERVAL": 0, "JOURNEY_SPOOL_DIR": spool_dir,
        "WTF_CSRF_ENABLED": False,  # the POSTs below carry no form
        "JOURNEY_STRICT": True,  # a wrong touchpoint call in this script must fail loudly
    })


def bulk_insert(db_kind: str, url: str, table_name: str, columns, rows) -> None:
    if db_kind == "postgresql":
        import psycopg
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table_name), sql.SQL(", ").join(map(sql.Identifier, columns)))
        raw_url = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(raw_url) as conn, conn.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    else:
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        try:
            conn.executemany(
                f"INSERT INTO {table_name} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})",
                [tuple(v.isoformat(" ", "microseconds") if isinstance(v, datetime) else v
                       for v in row) for row in rows])
            conn.commit()
        finally:
            conn.close()


def build(args, url: str, spool_dir: str) -> None:
    """Schema by migrations, then categories and products in bulk."""
    from flask_migrate import upgrade

    from storefront.extensions import db

    app = make_app(url, spool_dir)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    now = utcnow()
    bulk_insert(args.db, url, "categories", ("id", "slug", "name", "description", "position"),
                [(i + 1, slug, slug.replace("-", " ").title(), "", i)
                 for i, slug in enumerate(CATEGORIES)])
    rng = Random(args.seed)
    rows = []
    for i in range(1, args.products + 1):
        price = rng.randrange(299, 40_000)
        rows.append((i, f"bench-product-{i:05d}", f"BP-{i:05d}", f"Bench product {i}", "",
                     1 + i % len(CATEGORIES), price, None, "USD", rng.randrange(0, 200), "",
                     False, 0, 0, 0, now))
    bulk_insert(args.db, url, "products",
                ("id", "slug", "sku", "title", "description", "category_id", "price",
                 "compare_at_price", "currency", "stock", "image", "featured", "sold_count",
                 "rating_count", "rating_sum", "created_at"), rows)
    if args.db == "postgresql":  # ids were given explicitly: move the sequences past them
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=True) as conn:
            for table_name in ("categories", "products"):
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), "
                             f"(SELECT max(id) FROM {table_name}))")
                conn.execute(f"ANALYZE {table_name}")


def load_products(app) -> list[tuple[int, str, str, int]]:
    from sqlalchemy import text

    from storefront.extensions import db

    with app.app_context():
        rows = db.session.execute(text("SELECT id, slug, sku, price FROM products ORDER BY id"))
        products = [tuple(r) for r in rows]
        db.session.remove()
        db.engine.dispose()
    return products


# -- driving visitors --------------------------------------------------------------------------

class Collector:
    """Takes the place of EventWriter.enqueue: folds each stored event into the journey row the
    writer would keep (tracking/store.py _merge: furthest stage, first entry per stage, last
    seen, landing context, purchase), for one bulk insert."""

    def __init__(self):
        self.journeys: dict[str, dict] = {}
        self.events = 0

    def enqueue(self, event) -> bool:
        self.events += 1
        j = self.journeys.get(event.journey_id)
        if j is None:
            j = self.journeys[event.journey_id] = {
                "visitor_id": event.visitor_id, "customer_id": event.customer_id, "rank": 0,
                "started_at": event.journey_started_at or event.occurred_at,
                "last_seen_at": event.occurred_at, "last_touchpoint": event.touchpoint,
                "entered": {}, "events": 0, "sessions": 0, "context": {}, "order_ref": None,
                "value": None, "currency": None, "status": "active"}
        j["events"] += 1
        j["sessions"] += 1 if event.new_session else 0
        j["visitor_id"] = j["visitor_id"] or event.visitor_id
        j["customer_id"] = event.customer_id or j["customer_id"]
        if event.occurred_at >= j["last_seen_at"]:
            j["last_seen_at"], j["last_touchpoint"] = event.occurred_at, event.touchpoint
        if event.stage:
            rank = STAGES.index(event.stage) + 1
            for r in range(1, rank + 1):
                j["entered"].setdefault(r, event.occurred_at)
            j["rank"] = max(j["rank"], rank)
        if event.touchpoint == "landing":
            j["context"] = event.context
        if event.touchpoint == "purchase":
            j.update(status="purchased", order_ref=event.props["order_ref"],
                     value=event.props["value"], currency=event.props["currency"])
        return True

    def rows(self):
        for jid, j in self.journeys.items():
            ctx, rank = j["context"], max(j["rank"], 1)
            yield (jid, j["visitor_id"], j["customer_id"], j["order_ref"], STAGES[rank - 1],
                   rank, j["status"], j["started_at"], j["last_seen_at"], j["last_touchpoint"],
                   *(j["entered"].get(r) for r in range(1, 10)),
                   ctx.get("source"), ctx.get("medium"), ctx.get("campaign"),
                   ctx.get("referrer_host"), ctx.get("device"), ctx.get("landing_page"),
                   ctx.get("ip_net"), j["value"], j["currency"], max(j["sessions"], 1),
                   j["events"])


JOURNEY_COLUMNS = ("id", "visitor_id", "customer_id", "order_ref", "stage", "stage_rank",
                   "status", "started_at", "last_seen_at", "last_touchpoint",
                   *(f"entered_{s}_at" for s in STAGES), "source", "medium", "campaign",
                   "referrer_host", "device", "landing_page", "ip_net", "value", "currency",
                   "sessions", "events")


class Driver:
    """Fresh visitors through the tracker's request hooks, the view's track() in between."""

    def __init__(self, app, products, seed: int, order_base: int):
        from storefront.extensions import journey

        self.app, self.journey = app, journey
        self.state = app.extensions["journey"]
        self.cookie_name = self.state.cookie_name
        self.products = products
        self.rng = Random(seed)
        self.kinds = [k for k, w in VISITS for _ in range(w)]
        self.next_order = order_base
        self.visitors = 0
        self.requests = 0
        self.viewed: set[int] = set()
        self.tally: Tally[str] = Tally()

    def request(self, path: str, *, method: str = "GET", status: int = 200,
                content_type: str = "text/html; charset=utf-8", cookie: str | None = None,
                ua: str | None = None, headers: dict | None = None, action=None):
        """One request through before_request, ``action`` (the view's tracking), after_request
        and teardown; returns (new cookie or the old one, what action returned)."""
        rng = self.rng
        h = {"User-Agent": ua or rng.choice(BROWSER_UAS), **(headers or {})}
        if cookie:
            h["Cookie"] = f"{self.cookie_name}={cookie}"
        referrer = rng.choice(REFERRERS)
        if referrer and not cookie:
            h["Referer"] = referrer
        ip = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}." \
             f"{rng.randrange(1, 255)}"
        self.requests += 1
        with self.app.test_request_context(path, method=method, headers=h,
                                           environ_base={"REMOTE_ADDR": ip}):
            result = self.app.preprocess_request()
            if result is None and action is not None:
                result = action()
            response = self.app.make_response(("", status, {"Content-Type": content_type}))
            response = self.app.process_response(response)
            for header in response.headers.getlist("Set-Cookie"):
                if header.startswith(self.cookie_name + "="):
                    cookie = header.split(";", 1)[0].split("=", 1)[1]
        return cookie, result

    def product(self):
        found = self.products[self.rng.randrange(len(self.products))]
        self.viewed.add(found[0])
        return found

    def track_view(self, found):
        return lambda: self.journey.track("product_view", product_id=str(found[0]),
                                          sku=found[2], price=found[3], currency="USD")

    def visit(self) -> None:
        rng, track = self.rng, self.journey.track
        kind = rng.choice(self.kinds)
        self.visitors += 1
        self.tally[kind] += 1
        if kind == "product":
            found = self.product()
            self.request(f"/p/{found[1]}", action=self.track_view(found))
        elif kind == "landing":
            self.request(rng.choice(("/", "/?utm_source=newsletter&utm_medium=email"
                                         "&utm_campaign=weekly-digest")))
        elif kind == "category":
            slug = rng.choice(CATEGORIES)
            self.request(f"/c/{slug}", action=lambda: track("category_view", category=slug))
        elif kind == "search":
            word = rng.choice(WORDS)
            self.request(f"/search?q={word.replace(' ', '+')}",
                         action=lambda: track("search", query=word, results=rng.randrange(40)))
        elif kind == "product_404":
            self.request(f"/p/no-such-product-{uuid.uuid4().hex[:12]}", status=404)
        elif kind == "unmatched":
            self.request(rng.choice(("/wp-login.php", "/.env", "/admin.php", "/xmlrpc.php"))
                         + f"?x={rng.randrange(10**6)}", status=404)
        elif kind == "bot":  # counted in aggregates, never stored, no cookie
            found = self.product()
            self.request(f"/p/{found[1]}", ua=BOT_UA, action=self.track_view(found))
        elif kind == "gpc":  # privacy signal: aggregates only
            found = self.product()
            self.request(f"/p/{found[1]}", headers={"Sec-GPC": "1"},
                         action=self.track_view(found))
        elif kind == "login":
            cookie, _ = self.request("/account/login")
            customer = rng.randrange(1, 50_000)
            self.request("/account/login", method="POST", status=302, cookie=cookie,
                         action=lambda: self.journey.identify(customer, via="login"))
        elif kind == "cart":
            self.shopper()

    def shopper(self) -> None:
        """Product page, add to cart, then maybe the cart, the checkout and a purchase that
        the payment webhook reports with the order's journey id."""
        rng, track = self.rng, self.journey.track
        found = self.product()
        cookie, _ = self.request(f"/p/{found[1]}", action=self.track_view(found))
        quantity = rng.choice((1, 1, 2))
        cookie, _ = self.request(
            "/cart/add", method="POST", status=302, cookie=cookie,
            action=lambda: track("add_to_cart", product_id=str(found[0]), quantity=quantity,
                                 value=quantity * found[3], currency="USD"))
        if rng.random() < 0.5:
            return
        cookie, _ = self.request("/cart/", cookie=cookie, action=lambda: track(
            "cart_view", items=quantity, value=quantity * found[3], currency="USD"))
        if rng.random() < 0.5:
            return

        journey_id = None

        def start_checkout():
            nonlocal journey_id
            track("checkout_start", value=quantity * found[3], currency="USD")
            journey_id = self.journey.current_journey_id()  # what the order keeps

        cookie, _ = self.request("/checkout/", status=302, cookie=cookie, action=start_checkout)
        if rng.random() < 0.4 or journey_id is None:
            return
        self.next_order += 1
        order = self.next_order
        total = quantity * found[3] + 599
        self.request("/stripe/webhook", method="POST", ua="Stripe/1.0 (+https://stripe.com)",
                     content_type="application/json", action=lambda: track(
                         "purchase", journey_id=journey_id, order_ref=order, value=total,
                         currency="USD", items=quantity))


def drive(app, products, visitors: int, seed: int, order_base: int, max_seconds: float,
          label: str, checkpoints=(), at_checkpoint=None) -> dict:
    """Visitors through the hooks; the app's writer replaced by a Collector."""
    state = app.extensions["journey"]
    collector = Collector()
    state.writer.enqueue = collector.enqueue  # this app, this process only
    driver = Driver(app, products, seed, order_base)
    started = time.perf_counter()
    next_log = started + 5
    deadline = started + max_seconds
    pending = sorted(c for c in checkpoints if c <= visitors)
    while driver.visitors < visitors:
        driver.visit()
        now = time.perf_counter()
        if pending and driver.visitors == pending[0]:
            pending.pop(0)
            at_checkpoint(driver, collector)
            now = time.perf_counter()
        if now >= next_log:
            next_log = now + 5
            log(f"    {label}: {driver.visitors:>7,}/{visitors:,} visitors, "
                f"{driver.requests:,} requests, {collector.events:,} events, "
                f"{driver.visitors / (now - started):,.0f} visitors/s")
        if now > deadline:
            log(f"    {label}: stopped at --max-seconds {max_seconds}")
            break
    elapsed = time.perf_counter() - started
    log(f"    {label}: {driver.visitors:,} visitors, {driver.requests:,} requests, "
        f"{collector.events:,} events in {elapsed:.1f}s "
        f"({driver.requests / elapsed:,.0f} requests/s through the hooks)")
    return {"visitors": driver.visitors, "requests": driver.requests,
            "events": collector.events, "journeys": len(collector.journeys),
            "products_viewed": len(driver.viewed), "seconds": elapsed,
            "kinds": dict(driver.tally), "collector": collector, "driver": driver}


# -- scraping ----------------------------------------------------------------------------------

def exposition_stats(body: bytes) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    text_body = body.decode()
    lines = [ln for ln in text_body.splitlines() if ln and not ln.startswith("#")]
    families = {f.name: len(f.samples) for f in text_string_to_metric_families(text_body)}
    return {"series": len(lines), "bytes": len(body), "families": families}


def scrape_once(client) -> bytes:
    response = client.get("/metrics")
    if response.status_code != 200:
        raise SystemExit(f"/metrics answered {response.status_code}")
    return response.get_data()


def time_scrapes(app, n: int, max_seconds: float) -> dict:
    state = app.extensions["journey"]
    client = app.test_client()
    scrape_once(client)  # warm-up: first connection, statement compile
    out = {}
    for mode in ("warm", "cold"):
        times = []
        deadline = time.perf_counter() + max_seconds
        for _ in range(n):
            if mode == "cold":
                state.active.invalidate()  # journey_active counts in the database again
            t = time.perf_counter()
            body = scrape_once(client)
            times.append(time.perf_counter() - t)
            if time.perf_counter() > deadline:
                break
        out[mode] = {"n": len(times), "p50_ms": 1000 * percentile(times, 0.5),
                     "p99_ms": 1000 * percentile(times, 0.99), "max_ms": 1000 * max(times)}
    t = time.perf_counter()
    with state.engine.connect() as conn:
        from datetime import timedelta

        from tracking import store

        active = store.count_active(conn, utcnow(), timedelta(seconds=state.session_timeout))
    out["count_active_ms"] = 1000 * (time.perf_counter() - t)
    out["journey_active_total"] = sum(active.values())
    out.update(exposition_stats(body))
    out["body_sample"] = body.decode()
    return out


# -- roles -------------------------------------------------------------------------------------

def role_worker(args) -> int:
    """A multiprocess worker: drive visitors, leave the metric files, report."""
    app = make_app(args.url, args.spool_dir)
    products = load_products(app)
    result = drive(app, products, args.visitors, args.seed, args.order_base, args.max_seconds,
                   f"worker {os.getpid()}")
    print(json.dumps({"role": "worker", "pid": os.getpid(), "visitors": result["visitors"],
                      "requests": result["requests"], "events": result["events"],
                      "products_viewed": result["products_viewed"],
                      "seconds": result["seconds"]}), flush=True)
    return 0


def role_scraper(args) -> int:
    app = make_app(args.url, args.spool_dir)
    result = time_scrapes(app, args.scrapes, args.max_seconds)
    result["files"] = len(list(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db")))
    body = result.pop("body_sample")
    if args.dump:
        Path(args.dump).write_text(body)
    print(json.dumps({"role": "scraper", **result}), flush=True)
    return 0


def run_role(args, role: str, mpdir: str, extra: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": mpdir}
    cmd = [sys.executable, os.path.abspath(__file__), "--role", role, "--url", args.url,
           "--spool-dir", args.spool_dir, "--db", args.db, "--scrapes", str(args.scrapes),
           "--max-seconds", str(args.max_seconds), *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=str(ROOT))


def last_json(proc: subprocess.Popen, timeout: float) -> dict:
    out_lines = []
    try:
        for line in proc.stdout:  # echo progress as it comes
            line = line.rstrip("\n")
            out_lines.append(line)
            if not line.startswith('{"role"'):
                log(line)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit(f"subprocess {proc.pid} timed out") from None
    if proc.returncode != 0:
        raise SystemExit(f"subprocess {proc.pid} failed with {proc.returncode}")
    return json.loads(next(ln for ln in reversed(out_lines) if ln.startswith('{"role"')))


def multiprocess(args, workdir: Path) -> dict:
    mpdir = tempfile.mkdtemp(prefix="prom_multiproc_", dir=str(workdir))
    per = args.visitors // args.workers
    log(f"== multiprocess: {args.workers} worker processes x {per:,} fresh visitors "
        f"(PROMETHEUS_MULTIPROC_DIR={mpdir})")
    started = time.perf_counter()
    procs = [run_role(args, "worker", mpdir, ["--visitors", str(per),
                                              "--seed", str(args.seed + 1000 + k),
                                              "--order-base", str(10_000_000 * (k + 2))])
             for k in range(args.workers)]
    workers = [last_json(p, 4 * args.max_seconds + 120) for p in procs]
    log(f"    workers done in {time.perf_counter() - started:.1f}s")
    log(f"== multiprocess: scraping {args.scrapes}x warm and cold from another process")
    dump = str(workdir / "multiprocess.prom")
    scraper = last_json(run_role(args, "scraper", mpdir, ["--dump", dump]),
                        4 * args.max_seconds + 120)
    scraper["body_sample"] = Path(dump).read_text()
    return {"workers": workers, "scraper": scraper}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2,
                        help="multiprocess mode: processes sharing the visitors")
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--max-seconds", type=float, default=240.0,
                        help="bound for each driving loop and each set of scrapes")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--db-name", default="touchpoint_bench_metrics")
    parser.add_argument("--keep", action="store_true", help="keep the database and /tmp dir")
    parser.add_argument("--show", action="store_true", help="print the final exposition")
    # internal: the multiprocess roles
    parser.add_argument("--role", choices=("main", "worker", "scraper"), default="main",
                        help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--spool-dir", help=argparse.SUPPRESS)
    parser.add_argument("--order-base", type=int, default=10_000_000, help=argparse.SUPPRESS)
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "worker":
        return role_worker(args)
    if args.role == "scraper":
        return role_scraper(args)

    if not (0 < args.visitors <= 1_000_000 and 0 < args.products <= 1_000_000
            and 0 < args.scrapes <= 10_000 and 1 <= args.workers <= 8):
        parser.error("out of bounds: visitors/products <= 1,000,000, scrapes <= 10,000, "
                     "workers 1..8")
    # Single-process mode in this process: prometheus_client must not see the variable.
    if os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None):
        log("note: PROMETHEUS_MULTIPROC_DIR was set; unset for the single-process run")

    workdir = Path(tempfile.mkdtemp(prefix="touchpoint_bench_metrics_", dir="/tmp"))
    args.spool_dir = str(workdir / "spool")
    if args.db == "postgresql":
        check_name(args.db_name)
        pg_recreate(args.admin_url, args.db_name)
        args.url = pg_url(args.admin_url, args.db_name, "postgresql+psycopg")
    else:
        args.url = f"sqlite:///{workdir / 'metrics.db'}"
    load_start = os.getloadavg()
    try:
        result = run(args, workdir)
    finally:
        if not args.keep:
            if args.db == "postgresql":
                pg_recreate(args.admin_url, args.db_name, drop_only=True)
            shutil.rmtree(workdir, ignore_errors=True)
    load_end = os.getloadavg()
    report(args, result, load_start, load_end)
    return 0 if result["bounded"] else 1


def run(args, workdir: Path) -> dict:
    log(f"== building {args.db} store: migrations, {len(CATEGORIES)} categories, "
        f"{args.products:,} products")
    t = time.perf_counter()
    build(args, args.url, args.spool_dir)
    log(f"    built in {time.perf_counter() - t:.1f}s")

    app = make_app(args.url, args.spool_dir)
    products = load_products(app)
    client = app.test_client()
    checkpoints = []

    def at_checkpoint(driver, collector):
        stats = exposition_stats(scrape_once(client))
        checkpoints.append({"visitors": driver.visitors, "requests": driver.requests,
                            "products_viewed": len(driver.viewed), "series": stats["series"],
                            "bytes": stats["bytes"], "families": stats["families"]})
        log(f"    checkpoint at {driver.visitors:,} visitors: {stats['series']} series, "
            f"{stats['bytes']:,} bytes, {len(driver.viewed):,} products viewed")

    log(f"== single process: {args.visitors:,} fresh visitors through the tracker's hooks")
    marks = [m for m in (1_000, 10_000, 100_000, 1_000_000) if m < args.visitors] \
        + [args.visitors]
    driven = drive(app, products, args.visitors, args.seed, 1_000_000, args.max_seconds,
                   "single", checkpoints=marks, at_checkpoint=at_checkpoint)
    collector = driven.pop("collector")
    driven.pop("driver")
    log(f"== loading {len(collector.journeys):,} journeys rows (what the writer would have "
        "folded) for journey_active")
    t = time.perf_counter()
    bulk_insert(args.db, args.url, "journeys", JOURNEY_COLUMNS, collector.rows())
    if args.db == "postgresql":
        import psycopg

        with psycopg.connect(pg_url(args.admin_url, args.db_name), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE journeys")
    log(f"    loaded in {time.perf_counter() - t:.1f}s")

    log(f"== single process: scraping {args.scrapes}x warm and {args.scrapes}x cold")
    single = time_scrapes(app, args.scrapes, args.max_seconds)
    state = app.extensions["journey"]
    state.engine.dispose()

    mp = multiprocess(args, workdir)

    final_visitors = [c for c in checkpoints if c["visitors"] >= 10_000]
    series_seen = {c["series"] for c in final_visitors}
    bounded = len(series_seen) <= 1
    return {"driven": driven, "checkpoints": checkpoints, "single": single, "mp": mp,
            "bounded": bounded}


def report(args, result: dict, load_start, load_end) -> None:
    single, mp, driven = result["single"], result["mp"], result["driven"]
    scraper = mp["scraper"]
    mp_visitors = sum(w["visitors"] for w in mp["workers"])
    log("")
    log(f"/metrics with {args.products:,} products, {driven['visitors']:,} visitors "
        f"({driven['requests']:,} requests, {driven['events']:,} tracked events, "
        f"{driven['products_viewed']:,} distinct products viewed), {args.db}; load average "
        f"{load_start[0]:.1f} -> {load_end[0]:.1f} on {os.cpu_count()} CPUs")
    rows = []
    for label, r, who in (("single process", single, f"{driven['visitors']:,}"),
                          (f"multiprocess ({args.workers} workers + scraper)", scraper,
                           f"{mp_visitors:,}")):
        rows.append((label, who, f"{r['series']:,}", f"{r['bytes']:,}",
                     f"{r['warm']['p50_ms']:.1f}", f"{r['warm']['p99_ms']:.1f}",
                     f"{r['cold']['p50_ms']:.1f}", f"{r['cold']['p99_ms']:.1f}",
                     f"{r['journey_active_total']:,}"))
    table(("mode", "visitors", "series", "bytes", "warm p50 ms", "warm p99 ms", "cold p50 ms",
           "cold p99 ms", "journey_active"), rows)
    log(f"  warm: journey_active from its cache; cold: cache invalidated before each scrape, "
        f"so it runs store.count_active over {single['journey_active_total']:,}+ journeys "
        f"(alone: {single['count_active_ms']:.1f} ms). {args.scrapes} scrapes each.")
    log("")
    log("Series do not grow with visitors or products viewed (single process):")
    table(("after visitors", "requests", "distinct products viewed", "series", "bytes"),
          [(f"{c['visitors']:,}", f"{c['requests']:,}", f"{c['products_viewed']:,}",
            f"{c['series']:,}", f"{c['bytes']:,}") for c in result["checkpoints"]])
    log(f"  bounded (same count from 10,000 visitors on): {result['bounded']}")
    log("")
    log("Series per metric family (single process vs multiprocess; single-process counters "
        "and histograms add a <name>_created series per label set, multiprocess mode does not):")

    def folded(families: dict) -> dict:
        out: dict[str, list[int]] = {}
        for name, n in families.items():
            base = name.removesuffix("_created")
            if base != name and base in families:
                out.setdefault(base, [0, 0])[1] += n
            else:
                out.setdefault(name, [0, 0])[0] += n
        return out

    one, many = folded(single["families"]), folded(scraper["families"])
    table(("family", "single", "of which _created", "multiprocess"),
          [(n, sum(one.get(n, [0, 0])), one.get(n, [0, 0])[1], sum(many.get(n, [0, 0])))
           for n in sorted(set(one) | set(many))])
    if args.show:
        log(single["body_sample"])
    summary = {
        "benchmark": "metrics_scrape", "db": args.db, "products": args.products,
        "visitors": driven["visitors"], "requests": driven["requests"],
        "products_viewed": driven["products_viewed"], "scrapes": args.scrapes,
        "single_series": single["series"], "single_bytes": single["bytes"],
        "single_warm_p50_ms": round(single["warm"]["p50_ms"], 2),
        "single_warm_p99_ms": round(single["warm"]["p99_ms"], 2),
        "single_cold_p50_ms": round(single["cold"]["p50_ms"], 2),
        "single_cold_p99_ms": round(single["cold"]["p99_ms"], 2),
        "mp_workers": args.workers, "mp_visitors": mp_visitors, "mp_files": scraper["files"],
        "mp_series": scraper["series"], "mp_bytes": scraper["bytes"],
        "mp_warm_p50_ms": round(scraper["warm"]["p50_ms"], 2),
        "mp_warm_p99_ms": round(scraper["warm"]["p99_ms"], 2),
        "mp_cold_p50_ms": round(scraper["cold"]["p50_ms"], 2),
        "mp_cold_p99_ms": round(scraper["cold"]["p99_ms"], 2),
        "journey_active": single["journey_active_total"],
        "series_by_visitors": {c["visitors"]: c["series"] for c in result["checkpoints"]},
        "bounded": result["bounded"],
        "loadavg": [round(load_start[0], 2), round(load_end[0], 2)],
    }
    log(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
