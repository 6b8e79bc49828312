"""/metrics: the contract's metrics and labels, bounded series, promtool, gunicorn
multiprocess mode and a real Prometheus server."""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import string
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from storefront.extensions import db
from storefront.models import Product

from . import factories
from .support import ROOT, Shopper, free_port, poll, value, wait_for_port

CONTRACT = {
    "storefront_http_requests": ("counter", {"endpoint", "method", "status"}),
    "storefront_http_request_duration_seconds": ("histogram", {"endpoint", "method"}),
    "journey_touchpoints": ("counter", {"touchpoint"}),
    "journey_stage_entered": ("counter", {"stage"}),
    "journey_time_to_stage_seconds": ("histogram", {"stage"}),
    "journey_abandoned": ("counter", {"stage"}),
    "journey_recovered": ("counter", set()),
    "journey_active": ("gauge", {"stage"}),
    "storefront_orders": ("counter", set()),
    "storefront_revenue": ("counter", {"currency"}),
    "storefront_payments": ("counter", {"outcome"}),
    "storefront_delivery_seconds": ("histogram", set()),
    "storefront_reviews": ("counter", {"rating"}),
    "storefront_refunds": ("counter", {"currency"}),
    "tracking_events_written": ("counter", set()),
    "tracking_events_dropped": ("counter", {"reason"}),
    "tracking_events_spooled": ("counter", set()),
    "tracking_spool_bytes": ("gauge", set()),
    "tracking_spool_refused_bytes": ("gauge", set()),
    "tracking_spool_writable": ("gauge", set()),
    "tracking_build_info": ("gauge", {"version", "python"}),
    "tracking_queue_depth": ("gauge", set()),
    # The store's own, read from its database at the scrape (collect_when_scraped)
    "storefront_outbox_waiting": ("gauge", set()),
    "storefront_outbox_overdue_seconds": ("gauge", set()),
}
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def series_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def test_the_stores_revenue_and_every_drop_reason_are_series_from_the_first_scrape(client):
    """rate() and increase() need a series before its first sale or loss: a counter
    that appears at 14.99 reads as no revenue at all in the first window."""
    text = client.get("/metrics").get_data(as_text=True)
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in text_string_to_metric_families(text) for s in family.samples}
    assert found[("storefront_revenue_total", (("currency", "USD"),))] == 0
    for reason in ("invalid", "queue_full", "error", "no_journey", "spool_full", "refused"):
        assert found[("tracking_events_dropped_total", (("reason", reason),))] == 0, reason
    # Every stage a journey can be abandoned at, and no other: a purchased journey never is.
    abandoned = {dict(labels)["stage"] for name, labels in found
                 if name == "journey_abandoned_total"}
    assert abandoned == {"landing", "browse", "cart", "checkout", "payment"}
    entered = {dict(labels)["stage"] for name, labels in found
               if name == "journey_stage_entered_total"}
    assert entered == {"landing", "browse", "cart", "checkout", "payment", "purchase",
                       "shipped", "delivered", "reviewed"}
    # The time to each stage from the journey's start: not to landing, where it starts
    # (always 0 s: a bucket set of series that said nothing)
    timed = {dict(labels)["stage"] for name, labels in found
             if name == "journey_time_to_stage_seconds_count"}
    assert timed == entered - {"landing"}


def test_every_contract_metric_with_its_labels(client, shop_db, localstripe, flush_journeys):
    mug = factories.product("Mug", stock=5)
    shopper = Shopper(client, localstripe)
    shopper.add_to_cart(mug.id)
    shopper.to_payment()
    assert shopper.pay().get_json()["status"] == "succeeded"
    flush_journeys()
    text = client.get("/metrics").get_data(as_text=True)
    found = families(text)
    assert value(text, "storefront_revenue_total", currency="USD") == 14.99  # $10 + $4.99
    assert value(text, "storefront_payments_total", outcome="succeeded") == 1
    for name, (kind, labels) in CONTRACT.items():
        assert name in found, name
        assert found[name].type == kind, name
        samples = [s for s in found[name].samples if not s.name.endswith("_created")]
        assert samples, f"{name} has no series"
        for sample in samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)
    # Which tracker this host runs: the installed version, once
    import platform
    import tomllib

    import tracking

    [info] = found["tracking_build_info"].samples
    assert info.value == 1 and info.labels == {
        "version": tracking.__version__, "python": platform.python_version()}
    # The code's version is both packages' (the tracker's wheel, the store's)
    for pyproject in (ROOT / "pyproject.toml", ROOT / "tracking" / "pyproject.toml"):
        assert tomllib.loads(pyproject.read_text())["project"]["version"] == tracking.__version__


