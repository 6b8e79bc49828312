"""What does journey tracking cost a product page? Tracker on vs off vs prometheus-flask-exporter.

Three variants of the same store, on the same seeded SQLite database (a fresh copy per run):

    on        the store as shipped (JOURNEY_ENABLED=true)
    off       the tracker's kill switch (JOURNEY_ENABLED=false)
    exporter  tracker off, prometheus-flask-exporter's PrometheusMetrics(app) instead
              (benchmarks/wsgi_exporter.py) — the usual "just add Prometheus" baseline

Four measures of GET /p/cast-iron-skillet-10-in with a desktop-Chrome User-Agent (tracked):

1. Load: one gunicorn per variant (-c deploy/gunicorn.conf.py, --workers sync workers, each
   on its own copy of the database), all up at once; wrk (a small Python load generator if
   wrk is missing) drives them in turn, --duration seconds each (after a --warmup slice),
   for --rounds rounds, in an order rotated every round (--fixed-order: not). This machine's
   speed drifts by tens of percent over minutes, so short interleaved slices put every
   variant under the same drift; after each slice the benchmark waits --settle seconds so
   the variant's writer finishes what the slice queued. The headline takes each variant's
   slices together: server time per request from req/s, worker CPU per request (every
   thread of the workers, the journey writer's too, from /proc) and latency percentiles
   over every request (wrk's full histograms, pooled); the per-round ratios show how much
   one round alone swings. --try NAME:KEY=VALUE,... adds a tracker-on variant with other
   settings (e.g. --try thread:JOURNEY_WRITE_AFTER_RESPONSE=false) to the same run;
   --try path:BENCH_NO_WRITE=1 is the request path alone (wsgi_nowrite.py: every event made
   and dropped unwritten), and --aa a second tracker-off server, an A/A check.
   --alone runs one server at a time instead, as a shop runs one: each slice starts the
   variant's gunicorn on a fresh copy, warms it for --warmup seconds and stops it after, so
   no other variant's idle server sits beside it.
2. Instructions: valgrind --tool=callgrind runs benchmarks/_callgrind_requests.py, which
   builds the app in-process and sends K requests with the Flask test client, for
   K = --k-short and --k-long; (Ir_long - Ir_short) / (K_long - K_short) is the cost of one
   request with start-up cancelled. Every thread is counted, the journey writer included
   (it inserts the events and folds them into journeys: that is part of the tracker's cost);
   the writer is stopped at the end so every queued event is written inside the run, in
   batches of what a worker wrote per batch in the load phase (--writer-batch). To save
   minutes, imports and create_app() run uninstrumented (--instr-atstart=no, then
   callgrind_control -i on); the K difference cancels what is left of start-up either way.
   --cache-sim BYTES has callgrind simulate the caches too (L1 32 KiB, a last level of
   BYTES): L1 and last-level misses per request and cachegrind's estimated cycles, to tell
   whether the tracker's code and data push the store's out of the caches (they would miss
   more than its instructions say).

3. CPU in-process, writer live: the callgrind driver at full speed, one process per variant
   and round (--inproc-rounds, rotated), --inproc-requests after --inproc-warmup, with the
   tracker's default batching (every JOURNEY_FLUSH_INTERVAL of wall time). CPU of every
   thread per request, the final flush included. Callgrind runs threads one at a time, so it
   cannot see what a writer thread costs when it really runs beside a busy request thread
   (GIL hand-offs, caches refilled after each switch); this can, without the drift of the
   load phase.

4. Where the workers' CPU goes: each variant's gunicorn alone under wrk for
   --profile-seconds, py-spy sampling its workers; the share of busy samples whose stack
   passes through the variant's own code (tracking/, or prometheus_flask_exporter/). A
   ratio within one process's own samples, so the machine's drift cancels; it does not see
   what the tracker costs the rest of the request indirectly (caches, allocations), which
   the load phase does, through the drift.

Visitors: --visitors returning shoppers (default 100; their cookies — tp_visitor and the
Flask session — minted by a first visit, sent in turn, so a writer batch holds events of
many journeys, as on a real site), except every --new-visitor-every-th request, which
carries no cookie at all: a brand-new visitor (landing + product_view, a new journey, a new
visitor cookie and session). Default 10: 10% new visitors. --visitors 1 is one constant
cookie; --new-visitor-every 0: all returning; 1: all new. A browser keeps the visitor cookie
the store last sent, and the store re-sends it only when the journey changes or its time is
JOURNEY_SESSION_TIMEOUT/60 (30 s) old.
The callgrind driver keeps a cookie jar per visitor like a browser; wrk cannot (it sends
fixed headers for minutes), so the load phase sets JOURNEY_COOKIE_REFRESH=3600 for every
variant: the store re-sends a cookie when the journey changes, as it would to a browser,
and not on every request merely because wrk never stored the last one.

    make bench-deps     # pip install -e .[bench]; apt-get install wrk valgrind
    .venv/bin/python benchmarks/tracking_overhead.py                      # ~10 min on 2 cores
    .venv/bin/python benchmarks/tracking_overhead.py --skip-callgrind --rounds 10
    .venv/bin/python benchmarks/tracking_overhead.py --skip-load --skip-inproc

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
import random
import re
import shutil
import signal
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
    cpu_split,
    ensure_pristine_db,
    free_port,
    fresh_db_copy,
    journey_events_stored,
    journeys_file,
    json_line,
    log,
    machine_note,
    median,
    migrate_elsewhere,
    mint_cookies,
    pct,
    run,
    table,
)

VARIANTS = ("on", "off", "exporter")
IN_MEMORY = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
TRIED: dict[str, dict[str, str]] = {}  # --try NAME:KEY=VALUE,...: more tracker-on variants
LABEL = {"on": "tracker on", "off": "tracker off", "exporter": "exporter only"}
WSGI = {"on": "wsgi:app", "off": "wsgi:app", "exporter": "wsgi_exporter:app"}


def tried(variant: str, db: str) -> dict[str, str]:
    """A --try variant's settings, ``{db}`` in a value naming the run's own copy of the
    shop's database (``--try shared:JOURNEY_DATABASE_URL=sqlite:///{db}``)."""
    return {k: v.replace("{db}", db) for k, v in TRIED.get(variant, {}).items()}


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


