"""What does journey tracking cost a product page under gunicorn? Paired, at the same time.

    .venv/bin/python benchmarks/tracking_overhead_paired.py                 # ~20 min
    .venv/bin/python benchmarks/tracking_overhead_paired.py --variants on --pairs 12
    .venv/bin/python benchmarks/tracking_overhead_paired.py --variants on \\
        --try path:BENCH_NO_WRITE=1 --aa
    .venv/bin/python benchmarks/tracking_overhead_paired.py --variants on --rate 70 \\
        --duration 12          # an open loop instead of wrk (benchmarks/open_loop.py)
    .venv/bin/python benchmarks/tracking_overhead_paired.py --pool a.log b.log
                               # finished runs (saved stdout, or stdout and stderr) pooled

The load phase of tracking_overhead.py drives one server at a time, so a variant's slice and
the tracker-off slice it is compared with run seconds apart, and this machine's speed moves
by tens of percent over minutes: its 95% intervals are ±4 points after 47 minutes. Here the
two servers run at the same time, so they share the machine's state second by second:

- a variant's gunicorn (``--workers`` sync workers, deploy/gunicorn.conf.py, its own copy of
  the database) and the tracker-off store's, each with every thread pinned to one core, and
  each driven by its own wrk pinned to the same core (--connections), for --duration s;
- the next slice swaps the cores, and a pair of slices is one measurement: the geometric
  mean of its two ratios, so a faster core favours neither variant;
- every --restart-every pairs (by default every pair) both servers start afresh on fresh
  copies: a process's speed depends a few percent on how CPython lays out its caches, fixed
  for its life, so one process per variant would measure one draw of that luck, and the
  start, not the pair, is the unit of the interval (pairs of one start are averaged first;
  counted by pairs, two runs of the same code an hour apart read +4.4% [+3.6 … +5.2] and
  +3.6% [+3.3 … +3.8]);
- which server starts first (and has its wrk started first, and core 0 first) alternates
  from start to start, and half the pairs are of each order: on this VM, of two 2-worker
  stores started one after the other, the one started first ran 3-4% slower for its whole
  life (a second tracker-off store read +2.8% started first, half the difference between
  the orders); the mean of the two orders cancels it, and the table shows it ("started
  first");
- each variant is compared with tracker off in its own series of pairs.

Reported per variant against tracker off: time per request (wall time of the slice over the
requests wrk completed, i.e. 1 / throughput), the workers' CPU per request (every thread,
from /proc: the journey writer's included), both as the mean of the two orders' means with
a 95% interval (Student's t, from the spread of the starts within each order; ratios
averaged on the log scale, i.e. geometric means — balanced_interval says why), latency
p50/p99 the same way (each pair's own percentiles, its two slices' wrk histograms pooled,
as a ratio), p50/p99 over every request of the run (pooled: each side's p99 is then that of
its own slowest starts, unpaired), and the workers' peak RSS. Traffic
as tracking_overhead.py's: --visitors returning visitors' cookies in turn, every
--new-visitor-every-th request a brand-new visitor.

Needs 2 CPUs or more (each server has one to itself) and wrk (``make bench-deps``). Prints
progress, a table and one JSON line {"benchmark": "tracking_overhead_paired", ...}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tracking_overhead as bench  # noqa: E402
from _common import (  # noqa: E402
    DEFAULT_PRISTINE_DB,
    PRODUCT_PATH,
    cpu_split,
    ensure_pristine_db,
    json_line,
    log,
    machine_note,
    pct,
    rss_mb,
    run,
    table,
)

# Two-sided 95% quantiles of Student's t by degrees of freedom (1.96 beyond the table).
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26,
        10: 2.23, 11: 2.20, 12: 2.18, 13: 2.16, 14: 2.14, 15: 2.13, 16: 2.12, 17: 2.11,
        18: 2.10, 19: 2.09, 20: 2.09, 25: 2.06, 30: 2.04, 40: 2.02, 60: 2.00}


def t95(df: int) -> float:
    """Between tabled degrees of freedom, the next lower one's (a slightly wider interval)."""
    if df <= 0:
        return math.nan
    known = [d for d in _T95 if d <= df]
    return _T95[max(known)] if df <= 60 else 1.96


