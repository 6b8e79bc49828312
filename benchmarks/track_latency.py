"""How long does the journey tracker hold a request thread? Microseconds per touchpoint.

In-process, no server. Two parts:

1. ``journey.track(...)`` alone: for each case, a fresh ``app.test_request_context(...)`` +
   ``app.preprocess_request()`` (untimed: the tracker's before_request loads the visitor
   cookie), then one timed call with ``time.perf_counter_ns``, --calls times:
     - product_view / add_to_cart by a returning visitor (the cookie names a live journey);
     - product_view by a brand-new visitor (no cookie): starts a journey, so it also records
       the automatic ``landing`` (traffic source, device, network) — two events;
     - product_view by a bot (counted in the metrics, nothing stored), and with the tracker's
       kill switch off (JOURNEY_ENABLED=false: the call returns at once).
2. The request hooks: a whole test-client GET of a trivial HTML view (added for the
   benchmark; the rest of the store's hooks are the same) with the tracker on, minus the
   same with it off — before_request (cookie), after_request (the automatic page_view or
   landing, the re-signed cookie, the request counter and histogram), teardown. --requests
   of each, on and off interleaved in blocks so drift cancels.

The writer thread runs as in production (it takes the GIL now and then: that shows in p99);
the queue is made big enough for the run and flushed between blocks, outside the timing, so
it never fills and nothing is dropped. Prometheus runs in multiprocess mode as under
gunicorn (mmap-backed values) unless --no-multiproc.

    .venv/bin/python benchmarks/track_latency.py                   # ~1 min
    .venv/bin/python benchmarks/track_latency.py --calls 20000 --requests 5000
    .venv/bin/python benchmarks/track_latency.py --profile         # + cProfile of track()

Prints tables and, last, one JSON line {"benchmark": "track_latency", ...}.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ACCEPT_HTML,
    BROWSER_UA,
    DEFAULT_PRISTINE_DB,
    PRODUCT_PATH,
    SECRET_KEY,
    ensure_pristine_db,
    fresh_db_copy,
    json_line,
    log,
    machine_note,
    mint_cookies,
    percentile,
    table,
)

TRIVIAL_PATH = "/bench/trivial"
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PRODUCT_PROPS = {"product_id": "1", "sku": "KIT-CAST-10", "price": 3999, "currency": "USD"}
CART_PROPS = {"product_id": "1", "quantity": 1, "value": 100, "currency": "USD"}


def stats_us(samples_ns: list[int]) -> dict:
    s = sorted(samples_ns)
    n = len(s)
    return {"n": n, "p50": percentile(s, 50) / 1000, "p90": percentile(s, 90) / 1000,
            "p99": percentile(s, 99) / 1000, "mean": sum(s) / n / 1000, "max": s[-1] / 1000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default=DEFAULT_PRISTINE_DB)
    ap.add_argument("--calls", type=int, default=20_000, help="timed track() calls per case")
    ap.add_argument("--requests", type=int, default=5_000,
                    help="timed requests per hook case and per variant")
    ap.add_argument("--flush-every", type=int, default=2_000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--no-multiproc", action="store_true")
    ap.add_argument("--profile", action="store_true",
                    help="also cProfile track() (returning and new visitor), by cumtime")
    args = ap.parse_args()
    started = time.monotonic()
    machine = machine_note()

    ensure_pristine_db(args.db)
    cookie = mint_cookies(args.db, 1)[0]  # "tp_visitor=...; session=..."
    tmp = tempfile.TemporaryDirectory(prefix="tp-bench-latency-")
    db = fresh_db_copy(args.db, tmp.name, "latency.db")
    for key in [k for k in os.environ if k.startswith(("JOURNEY_", "PROMETHEUS_"))]:
        del os.environ[key]
    os.environ.update({"DEMO": "true", "SECRET_KEY": SECRET_KEY,
                       "DATABASE_URL": f"sqlite:///{db}",
                       # never full: every event of the run fits, and it is flushed anyway
                       "JOURNEY_QUEUE_SIZE": str(max(args.calls * 2 + args.warmup * 2,
                                                     args.requests * 2) + 10_000),
                       "JOURNEY_SWEEP_INTERVAL": "0",
                       "JOURNEY_SPOOL_DIR": os.path.join(tmp.name, "journey-spool")})
    if not args.no_multiproc:
        os.makedirs(os.path.join(tmp.name, "prom"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(tmp.name, "prom")

    # Imported only now: prometheus_client picks its value class at import time.
    from storefront.app import create_app  # noqa: PLC0415
    from storefront.extensions import journey  # noqa: PLC0415

    def build(enabled: bool):
        app = create_app({"JOURNEY_ENABLED": enabled})
        app.add_url_rule(TRIVIAL_PATH, "bench_trivial",
                         lambda: "<!doctype html><title>ok</title><p>ok</p>")
        return app

    app_on, app_off = build(True), build(False)
    state = app_on.extensions["journey"]
    assert state.enabled and not app_off.extensions["journey"].enabled

    def flush():
        state.writer.flush(30)

    returning = {"User-Agent": BROWSER_UA, "Accept": ACCEPT_HTML, "Cookie": cookie}
    newcomer = {"User-Agent": BROWSER_UA, "Accept": ACCEPT_HTML}
    bot = {"User-Agent": BOT_UA, "Accept": ACCEPT_HTML}

    # -- part 1: track() ------------------------------------------------------------------
    cases = [
        ("product_view, returning visitor", app_on, returning, "product_view", PRODUCT_PROPS, 1),
        ("add_to_cart, returning visitor", app_on, returning, "add_to_cart", CART_PROPS, 1),
        ("product_view, new visitor (+ auto landing)", app_on, newcomer, "product_view",
         PRODUCT_PROPS, 2),
        ("product_view, bot (metrics only)", app_on, bot, "product_view", PRODUCT_PROPS, 0),
        ("product_view, tracker off", app_off, returning, "product_view", PRODUCT_PROPS, 0),
    ]
    perf = time.perf_counter_ns
    cpu = time.thread_time_ns
    track_results = {}
    for label, app, headers, name, props, events in cases:
        log(f"track(): {label}: {args.warmup} warm-up + {args.calls} timed calls")
        wall, cputime = [], []
        total = args.warmup + args.calls
        for i in range(total):
            with app.test_request_context(PRODUCT_PATH, headers=headers):
                app.preprocess_request()
                c0 = cpu()
                t0 = perf()
                event = journey.track(name, **props)
                t1 = perf()
                c1 = cpu()
                if i == 0:  # the case measures what it claims to
                    ctx = journey._request_journey()
                    stored = ctx.tracked if ctx is not None else []
                    if events:
                        assert event is not None and event.stored, (label, event)
                        assert len(stored) == events, (label, stored)
                    elif app is app_on:
                        assert event is not None and not event.stored, (label, event)
                    else:
                        assert event is None, (label, event)
            if i >= args.warmup:
                wall.append(t1 - t0)
                cputime.append(c1 - c0)
            if app is app_on and (i + 1) % args.flush_every == 0:
                flush()
        if app is app_on:
            flush()
        res = stats_us(wall)
        res["cpu_p50"] = stats_us(cputime)["p50"]
        res["events_per_call"] = events
        track_results[label] = res

    # -- part 2: the request hooks ----------------------------------------------------------
    hook_cases = [("returning visitor (page_view)", returning),
                  ("new visitor (landing + cookie)", newcomer),
                  ("bot (counted only)", bot)]
    clients = {"on": app_on.test_client(use_cookies=False),
               "off": app_off.test_client(use_cookies=False)}
    for c in clients.values():  # warm both (first request: url map, jinja, ...)
        for _ in range(args.warmup):
            assert c.get(TRIVIAL_PATH, headers=returning).status_code == 200
    flush()
    block = max(100, min(500, args.requests // 10))
    hook_results = {}
    for label, headers in hook_cases:
        log(f"hooks: {label}: {args.requests} timed requests per variant, interleaved in "
            f"blocks of {block}")
        samples = {"on": [], "off": []}
        cpu_samples = {"on": [], "off": []}
        done = 0
        while done < args.requests:
            n = min(block, args.requests - done)
            for variant in ("on", "off"):
                client = clients[variant]
                for _ in range(n):
                    c0 = cpu()
                    t0 = perf()
                    resp = client.get(TRIVIAL_PATH, headers=headers)
                    t1 = perf()
                    c1 = cpu()
                    if resp.status_code != 200:
                        raise RuntimeError(f"{variant} {label}: {resp.status_code}")
                    samples[variant].append(t1 - t0)
                    cpu_samples[variant].append(c1 - c0)
            done += n
            flush()
        on, off = stats_us(samples["on"]), stats_us(samples["off"])
        hook_results[label] = {"on": on, "off": off,
                               "delta_p50": on["p50"] - off["p50"],
                               "delta_p99": on["p99"] - off["p99"],
                               "delta_mean": on["mean"] - off["mean"],
                               "delta_cpu_p50": stats_us(cpu_samples["on"])["p50"]
                               - stats_us(cpu_samples["off"])["p50"]}

    # -- the cookie the tracker sets: sanity ------------------------------------------------
    r = clients["on"].get(TRIVIAL_PATH, headers=newcomer)
    assert any(h.startswith("tp_visitor=") for h in r.headers.getlist("Set-Cookie"))
    flush()
    written = state.metrics.written._value.get()
    dropped = {reason: child._value.get() for (reason,), child
               in state.metrics.dropped._metrics.items()}

    profile_text = ""
    if args.profile:
        profile_text = run_profile(app_on, journey, returning, newcomer, args, flush)

    # -- report -----------------------------------------------------------------------------
    t_rows = [[label, r["events_per_call"], f"{r['p50']:.1f}", f"{r['p90']:.1f}",
               f"{r['p99']:.1f}", f"{r['mean']:.1f}", f"{r['cpu_p50']:.1f}"]
              for label, r in track_results.items()]
    h_rows = [[label, f"{r['on']['p50']:.1f}", f"{r['on']['p99']:.1f}", f"{r['off']['p50']:.1f}",
               f"{r['off']['p99']:.1f}", f"{r['delta_p50']:+.1f}", f"{r['delta_mean']:+.1f}",
               f"{r['delta_cpu_p50']:+.1f}"]
              for label, r in hook_results.items()]
    mp = "multiprocess (mmap) values" if not args.no_multiproc else "in-memory values"
    print(f"journey.track() on the request thread, µs per call ({args.calls} calls per case, "
          f"a fresh request context each; Prometheus {mp}):\n")
    print(table(["case", "events", "p50", "p90", "p99", "mean", "thread-CPU p50"], t_rows))
    print(f"\nRequest hooks: GET {TRIVIAL_PATH} (a trivial HTML view) through the test client, "
          f"µs per request ({args.requests} per variant and case, interleaved):\n")
    print(table(["visitor", "on p50", "on p99", "off p50", "off p99", "Δ p50 (on-off)",
                 "Δ mean", "Δ thread-CPU p50"], h_rows))
    print("(thread-CPU: time.thread_time_ns of the calling thread, i.e. without the waits for "
          "the GIL while the journey writer thread runs)")
    print(f"\nEvents written by the writer during the run: {int(written)}; dropped: "
          + (", ".join(f"{k}={int(v)}" for k, v in dropped.items() if v) or "none"))
    if profile_text:
        print("\n" + profile_text)
    print()
    json_line({
        "benchmark": "track_latency", "unit": "microseconds", "calls": args.calls,
        "requests": args.requests, "prometheus_multiproc": not args.no_multiproc,
        "track": {k: {m: round(v, 2) for m, v in r.items()} for k, r in track_results.items()},
        "hooks": {k: {"on_p50": round(r["on"]["p50"], 1), "on_p99": round(r["on"]["p99"], 1),
                      "off_p50": round(r["off"]["p50"], 1), "off_p99": round(r["off"]["p99"], 1),
                      "delta_p50": round(r["delta_p50"], 1),
                      "delta_mean": round(r["delta_mean"], 1),
                      "delta_thread_cpu_p50": round(r["delta_cpu_p50"], 1)}
                  for k, r in hook_results.items()},
        "events_written": int(written), "events_dropped": {k: int(v) for k, v in dropped.items()},
        "machine": machine, "machine_after": machine_note(),
        "seconds": round(time.monotonic() - started, 1),
    })
    tmp.cleanup()
    return 0


def run_profile(app, journey, returning, newcomer, args, flush) -> str:
    """cProfile of track() alone (contexts are built outside the profiler)."""
    n = min(args.calls, 5000)
    out = []
    for label, headers in (("returning visitor, product_view", returning),
                           ("new visitor, product_view (+ auto landing)", newcomer)):
        log(f"profiling track(): {label}, {n} calls")
        prof = cProfile.Profile()
        for i in range(n):
            with app.test_request_context(PRODUCT_PATH, headers=headers):
                app.preprocess_request()
                prof.enable()
                journey.track("product_view", **PRODUCT_PROPS)
                prof.disable()
            if (i + 1) % args.flush_every == 0:
                flush()
        flush()
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf)
        st.sort_stats("cumulative").print_stats(28)
        text = buf.getvalue()
        root = str(Path(__file__).resolve().parents[1]) + "/"
        text = text.replace(root, "").replace(sys.prefix + "/lib/python3.11/site-packages/", "")
        out.append(f"cProfile, track() for a {label}, {n} calls, by cumulative time:\n"
                   + text.strip())
    # The hooks: whole requests, but only the tracker's functions and what they call.
    client = app.test_client(use_cookies=False)
    for label, headers in (("returning visitor", returning), ("new visitor", newcomer)):
        log(f"profiling the request hooks: {label}, {n} requests")
        prof = cProfile.Profile()
        for i in range(n):
            prof.enable()
            client.get(TRIVIAL_PATH, headers=headers)
            prof.disable()
            if (i + 1) % args.flush_every == 0:
                flush()
        flush()
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf)
        st.sort_stats("cumulative").print_stats(
            r"tracking/|itsdangerous|prometheus_client|marshmallow|uuid|json/|zlib|hmac", 30)
        text = buf.getvalue()
        root = str(Path(__file__).resolve().parents[1]) + "/"
        text = text.replace(root, "").replace(sys.prefix + "/lib/python3.11/site-packages/", "")
        out.append(f"cProfile, GET {TRIVIAL_PATH} for a {label}, {n} requests, tracker and "
                   f"library functions only, by cumulative time:\n" + text.strip())
    return "\n\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