def wrk_command(port: int, seconds: float, args, cookies: list[str]
                ) -> tuple[list[str], dict[str, str]]:
    """wrk's command line and environment for wrk_product.lua's traffic."""
    env = dict(os.environ, BENCH_PATH=PRODUCT_PATH, BENCH_UA=BROWSER_UA,
               BENCH_COOKIES="|".join(cookies),
               BENCH_NEW_VISITOR_EVERY=str(args.new_visitor_every))
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{int(seconds)}s",
           "--timeout", "10s", "-s", str(BENCH_DIR / "wrk_product.lua"),
           f"http://127.0.0.1:{port}"]
    return cmd, env


def run_wrk(port: int, seconds: float, args, cookies: list[str]) -> dict:
    cmd, env = wrk_command(port, seconds, args, cookies)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    res = parse_wrk(out)
    res["rps"] = res["requests"] / (res["duration_us"] / 1e6)
    return res


def parse_wrk(out: str) -> dict:
    """What wrk_product.lua printed: its summary, the latency histogram, the errors."""
    line = next((ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError("wrk printed no result")
    res = json.loads(line[len("WRK_JSON "):])
    hist = next((ln for ln in out.splitlines() if ln.startswith("WRK_HIST ")), "WRK_HIST ")
    res["hist"] = {int(v): int(c) for v, c in (pair.split(":") for pair in
                                                 hist[len("WRK_HIST "):].split(",") if pair)}
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

    hist: dict[int, int] = {}
    for lat in latencies:
        hist[round(lat)] = hist.get(round(lat), 0) + 1
    return {"requests": len(latencies), "duration_us": elapsed * 1e6, "errors": errors[0],
            "rps": len(latencies) / elapsed, "lat_mean_us": sum(latencies) / len(latencies),
            "lat_p50_us": q(50), "lat_p90_us": q(90), "lat_p99_us": q(99),
            "lat_max_us": latencies[-1], "hist": hist}


def start_server(variant: str, args, visitors: int, tmp: str) -> dict:
    """One gunicorn for the variant on its own copy of the database, with its returning
    visitors' cookies minted into that copy; it stays up for the whole load phase."""
    db = fresh_db_copy(args.db, tmp, f"load-{variant}.db")
    port = free_port()
    env = app_env(db, tracker=variant.startswith("on"), extra={
        "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_ACCESSLOG": "/dev/null",
        # wrk sends the same Cookie headers for minutes, where a browser would keep the
        # cookie the store last sent (re-sent when its time is 30 s old); this keeps the
        # store from re-sending it on every request of a phase that outlasts 30 s.
        "JOURNEY_COOKIE_REFRESH": "3600",
        **tried(variant, db),
    })
    settings = tried(variant, db)
    migrate_elsewhere(db, settings)
    cookies = mint_cookies(args.db, visitors, into=db, settings=settings) if visitors else []
    minted = journey_events_stored(db, settings)
    # In memory, where deploy/gunicorn.conf.py and deploy/touchpoint.service put it (made
    # last, so nothing that fails before the server starts leaves it behind).
    prom = tempfile.mkdtemp(prefix=f"tp-bench-prom-{variant}-", dir=IN_MEMORY or tmp)
    env["PROMETHEUS_MULTIPROC_DIR"] = prom
    logfile = open(os.path.join(tmp, f"gunicorn-{variant}.log"), "w")  # noqa: SIM115
    proc = subprocess.Popen(gunicorn_cmd(variant), cwd=ROOT, env=env, stdout=logfile,
                            stderr=subprocess.STDOUT, start_new_session=True)
    server = {"variant": variant, "db": db, "settings": settings, "prom": prom, "port": port,
              "proc": proc, "log": logfile, "cookies": cookies, "minted": minted, "requests": 0}
    try:
        wait_ready(port, proc, args.workers)
    except BaseException:  # a SIGTERM while it boots (_common.run) too
        stop_server(server)
        raise
    server["workers"] = children_of(proc.pid)
    return server


def stop_server(server: dict) -> int:
    """SIGTERM (each worker's writer flushes at exit); the events it stored."""
    proc = server["proc"]
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    server["log"].close()
    stored = journey_events_stored(server["db"], server["settings"])
    shutil.rmtree(server["prom"], ignore_errors=True)
    for path in (server["db"], journeys_file(server["db"])):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    return stored - server["minted"]


def drive_slice(server: dict, seconds: float, args) -> dict:
    """wrk against one server for ``seconds``, then a pause while its writer writes what the
    slice queued (so that work is counted here, not in the next variant's slice)."""
    drive = run_wrk if args.loadgen == "wrk" else run_pyload
    workers = server["workers"]
    load0, (user0, sys0) = os.getloadavg()[0], cpu_split(workers)
    res = drive(server["port"], seconds, args, server["cookies"])
    time.sleep(args.settle)
    user, system = cpu_split(workers)
    res["worker_cpu_s"] = user - user0 + system - sys0
    res["worker_sys_s"] = system - sys0  # the kernel's share: sockets, files, page faults
    res["cpu_us_per_req"] = res["worker_cpu_s"] / max(res["requests"], 1) * 1e6
    res["loadavg"] = (load0 + os.getloadavg()[0]) / 2
    server["requests"] += res["requests"]
    return res


def _setting(variant: str, name: str) -> str | int | float:
    """A setting a tracker-on variant runs with: its --try value, or the tracker's default."""
    from tracking.config import BY_NAME  # noqa: PLC0415 (after sys.path)

    return TRIED.get(variant, {}).get(name, BY_NAME[name].default)


def _flush_interval(variant: str) -> float:
    return float(_setting(variant, "JOURNEY_FLUSH_INTERVAL"))


def _batch_size(variant: str) -> int:
    return int(_setting(variant, "JOURNEY_BATCH_SIZE"))


def _settle_for(args) -> float:
    """--settle, or longer if a variant's writer would still hold events when its next slice
    (or another variant's) begins: after traffic stops, the writer thread writes what is
    queued once its oldest event is two flush intervals old, checking once an interval. The
    same pause for every variant, the longest any of them needs."""
    longest = max((_flush_interval(v) for v in args.variants if v.startswith("on")),
                  default=0.0)
    return max(args.settle, round(3 * longest + 0.2, 2)) if longest < 60 else args.settle


def load_phase(args, visitors: int, tmp: str) -> dict:
    """Every variant's server is up at once (an idle one costs nothing); wrk drives them in
    turn, --duration seconds each, --rounds times, in an order rotated every round. This
    machine's speed drifts by tens of percent over minutes (other tenants, clock), so short
    slices, interleaved, put every variant under the same drift.

    Every --restart-every rounds all servers are started afresh (on fresh copies): a
    worker's speed depends on how CPython's type attribute cache happens to be laid out in
    that process (see callgrind_phase), a few percent either way, fixed for the process's
    life, so one server per variant for the whole run measures one draw of that luck. The
    order they start in turns at every start: of two stores started one after the other,
    the first ran 3-4% slower for its whole life here (tracking_overhead_paired.py)."""
    if args.alone:
        return _load_alone(args, visitors, tmp)
    servers: dict[str, dict] = {}
    events = {v: [0, 0] for v in args.variants}

    def stop_all() -> None:
        for variant, server in servers.items():
            _stop_and_count(server, events[variant])
        servers.clear()

    try:
        rounds = []
        for r in range(1, args.rounds + 1):
            if r == 1 or args.restart_every > 0 and (r - 1) % args.restart_every == 0:
                stop_all()
                starts = (r - 1) // args.restart_every if args.restart_every > 0 else 0
                shift = starts % len(args.variants)
                for variant in args.variants[shift:] + args.variants[:shift]:
                    log(f"starting gunicorn: {LABEL[variant]}" + (f" (afresh, round {r})"
                                                                   if r > 1 else ""))
                    servers[variant] = start_server(variant, args, visitors, tmp)
                if args.warmup > 0:
                    for variant in args.variants:
                        drive_slice(servers[variant], args.warmup, args)
            row = {}
            order = _round_order(args, r)
            for variant in order:
                res = drive_slice(servers[variant], args.duration, args)
                if res["errors"]:
                    raise RuntimeError(f"{variant}: {res['errors']} failed requests")
                row[variant] = res
            _log_round(r, args, row, "")
            rounds.append(row)
    finally:
        stop_all()
    return {"rounds": rounds, "events": _event_checks(events, args)}


def _load_alone(args, visitors: int, tmp: str) -> dict:
    """--alone: one server at a time, as a shop runs one. Each slice starts the variant's
    gunicorn on a fresh copy of the database, warms it for --warmup seconds, drives it for
    --duration and stops it, so no idle server of another variant sits beside it (their
    writer threads, sweeps and files), at the price of a start-up per slice; the order is
    rotated every round, as in the default arrangement."""
    rounds, events = [], {v: [0, 0] for v in args.variants}
    for r in range(1, args.rounds + 1):
        row = {}
        order = _round_order(args, r)
        for variant in order:
            server = start_server(variant, args, visitors, tmp)
            try:
                if args.warmup > 0:
                    drive_slice(server, args.warmup, args)
                res = drive_slice(server, args.duration, args)
            finally:
                _stop_and_count(server, events[variant])  # warm-up's events too
            if res["errors"]:
                raise RuntimeError(f"{variant}: {res['errors']} failed requests")
            row[variant] = res
        _log_round(r, args, row, " (each alone)")
        rounds.append(row)
    return {"rounds": rounds, "events": _event_checks(events, args)}


def _stop_and_count(server: dict, tally: list[int]) -> None:
    """Stop the server; add the events it stored and the requests it served to
    ``tally`` ([stored, requests])."""
    tally[0] += stop_server(server)
    tally[1] += server["requests"]


def _round_order(args, r: int) -> list[str]:
    """Round r's order: the variants rotated by r - 1 (unless --fixed-order)."""
    order = list(args.variants)
    if args.fixed_order:
        return order
    shift = (r - 1) % len(order)
    return order[shift:] + order[:shift]


def _log_round(r: int, args, row: dict, how: str) -> None:
    log(f"round {r}/{args.rounds}{how}: " + ", ".join(
        f"{LABEL[v]} {row[v]['rps']:.0f} req/s p99 {row[v]['lat_p99_us'] / 1000:.1f} ms"
        for v in args.variants))


def _event_checks(events: dict, args) -> dict:
    every = args.new_visitor_every
    per_req = 2 if every == 1 else (1 + (1 / every if every > 0 else 0))
    checks = {}
    for variant, (stored, requests) in events.items():
        writes = variant.startswith("on") and WSGI[variant] != "wsgi_nowrite:app"
        expected = round(requests * per_req) if writes else 0
        checks[variant] = {"events_stored": stored, "events_expected": expected}
        if expected and stored < 0.98 * expected:  # a dropping tracker
            log(f"WARNING: {variant} stored {stored} events for {expected} tracked")
    return checks


def load_report(load: dict, args) -> tuple[str, dict]:
    rounds = load["rounds"]
    rows = []
    for i, row in enumerate(rounds, 1):
        for v in args.variants:
            r = row[v]
            rows.append([i, LABEL[v], f"{r['rps']:.1f}", f"{r['lat_p50_us'] / 1000:.2f}",
                         f"{r['lat_p99_us'] / 1000:.2f}", f"{r['cpu_us_per_req']:.0f}",
                         f"{r['loadavg']:.1f}"])
    runs = table(["round", "variant", "req/s", "p50 ms", "p99 ms", "worker CPU µs/req",
                  "load avg"], rows)

    # Headline: each variant's slices taken together (time, CPU and every request's latency
    # summed over rounds). One slice's p99 rests on a handful of requests; this on thousands.
    totals = {}
    for v in args.variants:
        requests = sum(row[v]["requests"] for row in rounds)
        totals[v] = {
            "requests": requests,
            "rps": requests / sum(row[v]["duration_us"] / 1e6 for row in rounds),
            "cpu_us_per_req": sum(row[v]["worker_cpu_s"] for row in rounds) / requests * 1e6,
            "sys_us_per_req": sum(row[v]["worker_sys_s"] for row in rounds) / requests * 1e6,
            **_pooled_percentiles([row[v]["hist"] for row in rounds]),
        }
    off = totals["off"]
    keys = (("time/request", "rps", True), ("worker CPU/request", "cpu_us_per_req", False),
            ("p50", "p50", False), ("p90", "p90", False), ("p99", "p99", False),
            ("p99.9", "p99.9", False))
    summary, trows = {}, []
    for v in args.variants:
        t = totals[v]
        cells = [LABEL[v], f"{t['requests']:,}", f"{t['rps']:.1f}", f"{t['cpu_us_per_req']:.0f}",
                 f"{t['sys_us_per_req']:.0f}"]
        cells += [f"{t[q] / 1000:.2f}" for q in ("p50", "p90", "p99", "p99.9")]
        trows.append(cells)
        if v == "off":
            continue
        summary[v] = {}
        for name, key, inverse in keys:
            ratio = off[key] / t[key] if inverse else t[key] / off[key]
            summary[v][name] = round((ratio - 1) * 100, 2)
        # the spread: the same ratio per round, to show what one round alone would say
        summary[v]["per_round_p99"] = [round((row[v]["lat_p99_us"] / row["off"]["lat_p99_us"]
                                              - 1) * 100, 1) for row in rounds]
        summary[v]["per_round_time"] = [round((row["off"]["rps"] / row[v]["rps"] - 1) * 100, 1)
                                        for row in rounds]
        summary[v]["ci95"] = _bootstrap(rounds, v, args.bootstrap)
    tot = table(["all rounds together", "requests", "req/s", "worker CPU µs/req",
                 "of it system", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms"], trows)
    srows = [[LABEL[v] + " vs off"] + [pct(summary[v][name]) for name, _, _ in keys]
             for v in args.variants if v != "off"]
    summ = table(["cost"] + [name for name, _, _ in keys], srows)
    confidence = "\n".join(
        f"{LABEL[v]} vs off, 95% interval: " + "; ".join(
            f"{name} {pct(lo)} … {pct(hi)}" for name, (lo, hi) in summary[v]["ci95"].items())
        for v in args.variants if v != "off")
    spread = "\n".join(
        f"{LABEL[v]}: per round, time/request "
        f"{', '.join(pct(x, 0) for x in summary[v]['per_round_time'])}; p99 "
        f"{', '.join(pct(x, 0) for x in summary[v]['per_round_p99'])}"
        for v in args.variants if v != "off")
    ev = load["events"]
    events = ", ".join(f"{LABEL[v]} {e['events_stored']}/{e['events_expected']}"
                       for v, e in ev.items() if e["events_expected"])
    arrangement = ("one at a time, each started afresh and warmed for every slice"
                   if args.alone else "all variants up at once")
    text = (f"Load: gunicorn, {args.workers} sync workers per variant, {arrangement} "
            f"and driven in turn by {args.loadgen} -t{args.threads} -c{args.connections}, "
            f"{args.duration:g} s each (then {args.settle:g} s for the writers), "
            f"{args.rounds} rounds, order "
            f"{'fixed' if args.fixed_order else 'rotated each round'}; GET {PRODUCT_PATH}, "
            f"{_visitor_mix(args)}\n\n{runs}\n\n{tot}\n\n{summ}\n"
            "(+x%: the variant needs x% more than tracker off: server time per request from "
            "req/s, worker CPU per request (every thread), latency percentiles)\n"
            f"{confidence}\n(bootstrap: the rounds resampled {args.bootstrap} times; an "
            "interval that holds 0 cannot tell the variant from tracker off)\n"
            f"{spread}\nevents stored/tracked: {events or '—'}")
    return text, {"totals": {v: {k: round(x, 1) if isinstance(x, float) else x
                                 for k, x in t.items()} for v, t in totals.items()},
                  "overhead_vs_off": summary, "events": ev}


def _bootstrap(rounds: list[dict], v: str, times: int) -> dict[str, tuple[float, float]]:
    """95% intervals of the pooled time/request, CPU/request and p99 ratios against tracker
    off, by resampling whole rounds (each round holds every variant's slice, side by side
    in time: the pairing is what makes the drift cancel)."""
    rng = random.Random(0)

    def ratios(sample: list[dict]) -> dict[str, float]:
        def tot(var, key):
            return sum(row[var][key] for row in sample)
        time_v = tot(v, "duration_us") / tot(v, "requests")
        time_off = tot("off", "duration_us") / tot("off", "requests")
        cpu_v = tot(v, "worker_cpu_s") / tot(v, "requests")
        cpu_off = tot("off", "worker_cpu_s") / tot("off", "requests")
        p99_v = _pooled_percentiles([row[v]["hist"] for row in sample])["p99"]
        p99_off = _pooled_percentiles([row["off"]["hist"] for row in sample])["p99"]
        return {"time/request": (time_v / time_off - 1) * 100,
                "worker CPU/request": (cpu_v / cpu_off - 1) * 100,
                "p99": (p99_v / p99_off - 1) * 100}

    draws = [ratios([rng.choice(rounds) for _ in rounds]) for _ in range(times)]
    out = {}
    for name in draws[0]:
        values = sorted(d[name] for d in draws)
        out[name] = (round(values[int(0.025 * (times - 1))], 2),
                     round(values[int(0.975 * (times - 1))], 2))
    return out


def _pooled_percentiles(hists: list[dict[int, int]]) -> dict:
    """p50/p90/p99/p99.9 (µs) of several runs' latency histograms taken together."""
    merged: dict[int, int] = {}
    for hist in hists:
        for value, count in hist.items():
            merged[value] = merged.get(value, 0) + count
    total = sum(merged.values())
    out = {"requests": total}
    for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)):
        rank, seen = max(1, math.ceil(q / 100 * total)), 0
        for value in sorted(merged):
            seen += merged[value]
            if seen >= rank:
                out[name] = value
                break
    return out


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
def callgrind_once(variant: str, k: int, args, cookies: list[str], tmp: str,
                   seed: int = 0) -> dict:
    work = tempfile.mkdtemp(prefix=f"cg-{variant}-{k}-{seed}-", dir=tmp)
    db = fresh_db_copy(args.db, work, "db.sqlite")
    migrate_elsewhere(db, tried(variant, db))
    if cookies:  # the visitors' journeys are in this run's database, as a returning visitor's
        cookies = mint_cookies(args.db, len(cookies), into=db,
                               settings=tried(variant, db))
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
        "BENCH_SLOWDOWN": "50",  # and the writer's limit for a slow batch (0.25 s) too
        # One layout of CPython's caches per seed (see callgrind_phase).
        "PYTHONHASHSEED": str(seed), "BENCH_LAYOUT_SEED": str(seed),
        "BENCH_PATH": PRODUCT_PATH, "BENCH_UA": BROWSER_UA, "BENCH_COOKIES": "|".join(cookies),
        "BENCH_NEW_VISITOR_EVERY": str(args.new_visitor_every),
        **tried(variant, db),
    })
    out = os.path.join(work, "callgrind.out")
    if not args.instrument_startup:
        env["BENCH_INSTRUMENT_NOW"] = "1"
    cache = (["--cache-sim=yes", f"--I1={L1_CACHE}", f"--D1={L1_CACHE}",
              f"--LL={args.cache_sim},8,64"] if args.cache_sim else [])
    cmd = ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--dump-instr=no",
           *cache, "--dump-line=no", f"--callgrind-out-file={out}",
           f"--instr-atstart={'yes' if args.instrument_startup else 'no'}", PYTHON,
           str(BENCH_DIR / "_callgrind_requests.py"), variant, str(k)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=args.callgrind_timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"callgrind {variant} K={k} failed:\n{proc.stdout[-2000:]}\n"
                           f"{proc.stderr[-3000:]}")
    threads, counts = {}, {}
    for path in sorted(glob.glob(out + "*")):
        m = re.search(r"-(\d+)$", path)
        tid = int(m.group(1)) if m else 1
        names = ["Ir"]
        with open(path) as f:
            for line in f:
                if line.startswith("events:"):
                    names = line.split()[1:]
                elif line.startswith(("totals:", "summary:")):
                    values = [int(x) for x in line.split()[1:]]
                    threads[tid] = values[0]
                    for name, value in zip(names, values, strict=True):  # all threads
                        counts[name] = counts.get(name, 0) + value
                    break
    driver = next(ln for ln in proc.stdout.splitlines() if ln.startswith("CALLGRIND_DRIVER"))
    info = dict(kv.split("=") for kv in driver.split()[1:])
    shutil.rmtree(work, ignore_errors=True)
    main_ir = threads.get(1, 0)
    return {"variant": variant, "k": k, "seed": seed, "ir_total": sum(threads.values()),
            "ir_main": main_ir, "ir_other_threads": sum(threads.values()) - main_ir,
            "threads": len(threads), "counts": counts, "events": int(info["events"]),
            "batches": int(info["batches"]), "seconds": time.monotonic() - t0}