def balanced_interval(ratios: list[float], orders: list[int],
                      starts: list[int]) -> tuple[float, float, float, float]:
    """The change, as a percentage: the mean of the two start orders' means (each order is
    half the starts), with its 95% interval from the spread within each order, and half the
    difference between the orders (what starting first does to a server).

    The unit is a start (``starts``: each pair's), not a pair: a process keeps the speed it
    drew at its start for its whole life, so two pairs of one start are not two independent
    measurements. Their mean is one; an interval over pairs read ±0.9 points where runs of
    the same code an hour apart differed by 0.8.

    Means of ratios are taken on the log scale (geometric means), as each pair's two slices
    already are (pair_ratio). The arithmetic mean of ratios is biased upwards by about half
    their relative variance — with starts that differ by ±9% (a noisy day), by 0.3 points
    in time and 0.4-0.8 at p99 — and is not symmetric: it would read a variant +x% against
    a baseline that, swapped, reads more than -x% against it. ``arithmetic_mean`` gives the
    other for comparison with older runs."""
    groups = _starts_by_order([math.log(r) for r in ratios], orders, starts)
    means = [statistics.fmean(g) for g in groups]
    estimate, order_effect = (means[0] + means[1]) / 2, (means[0] - means[1]) / 2
    if min(len(g) for g in groups) < 2:
        return _pct(estimate), math.nan, math.nan, _pct(order_effect)
    var = sum(statistics.variance(g) / len(g) for g in groups) / 4
    half = t95(sum(len(g) for g in groups) - 2) * math.sqrt(var)
    return _pct(estimate), _pct(estimate - half), _pct(estimate + half), _pct(order_effect)


def _pct(log_ratio: float) -> float:
    return (math.exp(log_ratio) - 1) * 100


def arithmetic_mean(ratios: list[float], orders: list[int], starts: list[int]) -> float:
    """The change as the earlier runs reported it (to 2026-12-06): the two orders' means of
    each start's arithmetic mean ratio, as a percentage."""
    groups = _starts_by_order([(r - 1) * 100 for r in ratios], orders, starts)
    return statistics.fmean(statistics.fmean(g) for g in groups)


def _starts_by_order(values: list[float], orders: list[int],
                     starts: list[int]) -> list[list[float]]:
    """Each start's mean value (its pairs averaged: one measurement), grouped by the start's
    order: [order 0's, order 1's]."""
    by_start: dict[int, list[float]] = {}
    order_of: dict[int, int] = {}
    for x, o, s in zip(values, orders, starts, strict=True):
        by_start.setdefault(s, []).append(x)
        order_of[s] = o
    return [[statistics.fmean(v) for s, v in by_start.items() if order_of[s] == order]
            for order in (0, 1)]


def pair_ratio(first: float, second: float) -> float:
    """One measurement from two slices, one with each core: their ratios' geometric mean."""
    return math.sqrt(first * second)


# -- servers and load, pinned ---------------------------------------------------------------
def pin(server: dict, cpu: int) -> None:
    """Every thread of the server's master and workers onto one CPU (threads started later
    inherit it from the thread that starts them)."""
    for pid in [server["proc"].pid, *server["workers"]]:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            with contextlib.suppress(OSError):  # a thread that just ended
                os.sched_setaffinity(int(tid), {cpu})


def start_wrk(server: dict, cpu: int, seconds: float, args) -> subprocess.Popen:
    cmd, env = bench.wrk_command(server["port"], seconds, args, server["cookies"])
    if args.rate:  # open loop: the same arrivals for both servers of a slice (its seed)
        cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "open_loop.py"),
               "--port", str(server["port"]), "--rate", str(args.rate),
               "--seconds", str(seconds), "--seed", str(args.slice_seed)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))