def test_label_values_are_bounded(app, client, shop_db, backend):
    if backend != "sqlite":
        pytest.skip("label cardinality does not depend on the database")
    rows = [{"slug": f"p-{n}", "sku": f"S{n:05d}", "title": f"Product {n}", "description": "",
             "category_id": factories.category().id, "price": 100 + n, "stock": 5,
             "currency": "USD", "image": "", "featured": False, "sold_count": 0,
             "rating_count": 0, "rating_sum": 0} for n in range(1000)]
    db.session.execute(insert(Product), rows)
    db.session.commit()
    client.get("/p/p-0", headers=BROWSER)
    client.get("/no-such-page", headers=BROWSER)
    client.get("/metrics")  # the scrape counts itself from the second one on
    before = client.get("/metrics").get_data(as_text=True)
    rng = random.Random(7)
    for n in range(1000):
        junk = "".join(rng.choices(string.ascii_lowercase + "/-", k=12))
        assert client.get(f"/zz{junk}x?id={n}", headers=BROWSER).status_code in (404, 308)
        assert client.get(f"/p/p-{n}", headers=BROWSER).status_code == 200
    after = client.get("/metrics").get_data(as_text=True)
    assert series_count(after) == series_count(before)
    assert value(after, "storefront_http_requests_total", endpoint="<unmatched>") >= 1001
    assert "p-99" not in after and "/no-such-page" not in after


def put_in_spool(directory, waiting: int, refused: int) -> list:
    """A file replay leaves alone (its writer, this process, is alive) and a refused one."""
    directory.mkdir(parents=True, exist_ok=True)
    files = [directory / f"writing-{os.getpid()}-test.jsonl", directory / "refused-1.jsonl"]
    files[0].write_bytes(b"x" * waiting)
    files[1].write_bytes(b"y" * refused)
    return files


def spool_gauges(text: str) -> tuple[float, float]:
    found = families(text)
    assert {"tracking_spool_bytes", "tracking_spool_refused_bytes"} <= set(found), text
    return (value(text, "tracking_spool_bytes"), value(text, "tracking_spool_refused_bytes"))


