"""What does journey tracking cost a product page? Tracker on vs off vs prometheus-flask-exporter.

Three variants of the same store, on the same seeded SQLite database (a fresh copy per run):

    on        the store as shipped (JOURNEY_ENABLED=true)
    off       the tracker's kill switch (JOURNEY_ENABLED=false)
    exporter  tracker off, prometheus-flask-exporter's PrometheusMetrics(app) instead
              (benchmarks/wsgi_exporter.py) — the usual "just add Prometheus" baseline

Two measures of GET /p/cast-iron-skillet-10-in with a desktop-Chrome User-Agent (tracked):

1. Load: gunicorn -c deploy/gunicorn.conf.py with 2 sync workers on 127.0.0.1, driven by wrk
   (a small Python load generator if wrk is missing) for --duration seconds after a
   --warmup; runs interleaved on, off, exporter, then off, exporter, on, ... (rotated each
   round, so no variant always runs first; --fixed-order not) for --rounds rounds.
   Ratios are taken within a round (same machine state), and the median over rounds is
   reported. Also: CPU seconds the gunicorn workers used per request (all threads, so the
   journey writer's too), from /proc, which other load on the machine disturbs less.
2. Instructions: valgrind --tool=callgrind runs benchmarks/_callgrind_requests.py, which
   builds the app in-process and sends K requests with the Flask test client, for
   K = --k-short and --k-long; (Ir_long - Ir_short) / (K_long - K_short) is the cost of one
   request with start-up cancelled. Every thread is counted, the journey writer included
   (it inserts the events and folds them into journeys: that is part of the tracker's cost);
   the writer is stopped at the end so every queued event is written inside the run. To save
   minutes, imports and create_app() run uninstrumented (--instr-atstart=no, then
   callgrind_control -i on); the K difference cancels what is left of start-up either way.

Visitors: --visitors returning shoppers (default 100; their cookies — tp_visitor and the
Flask session — minted by a first visit, sent in turn, so a writer batch holds events of
many journeys, as on a real site), except every --new-visitor-every-th request, which
carries no cookie at all: a brand-new visitor (landing + product_view, a new journey, a new
visitor cookie and session). Default 10: 10% new visitors. --visitors 1 is one constant
cookie; --new-visitor-every 0: all returning; 1: all new. A browser keeps the visitor cookie
the store last sent, and the store re-sends it only when the journey changes or its time is
JOURNEY_SESSION_TIMEOUT/60 (30 s) old. The callgrind driver keeps a cookie jar per visitor
like a browser; wrk cannot (it sends fixed headers), so the load phase mints fresh cookies
before every run, and a run (--warmup + --duration) stays under 30 s.

    make bench-deps     # pip install -e .[bench]; apt-get install wrk valgrind
    .venv/bin/python benchmarks/tracking_overhead.py                      # ~5 min on 2 cores
    .venv/bin/python benchmarks/tracking_overhead.py --skip-callgrind --rounds 5
    .venv/bin/python benchmarks/tracking_overhead.py --skip-load

The database (/tmp/bench.db, --db) is migrated and seeded on first use if missing.
Prints tables and, last, one JSON line {"benchmark": "tracking_overhead", ...}.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import http.client
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ACCEPT_HTML,
    BENCH_DIR,
    BROWSER_UA,
    DEFAULT_PRISTINE_DB,
    PRODUCT_PATH,
    PYTHON,
    ROOT,
    VENV_BIN,
    app_env,
    children_of,
    cpu_seconds,
    ensure_pristine_db,
    free_port,
    fresh_db_copy,
    json_line,
    log,
    machine_note,
    median,
    mint_cookies,
    pct,
    table,
)

VARIANTS = ("on", "off", "exporter")
LABEL = {"on": "tracker on", "off": "tracker off", "exporter": "exporter only"}
WSGI = {"on": "wsgi:app", "off": "wsgi:app", "exporter": "wsgi_exporter:app"}


# -- load under gunicorn -------------------------------------------------------------------
def gunicorn_cmd(variant: str) -> list[str]:
    cmd = [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py")]
    if WSGI[variant] != "wsgi:app":
        cmd += ["--pythonpath", str(BENCH_DIR)]
    return cmd + [WSGI[variant]]


def wait_ready(port: int, proc: subprocess.Popen, workers: int, timeout: float = 60) -> None:
    """Until the page answers 200 (as a bot, so nothing is tracked) and all workers are up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", PRODUCT_PATH, headers={"User-Agent": "curl/8.0 bench-ready"})
            status = conn.getresponse().status
            conn.close()
            if status == 200 and len(children_of(proc.pid)) >= workers:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not become ready in time")