def wrk_result(proc: subprocess.Popen, seconds: float) -> dict:
    out, _ = proc.communicate(timeout=seconds + 60)
    return bench.parse_wrk(out)


def together(servers: dict[str, dict], cpus: dict[str, int], seconds: float, args) -> dict:
    """Both servers under load at once, each on its own CPU; then --settle seconds, so each
    writer writes what its slice queued inside the slice's CPU count."""
    for name, server in servers.items():
        pin(server, cpus[name])
    before = {name: cpu_split(s["workers"]) for name, s in servers.items()}
    args.slice_seed += 1
    procs = {name: start_wrk(s, cpus[name], seconds, args) for name, s in servers.items()}
    results = {name: wrk_result(proc, seconds) for name, proc in procs.items()}
    time.sleep(args.settle)
    for name, server in servers.items():
        res, (user0, sys0) = results[name], before[name]
        user, system = cpu_split(server["workers"])
        if res["errors"]:
            raise RuntimeError(f"{name}: {res['errors']} failed requests")
        res["time_us"] = res["duration_us"] / max(res["requests"], 1)
        res["cpu_us"] = (user - user0 + system - sys0) / max(res["requests"], 1) * 1e6
        res["rss_mb"] = max(rss_mb(server["workers"]), default=0.0)
    return results


def series(variant: str, args, tmp: str) -> dict:
    """--pairs pairs of slices, ``variant`` against tracker off."""
    names = (variant, "off")
    servers: dict[str, dict] = {}
    pairs, hists, rss = [], {v: [] for v in names}, {v: 0.0 for v in names}
    requests = {v: 0 for v in names}

    def restart(turn: int) -> None:
        for server in servers.values():
            bench.stop_server(server)
        servers.clear()
        # Which one starts first, and takes which core first, alternates from start to
        # start: an A/A pair that always started the same one first read +1.9% [+0.8 … +3.0].
        for v in (names if turn % 2 == 0 else names[::-1]):
            servers[v] = bench.start_server(v, args, args.visitors, tmp)
        if args.warmup > 0:  # unmeasured, both at once as measured
            together(servers, {variant: turn % 2, "off": 1 - turn % 2}, args.warmup, args)

    try:
        for k in range(args.pairs):
            turn = k // args.restart_every
            if k % args.restart_every == 0:
                log(f"{bench.LABEL[variant]} and tracker off: starting both"
                    + (" afresh" if k else ""))
                restart(turn)
            slices = []
            for first in ((0, 1) if turn % 2 == 0 else (1, 0)):
                slices.append(together(servers, {variant: first, "off": 1 - first},
                                       args.duration, args))
            for row in slices:
                for v in names:
                    hists[v].append(row[v]["hist"])
                    rss[v] = max(rss[v], row[v]["rss_mb"])
                    requests[v] += row[v]["requests"]
            pair = {f"{key}_ratio": pair_ratio(*(row[variant][key] / row["off"][key]
                                                 for row in slices))
                    for key in ("time_us", "cpu_us")}
            # The pair's own percentiles (its two slices pooled), as a ratio: paired like the
            # time, so a slow start moves both sides; pooled over the whole run instead, each
            # side's p99 is that of its own slowest starts.
            lat = {v: bench._pooled_percentiles([row[v]["hist"] for row in slices])
                   for v in names}
            for q in ("p50", "p99"):
                pair[f"{q}_ratio"] = lat[variant][q] / lat["off"][q]
            pair["cpu_us"] = statistics.fmean(row[variant]["cpu_us"] for row in slices)
            pair["cpu_us_off"] = statistics.fmean(row["off"]["cpu_us"] for row in slices)
            pair["order"], pair["start"] = turn % 2, turn
            late = max((row[v].get("late_us", 0) for row in slices for v in names), default=0)
            pairs.append(pair)
            log(progress_line(k + 1, args.pairs, pair, late if args.rate else None))
    finally:
        for server in servers.values():
            bench.stop_server(server)
    return {"pairs": pairs, "hists": hists, "rss_mb": rss, "requests": requests}