FALLBACK_WRITER_BATCH = 50
L1_CACHE = "32768,8,64"  # --cache-sim: 32 KiB, 8-way, 64-byte lines, as on this EPYC
L1_MISSES = ("I1mr", "D1mr", "D1mw")
LL_MISSES = ("ILmr", "DLmr", "DLmw")
# cachegrind's rough cycle estimate: an L1 miss costs ~10 instructions' time, a last-level
# miss ~100 (its documentation's own weights; a model, not this CPU's timings)
L1_MISS_CYCLES, LL_MISS_CYCLES = 10, 100


def _batch_of_the_load(load: dict | None, args) -> int:
    """The events a tracker-on worker wrote per batch under load: after its responses, a
    batch is due each flush interval or once JOURNEY_BATCH_SIZE events wait, so it holds
    that interval's share of the worker's events (requests/s x events per request / workers
    x the interval; a product page is one event, a new visitor's two, with its landing), at
    most a batch. Callgrind counts the writer at that size, not at one picked by hand: its
    cost per event falls with the batch (a batch's statements and commit are shared by its
    events)."""
    try:
        rps = load["totals"]["on"]["rps"]
    except (KeyError, TypeError):
        return min(FALLBACK_WRITER_BATCH, _batch_size("on"))
    flush_interval = _flush_interval("on")  # what the load phase's "on" ran with
    every = args.new_visitor_every
    events = 1 + (1 / every if every > 0 else 0)
    batch = round(rps * events / args.workers * flush_interval)
    return max(5, min(batch, _batch_size("on")))