def test_the_spool_gauges_are_read_from_the_directory_when_scraped(app, client, backend):
    """What waits to be replayed, and apart what the database refused (it never drains by
    itself): both fall to 0 at the scrape after the files go."""
    if backend != "sqlite":
        pytest.skip("the spool does not depend on the database")
    spool = app.extensions["journey"].spool
    files = put_in_spool(spool.directory, waiting=300, refused=120)
    assert spool_gauges(client.get("/metrics").get_data(as_text=True)) == (300, 120)
    assert spool.size() == 420, "max_bytes bounds the disk: refused files count there"
    for path in files:
        path.unlink()
    assert spool_gauges(client.get("/metrics").get_data(as_text=True)) == (0, 0)


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("promtool")
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is missing (Debian package prometheus; `make test` installs it)")
        pytest.skip("promtool is not installed")
    return subprocess.run([exe, *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_exposition_passes_promtool(client, shop_db):
    mug = factories.product("Mug", stock=5)
    Shopper(client).add_to_cart(mug.id)
    result = promtool("check", "metrics", stdin=client.get("/metrics").get_data(as_text=True))
    assert result.returncode == 0, result.stdout + result.stderr


def add_to_cart_over_http(base: str, product_id: int, shoppers: int) -> None:
    for _ in range(shoppers):
        with requests.Session() as s:
            s.headers.update(BROWSER)
            page = s.get(f"{base}/account/login", headers={"DNT": "1"}, timeout=30).text
            token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
            r = s.post(f"{base}/cart/add", data={"product_id": product_id, "csrf_token": token},
                       timeout=30, allow_redirects=False)
            assert r.status_code == 302, r.text[:300]


def test_gunicorn_two_workers_multiprocess_metrics(gunicorn, shop_db):
    mug = factories.product("Mug", stock=500)
    server = gunicorn()
    add_to_cart_over_http(server.url, mug.id, shoppers=12)

    def settled():
        # A writer counts a stage entry just after its commit: wait for both to be seen.
        text = server.metrics()
        done = (value(text, "journey_active", stage="cart") == 12
                and value(text, "tracking_events_written_total") == 24)
        return text if done else None

    text = poll(settled)
    assert text, server.metrics()
    # Counters from both workers are summed; live journeys come from the shared database.
    assert value(text, "journey_touchpoints_total", touchpoint="add_to_cart") == 12
    assert value(text, "journey_stage_entered_total", stage="cart") == 12
    assert value(text, "tracking_events_written_total") == 24  # landing + add_to_cart each
    pids = {p.stem.split("_")[-1] for p in server.multiproc.glob("*.db")}
    assert len(pids) >= 2, "both workers served and wrote their own files"
    # Each worker froze the app it built out of the garbage collector's full collections.
    frozen = re.findall(r"Worker (\d+): (\d+) start-up objects frozen", server.log_text())
    assert {pid for pid, _ in frozen} >= pids, server.log_text()
    assert all(int(n) > 50_000 for _, n in frozen), frozen
    result = promtool("check", "metrics", stdin=text)
    assert result.returncode == 0, result.stdout + result.stderr
    # A guest's order link opens the order, a reminder's lists what they left: the access
    # log keeps their paths, not their tokens
    for path in ("/orders/MzI4.SecretOrderToken", "/checkout/confirmation/MzI5.SecretToken2",
                 "/checkout/pay/MzMw.SecretToken3/check", "/cart/return/MzMx.SecretToken4"):
        requests.get(server.url + path, headers={"Referer": server.url + path}, timeout=10)
    access = poll(lambda: (server.multiproc.parent / "access.log").read_text().count("…") >= 8
                  and (server.multiproc.parent / "access.log").read_text())
    assert access and "GET /orders/… HTTP/1.1" in access, access
    assert "GET /cart/return/… HTTP/1.1" in access, access
    assert "Secret" not in access and "MzI" not in access
    # The panel's search is by a shopper's email, and its address every later referrer
    search = f"{server.url}/admin/api/journeys?from=2026-12-01&q=ada%40example.com"
    requests.get(search, headers={"Referer": f"{server.url}/admin/journeys?q=ada@example.com"},
                 timeout=10)
    access = poll(lambda: "/admin/api/journeys" in (log := (
        server.multiproc.parent / "access.log").read_text()) and log)
    assert access and "GET /admin/api/journeys?from=2026-12-01&q=… HTTP/1.1" in access, access
    assert "/admin/journeys?q=…" in access and "example.com" not in access


def test_gunicorn_every_worker_reports_the_spool_as_it_is_now(gunicorn, shop_db, tmp_path):
    """The spool is the host's: whichever worker answers, a scrape reports the directory as
    it is, and 0 once it drained (not the largest value any worker ever saw)."""
    server = gunicorn()
    files = put_in_spool(tmp_path / "journey-spool", waiting=300, refused=120)

    def scrapes(n: int = 16) -> set:
        with ThreadPoolExecutor(4) as pool:
            return set(pool.map(lambda _: spool_gauges(server.metrics()), range(n)))

    def scrapes_while_a_worker_waits() -> set:
        # A request that never ends holds one sync worker: the other answers the scrapes.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as held:
            held.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            return scrapes()

    assert scrapes() | scrapes_while_a_worker_waits() == {(300, 120)}
    for path in files:
        path.unlink()
    assert scrapes_while_a_worker_waits() | scrapes() == {(0, 0)}


def test_gunicorn_keeps_metric_and_heartbeat_files_in_memory(gunicorn, shop_db):
    """Every request writes the mmap'd metric files: deploy/gunicorn.conf.py makes them in
    /dev/shm (not a disk the kernel keeps writing them back to), with gunicorn's worker
    heartbeat files, and removes the directory it made when the server stops."""
    if not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm on this machine")
    server = gunicorn(PROMETHEUS_MULTIPROC_DIR="")  # unset: the config chooses
    assert requests.get(f"{server.url}/", timeout=10).status_code == 200

    def open_files(workers: set[str]) -> list[str]:
        links = []
        for pid in workers:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):  # an fd closed while we look
                    links.append(os.readlink(fd))
        return links

    def metrics_dirs(workers: set[str]) -> set[Path]:
        # Where this server's workers write (other servers of the run make theirs there too)
        return {Path(link).parent for link in open_files(workers)
                if link.startswith("/dev/shm/touchpoint-prometheus-") and link.endswith(".db")}

    workers = _workers(server)
    made = poll(lambda: metrics_dirs(workers), timeout=10)
    assert made and len(made) == 1, open_files(workers)
    (metrics_dir,) = made
    assert any(link.startswith("/dev/shm/wgunicorn-") for link in open_files(workers))
    # SIGHUP: gunicorn reads its config again and replaces the workers; the directory is
    # the same one, not wiped under the workers still writing it.
    for _ in range(3):
        requests.get(f"{server.url}/", timeout=10)
    counted = poll(lambda: value(server.metrics(), "storefront_http_requests_total",
                                 endpoint="shop.landing") >= 4, timeout=10)
    assert counted, server.metrics()
    server.proc.send_signal(signal.SIGHUP)
    assert poll(lambda: not workers & _workers(server), timeout=20), "the workers replaced"
    assert requests.get(f"{server.url}/", timeout=10).status_code == 200
    assert poll(lambda: metrics_dirs(_workers(server)) == {metrics_dir}, timeout=10)
    assert poll(lambda: value(server.metrics(), "storefront_http_requests_total",
                              endpoint="shop.landing") >= 5, timeout=10), \
        "the old workers' counts are still summed: " + server.metrics()
    server.stop()
    assert not metrics_dir.exists(), "removed at exit"


def test_a_real_prometheus_scrapes_the_store(gunicorn, shop_db, tmp_path):
    exe = shutil.which("prometheus")
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("prometheus is missing (`make test` installs Debian's package)")
        pytest.skip("prometheus is not installed")
    mug = factories.product("Mug", stock=500)
    server = gunicorn()
    add_to_cart_over_http(server.url, mug.id, shoppers=7)
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: touchpoint\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{server.port}']\n"
    )
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115
    prom = subprocess.Popen(
        [exe, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc=prom, timeout=30)
        query = 'sum(journey_touchpoints_total{touchpoint="add_to_cart"})'

        def answer():
            r = requests.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query},
                             timeout=5)
            if r.status_code != 200:  # still starting up
                return None
            results = r.json()["data"]["result"]
            return float(results[0]["value"][1]) if results else None

        assert poll(lambda: answer() == 7, timeout=40, interval=0.5), answer()
        up = requests.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": "up"},
                          timeout=5).json()["data"]["result"]
        assert up[0]["value"][1] == "1"
    finally:
        prom.terminate()
        prom.wait(20)
        log.close()