def estimates(pairs: list[dict]) -> dict:
    """The paired figures from a run's pairs (or several runs' pairs, pooled: their starts
    distinct): each ratio's change with its interval, as balanced_interval gives them."""
    orders = [p["order"] for p in pairs]
    starts = [p["start"] for p in pairs]
    found: dict = {"pairs": len(pairs), "starts": len(set(starts))}
    for key, name in (("time_us", "time_per_request"), ("cpu_us", "cpu_per_request"),
                      ("p50", "p50"), ("p99", "p99")):
        ratios = [p.get(f"{key}_ratio") for p in pairs]
        if any(r is None for r in ratios):  # not measured (an open loop's time; an old log)
            continue
        mean, lo, hi, order = balanced_interval(ratios, orders, starts)
        found[f"{name}_pct"], found[f"{name}_95"] = round(mean, 2), [round(lo, 2), round(hi, 2)]
        if key == "time_us":
            found["started_first_pct"] = round(order, 2)
    return found


# Each pair as it is kept in the JSON line, for pooling runs later (--pool).
_KEPT = ("start", "order", "time_us_ratio", "cpu_us_ratio", "p50_ratio", "p99_ratio")


def progress_line(n: int, pairs: int, pair: dict, late_us: float | None) -> str:
    """A pair's progress line (``late_us``: an open loop's lateness; None under wrk). --pool
    reads these back (_PROGRESS) from outputs whose JSON line did not keep the pairs."""
    return (f"pair {n}/{pairs}: "
            + ("" if late_us is not None else
               f"time/request {pct((pair['time_us_ratio'] - 1) * 100)}, ")
            + f"CPU/request {pct((pair['cpu_us_ratio'] - 1) * 100)} "
            f"({pair['cpu_us']:.0f} vs {pair['cpu_us_off']:.0f} µs), p99 "
            f"{pct((pair['p99_ratio'] - 1) * 100)}"
            + (f"; the open loop {late_us / 1000:.1f} ms behind its schedule at worst"
               if late_us is not None else ""))


def summarize(variant: str, res: dict) -> dict:
    orders = [p["order"] for p in res["pairs"]]
    starts = [p["start"] for p in res["pairs"]]
    lat = {v: bench._pooled_percentiles(res["hists"][v]) for v in (variant, "off")}
    return {
        **estimates(res["pairs"]),
        "requests": res["requests"],
        "cpu_us_per_request": round(statistics.fmean(p["cpu_us"] for p in res["pairs"]), 1),
        "cpu_us_per_request_off": round(statistics.fmean(p["cpu_us_off"] for p in res["pairs"]),
                                        1),
        "p50_pooled_pct": round((lat[variant]["p50"] / lat["off"]["p50"] - 1) * 100, 2),
        "p99_pooled_pct": round((lat[variant]["p99"] / lat["off"]["p99"] - 1) * 100, 2),
        "p50_us": lat[variant]["p50"], "p99_us": lat[variant]["p99"],
        "p50_us_off": lat["off"]["p50"], "p99_us_off": lat["off"]["p99"],
        "rss_mb": round(res["rss_mb"][variant], 1), "rss_mb_off": round(res["rss_mb"]["off"], 1),
        "arithmetic_means_pct": {
            key: round(arithmetic_mean([p[f"{key}_ratio"] for p in res["pairs"]], orders,
                                       starts), 2)
            for key in ("time_us", "p50", "p99")},
        "measurements": kept(res["pairs"]),
    }


def kept(pairs: list[dict]) -> dict:
    """The pairs as the JSON line keeps them (for --pool)."""
    return {"columns": list(_KEPT),
            "rows": [[p[k] if k in ("start", "order") else round(p[k], 6) for k in _KEPT]
                     for p in pairs]}