def callgrind_phase(args, cookies: list[str], tmp: str) -> dict:
    """Each variant at K short and long, once per --hash-seeds value.

    Instruction counts are repeatable for one process layout, but CPython's type attribute
    cache is a 4,096-slot direct-mapped table indexed by a type's version tag (handed out in
    the order types are first looked up) and the address of the attribute's name: a change
    anywhere in what a request touches first, or allocates, re-deals the collisions for the
    whole app, and a request then costs a few hundred thousand instructions more or less
    (seen here: the same store at 16.13 M and 16.71 M per request after a change the
    request never runs, every extra instruction in find_name_in_mro and dict lookups).
    Valgrind runs with fixed addresses, so each seed sets PYTHONHASHSEED, shifts the heap
    and hands out a number of version tags before anything is imported
    (_callgrind_requests._shift_the_heap), dealing the collisions again; the mean over
    seeds is the figure, and their spread shows the noise."""
    seeds = args.hash_seeds
    jobs = [(v, k, seed) for seed in seeds for k in (args.k_long, args.k_short)
            for v in args.variants]  # long first
    results: dict[tuple[str, int, int], dict] = {}
    parallel = max(1, min(args.callgrind_jobs, len(jobs)))
    log(f"callgrind: {len(jobs)} runs (K={args.k_short} and K={args.k_long} per variant, "
        f"hash seeds {','.join(map(str, seeds))}), {parallel} at a time; this is the slow part")
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        futures = {pool.submit(callgrind_once, v, k, args, cookies, tmp, seed): (v, k, seed)
                   for v, k, seed in jobs}
        for n, fut in enumerate(concurrent.futures.as_completed(futures), 1):
            v, k, seed = futures[fut]
            res = fut.result()
            results[(v, k, seed)] = res
            log(f"  [{n}/{len(jobs)}] callgrind {LABEL[v]} K={k} seed {seed}: "
                f"{res['ir_total']:,} Ir ({res['ir_other_threads']:,} in other threads), "
                f"{res['events']} events in {res['batches']} batches, {res['seconds']:.0f}s")
    return {"runs": results}


