"""Where does a tracked product page spend its time? cProfile of the request thread and of
the journey writer, tracker on (or off), for finding what tracking_overhead.py measures.

    .venv/bin/python benchmarks/profile_request.py [--off] [--requests 2000] [--top 30]

Builds the store in-process on a fresh copy of the benchmark database, sends --requests GETs
of the product page through the Flask test client with --visitors returning visitors'
cookies (and a new visitor every --new-visitor-every-th request), then writes every queued
event on this thread in batches of --writer-batch, so cProfile sees the writer's work too.
Prints wall time per request for each phase and the top functions by own time in each.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import (  # noqa: E402
    ACCEPT_HTML,
    BROWSER_UA,
    DEFAULT_PRISTINE_DB,
    PRODUCT_PATH,
    app_env,
    ensure_pristine_db,
    fresh_db_copy,
    log,
    mint_cookies,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--off", action="store_true", help="JOURNEY_ENABLED=false")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--visitors", type=int, default=100)
    ap.add_argument("--new-visitor-every", type=int, default=10)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--writer-batch", type=int, default=50,
                    help="events per writer batch (JOURNEY_BATCH_SIZE)")
    args = ap.parse_args()

    pristine = ensure_pristine_db(DEFAULT_PRISTINE_DB)
    cookies = mint_cookies(pristine, args.visitors) if args.visitors else []
    work = tempfile.mkdtemp(prefix="tp-profile-")
    db = fresh_db_copy(pristine, work, "db.sqlite")
    env = app_env(db, tracker=not args.off, extra={
        "JOURNEY_FLUSH_INTERVAL": "3600", "JOURNEY_BATCH_SIZE": str(args.writer_batch),
        "JOURNEY_QUEUE_SIZE": str(args.requests * 3), "JOURNEY_SWEEP_INTERVAL": "0",
        # the writing is profiled on its own below, not inside the responses' close
        "JOURNEY_WRITE_AFTER_RESPONSE": "false"})
    os.environ.clear()
    os.environ.update(env)
    from storefront.app import create_app  # noqa: PLC0415

    app = create_app()
    state = app.extensions["journey"]
    writer = state.writer
    if state.enabled:  # the writer thread must not take events: this thread writes them
        writer._ensure_running = lambda: None

    client = app.test_client(use_cookies=False)
    returning = [{"User-Agent": BROWSER_UA, "Accept": ACCEPT_HTML, "Cookie": c} for c in cookies]
    newcomer = {"User-Agent": BROWSER_UA, "Accept": ACCEPT_HTML}
    for _ in range(20):  # warm caches (templates, compiled SQL)
        client.get(PRODUCT_PATH, headers=returning[0] if returning else newcomer).close()
    if state.enabled:
        writer._drain_and_write()

    prof = cProfile.Profile()
    r = 0
    t0 = time.perf_counter()
    prof.enable()
    for n in range(1, args.requests + 1):
        if not returning or (args.new_visitor_every and n % args.new_visitor_every == 0):
            headers = newcomer
        else:
            headers = returning[r % len(returning)]
            r += 1
        response = client.get(PRODUCT_PATH, headers=headers)
        assert response.status_code == 200, response.status_code
        response.close()
    prof.disable()
    t_req = time.perf_counter() - t0
    log(f"request thread: {t_req / args.requests * 1e6:.0f} µs/request "
        f"({'off' if args.off else 'on'}, {args.requests} requests, under cProfile)")
    pstats.Stats(prof).sort_stats(args.sort).print_stats(args.top)

    if state.enabled:
        events = writer.depth
        wprof = cProfile.Profile()
        t0 = time.perf_counter()
        wprof.enable()
        writer._drain_and_write()
        wprof.disable()
        t_w = time.perf_counter() - t0
        log(f"writer: {events} events, {t_w / args.requests * 1e6:.0f} µs per request, "
            f"{t_w / max(events, 1) * 1e6:.0f} µs per event (under cProfile)")
        pstats.Stats(wprof).sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
