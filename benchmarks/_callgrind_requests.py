"""Driver run under ``valgrind --tool=callgrind`` by tracking_overhead.py (not on its own).

    python benchmarks/_callgrind_requests.py VARIANT K

Builds the store in-process (VARIANT: on | off | exporter), sends K GETs of the product
page through the Flask test client (no server, no sockets), then — tracker on — stops the
journey writer, which writes every event still queued. The environment (set by the parent)
picks the database, the visitors' cookies and the writer's batching. Start-up is paid the
same for every K, so (Ir(K2) - Ir(K1)) / (K2 - K1) is the cost of one request, writer thread
included (callgrind counts every thread of the process); with BENCH_NO_WRITE=1 the events
are dropped where they would be queued, so what remains is the request path's. With
BENCH_INSTRUMENT_NOW=1 (and valgrind --instr-atstart=no) instrumentation is switched on
only once the app is built.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _shift_the_heap(seed: int) -> list:
    """Before anything is imported: objects of assorted sizes, so every later allocation
    (the app's interned names among them) lands elsewhere, and classes that each take a
    type version tag, so every later type's tag is another. CPython's type attribute cache
    is indexed by both, so it collides differently per seed (see
    tracking_overhead.callgrind_phase). Seed 0 makes none; all are kept for the run."""
    import random  # noqa: PLC0415

    rng = random.Random(seed)
    kept: list = [bytes(rng.randrange(1, 512)) for _ in range(seed * 97)]
    for i in range(seed * 131 + rng.randrange(seed * 17 + 1)):
        cls = type(f"_Pad{i}", (), {})
        getattr(cls, "pad", None)  # the first lookup hands the type its version tag
        kept.append(cls)
    return kept


_PAD = _shift_the_heap(int(os.environ.get("BENCH_LAYOUT_SEED", "0")))


def main() -> int:
    variant, k = sys.argv[1], int(sys.argv[2])
    path = os.environ["BENCH_PATH"]
    ua = os.environ["BENCH_UA"]
    cookies = [c for c in os.environ.get("BENCH_COOKIES", "").split("|") if c]
    every = int(os.environ.get("BENCH_NEW_VISITOR_EVERY", "0"))

    sys.path.insert(0, str(ROOT / "benchmarks"))
    if variant == "exporter":
        from wsgi_exporter import app  # noqa: PLC0415
    else:
        from storefront.app import create_app  # noqa: PLC0415

        app = create_app()
    state = app.extensions["journey"]
    assert state.enabled == variant.startswith("on"), (variant, state.enabled)

    batches = []
    from _common import leave_writing_out  # noqa: PLC0415 (after sys.path)

    leave_writing_out(state)  # --try path:BENCH_NO_WRITE=1: the request path alone
    if state.enabled:  # count the writer's batches (instrumentation only: one list append)
        write = state.writer._write

        def counting_write(events):
            batches.append(len(events))
            return write(events)

        state.writer._write = counting_write
        # Under valgrind every batch takes ~50x its real time; the writer hands batches
        # that take longer than its "slow" limit to its thread (a database in trouble), so
        # stretch the limit as the run is stretched, or it would measure the fallback.
        state.writer._slow *= float(os.environ.get("BENCH_SLOWDOWN", "1"))

    # The start-up heap (imports, the app, its caches) goes to the permanent generation, so
    # a full collection landing inside the long run but not the short one (tens of millions
    # of instructions each) does not swing the per-request figure by a percent or two. Done
    # the same for every variant; servers do it too (gc.freeze before forking workers).
    import gc  # noqa: PLC0415

    gc.collect()
    gc.freeze()
    if os.environ.get("BENCH_INSTRUMENT_NOW") == "1" and not _instrumentation_on():
        return 2

    client = app.test_client(use_cookies=False)
    warmup = int(os.environ.get("BENCH_WARMUP", "0"))  # timed runs: requests not measured
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    # Each returning visitor keeps the visitor cookie the store last sent, as a browser does
    # (the store re-sends it when the journey changes, or every JOURNEY_SESSION_TIMEOUT/60).
    jars = [dict(part.split("=", 1) for part in c.split("; ")) for c in cookies]
    newcomer = {"User-Agent": ua, "Accept": accept}
    bad = r = 0
    cpu0 = wall0 = 0.0
    for n in range(1, warmup + k + 1):  # the same sequence as benchmarks/wrk_product.lua
        if n == warmup + 1:  # CPU of every thread of the process, the writer's too
            cpu0, wall0 = time.process_time(), time.perf_counter()
            t0 = os.times()  # user and system apart (in clock ticks, 10 ms)
        jar = None
        if not jars or (every > 0 and n % every == 0):
            headers = newcomer
        else:
            jar = jars[r % len(jars)]
            r += 1
            headers = {"User-Agent": ua, "Accept": accept,
                       "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
        response = client.get(path, headers=headers)
        bad += response.status_code != 200
        if jar is not None:
            for header in response.headers.getlist("Set-Cookie"):
                name, value = header.split(";", 1)[0].split("=", 1)
                jar[name] = value
        response.close()
    if state.enabled:
        state.writer.stop(timeout=600)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    t1 = os.times()
    user, system = t1.user - t0.user, t1.system - t0.system
    events = sum(batches)
    print(f"CALLGRIND_DRIVER variant={variant} k={k} non200={bad} events={events} "
          f"batches={len(batches)} depth_left={state.writer.depth if state.enabled else 0} "
          f"cpu_s={cpu:.6f} user_s={user:.6f} sys_s={system:.6f} wall_s={wall:.6f}", flush=True)
    return 1 if bad else 0


def _instrumentation_on() -> bool:
    """Run with --instr-atstart=no, start-up (imports, create_app) runs uninstrumented, at
    a fraction of callgrind's cost; ask callgrind to instrument from here on. The request
    is served between basic blocks, so poll (sleeping) until callgrind_control returns."""
    import subprocess  # noqa: PLC0415


    ctl = subprocess.Popen(["callgrind_control", "-i", "on", str(os.getpid())],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while ctl.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if ctl.poll() is None:
        ctl.kill()
    out = ctl.communicate()[0].decode(errors="replace")
    if ctl.returncode != 0 or "OK" not in out:
        print(f"CALLGRIND_DRIVER_ERROR callgrind_control failed: {out.strip()}", flush=True)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
