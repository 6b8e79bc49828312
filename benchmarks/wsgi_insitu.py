"""The store with the tracker on, its own CPU timed per thread, for tracker_cpu_insitu.py.

    gunicorn -c deploy/gunicorn.conf.py --pythonpath benchmarks wsgi_insitu:app

Each worker times, with its thread's CPU clock, the tracker's request hooks and every
``journey.track()`` call (the request path), and every batch the writer writes (on whichever
thread writes it), and writes its totals to ``$BENCH_INSITU_DIR/insitu-<pid>.json`` at exit.
The clock itself costs a system call per read: a worker measures a pair of reads around an
empty call 20,000 times at start and reports it, and the report subtracts it per timed call.
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

totals = {"path_cpu_s": 0.0, "path_calls": 0, "requests": 0,
          "writer_cpu_s": 0.0, "writer_calls": 0, "events": 0}


def _clock_cost(n: int = 20_000) -> float:
    """Seconds of thread CPU one timed call adds (the clock's two reads around it)."""
    clock = time.thread_time
    started = clock()
    for _ in range(n):
        clock()
        clock()
    return (clock() - started) / n


def _timed(fn, *, request: bool = False):
    clock = time.thread_time

    def timed(*args, **kwargs):
        started = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            totals["path_cpu_s"] += clock() - started
            totals["path_calls"] += 1
            if request:
                totals["requests"] += 1

    timed.__name__ = fn.__name__  # Flask's hook lists are searched by name below
    return timed


for hooks, name in ((app.before_request_funcs[None], "journey_before_request"),
                    (app.after_request_funcs[None], "journey_after_request"),
                    (app.teardown_request_funcs[None], "journey_teardown_request")):
    index = next(i for i, f in enumerate(hooks) if f.__name__ == name)
    hooks[index] = _timed(hooks[index], request=name == "journey_before_request")
state.tracker.track = _timed(state.tracker.track)  # views call journey.track(...)

_write = state.writer._write


def _timed_write(events):
    clock = time.thread_time
    started = clock()
    try:
        return _write(events)
    finally:
        totals["writer_cpu_s"] += clock() - started
        totals["writer_calls"] += 1
        totals["events"] += len(events)


state.writer._write = _timed_write
totals["clock_s"] = _clock_cost()


@atexit.register
def _report() -> None:  # after the writer's exit flush (registered later: it runs first)
    directory = os.environ.get("BENCH_INSITU_DIR")
    if directory:
        with open(os.path.join(directory, f"insitu-{os.getpid()}.json"), "w") as f:
            json.dump(totals, f)