# -- pooling saved runs ---------------------------------------------------------------------
# What must agree for runs to be pooled: the same load on the same page.
_SETTINGS = ("page", "workers", "connections", "open_loop_rate", "slice_s", "visitors",
             "new_visitor_every")
# A progress line, for a saved output from before the JSON line kept each pair (2026-12-07):
# its ratios to 0.1 point, and no p50.
_PROGRESS = re.compile(r"(?:^|\] )pair (\d+)/\d+: (?:time/request ([+-]?[\d.]+)%, )?"
                       r"CPU/request ([+-]?[\d.]+)% \(.*?\), p99 ([+-]?[\d.]+)%")


def read_runs(path: str) -> list[tuple[dict, dict[str, list[dict]]]]:
    """The finished runs in a saved output of this script (its stdout, or stdout and stderr
    together): each run's JSON line, and its pairs by variant — from the JSON line, or, where
    that did not keep them, from the progress lines before it (a log of both streams)."""
    runs, progress = [], []
    with open(path, encoding="utf-8") as saved:
        for line in saved:
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("benchmark") == "tracking_overhead_paired":
                    runs.append((record, _pairs_of(record, progress, path)))
                progress = []
            elif (found := _PROGRESS.search(line)) is not None:
                progress.append(found.groups())
    if not runs:
        raise SystemExit(f"{path}: no finished run of tracking_overhead_paired in it")
    return runs


def _pairs_of(record: dict, progress: list[tuple], path: str) -> dict[str, list[dict]]:
    pairs: dict[str, list[dict]] = {}
    if all("measurements" in r for r in record["results"].values()):
        for variant, result in record["results"].items():
            saved = result["measurements"]
            pairs[variant] = [dict(zip(saved["columns"], row, strict=True))
                              for row in saved["rows"]]
    else:  # the progress lines: each variant's series in turn, from its "pair 1/N"
        series_of: list[list[tuple]] = []
        for groups in progress:
            if groups[0] == "1":
                series_of.append([])
            if series_of:
                series_of[-1].append(groups)
        if len(series_of) != len(record["results"]) or any(
                len(lines) != r["pairs"] for lines, r in zip(series_of, record["results"].values(),
                                                             strict=False)):
            raise SystemExit(f"{path}: its progress lines do not match its JSON line (a log of "
                             "stdout alone, from before the JSON line kept each pair?)")
        every = record.get("restart_every", 1)
        for variant, lines in zip(record["results"], series_of, strict=True):
            pairs[variant] = []
            for n, time_pct, cpu_pct, p99_pct in lines:
                turn = (int(n) - 1) // every
                pairs[variant].append({
                    "start": turn, "order": turn % 2,
                    "time_us_ratio": None if time_pct is None else 1 + float(time_pct) / 100,
                    "cpu_us_ratio": 1 + float(cpu_pct) / 100, "p50_ratio": None,
                    "p99_ratio": 1 + float(p99_pct) / 100})
    if record.get("open_loop_rate"):  # the schedule's time, not a cost
        for variant_pairs in pairs.values():
            for pair in variant_pairs:
                pair["time_us_ratio"] = None
    return pairs