def callgrind_report(cg: dict, args) -> tuple[str, dict]:
    runs = cg["runs"]
    dk = args.k_long - args.k_short
    seeds = args.hash_seeds
    per = {}
    for v in args.variants:
        by_seed = []
        for seed in seeds:
            long_, short = runs[(v, args.k_long, seed)], runs[(v, args.k_short, seed)]
            by_seed.append({
                "ir": (long_["ir_total"] - short["ir_total"]) / dk,
                "main": (long_["ir_main"] - short["ir_main"]) / dk,
                "writer": (long_["ir_other_threads"] - short["ir_other_threads"]) / dk,
                "events": (long_["events"] - short["events"]) / dk,
                "batches": long_["batches"], "events_long": long_["events"]})
        n = len(by_seed)
        per[v] = {
            "ir_per_request": sum(b["ir"] for b in by_seed) / n,
            "ir_main_per_request": sum(b["main"] for b in by_seed) / n,
            "ir_writer_per_request": sum(b["writer"] for b in by_seed) / n,
            "events_per_request": sum(b["events"] for b in by_seed) / n,
            "batches": by_seed[0]["batches"],
            "events_long": by_seed[0]["events_long"],
            "ir_per_request_by_seed": [round(b["ir"]) for b in by_seed],
        }
    base = per["off"]["ir_per_request"]
    base_main = per["off"]["ir_main_per_request"]
    lo_off, hi_off = min(per["off"]["ir_per_request_by_seed"]), max(
        per["off"]["ir_per_request_by_seed"])
    rows = []
    for v in args.variants:
        p = per[v]
        p["overhead_pct"] = (p["ir_per_request"] / base - 1) * 100
        p["overhead_main_thread_pct"] = (p["ir_main_per_request"] / base_main - 1) * 100
        # every seed's figure against the off variant's mean: the layout noise, both sides
        p["overhead_by_seed_pct"] = [round((x / base - 1) * 100, 2)
                                     for x in p["ir_per_request_by_seed"]]
        p["overhead_range_pct"] = [round((min(p["ir_per_request_by_seed"]) / hi_off - 1) * 100, 2),
                                   round((max(p["ir_per_request_by_seed"]) / lo_off - 1) * 100, 2)]
        rows.append([
            LABEL[v], f"{p['ir_per_request'] / 1e6:.2f}",
            " / ".join(f"{x / 1e6:.2f}" for x in p["ir_per_request_by_seed"]),
            f"{p['ir_main_per_request'] / 1e6:.2f}", f"{p['ir_writer_per_request'] / 1e6:.2f}",
            "—" if v == "off" else pct(p["overhead_pct"]),
            "—" if v == "off" else
            f"{pct(p['overhead_range_pct'][0])} … {pct(p['overhead_range_pct'][1])}",
            f"{p['events_per_request']:.2f}",
        ])
    raw = table(["variant", "K", "seed", "Ir total", "Ir main thread", "Ir other threads",
                 "events", "writer batches"],
                [[LABEL[v], k, seed, f"{r['ir_total']:,}", f"{r['ir_main']:,}",
                  f"{r['ir_other_threads']:,}", r["events"], r["batches"]]
                 for (v, k, seed), r in sorted(runs.items(), key=lambda x: (
                     args.variants.index(x[0][0]), x[0][2], x[0][1]))])
    text = (f"Instructions per request (callgrind, Flask test client in-process, "
            f"K={args.k_short} and K={args.k_long}, {_visitor_mix(args)}; "
            f"writer batches of up to {args.writer_batch}; mean over PYTHONHASHSEED "
            f"{', '.join(map(str, seeds))}):\n\n"
            + table(["variant", "M Ir/request (mean)", "per seed", "request thread",
                     "writer thread", "overhead vs off", "range (min…max over seeds)",
                     "events/request"], rows)
            + "\n\nRaw totals:\n\n" + raw)
    if args.cache_sim:
        cache_text = _cache_report(runs, args, per)
        text += "\n\n" + cache_text
    return text, {v: {k: (round(x, 3) if isinstance(x, float) else x) for k, x in p.items()}
                  for v, p in per.items()}


