"""The store with the tracker on and its writing left out, for benchmarks/tracking_overhead.py.

    gunicorn -c deploy/gunicorn.conf.py --pythonpath benchmarks wsgi_nowrite:app

Every touchpoint runs the tracker's request path in full (the cookie, validation, the
event, the counters) and the event is then dropped where it would be queued, so nothing is
written: against the tracker on, the difference is what writing costs the workers. The
variant ``--try path:BENCH_NO_WRITE=1`` serves this module (and sets the same switch in the
in-process and callgrind drivers). With BENCH_NO_THREAD=1 as well, the worker never starts
the journey writer's thread (nothing to write; the request counters flush themselves each
interval on a request): what the thread's presence costs a worker.
"""

from _common import leave_writing_out

from storefront.app import create_app

app = create_app()
if not leave_writing_out(app.extensions["journey"]):
    raise RuntimeError("wsgi_nowrite measures the tracker's request path: leave it enabled, "
                       "with BENCH_NO_WRITE=1")