def test_gunicorn_shutdown_flushes_queued_events(gunicorn, app, shop_db):
    """Events still queued when gunicorn stops are written by each worker on its way out."""
    from tracking.models import journey_events

    mug = factories.product("Mug", stock=500)
    server = gunicorn(JOURNEY_FLUSH_INTERVAL="30", JOURNEY_BATCH_SIZE="1000")
    add_to_cart_over_http(server.url, mug.id, shoppers=6)
    engine = app.extensions["journey"].engine
    with engine.connect() as conn:
        assert conn.execute(journey_events.select()).all() == [], "still queued"
    server.stop()
    assert server.proc.returncode == 0, server.log_text()
    with engine.connect() as conn:
        assert len(conn.execute(journey_events.select()).all()) == 12


def test_a_command_run_with_the_stores_metrics_directory_leaves_no_live_gauge(tmp_path):
    """A command (orders expire, journey sweep) run with the store's PROMETHEUS_MULTIPROC_DIR
    counts there; when it ends, its live gauges (the writer's queue) go, as a dead worker's
    do, and its counters stay."""
    import subprocess
    import sys

    directory = tmp_path / "prometheus"
    directory.mkdir()
    script = (
        "from flask import Flask\n"
        "from tracking import JourneyTracker\n"
        "app = Flask('cmd')\n"
        f"app.config.update(SECRET_KEY='x', JOURNEY_DATABASE_URL='sqlite:///{tmp_path}/j.db')\n"
        "journey = JourneyTracker(app)\n"
        "with app.app_context():\n"
        "    journey.create_all()\n"
        "    journey.track('search', journey_id='j1', query='tea', results=1)\n"
        "    journey.flush()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ,
                                           "PROMETHEUS_MULTIPROC_DIR": str(directory)})
    assert done.returncode == 0, done.stderr
    files = sorted(p.name.rsplit("_", 1)[0] for p in directory.glob("*.db"))
    assert "counter" in files and not [f for f in files if f.startswith("gauge_live")], files


