"""The store with the tracker on, its own CPU timed per thread, for tracker_cpu_insitu.py.

    gunicorn -c deploy/gunicorn.conf.py --pythonpath benchmarks wsgi_insitu:app

Each worker times, with its thread's CPU clock, the tracker's request hooks and every
``journey.track()`` call (the request path; a call inside a timed one is not timed again),
every batch the writer writes (on whichever thread writes it; a spool replay would be timed
again, and the benchmark has none) and the writer thread's housekeeping (the request
counters' flush, the checkpoint, the sweep), and writes its totals to
``$BENCH_INSITU_DIR/insitu-<pid>.json`` at exit. ``GET /__insitu_reset`` zeroes the totals of
the worker that answers it (the driver sends it to each worker after the warm-up). The clock
costs a system call per read: a worker times an empty call 20,000 times at start, and the
report takes that off per timed call.
"""

from __future__ import annotations

import atexit
import json
import os
import time

from storefront.app import create_app

app = create_app()
state = app.extensions["journey"]
if not state.enabled:
    raise RuntimeError("wsgi_insitu times the tracker: leave it enabled")

totals: dict[str, float] = {}


PARTS = ("journey_before_request", "journey_after_request", "journey_teardown_request",
         "track")  # the request path's parts, each timed on its own too


def _reset() -> None:
    totals.update(path_cpu_s=0.0, path_calls=0, requests=0, writer_cpu_s=0.0, writer_calls=0,
                  events=0, housekeeping_cpu_s=0.0, housekeeping_calls=0)
    for part in PARTS:
        totals.update({f"{part}_cpu_s": 0.0, f"{part}_calls": 0})


_reset()
_depth = [0]  # timed calls in progress on the request path (one request thread a worker)


def _clock_cost(n: int = 20_000) -> float:
    """Seconds of thread CPU that timing an empty call adds to a timed total."""
    clock = time.thread_time

    def empty():
        pass

    spent = 0.0
    for _ in range(n):
        started = clock()
        empty()
        spent += clock() - started
    return spent / n


def _timed(fn, *, request: bool = False):
    clock = time.thread_time
    part = fn.__name__

    def timed(*args, **kwargs):
        if _depth[0]:  # inside a timed call: its time is counted there
            return fn(*args, **kwargs)
        _depth[0] += 1
        started = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            spent = clock() - started
            totals["path_cpu_s"] += spent
            totals["path_calls"] += 1
            totals[f"{part}_cpu_s"] += spent
            totals[f"{part}_calls"] += 1
            if request:
                totals["requests"] += 1
            _depth[0] -= 1

    timed.__name__ = fn.__name__  # Flask's hook lists are searched by name below
    return timed


for hooks, name in ((app.before_request_funcs[None], "journey_before_request"),
                    (app.after_request_funcs[None], "journey_after_request"),
                    (app.teardown_request_funcs[None], "journey_teardown_request")):
    index = next(i for i, f in enumerate(hooks) if f.__name__ == name)
    hooks[index] = _timed(hooks[index], request=name == "journey_before_request")
state.tracker.track = _timed(state.tracker.track)  # views call journey.track(...)


def _timed_writer(fn, kind: str):
    clock = time.thread_time

    def timed(*args):
        started = clock()
        try:
            return fn(*args)
        finally:
            totals[f"{kind}_cpu_s"] += clock() - started
            totals[f"{kind}_calls"] += 1
            if kind == "writer":
                totals["events"] += len(args[0])

    return timed


writer = state.writer
writer._write = _timed_writer(writer._write, "writer")
if writer._maintain is not None:
    writer._maintain = _timed_writer(writer._maintain, "housekeeping")
if writer._sweep is not None:
    writer._sweep = _timed_writer(writer._sweep, "housekeeping")
CLOCK_S = _clock_cost()


@app.get("/__insitu_reset")
@state.tracker.exempt
def insitu_reset():
    _reset()
    return {"pid": os.getpid()}


@atexit.register
def _report() -> None:  # after the writer's exit flush (registered later: it runs first)
    directory = os.environ.get("BENCH_INSITU_DIR")
    if directory:
        with open(os.path.join(directory, f"insitu-{os.getpid()}.json"), "w") as f:
            json.dump({**totals, "clock_s": CLOCK_S}, f)