def pool(paths: list[str]) -> int:
    """Runs of the same load, pooled: every start of every run one measurement (a run's
    starts are independent of another's as they are of each other), each variant against
    tracker off as in one run. Prints each run's figures, the pooled ones, and a JSON line."""
    runs = [(path, *run_) for path in paths for run_ in read_runs(path)]
    settings = {key: runs[0][1].get(key) for key in _SETTINGS}
    seen: dict[str, str] = {}
    for path, record, _ in runs:
        key = json.dumps(record["results"], sort_keys=True)
        if key in seen:  # counted twice, its starts would narrow the interval they widen
            raise SystemExit(f"{path}: the same run as one in {seen[key]}: pooled once only")
        seen[key] = path
    for path, record, _ in runs[1:]:
        differs = [key for key in _SETTINGS if record.get(key) != settings[key]]
        if differs:
            raise SystemExit(f"{path}: not the same load as {runs[0][0]} ({', '.join(differs)} "
                             "differ): runs are pooled only with their like")
    pooled: dict[str, list[dict]] = {}
    rows = []
    for n, (path, record, pairs) in enumerate(runs):
        for variant, variant_pairs in pairs.items():
            rows.append(_row(f"{os.path.basename(path)} ({record['seconds'] / 60:.0f} min)",
                             variant, estimates(variant_pairs)))
            pooled.setdefault(variant, []).extend(
                {**p, "start": (n, p["start"])} for p in variant_pairs)
    results = {variant: estimates(variant_pairs) for variant, variant_pairs in pooled.items()}
    plural = "s" if len(runs) > 1 else ""
    rows += [_row(f"**pooled, {len(runs)} run{plural}**", variant, found)
             for variant, found in results.items()]
    print(f"\nGET {settings['page']}, runs of tracking_overhead_paired.py pooled: every start "
          "of every run one measurement; geometric mean of the starts [95% interval]:\n")
    print(table(["run", "variant vs tracker off", "pairs / starts", "time per request",
                 "worker CPU per request", "p50", "p99"], rows))
    print()
    json_line({"benchmark": "tracking_overhead_paired_pooled", **settings,
               "runs": [{"file": path, "variants": list(pairs),
                         "machine": record.get("machine"), "seconds": record.get("seconds")}
                        for path, record, pairs in runs],
               "results": results})
    return 0


def _row(run_name: str, variant: str, found: dict) -> list[str]:
    return [run_name, bench.LABEL.get(variant, variant), f"{found['pairs']} / {found['starts']}",
            *(interval(found, name) for name in ("time_per_request", "cpu_per_request", "p50",
                                                 "p99"))]