def _cache_report(runs: dict, args, per: dict) -> str:
    """--cache-sim: cache misses and cachegrind's estimated cycles per request (the same K
    difference, seeds averaged), into ``per`` and as a table. A tracker whose code and data
    pushed the store's out of the caches would miss more than its instructions say."""
    dk, seeds = args.k_long - args.k_short, args.hash_seeds
    for v in args.variants:
        mean = {}
        for name in ("Ir", *L1_MISSES, *LL_MISSES):
            mean[name] = sum(runs[(v, args.k_long, s)]["counts"].get(name, 0)
                             - runs[(v, args.k_short, s)]["counts"].get(name, 0)
                             for s in seeds) / len(seeds) / dk
        l1 = sum(mean[n] for n in L1_MISSES)
        ll = sum(mean[n] for n in LL_MISSES)
        per[v]["cache"] = {"l1_misses_per_request": l1, "ll_misses_per_request": ll,
                           "est_cycles_per_request": mean["Ir"] + L1_MISS_CYCLES * l1
                                                     + LL_MISS_CYCLES * ll}
    base = per["off"]["cache"]
    rows = []
    for v in args.variants:
        c = per[v]["cache"]
        for key in ("l1_misses", "ll_misses", "est_cycles"):
            c[f"{key}_overhead_pct"] = round((c[f"{key}_per_request"]
                                              / base[f"{key}_per_request"] - 1) * 100, 2)
        rows.append([LABEL[v], f"{c['l1_misses_per_request'] / 1e3:.1f}",
                     "—" if v == "off" else pct(c["l1_misses_overhead_pct"]),
                     f"{c['ll_misses_per_request'] / 1e3:.1f}",
                     "—" if v == "off" else pct(c["ll_misses_overhead_pct"]),
                     f"{c['est_cycles_per_request'] / 1e6:.2f}",
                     "—" if v == "off" else pct(c["est_cycles_overhead_pct"])])
    return (f"Simulated caches per request (--cache-sim: L1 {L1_CACHE.split(',')[0]} B "
            f"instruction and data, last level {args.cache_sim:,} B, 8-way; cycles "
            f"estimated as Ir + {L1_MISS_CYCLES} x L1 misses + {LL_MISS_CYCLES} x "
            "last-level misses):\n\n"
            + table(["variant", "k L1 misses", "vs off", "k LL misses", "vs off",
                     "M est. cycles", "vs off"], rows))


