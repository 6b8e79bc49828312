"""How much CPU does the tracker's own code take inside a busy gunicorn worker?

    .venv/bin/python benchmarks/tracker_cpu_insitu.py [--seconds 60] [--workers 2]

The store with the tracker on (benchmarks/wsgi_insitu.py) under gunicorn and wrk, with the
traffic of tracking_overhead.py (returning visitors' cookies in turn, a new visitor every
10th request). Each worker times its tracker code with its thread's CPU clock, in place:
the request path (the three request hooks and every ``journey.track()``) per request, and
the writer (every batch, on whichever thread writes it) per event. Against the workers' CPU
per request (every thread, from /proc), that is the tracker's own share of the work.

Why: throughput under gunicorn moves by several percent between runs on this machine, and
callgrind counts instructions, not time. This measures time where it is spent, and only the
tracker's: code that runs once per request runs with colder caches than the same code in a
loop (track_latency.py), and this says by how much. What it cannot see is what the tracker
costs the store's own code beside it (the rest of the load test's difference).

The clock costs a system call per read; each worker times an empty call at start, and that is
taken off per timed call. The warm-up is left out (each worker's totals are zeroed after it).
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time
import types
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tracking_overhead as bench  # noqa: E402
from _common import (  # noqa: E402
    cpu_split,
    ensure_pristine_db,
    json_line,
    log,
    machine_note,
    run,
    table,
)


def reset_totals(port: int, workers: set[int], attempts: int = 200) -> None:
    """Every worker's totals zeroed (the warm-up left out): GET /__insitu_reset until each
    worker has answered one (the kernel hands connections to whichever worker is free)."""
    answered: set[int] = set()
    for _ in range(attempts):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__insitu_reset", timeout=10) as r:
            answered.add(json.load(r)["pid"])
        if answered >= workers:
            return
    raise SystemExit(f"only workers {sorted(answered)} of {sorted(workers)} answered a reset")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60, help="measured load (after a warm-up)")
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--visitors", type=int, default=100)
    ap.add_argument("--new-visitor-every", type=int, default=10)
    ap.add_argument("--db", default=None, help="the seeded benchmark database (built if absent)")
    args = ap.parse_args()
    load = types.SimpleNamespace(db=args.db or ensure_pristine_db(), workers=args.workers,
                                 threads=1, connections=args.connections,
                                 new_visitor_every=args.new_visitor_every)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tp-bench-insitu-") as tmp:
        bench.TRIED["on-insitu"] = {"BENCH_INSITU_DIR": tmp}
        bench.LABEL["on-insitu"] = "tracker on, timed in place"
        bench.WSGI["on-insitu"] = "wsgi_insitu:app"
        server = bench.start_server("on-insitu", load, args.visitors, tmp)
        try:
            log(f"warm-up {args.warmup:g} s, then {args.seconds:g} s of load")
            bench.run_wrk(server["port"], args.warmup, load, server["cookies"])
            time.sleep(bench._flush_interval("on") * 2)  # the warm-up's batches written
            reset_totals(server["port"], set(server["workers"]))
            before = cpu_split(server["workers"])
            res = bench.run_wrk(server["port"], args.seconds, load, server["cookies"])
            time.sleep(bench._flush_interval("on") * 2)
            after = cpu_split(server["workers"])
        finally:
            bench.stop_server(server)
        reports = []
        for path in glob.glob(os.path.join(tmp, "insitu-*")):
            with open(path) as f:
                reports.append(json.load(f))
    if len(reports) != args.workers:
        raise SystemExit(f"{len(reports)} of {args.workers} workers reported")
    total = {key: sum(r[key] for r in reports) for key in reports[0] if key != "clock_s"}
    clock = sum(r["clock_s"] for r in reports) / len(reports)

    def cpu_us(kind: str) -> float:  # the clock's own cost taken off, per timed call
        return (total[f"{kind}_cpu_s"] - clock * total[f"{kind}_calls"]) * 1e6

    requests = total["requests"]  # counted by the workers over the measured load
    path_us = cpu_us("path") / requests
    writer_event_us = cpu_us("writer") / total["events"]
    events_per_request = total["events"] / requests
    writer_us = writer_event_us * events_per_request
    housekeeping_us = cpu_us("housekeeping") / requests
    own_us = path_us + writer_us + housekeeping_us
    worker_us = sum(after) - sum(before)
    worker_us = worker_us / res["requests"] * 1e6 if res["requests"] else float("nan")
    parts = {name: cpu_us(name) / requests for name in
             ("journey_before_request", "journey_after_request", "journey_teardown_request",
              "track")}
    rows = [
        ["request path (hooks + track()), per request", f"{path_us:.1f}",
         f"{path_us / worker_us * 100:.1f}%"],
        *([f"  of it {name.removeprefix('journey_')}", f"{us:.1f}", ""]
          for name, us in parts.items()),
        [f"writer, per event ({events_per_request:.2f} events a request)",
         f"{writer_event_us:.1f}", ""],
        ["writer, per request", f"{writer_us:.1f}", f"{writer_us / worker_us * 100:.1f}%"],
        ["writer thread's housekeeping (counters, checkpoint, sweep), per request",
         f"{housekeeping_us:.1f}", f"{housekeeping_us / worker_us * 100:.1f}%"],
        ["the tracker's own code, per request", f"{own_us:.1f}",
         f"{own_us / worker_us * 100:.1f}%"],
        ["a worker's CPU per request, all of it", f"{worker_us:.0f}", "100%"],
    ]
    print(f"The tracker's own CPU inside {args.workers} gunicorn workers under wrk "
          f"({res['requests']:,} requests in {args.seconds:g} s, {res['rps']:.0f} req/s; "
          f"{requests:,} requests and {total['events']:,} events timed; "
          f"the clock's {clock * 1e6:.2f} µs a timed call taken off):\n")
    print(table(["what", "µs", "of the worker's CPU"], rows))
    print()
    json_line({"benchmark": "tracker_cpu_insitu", "seconds": args.seconds,
               "requests": res["requests"], "rps": round(res["rps"], 1),
               "path_us_per_request": round(path_us, 1),
               "path_parts_us_per_request": {k: round(v, 1) for k, v in parts.items()},
               "writer_us_per_event": round(writer_event_us, 1),
               "writer_us_per_request": round(writer_us, 1),
               "housekeeping_us_per_request": round(housekeeping_us, 1),
               "worker_cpu_us_per_request": round(worker_us, 1),
               "tracker_share": round(own_us / worker_us, 4),
               "clock_us": round(clock * 1e6, 3), "machine": machine_note(),
               "wall_s": round(time.monotonic() - started, 1)})
    return 0


if __name__ == "__main__":
    run(main)