def interval(found: dict, name: str) -> str:
    """A figure of ``estimates`` with its interval, for a table ("—": not measured)."""
    if found.get(f"{name}_pct") is None:
        return "—"
    lo, hi = found[f"{name}_95"]
    return f"{pct(found[f'{name}_pct'])} [{pct(lo)} … {pct(hi)}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", nargs="+", metavar="SAVED",
                    help="measure nothing: pool finished runs from these saved outputs of this "
                         "script (stdout, or stdout and stderr together) and print the figures")
    ap.add_argument("--db", default=DEFAULT_PRISTINE_DB)
    ap.add_argument("--variants", default="on,exporter",
                    help="compared with tracker off, each in its own series: on, exporter")
    ap.add_argument("--try", dest="tries", action="append", default=[],
                    metavar="NAME:KEY=VALUE,...",
                    help="also a tracker-on variant with these settings (as tracking_overhead.py)")
    ap.add_argument("--aa", action="store_true",
                    help="also a second tracker-off store against the first (an A/A check)")
    ap.add_argument("--pairs", type=int, default=24, help="pairs of slices per variant")
    ap.add_argument("--duration", type=float, default=6.0, help="seconds per slice")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds after each start")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds after each slice for the writers to finish it")
    ap.add_argument("--restart-every", type=int, default=1, metavar="PAIRS",
                    help="pairs per start of both servers (the interval's unit is a start)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    ap.add_argument("--connections", type=int, default=4, help="wrk connections per server")
    ap.add_argument("--rate", type=float, default=0, metavar="REQ/S",
                    help="an open loop instead of wrk: Poisson arrivals at this mean rate per "
                         "server (benchmarks/open_loop.py); latency from each request's due "
                         "time, and time per request is then the schedule's, not a cost")
    ap.add_argument("--visitors", type=int, default=100)
    ap.add_argument("--new-visitor-every", type=int, default=10)
    args = ap.parse_args()
    if args.pool:
        return pool(args.pool)
    if (os.cpu_count() or 1) < 2 or len(os.sched_getaffinity(0)) < 2:
        ap.error("needs two CPUs: each server runs on one of its own")
    if args.rate and not (math.isfinite(args.rate) and args.rate > 0):
        ap.error("--rate: a positive number of requests a second")
    if not args.rate and not shutil.which("wrk"):
        ap.error("wrk is not installed: make bench-deps")
    if args.restart_every < 1 or args.pairs < 4 or args.pairs % (2 * args.restart_every):
        ap.error("--pairs: a multiple of twice --restart-every (half the starts each way "
                 "round), at least 4")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if any(v not in ("on", "exporter") for v in variants):
        ap.error("--variants: on and/or exporter (each is compared with off)")
    for spec in args.tries:
        name, _, settings = spec.partition(":")
        name = "on-" + name
        bench.TRIED[name] = dict(kv.split("=", 1) for kv in settings.split(",") if kv)
        bench.LABEL[name] = f"tracker on, {spec.partition(':')[0]}"
        bench.WSGI[name] = ("wsgi_nowrite:app" if bench.TRIED[name].get("BENCH_NO_WRITE") == "1"
                            else "wsgi:app")
        variants.append(name)
    if args.aa:
        bench.LABEL["off-aa"], bench.WSGI["off-aa"] = "tracker off, again", "wsgi:app"
        variants.append("off-aa")
    if not variants:
        ap.error("nothing to compare")
    # What tracking_overhead.start_server and stop_server read from its own arguments.
    args.loadgen, args.threads = "wrk", 1
    args.slice_seed = 0

    started = time.monotonic()
    machine = machine_note()
    ensure_pristine_db(args.db)
    results = {}
    with tempfile.TemporaryDirectory(prefix="tp-bench-paired-") as tmp:
        for variant in variants:
            results[variant] = summarize(variant, series(variant, args, tmp))
            if args.rate:  # an open loop's time per request is its schedule's, not a cost
                results[variant].update(time_per_request_pct=None, time_per_request_95=None,
                                        started_first_pct=None)
                results[variant]["arithmetic_means_pct"]["time_us"] = None

    rows = []
    for variant, s in results.items():
        rows.append([
            bench.LABEL[variant], f"{s['pairs']} / {s['starts']}",
            "— (the schedule's)" if args.rate else interval(s, "time_per_request"),
            interval(s, "cpu_per_request"),
            f"{s['cpu_us_per_request']:.0f} / {s['cpu_us_per_request_off']:.0f}",
            "—" if args.rate else pct(s["started_first_pct"]),
            pct(s["p50_pct"]),
            interval(s, "p99"),
            f"{pct(s['p50_pooled_pct'])} / {pct(s['p99_pooled_pct'])}",
            f"{s['rss_mb']:.0f} / {s['rss_mb_off']:.0f}",
        ])
    print(f"\nGET {PRODUCT_PATH}, each variant and tracker off at the same time, each on one "
          f"core ({args.workers} gunicorn workers, "
          + (f"an open loop of {args.rate:g} requests/s, Poisson arrivals" if args.rate else
             f"wrk with {args.connections} connections")
          + "), "
          f"cores swapped every {args.duration:g} s slice; a pair of slices is one "
          f"measurement; geometric mean of the starts [95% interval]:\n")
    print(table(["variant vs tracker off", "pairs / starts", "time per request",
                 "worker CPU per request", "CPU µs / request (vs off)", "started first",
                 "p50", "p99", "p50 / p99 pooled", "peak worker RSS MiB (vs off)"],
                rows))
    print()
    json_line({"benchmark": "tracking_overhead_paired", "page": PRODUCT_PATH,
               "workers": args.workers, "connections": None if args.rate else args.connections,
               "open_loop_rate": args.rate or None,
               "slice_s": args.duration, "restart_every": args.restart_every,
               "visitors": args.visitors, "new_visitor_every": args.new_visitor_every,
               "results": results, "machine": machine, "machine_after": machine_note(),
               "seconds": round(time.monotonic() - started, 1)})
    return 0


if __name__ == "__main__":
    run(main)
