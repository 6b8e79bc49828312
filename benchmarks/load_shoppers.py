"""Many shoppers at once: the store under load on gunicorn + PostgreSQL, nothing lost.

    .venv/bin/python benchmarks/load_shoppers.py                    # 200 shoppers, 2 minutes
    .venv/bin/python benchmarks/load_shoppers.py --concurrency 50 --duration 30

1. Recreates the scratch database ``touchpoint_load_bench`` (--db-name; must contain
   "bench"), runs the migrations and ``flask seed``, creates an admin for the courier.
2. Starts localstripe and the store under gunicorn (deploy/gunicorn.conf.py, --workers,
   --threads) on loopback, with Stripe's webhooks pointed at the store.
3. Runs the simulator (checkout/simulator.py: personas, searches, carts, checkout, cards
   declined and 3-D Secure, returning shoppers) with --concurrency shoppers at all times
   for --duration seconds, then the courier. Every HTTP answer is timed; progress every 10 s.
4. Reads /metrics, stops gunicorn gracefully (every worker's writer flushes), and counts the
   stored events: they must equal the touchpoints the store emitted
   (journey_touchpoints_total), with nothing dropped or left in the spool.
5. Prints a table (requests, req/s, p50/p95/p99 latency, 5xx, shoppers, purchases, events
   emitted vs stored, worker RSS at start and end) and one JSON line. Exit status 1 on any
   5xx or a lost event.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from _common import (  # noqa: E402
    PYTHON,
    ROOT,
    VENV_BIN,
    children_of,
    free_port,
    json_line,
    log,
    machine_note,
    percentile,
    rss_mb,
    run,
    table,
)
from _pg import check_name, pg_recreate, pg_url  # noqa: E402

ADMIN = ("load@example.com", "load-bench-password")


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered on port {port}")


def value(text: str, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--duration", type=float, default=120.0)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--admin-url", default=os.environ.get(
        "BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--db-name", default="touchpoint_load_bench")
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args()
    check_name(args.db_name)

    from checkout.simulator import Simulation, SimulationConfig  # noqa: PLC0415

    tmp = Path(tempfile.mkdtemp(prefix="tp-load-"))
    url = pg_url(args.admin_url, args.db_name, "postgresql+psycopg")
    pg_recreate(args.admin_url, args.db_name)
    secret = "load-bench-secret-0123456789abcdef0123"
    webhook_secret = "whsec_load_bench"
    stripe_port, store_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secret,
           "STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
           "STRIPE_JS_URL": f"http://127.0.0.1:{stripe_port}/js.stripe.com/v3/",
           "STRIPE_WEBHOOK_SECRET": webhook_secret,
           "JOURNEY_SPOOL_DIR": str(tmp / "spool"), "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prom"),
           "GUNICORN_BIND": f"127.0.0.1:{store_port}", "WEB_CONCURRENCY": str(args.workers),
           "GUNICORN_THREADS": str(args.threads), "GUNICORN_ACCESSLOG": str(tmp / "access.log")}
    (tmp / "prom").mkdir()
    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    log(f"database {args.db_name}: migrate, seed, admin")
    for cmd in (["db", "upgrade"], ["seed"]):
        subprocess.run(flask + cmd, cwd=ROOT, env=env, check=True, timeout=600,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(flask + ["admin", "create-user", ADMIN[0]], cwd=ROOT, env=env, check=True,
                   input=ADMIN[1] + "\n", text=True, timeout=60, stdout=subprocess.DEVNULL)

    stripe = subprocess.Popen(
        [PYTHON, str(ROOT / "scripts" / "localstripe_server.py"), "--port",
         str(stripe_port), "--from-scratch"],
        stdout=open(tmp / "localstripe.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    store = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
        env=env, stdout=open(tmp / "gunicorn.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True)
    try:
        wait_port(stripe_port, stripe)
        wait_port(store_port, store)
        requests.post(f"http://127.0.0.1:{stripe_port}/_config/webhooks/load",
                      data={"url": f"http://127.0.0.1:{store_port}/stripe/webhook",
                            "secret": webhook_secret}, timeout=10).raise_for_status()
        workers = children_of(store.pid)
        rss_start = rss_mb(workers)

        answers: list[tuple[float, int]] = []  # (seconds, status); bounded by the duration
        lock = threading.Lock()
        base = f"http://127.0.0.1:{store_port}"

        def on_response(response: requests.Response) -> None:
            if response.url.startswith(base):  # the store's answers, not localstripe's
                with lock:
                    answers.append((response.elapsed.total_seconds(), response.status_code))

        started = time.monotonic()
        stop_progress = threading.Event()

        def progress() -> None:
            last = 0
            while not stop_progress.wait(10):
                with lock:
                    n, errors = len(answers), sum(1 for _, s in answers if s >= 500)
                elapsed = time.monotonic() - started
                log(f"  {elapsed:5.0f}s  {n:,} requests ({(n - last) / 10:.0f}/s now), "
                    f"5xx {errors}, worker RSS {', '.join(f'{r:.0f}' for r in rss_mb(workers))} MB")
                last = n

        threading.Thread(target=progress, daemon=True).start()
        log(f"{args.concurrency} shoppers at once for {args.duration:g}s against {base} "
            f"({args.workers} workers x {args.threads} threads)")
        simulation = Simulation(SimulationConfig(
            base_url=base, shoppers=10**7, concurrency=args.concurrency, seed=args.seed,
            think=(0.2, 1.5), return_after=0.0, admin_email=ADMIN[0], admin_password=ADMIN[1],
            duration=args.duration, on_response=on_response, timeout=60))
        truth = simulation.run()
        elapsed = time.monotonic() - started
        stop_progress.set()
        rss_end = rss_mb(workers)
        time.sleep(2)  # webhooks still in flight
        metrics = requests.get(f"{base}/metrics", timeout=30).text
    finally:
        os.killpg(store.pid, signal.SIGTERM)  # graceful: each worker's writer flushes
        try:
            store.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(store.pid, signal.SIGKILL)
        stripe.terminate()
        stripe.wait(10)

    import psycopg  # noqa: PLC0415

    with psycopg.connect(pg_url(args.admin_url, args.db_name)) as conn:
        stored = conn.execute("SELECT count(*) FROM journey_events").fetchone()[0]
        journeys = conn.execute("SELECT count(*) FROM journeys").fetchone()[0]
    emitted = value(metrics, "journey_touchpoints_total")
    dropped = value(metrics, "tracking_events_dropped_total")
    spool_left = sum(p.stat().st_size for p in (tmp / "spool").glob("*.jsonl")) \
        if (tmp / "spool").exists() else 0
    if not args.keep:
        pg_recreate(args.admin_url, args.db_name, drop_only=True)

    latencies = sorted(s for s, _ in answers)
    errors = sum(1 for _, s in answers if s >= 500)
    result = {
        "requests": len(answers), "seconds": round(elapsed, 1),
        "rps": round(len(answers) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "http_5xx": errors, "shoppers": truth["shoppers"], "journeys_simulated":
            truth["journeys"], "journeys_stored": journeys, "purchases": truth["purchases"],
        "shopper_errors": len(truth["errors"]),
        "touchpoints_emitted": int(emitted), "events_stored": stored,
        "events_dropped": int(dropped), "spool_bytes_left": spool_left,
        "worker_rss_mb_start": [round(r) for r in rss_start],
        "worker_rss_mb_end": [round(r) for r in rss_end],
    }
    print(table(["measure", "value"], [[k, v] for k, v in result.items()]), flush=True)
    for error in truth["errors"][:10]:
        log(f"  shopper error: {error}")
    lost = stored != emitted or dropped or spool_left
    if errors or lost:
        log(f"FAILED: {errors} answers were 5xx; stored {stored} of {int(emitted)} events")
    json_line({"benchmark": "load_shoppers", "concurrency": args.concurrency,
               "duration_s": args.duration, "workers": args.workers, "threads": args.threads,
               "results": result, "machine": machine_note()})
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if errors or lost else 0


if __name__ == "__main__":
    run(main)