def run_wrk(port: int, seconds: float, args, cookies: list[str]) -> dict:
    env = dict(os.environ, BENCH_PATH=PRODUCT_PATH, BENCH_UA=BROWSER_UA,
               BENCH_COOKIES="|".join(cookies),
               BENCH_NEW_VISITOR_EVERY=str(args.new_visitor_every))
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{int(seconds)}s",
           "--timeout", "10s", "-s", str(BENCH_DIR / "wrk_product.lua"),
           f"http://127.0.0.1:{port}"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK_JSON "))
    res = json.loads(line[len("WRK_JSON "):])
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    res["errors"] = sum(res[k] for k in res if k.startswith("err_"))
    return res


def run_pyload(port: int, seconds: float, args, cookies: list[str]) -> dict:
    """Fallback when wrk is absent: one thread per connection, a new connection per request
    (gunicorn's sync workers close it anyway). Bounded by time and by a request cap."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    cap = 200_000

    def worker():
        n = r = 0
        mine = []
        while time.monotonic() < deadline and n < cap:
            n += 1
            headers = {"User-Agent": BROWSER_UA, "Accept": ACCEPT_HTML}
            if cookies and not (args.new_visitor_every > 0 and n % args.new_visitor_every == 0):
                headers["Cookie"] = cookies[r % len(cookies)]
                r += 1
            t0 = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", PRODUCT_PATH, headers=headers)
                resp = conn.getresponse()
                resp.read()
                conn.close()
                ok = resp.status == 200
            except OSError:
                ok = False
            mine.append((time.perf_counter() - t0) * 1e6)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    elapsed = time.perf_counter() - started
    latencies.sort()

    def q(p):
        return latencies[min(len(latencies) - 1, max(0, math.ceil(p / 100 * len(latencies)) - 1))]

    return {"requests": len(latencies), "duration_us": elapsed * 1e6, "errors": errors[0],
            "rps": len(latencies) / elapsed, "lat_mean_us": sum(latencies) / len(latencies),
            "lat_p50_us": q(50), "lat_p90_us": q(90), "lat_p99_us": q(99),
            "lat_max_us": latencies[-1]}


def load_once(variant: str, round_no: int, args, cookies: list[str], tmp: str) -> dict:
    db = fresh_db_copy(args.db, tmp, f"load-{variant}-{round_no}.db")
    prom = os.path.join(tmp, f"prom-{variant}-{round_no}")
    port = free_port()
    env = app_env(db, tracker=variant.startswith("on"), extra={
        "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_ACCESSLOG": "/dev/null", "PROMETHEUS_MULTIPROC_DIR": prom,
    })
    logfile = open(os.path.join(tmp, f"gunicorn-{variant}-{round_no}.log"), "w")  # noqa: SIM115
    proc = subprocess.Popen(gunicorn_cmd(variant), cwd=ROOT, env=env, stdout=logfile,
                            stderr=subprocess.STDOUT, start_new_session=True)
    drive = run_wrk if args.loadgen == "wrk" else run_pyload
    minted = 0
    try:
        # Fresh (< 30 s old when sent), and their journeys are in this run's database.
        cookies = mint_cookies(args.db, len(cookies), into=db) if cookies else cookies
        with sqlite3.connect(db) as conn:
            minted = conn.execute("SELECT count(*) FROM journey_events").fetchone()[0]
        wait_ready(port, proc, args.workers)
        warm = drive(port, args.warmup, args, cookies) if args.warmup > 0 else {"requests": 0}
        workers = children_of(proc.pid)
        load0, cpu0 = os.getloadavg()[0], cpu_seconds(workers)
        res = drive(port, args.duration, args, cookies)
        res["worker_cpu_s"] = cpu_seconds(workers) - cpu0
        res["cpu_us_per_req"] = res["worker_cpu_s"] / max(res["requests"], 1) * 1e6
        res["loadavg"] = (load0 + os.getloadavg()[0]) / 2
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful: each worker's writer flushes at exit
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        logfile.close()
    total = warm["requests"] + res["requests"]
    with sqlite3.connect(db) as conn:
        res["events_stored"] = conn.execute(
            "SELECT count(*) FROM journey_events").fetchone()[0] - minted
    every = args.new_visitor_every
    per_req = 2 if every == 1 else (1 + (1 / every if every > 0 else 0))
    res["events_expected"] = round(total * per_req) if variant.startswith("on") else 0
    shutil.rmtree(prom, ignore_errors=True)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    return res


def load_phase(args, cookies: list[str], tmp: str) -> dict:
    rounds = []
    for r in range(1, args.rounds + 1):
        row = {}
        order = list(args.variants)
        if not args.fixed_order:  # rotate, so no variant always runs first or after another
            shift = (r - 1) % len(order)
            order = order[shift:] + order[:shift]
        for variant in order:
            log(f"load round {r}/{args.rounds}: {LABEL[variant]} "
                f"({args.warmup:g}s warm-up + {args.duration:g}s)")
            res = load_once(variant, r, args, cookies, tmp)
            log(f"  {res['rps']:.1f} req/s, p50 {res['lat_p50_us'] / 1000:.2f} ms, "
                f"p99 {res['lat_p99_us'] / 1000:.2f} ms, {res['cpu_us_per_req']:.0f} µs CPU/req, "
                f"errors {res['errors']}, events {res['events_stored']}/{res['events_expected']}")
            if res["errors"]:
                raise RuntimeError(f"{variant}: {res['errors']} failed requests")
            if res["events_stored"] < 0.98 * res["events_expected"]:  # a dropping tracker
                log(f"  WARNING: {variant} stored fewer events than its requests tracked")
            row[variant] = res
        rounds.append(row)
    return {"rounds": rounds}


def load_report(load: dict, args) -> tuple[str, dict]:
    rounds = load["rounds"]
    rows = []
    for i, row in enumerate(rounds, 1):
        for v in args.variants:
            r = row[v]
            rows.append([i, LABEL[v], f"{r['rps']:.1f}", f"{r['lat_p50_us'] / 1000:.2f}",
                         f"{r['lat_p99_us'] / 1000:.2f}", f"{r['cpu_us_per_req']:.0f}",
                         f"{r['loadavg']:.1f}",
                         f"{r['events_stored']}/{r['events_expected']}" if r["events_expected"]
                         else "—"])
    runs = table(["round", "variant", "req/s", "p50 ms", "p99 ms", "worker CPU µs/req",
                  "load avg", "events stored/expected"], rows)

    def ratio(v, key, inverse=False):
        vals = []
        for row in rounds:
            a, b = row[v][key], row["off"][key]
            vals.append((b / a if inverse else a / b) - 1)
        return [x * 100 for x in vals]

    summary = {}
    srows = []
    for v in [v for v in args.variants if v != "off"]:
        per = {
            "throughput_cost_pct": ratio(v, "rps", inverse=True),  # off/v - 1: time per request
            "p50_pct": ratio(v, "lat_p50_us"),
            "p99_pct": ratio(v, "lat_p99_us"),
            "cpu_per_req_pct": ratio(v, "cpu_us_per_req"),
        }
        summary[v] = {k: round(median(x), 2) for k, x in per.items()}
        summary[v]["per_round"] = {k: [round(y, 2) for y in x] for k, x in per.items()}
        srows.append([LABEL[v] + " vs off"] + [
            f"{pct(median(per[k]))} ({', '.join(pct(y, 0) for y in per[k])})"
            for k in ("throughput_cost_pct", "p50_pct", "p99_pct", "cpu_per_req_pct")])
    summ = table(["median over rounds (each round)", "time/request from req/s", "p50 latency",
                  "p99 latency", "worker CPU/request"], srows)
    med = {v: {k: round(median(row[v][k] for row in rounds), 1)
               for k in ("rps", "lat_p50_us", "lat_p99_us", "cpu_us_per_req")}
           for v in args.variants}
    text = (f"Load: gunicorn, {args.workers} sync workers, {args.loadgen} "
            f"-t{args.threads} -c{args.connections}, {args.duration:g}s per run after "
            f"{args.warmup:g}s warm-up, run order "
            f"{'fixed' if args.fixed_order else 'rotated each round'}; GET {PRODUCT_PATH}, "
            f"{_visitor_mix(args)}\n\n{runs}\n\n{summ}\n"
            "(+x%: the variant needs x% more server time per request than tracker off; "
            "throughput cost = req/s(off)/req/s(variant) - 1)")
    return text, {"medians": med, "overhead_vs_off": summary}


def _visitor_mix(args) -> str:
    every = args.new_visitor_every
    if every == 1:
        return "a brand-new visitor (no cookie) on every request"
    returning = ("one returning visitor's cookies" if args.visitors == 1 else
                 f"{args.visitors} returning visitors' cookies in turn")
    if every == 0:
        return returning
    return f"{returning}, and a brand-new visitor (no cookie) every {every}th request"


# -- instructions under callgrind ----------------------------------------------------------
def callgrind_once(variant: str, k: int, args, cookies: list[str], tmp: str) -> dict:
    work = tempfile.mkdtemp(prefix=f"cg-{variant}-{k}-", dir=tmp)
    db = fresh_db_copy(args.db, work, "db.sqlite")
    if cookies:  # the visitors' journeys are in this run's database, as a returning visitor's
        cookies = mint_cookies(args.db, len(cookies), into=db)
    prom = os.path.join(work, "prom")
    os.makedirs(prom, exist_ok=True)
    env = app_env(db, tracker=variant.startswith("on"), extra={
        "PROMETHEUS_MULTIPROC_DIR": prom,  # as under gunicorn: mmap-backed metric values
        "JOURNEY_SWEEP_INTERVAL": "0",  # a once-a-minute sweep, 50x more often under valgrind
        "JOURNEY_BATCH_SIZE": str(args.writer_batch),
        "JOURNEY_FLUSH_INTERVAL": "3600",  # batches of --writer-batch, not of wall time
        # valgrind runs ~50x slower than real time; stretch the cookie's refresh period the
        # same way, so the store re-sends cookies per request as often as at full speed
        # (at full speed each visitor here comes back ~0.5 s later, well inside 30 s).
        "JOURNEY_COOKIE_REFRESH": "1500",
        "PYTHONHASHSEED": "0",
        "BENCH_PATH": PRODUCT_PATH, "BENCH_UA": BROWSER_UA, "BENCH_COOKIES": "|".join(cookies),
        "BENCH_NEW_VISITOR_EVERY": str(args.new_visitor_every),
    })
    out = os.path.join(work, "callgrind.out")
    if not args.instrument_startup:
        env["BENCH_INSTRUMENT_NOW"] = "1"
    cmd = ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--dump-instr=no",
           "--dump-line=no", f"--callgrind-out-file={out}",
           f"--instr-atstart={'yes' if args.instrument_startup else 'no'}", PYTHON,
           str(BENCH_DIR / "_callgrind_requests.py"), variant, str(k)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=args.callgrind_timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"callgrind {variant} K={k} failed:\n{proc.stdout[-2000:]}\n"
                           f"{proc.stderr[-3000:]}")
    threads = {}
    for path in sorted(glob.glob(out + "*")):
        m = re.search(r"-(\d+)$", path)
        tid = int(m.group(1)) if m else 1
        with open(path) as f:
            for line in f:
                if line.startswith(("totals:", "summary:")):
                    threads[tid] = int(line.split()[1])
                    break
    driver = next(ln for ln in proc.stdout.splitlines() if ln.startswith("CALLGRIND_DRIVER"))
    info = dict(kv.split("=") for kv in driver.split()[1:])
    shutil.rmtree(work, ignore_errors=True)
    main_ir = threads.get(1, 0)
    return {"variant": variant, "k": k, "ir_total": sum(threads.values()),
            "ir_main": main_ir, "ir_other_threads": sum(threads.values()) - main_ir,
            "threads": len(threads), "events": int(info["events"]),
            "batches": int(info["batches"]), "seconds": time.monotonic() - t0}


def callgrind_phase(args, cookies: list[str], tmp: str) -> dict:
    jobs = [(v, k) for k in (args.k_long, args.k_short) for v in args.variants]  # long first
    results: dict[tuple[str, int], dict] = {}
    parallel = max(1, min(args.callgrind_jobs, len(jobs)))
    log(f"callgrind: {len(jobs)} runs (K={args.k_short} and K={args.k_long} per variant), "
        f"{parallel} at a time; this is the slow part")
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        futures = {pool.submit(callgrind_once, v, k, args, cookies, tmp): (v, k) for v, k in jobs}
        for fut in concurrent.futures.as_completed(futures):
            v, k = futures[fut]
            res = fut.result()
            results[(v, k)] = res
            log(f"  callgrind {LABEL[v]} K={k}: {res['ir_total']:,} Ir "
                f"({res['ir_other_threads']:,} in other threads), {res['events']} events in "
                f"{res['batches']} batches, {res['seconds']:.0f}s")
    return {"runs": results}


def callgrind_report(cg: dict, args) -> tuple[str, dict]:
    runs = cg["runs"]
    dk = args.k_long - args.k_short
    per = {}
    for v in args.variants:
        long_, short = runs[(v, args.k_long)], runs[(v, args.k_short)]
        per[v] = {
            "ir_per_request": (long_["ir_total"] - short["ir_total"]) / dk,
            "ir_main_per_request": (long_["ir_main"] - short["ir_main"]) / dk,
            "ir_writer_per_request": (long_["ir_other_threads"] - short["ir_other_threads"]) / dk,
            "events_per_request": (long_["events"] - short["events"]) / dk,
            "batches": long_["batches"],
            "events_long": long_["events"],
        }
    base = per["off"]["ir_per_request"]
    base_main = per["off"]["ir_main_per_request"]
    rows = []
    for v in args.variants:
        p = per[v]
        p["overhead_pct"] = (p["ir_per_request"] / base - 1) * 100
        p["overhead_main_thread_pct"] = (p["ir_main_per_request"] / base_main - 1) * 100
        rows.append([
            LABEL[v], f"{p['ir_per_request'] / 1e6:.2f}", f"{p['ir_main_per_request'] / 1e6:.2f}",
            f"{p['ir_writer_per_request'] / 1e6:.2f}",
            "—" if v == "off" else pct(p["overhead_pct"]),
            "—" if v == "off" else pct(p["overhead_main_thread_pct"]),
            f"{p['events_per_request']:.2f}",
        ])
    raw = table(["variant", "K", "Ir total", "Ir main thread", "Ir other threads", "events",
                 "writer batches"],
                [[LABEL[v], k, f"{r['ir_total']:,}", f"{r['ir_main']:,}",
                  f"{r['ir_other_threads']:,}", r["events"], r["batches"]]
                 for (v, k), r in sorted(runs.items(), key=lambda x: (args.variants.index(x[0][0]),
                                                                        x[0][1]))])
    text = (f"Instructions per request (callgrind, Flask test client in-process, "
            f"K={args.k_short} and K={args.k_long}, {_visitor_mix(args)}; "
            f"writer batches of up to {args.writer_batch}):\n\n"
            + table(["variant", "M Ir/request (all threads)", "request thread",
                     "writer thread", "overhead vs off", "request thread only",
                     "events/request"], rows)
            + "\n\nRaw totals:\n\n" + raw)
    return text, {v: {k: (round(x, 3) if isinstance(x, float) else x) for k, x in p.items()}
                  for v, p in per.items()}


# -- main ----------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default=DEFAULT_PRISTINE_DB,
                    help="seeded SQLite database, copied afresh for every run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--visitors", type=int, default=100, help="returning visitors' cookies")
    ap.add_argument("--new-visitor-every", type=int, default=10)
    ap.add_argument("--loadgen", choices=("wrk", "python"),
                    default="wrk" if shutil.which("wrk") else "python")
    ap.add_argument("--k-short", type=int, default=20)
    ap.add_argument("--k-long", type=int, default=220)
    ap.add_argument("--writer-batch", type=int, default=50,
                    help="events per writer batch under callgrind (~0.5 s of one worker's "
                         "events at the measured rate; the default JOURNEY_FLUSH_INTERVAL)")
    ap.add_argument("--instrument-startup", action="store_true",
                    help="instrument the whole run (slower); by default callgrind is switched "
                         "on by callgrind_control once create_app() has returned")
    ap.add_argument("--callgrind-jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--callgrind-timeout", type=float, default=1500)
    ap.add_argument("--variants", default="on,off,exporter",
                    help="comma-separated, run in this order within a round, among "
                         f"{','.join(VARIANTS)}; 'off' is the baseline and must be included")
    ap.add_argument("--fixed-order", action="store_true",
                    help="the same order every round (default: rotated each round)")
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--skip-callgrind", action="store_true")
    args = ap.parse_args()
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if "off" not in args.variants or any(v not in VARIANTS for v in args.variants):
        ap.error(f"--variants: a subset of {','.join(VARIANTS)} that includes off")
    if args.k_long <= args.k_short:
        ap.error("--k-long must be larger than --k-short")
    if not args.skip_callgrind and not shutil.which("valgrind"):
        ap.error("valgrind is not installed (apt-get install valgrind), or pass --skip-callgrind")

    started = time.monotonic()
    machine_before = machine_note()
    ensure_pristine_db(args.db)
    cookies = mint_cookies(args.db, max(args.visitors, 1))
    log(f"{len(cookies)} returning visitors' cookies minted")
    result: dict = {"benchmark": "tracking_overhead", "page": PRODUCT_PATH,
                    "visitors": _visitor_mix(args), "machine": machine_before}
    texts = []
    with tempfile.TemporaryDirectory(prefix="tp-bench-overhead-") as tmp:
        if not args.skip_load:
            text, summary = load_report(load_phase(args, cookies, tmp), args)
            texts.append(text)
            result["load"] = {"workers": args.workers, "loadgen": args.loadgen,
                              "connections": args.connections, "duration_s": args.duration,
                              "rounds": args.rounds, **summary}
        if not args.skip_callgrind:
            text, summary = callgrind_report(callgrind_phase(args, cookies, tmp), args)
            texts.append(text)
            result["instructions"] = {"k_short": args.k_short, "k_long": args.k_long,
                                      "writer_batch": args.writer_batch, "per_variant": summary}
    result["machine_after"] = machine_note()
    result["seconds"] = round(time.monotonic() - started, 1)
    print("\n\n".join(texts))
    print()
    json_line(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
