"""Driver run under ``valgrind --tool=callgrind`` by tracking_overhead.py (not on its own).

    python benchmarks/_callgrind_requests.py VARIANT K

Builds the store in-process (VARIANT: on | off | exporter), sends K GETs of the product
page through the Flask test client (no server, no sockets), then — tracker on — stops the
journey writer, which writes every event still queued. The environment (set by the parent)
picks the database, the cookie and the writer's batching. Start-up is paid the same for
every K, so (Ir(K2) - Ir(K1)) / (K2 - K1) is the cost of one request, writer thread
included (callgrind counts every thread of the process).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    variant, k = sys.argv[1], int(sys.argv[2])
    path = os.environ["BENCH_PATH"]
    ua = os.environ["BENCH_UA"]
    cookie = os.environ.get("BENCH_COOKIE", "")
    every = int(os.environ.get("BENCH_NEW_VISITOR_EVERY", "0"))

    if variant == "exporter":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from wsgi_exporter import app  # noqa: PLC0415
    else:
        from storefront.app import create_app  # noqa: PLC0415

        app = create_app()
    state = app.extensions["journey"]
    assert state.enabled == (variant == "on"), (variant, state.enabled)

    batches = []
    if state.enabled:  # count the writer's batches (instrumentation only: one list append)
        write = state.writer._write

        def counting_write(events):
            batches.append(len(events))
            return write(events)

        state.writer._write = counting_write

    client = app.test_client(use_cookies=False)
    returning = {"User-Agent": ua, "Accept": "text/html", "Cookie": cookie}
    newcomer = {"User-Agent": ua, "Accept": "text/html"}
    bad = 0
    for n in range(1, k + 1):
        headers = newcomer if every > 0 and n % every == 0 else returning
        response = client.get(path, headers=headers)
        bad += response.status_code != 200
        response.close()
    if state.enabled:
        state.writer.stop(timeout=600)
    events = sum(batches)
    print(f"CALLGRIND_DRIVER variant={variant} k={k} non200={bad} events={events} "
          f"batches={len(batches)} depth_left={state.writer.depth if state.enabled else 0}",
          flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