_ENDED_PROCESS = """
import os, sys
from prometheus_client import CollectorRegistry, Counter, Histogram
if sys.argv[2] == "tracked":
    import tracking.metrics  # noqa: F401  its exit moves this process's files into the archive
r = CollectorRegistry()
things = Counter("shop_things", "Things.", ["kind"], registry=r)
wait = Histogram("shop_wait_seconds", "Wait.", buckets=(1, 5), registry=r)
n = int(sys.argv[1])
things.labels("a").inc(n)
things.labels("b").inc(0.5)
for i in range(n):
    wait.observe(i * 2)
print(os.getpid())
"""


def _ended_process(directory, n: int, tracked: bool = True) -> str:
    import sys

    done = subprocess.run([sys.executable, "-c", _ENDED_PROCESS, str(n),
                           "tracked" if tracked else "plain"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _read(directory) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    from tracking.archive import LockedCollector

    registry = CollectorRegistry()
    LockedCollector(registry, path=str(directory))
    return generate_latest(registry).decode()


def test_ended_processes_counts_go_into_one_archive_that_sums_as_their_files_did(tmp_path):
    """Each process that ends moves its counters and histograms into the directory's
    archive: the directory keeps two files however many processes came and went, and
    /metrics reads exactly what it read with every process's own files there."""
    archived, kept = tmp_path / "archived", tmp_path / "kept"
    archived.mkdir()
    kept.mkdir()
    for n in (1, 2, 3, 4):
        _ended_process(archived, n)
        _ended_process(kept, n, tracked=False)  # prometheus_client alone: its files stay
        assert sorted(p.name for p in archived.glob("*.db")) == [
            "counter_archive.db", "histogram_archive.db"]
    assert len(list(kept.glob("*.db"))) == 8
    assert sorted(_read(archived).splitlines()) == sorted(_read(kept).splitlines())
    text = _read(archived)
    assert value(text, "shop_things_total", kind="a") == 10
    assert value(text, "shop_things_total", kind="b") == 2
    assert value(text, "shop_wait_seconds_count") == 10
    assert value(text, "shop_wait_seconds_sum") == 2 * (0 + 0 + 1 + 0 + 1 + 2 + 0 + 1 + 2 + 3)
    assert value(text, "shop_wait_seconds_bucket", le="1.0") == 4  # the four zeros
    assert value(text, "shop_wait_seconds_bucket", le="5.0") == 9  # all but one 6


def test_a_process_is_archived_between_scrapes_never_during_one(tmp_path):
    """A scrape reads under the directory's lock; moving an ended process's counts into
    the archive waits for it, so no scrape sees them twice (in both files) or not at all."""
    import threading

    from tracking.archive import directory_lock, retire_process

    directory = tmp_path / "prometheus"
    directory.mkdir()
    _ended_process(directory, 3)  # an archive already there
    pid = _ended_process(directory, 2, tracked=False)  # as a worker killed outright leaves
    before = _read(directory)
    ended = {f"counter_{pid}.db", f"histogram_{pid}.db"}
    assert ended <= {p.name for p in directory.glob("*.db")}
    moved = []
    with directory_lock(str(directory), exclusive=False):  # a scrape, reading
        mover = threading.Thread(target=lambda: moved.append(retire_process(pid, str(directory))))
        mover.start()
        mover.join(0.5)
        assert mover.is_alive(), "the files were moved while a scrape read them"
        assert ended <= {p.name for p in directory.glob("*.db")}
    mover.join(10)
    assert moved == [2]
    assert not ended & {p.name for p in directory.glob("*.db")}
    assert sorted(_read(directory).splitlines()) == sorted(before.splitlines())
    assert value(before, "shop_things_total", kind="a") == 5


def _workers(server) -> set[str]:
    pid = server.proc.pid
    return set(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


def test_gunicorn_workers_that_end_keep_their_counts_and_leave_no_files(gunicorn, shop_db):
    """Workers replaced (one ended by SIGTERM, as a reload ends them; one killed outright,
    as for a timeout or out of memory): the counters keep every count, and the metrics
    directory holds the live workers' files and the archive, not one file per worker that
    ever ran."""
    mug = factories.product("Mug", stock=500)
    server = gunicorn()
    add_to_cart_over_http(server.url, mug.id, shoppers=8)

    def settled():
        text = server.metrics()
        return text if value(text, "tracking_events_written_total") == 16 else None

    assert poll(settled), server.metrics()
    for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGTERM, signal.SIGKILL):
        old = _workers(server)
        # The oldest by number: min() of the pids as text took "1076" before "918", the
        # worker just booted, perhaps before its metric files existed
        os.kill(min(map(int, old)), sig)
        assert poll(lambda old=old: len(_workers(server) - old) == 1
                    and len(_workers(server)) == 2, timeout=30), server.log_text()
        live = _workers(server)
        # The new worker's files appear as it builds the app: wait for the old one's to go
        assert poll(lambda live=live: {p.stem.rsplit("_", 1)[-1]
                                       for p in server.multiproc.glob("*.db")}
                    <= live | {"archive"}, timeout=30), sorted(server.multiproc.glob("*.db"))
    text = server.metrics()
    assert value(text, "journey_touchpoints_total", touchpoint="add_to_cart") == 8
    assert value(text, "journey_stage_entered_total", stage="cart") == 8
    assert value(text, "tracking_events_written_total") == 16
    assert value(text, "storefront_http_requests_total", endpoint="cart.add", method="POST",
                 status="302") == 8
    names = {p.name for p in server.multiproc.glob("*.db")}
    assert {"counter_archive.db", "histogram_archive.db"} <= names, names
    assert "its counts moved into the metrics archive" in server.log_text()


def _counter_files(directory, amounts: list[list[float]]) -> list[int]:
    """Files as ended processes leave them: one counter per process (pids from 1000), its
    value the sum of its amounts, added one by one as a process adds them."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    key = mmap_key("shop_revenue", "shop_revenue_total", ["currency"], ["USD"], "Revenue.")
    pids = []
    for i, each in enumerate(amounts):
        total = 0.0
        for amount in each:
            total += amount
        f = MmapedDict(str(directory / f"counter_{1000 + i}.db"))
        f.write_value(key, total, 0.0)
        f.close()
        pids.append(1000 + i)
    return pids


def _revenue(directory) -> float:
    return value(_read(directory), "shop_revenue_total", currency="USD")


def test_a_float_counter_never_goes_back_as_processes_are_archived(tmp_path):
    """Revenue in cents-as-dollars adds up with rounding, differently in another order;
    Prometheus reads any decrease as a counter reset (and rate() as the whole value sold
    again). Moves round the archive up and the scrape adds with fsum: never lower."""
    import random

    from tracking.archive import retire_process

    rng = random.Random(7)
    prices = [19.99, 4.5, 12.75, 0.99, 149.0, 33.3, 0.1, 7.77]
    for trial in range(12):
        directory = tmp_path / f"trial{trial}"
        directory.mkdir()
        sales = [[rng.choice(prices) for _ in range(rng.randrange(50, 400))] for _ in range(8)]
        pids = _counter_files(directory, sales)
        rng.shuffle(pids)
        seen = _revenue(directory)
        for pid in pids:
            assert retire_process(pid, str(directory)) == 1
            now = _revenue(directory)
            assert now >= seen, (trial, pid, seen, now)
            assert now - seen <= 1e-9 * seen  # rounded up by an ulp or so, no more
            seen = now


class _Killed(BaseException):
    """A process killed in the middle: nothing after the step runs (but the lock, which
    the kernel would drop with the process, is let go as the exception unwinds)."""


@pytest.mark.parametrize("step", range(1, 6))
def test_a_move_killed_at_any_step_reads_the_same_and_is_finished_by_the_next(
        tmp_path, monkeypatch, step):
    """Each rename and removal of a move, killed there: a scrape reads the same totals
    (the journal's files are read as they stand), and the next move finishes it, without
    counting anything twice."""
    from tracking import archive

    directory = tmp_path / "prometheus"
    directory.mkdir()
    first, ended, later = _counter_files(directory, [[1.5] * 4, [2.25] * 4, [3.0] * 4])
    assert archive.retire_process(first, str(directory)) == 1  # an archive already there
    before = _read(directory)
    calls = {"n": 0}
    real_replace, real_remove = os.replace, os.remove

    def counted(real):
        def step_of_the_move(*args):
            calls["n"] += 1
            if calls["n"] == step:
                raise _Killed
            return real(*args)
        return step_of_the_move

    monkeypatch.setattr(archive.os, "replace", counted(real_replace))
    monkeypatch.setattr(archive.os, "remove", counted(real_remove))
    with pytest.raises(_Killed):
        archive.retire_process(ended, str(directory))
    monkeypatch.undo()
    assert sorted(_read(directory).splitlines()) == sorted(before.splitlines()), step
    assert archive.retire_process(later, str(directory)) == 1
    archive.retire_process(ended, str(directory))  # child_exit, for a worker that moved its own
    assert _revenue(directory) == 6 + 9 + 12
    assert sorted(p.name for p in directory.iterdir()) == ["archive.lock", "counter_archive.db"]


def test_a_move_interrupted_by_another_never_waits_on_its_own_lock(tmp_path, monkeypatch):
    """gunicorn's child_exit runs in its SIGCHLD handler, which a second SIGCHLD can enter
    again in the middle of a move: the nested call leaves its worker to the move under way
    (it waited on its own process's lock for ever)."""
    import threading

    from tracking import archive

    directory = tmp_path / "prometheus"
    directory.mkdir()
    one, two = _counter_files(directory, [[1.0] * 3, [2.0] * 3])
    real_merge, nested = archive._merge, []

    def merge_and_be_interrupted(*args):
        if not nested:
            nested.append(archive.retire_process(two, str(directory)))  # the second SIGCHLD
        return real_merge(*args)

    monkeypatch.setattr(archive, "_merge", merge_and_be_interrupted)
    done = []
    master = threading.Thread(target=lambda: done.append(
        archive.retire_process(one, str(directory))), daemon=True)
    master.start()
    master.join(10)
    assert not master.is_alive(), "the master waits on its own lock"
    assert nested == [0] and done == [2]  # the nested call's worker, moved by the outer one
    assert _revenue(directory) == 9
    assert sorted(p.name for p in directory.glob("*.db")) == ["counter_archive.db"]


def test_a_file_that_cannot_be_read_is_logged_and_left_and_never_raised(tmp_path, caplog):
    """A worker killed as it made its file leaves it empty: the master logs it and goes
    on (an exception in child_exit would stop gunicorn's master), and other workers'
    files still move."""
    from tracking.archive import retire_process

    directory = tmp_path / "prometheus"
    directory.mkdir()
    (good,) = _counter_files(directory, [[5.0]])
    (directory / "counter_4242.db").write_bytes(b"")
    assert retire_process(4242, str(directory)) == 0
    assert "process 4242's files stay" in caplog.text
    assert retire_process(good, str(directory)) == 1
    assert (directory / "counter_archive.db").exists()