# -- CPU in-process, writer live ----------------------------------------------------------
def inproc_once(variant: str, args, cookies: list[str], tmp: str) -> dict:
    """The callgrind driver at full speed with the tracker's own settings (batches every
    flush interval of wall time, the writer thread running for real beside the requests):
    CPU of every thread per request, final flush included, after --inproc-warmup requests."""
    work = tempfile.mkdtemp(prefix=f"cpu-{variant}-", dir=tmp)
    db = fresh_db_copy(args.db, work, "db.sqlite")
    migrate_elsewhere(db, tried(variant, db))
    if cookies:
        cookies = mint_cookies(args.db, len(cookies), into=db,
                               settings=tried(variant, db))
    prom = os.path.join(work, "prom")
    os.makedirs(prom, exist_ok=True)
    env = app_env(db, tracker=variant.startswith("on"), extra={
        "PROMETHEUS_MULTIPROC_DIR": prom, "PYTHONHASHSEED": "0",
        "BENCH_WARMUP": str(args.inproc_warmup),
        "BENCH_PATH": PRODUCT_PATH, "BENCH_UA": BROWSER_UA, "BENCH_COOKIES": "|".join(cookies),
        "BENCH_NEW_VISITOR_EVERY": str(args.new_visitor_every),
        **tried(variant, db),
    })
    proc = subprocess.run([PYTHON, str(BENCH_DIR / "_callgrind_requests.py"), variant,
                           str(args.inproc_requests)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    shutil.rmtree(work, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"in-process {variant} failed:\n{proc.stderr[-3000:]}")
    driver = next(ln for ln in proc.stdout.splitlines() if ln.startswith("CALLGRIND_DRIVER"))
    info = dict(kv.split("=") for kv in driver.split()[1:])
    n = args.inproc_requests
    return {"cpu_us_per_req": float(info["cpu_s"]) / n * 1e6,
            "wall_us_per_req": float(info["wall_s"]) / n * 1e6,
            "user_us_per_req": float(info["user_s"]) / n * 1e6,
            "sys_us_per_req": float(info["sys_s"]) / n * 1e6}


def inproc_phase(args, cookies: list[str], tmp: str) -> dict:
    rounds = []
    for r in range(1, args.inproc_rounds + 1):
        order = list(args.variants)
        shift = (r - 1) % len(order)
        order = order[shift:] + order[:shift]
        row = {v: inproc_once(v, args, cookies, tmp) for v in order}
        log(f"in-process round {r}/{args.inproc_rounds}: " + ", ".join(
            f"{LABEL[v]} {row[v]['cpu_us_per_req']:.0f} µs CPU/req "
            f"({row[v]['user_us_per_req']:.0f} user, {row[v]['sys_us_per_req']:.0f} sys)"
            for v in args.variants))
        rounds.append(row)
    return {"rounds": rounds}


# -- where the workers' CPU goes (py-spy) -------------------------------------------------
OWN_CODE = {"exporter": "prometheus_flask_exporter/"}  # every other variant: the tracker


def profile_phase(args, visitors: int, tmp: str) -> dict:
    """Each variant but off, its server alone under wrk for --profile-seconds, py-spy
    sampling every worker (--nonblocking: the worker is never paused). Samples of a worker
    waiting for a connection are idle and left out, so what remains is the workers' busy
    time; the share whose stack passes through the variant's own code is what that code
    costs, whatever the machine's speed did meanwhile: a ratio within one process's samples,
    not between two servers' throughputs."""
    spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    if not os.path.exists(spy):
        log("py-spy is missing (make bench-deps): no profile")
        return {}
    out = {}
    if args.profile_out:
        os.makedirs(args.profile_out, exist_ok=True)
    for variant in [v for v in args.variants if v != "off"]:
        log(f"profiling {LABEL[variant]} for {args.profile_seconds:g} s")
        server = start_server(variant, args, visitors, tmp)
        try:
            drive_slice(server, max(args.warmup, 1), args)
            spies = []
            for pid in server["workers"]:
                path = os.path.join(args.profile_out or tmp, f"spy-{variant}-{pid}.txt")
                spies.append((path, subprocess.Popen(
                    [spy, "record", "--pid", str(pid), "--rate", "100", "--nonblocking",
                     "--duration", str(math.ceil(args.profile_seconds + args.settle + 2)),
                     "--format", "raw", "--output", path],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
            time.sleep(1.0)  # attached before the load begins
            drive_slice(server, args.profile_seconds, args)
            for path, proc in spies:
                proc.wait(args.profile_seconds + 60)
                if not os.path.exists(path):
                    raise RuntimeError(f"py-spy wrote no profile to {path} (exit status "
                                       f"{proc.returncode}; ptrace allowed here?)")
            out[variant] = _attribute([path for path, _ in spies],
                                      OWN_CODE.get(variant, "tracking/"))
        finally:
            stop_server(server)
    return out


def _attribute(paths: list[str], marker: str) -> dict:
    """Busy samples, and those with a frame in ``marker`` (a path fragment), from py-spy's
    raw output ("frame;frame;... count" per line)."""
    busy = own = 0
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                stack, _, count = line.rstrip().rpartition(" ")
                if not count.isdigit():
                    continue
                busy += int(count)
                if marker in stack:
                    own += int(count)
    share = own / busy if busy else 0.0
    return {"busy_samples": busy, "own_samples": own, "share_pct": round(share * 100, 2),
            "share_se_pct": round(math.sqrt(share * (1 - share) / busy) * 100, 2) if busy else 0,
            "overhead_pct": round(share / (1 - share) * 100, 2) if share < 1 else None}


def profile_report(res: dict, args) -> tuple[str, dict]:
    rows = [[LABEL[v], f"{r['busy_samples']:,}", f"{r['share_pct']:.1f}% ± {r['share_se_pct']:.1f}",
             pct(r["overhead_pct"])] for v, r in res.items()]
    text = (f"Where the workers' CPU goes (py-spy, 100 samples/s of each worker while wrk drives "
            f"the variant alone for {args.profile_seconds:g} s; idle samples left out):\n\n"
            + table(["variant", "busy samples", "in its own code (± 1 s.e.)",
                     "as overhead on the rest"], rows)
            + "\n(own code: a frame in tracking/ — the tracker, its metrics and its writes — "
              "or in prometheus_flask_exporter/; the rest is the store, Flask, gunicorn)")
    return text, res


def inproc_report(res: dict, args) -> tuple[str, dict]:
    rounds = res["rounds"]
    summary, rows = {}, []
    for v in args.variants:
        cpu = [row[v]["cpu_us_per_req"] for row in rounds]
        cells = [LABEL[v], f"{median(cpu):.0f}", ", ".join(f"{x:.0f}" for x in cpu)]
        if v == "off":
            cells.append("—")
        else:
            ratios = [(row[v]["cpu_us_per_req"] / row["off"]["cpu_us_per_req"] - 1) * 100
                      for row in rounds]
            summary[v] = {"cpu_pct": round(median(ratios), 2),
                          "per_round": [round(x, 1) for x in ratios]}
            cells.append(f"{pct(median(ratios))} ({', '.join(pct(x, 0) for x in ratios)})")
        rows.append(cells)
    text = (f"CPU per request in-process (the callgrind driver at full speed, "
            f"{args.inproc_requests} requests after {args.inproc_warmup} unmeasured, the "
            f"tracker's default batching, writer live; every thread; {_visitor_mix(args)}):"
            "\n\n" + table(["variant", "median µs/request", "each round",
                               "vs off: median (each round)"], rows))
    return text, summary


# -- main ----------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default=DEFAULT_PRISTINE_DB,
                    help="seeded SQLite database, copied afresh for every run")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--duration", type=float, default=5.0,
                    help="seconds each variant is driven per round")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds per variant, unmeasured")
    ap.add_argument("--settle", type=float, default=0.8,
                    help="seconds after each slice for the writer to write what it queued; "
                         "at least 3 x the longest JOURNEY_FLUSH_INTERVAL of the variants + "
                         "0.2 s (the writer thread's turn)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--visitors", type=int, default=100, help="returning visitors' cookies")
    ap.add_argument("--new-visitor-every", type=int, default=10)
    ap.add_argument("--loadgen", choices=("wrk", "python"),
                    default="wrk" if shutil.which("wrk") else "python")
    ap.add_argument("--k-short", type=int, default=20)
    ap.add_argument("--k-long", type=int, default=220)
    ap.add_argument("--writer-batch", type=int, default=0,
                    help="events per writer batch under callgrind. 0 (the default): what one "
                         "gunicorn worker wrote per batch in this run's load phase (a "
                         f"JOURNEY_FLUSH_INTERVAL, {_flush_interval('on'):g} s, of its "
                         "events at the rate measured, at most a JOURNEY_BATCH_SIZE, "
                         f"{_batch_size('on')}), "
                         f"or {min(FALLBACK_WRITER_BATCH, _batch_size('on'))} with --skip-load")
    ap.add_argument("--instrument-startup", action="store_true",
                    help="instrument the whole run (slower); by default callgrind is switched "
                         "on by callgrind_control once create_app() has returned")
    ap.add_argument("--cache-sim", type=int, default=0, metavar="BYTES",
                    help="callgrind also simulates the caches (L1 32 KiB; last level BYTES, "
                         "e.g. 524288, one core's L2 here): misses and estimated cycles per "
                         "request; about 4x slower (0: off)")
    ap.add_argument("--callgrind-jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--hash-seeds", default="0,1,2,3",
                    type=lambda text: [int(x) for x in text.split(",") if x.strip()],
                    help="layout seeds (PYTHONHASHSEED and a heap shift): each variant is "
                         "counted once per seed, and the mean is reported (CPython's cache "
                         "layout moves the count)")
    ap.add_argument("--callgrind-timeout", type=float, default=1500)
    ap.add_argument("--variants", default="on,off,exporter",
                    help="comma-separated, run in this order within a round, among "
                         f"{','.join(VARIANTS)}; 'off' is the baseline and must be included")
    ap.add_argument("--bootstrap", type=int, default=1000,
                    help="resamples of the rounds for the 95%% intervals")
    ap.add_argument("--alone", action="store_true",
                    help="load phase: one server at a time, started afresh for each slice "
                         "(default: every variant's server up at once, driven in turn)")
    ap.add_argument("--restart-every", type=int, default=2, metavar="R",
                    help="start every server afresh each R rounds (0: never): each worker "
                         "process draws its own CPython cache layout, worth a few percent")
    ap.add_argument("--fixed-order", action="store_true",
                    help="the same order every round (default: rotated each round)")
    ap.add_argument("--try", dest="tries", action="append", default=[],
                    metavar="NAME:KEY=VALUE[,KEY=VALUE]",
                    help="one more tracker-on variant, with these settings (repeatable): "
                         "compare a change in the same run")
    ap.add_argument("--aa", action="store_true",
                    help="one more variant: a second tracker-off server, set up as the first "
                         "(an A/A comparison: what the arrangement reads when nothing differs)")
    ap.add_argument("--inproc-rounds", type=int, default=5)
    ap.add_argument("--inproc-requests", type=int, default=1500)
    ap.add_argument("--inproc-warmup", type=int, default=200)
    ap.add_argument("--skip-inproc", action="store_true")
    ap.add_argument("--profile-seconds", type=float, default=20,
                    help="py-spy sampling per variant (0: no profile)")
    ap.add_argument("--profile-out", metavar="DIR",
                    help="keep py-spy's raw stacks here (for a flame graph: flamegraph.pl, "
                         "speedscope)")
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--skip-callgrind", action="store_true")
    args = ap.parse_args()
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for spec in args.tries:
        name, _, settings = spec.partition(":")
        name = "on-" + name
        TRIED[name] = dict(kv.split("=", 1) for kv in settings.split(",") if kv)
        LABEL[name] = f"tracker on, {spec.partition(':')[0]}"
        # BENCH_NO_WRITE=1: the request path alone (events dropped where they are queued)
        WSGI[name] = ("wsgi_nowrite:app" if TRIED[name].get("BENCH_NO_WRITE") == "1"
                      else "wsgi:app")
    if "off" not in args.variants or any(v not in VARIANTS for v in args.variants):
        ap.error(f"--variants: a subset of {','.join(VARIANTS)} that includes off")
    args.variants += list(TRIED)
    if args.aa:
        LABEL["off-aa"], WSGI["off-aa"] = "tracker off, again", "wsgi:app"
        args.variants.append("off-aa")
    args.settle = _settle_for(args)
    if args.k_long <= args.k_short:
        ap.error("--k-long must be larger than --k-short")
    if not args.skip_callgrind and not shutil.which("valgrind"):
        ap.error("valgrind is not installed (apt-get install valgrind), or pass --skip-callgrind")

    started = time.monotonic()
    machine_before = machine_note()
    ensure_pristine_db(args.db)
    visitors = max(args.visitors, 1)
    result: dict = {"benchmark": "tracking_overhead", "page": PRODUCT_PATH,
                    "visitors": _visitor_mix(args), "machine": machine_before}
    texts = []
    with tempfile.TemporaryDirectory(prefix="tp-bench-overhead-") as tmp:
        if not args.skip_load:
            text, summary = load_report(load_phase(args, visitors, tmp), args)
            texts.append(text)
            result["load"] = {"workers": args.workers, "alone": args.alone,
                              "loadgen": args.loadgen,
                              "connections": args.connections, "slice_s": args.duration,
                              "rounds": args.rounds, **summary}
        if args.profile_seconds > 0 and (profiled := profile_phase(args, visitors, tmp)):
            text, summary = profile_report(profiled, args)
            texts.append(text)
            result["profile"] = {"seconds": args.profile_seconds, "per_variant": summary}
        if not args.skip_inproc:
            cookies = mint_cookies(args.db, visitors)
            text, summary = inproc_report(inproc_phase(args, cookies, tmp), args)
            texts.append(text)
            result["cpu_in_process"] = {"requests": args.inproc_requests,
                                        "rounds": args.inproc_rounds, **summary}
        if not args.skip_callgrind:
            if args.writer_batch <= 0:
                args.writer_batch = _batch_of_the_load(result.get("load"), args)
            cookies = mint_cookies(args.db, visitors)
            text, summary = callgrind_report(callgrind_phase(args, cookies, tmp), args)
            texts.append(text)
            result["instructions"] = {"k_short": args.k_short, "k_long": args.k_long,
                                      "hash_seeds": args.hash_seeds,
                                      "writer_batch": args.writer_batch, "per_variant": summary}
    result["machine_after"] = machine_note()
    result["seconds"] = round(time.monotonic() - started, 1)
    print("\n\n".join(texts))
    print()
    json_line(result)
    return 0


if __name__ == "__main__":
    run(main)
