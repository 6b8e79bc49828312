"""An open-loop load: requests sent on a fixed schedule, whatever the server is doing, for
tracking_overhead_paired.py --rate (wrk's traffic otherwise).

    .venv/bin/python benchmarks/open_loop.py --port 8000 --rate 150 --seconds 6 [--seed 1]

wrk is a closed loop: each connection sends its next request when the last one is answered,
so it measures a server at saturation, where latency is mostly the queue wrk itself keeps
full, and a slow moment of the server holds back the requests that would have arrived during
it (coordinated omission: they are never sent, so never counted slow). A shop's shoppers do
not wait for each other. Here arrivals are a Poisson process at --rate a second (the seed
fixes the schedule, so two servers driven at once get the same arrivals), each request on a
connection of its own, and each latency is measured from the moment its request was due,
not from when it went out, as wrk2 does.

Traffic as wrk_product.lua's (the same environment variables): BENCH_PATH, BENCH_UA,
BENCH_COOKIES (returning visitors' Cookie headers, "|"-separated, in turn) and
BENCH_NEW_VISITOR_EVERY. Prints wrk_product.lua's two lines (WRK_JSON, WRK_HIST), so
tracking_overhead.parse_wrk reads both; "late_us" is how far behind its schedule the
generator itself fell at worst (its own lateness is counted in the latencies, as it should
be, but a large one means the generator, not the server, was the bottleneck).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import time

from _common import ACCEPT_HTML, percentile  # this script's directory is on sys.path


def requests_in_turn() -> tuple[list[bytes], bytes, int]:
    path = os.environ.get("BENCH_PATH", "/")
    ua = os.environ.get("BENCH_UA", "Mozilla/5.0")
    every = int(os.environ.get("BENCH_NEW_VISITOR_EVERY", "0"))
    cookies = [c for c in os.environ.get("BENCH_COOKIES", "").split("|") if c]
    head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {ua}\r\n"
            f"Accept: {ACCEPT_HTML}\r\n")
    returning = [f"{head}Cookie: {c}\r\nConnection: close\r\n\r\n".encode() for c in cookies]
    newcomer = f"{head}Connection: close\r\n\r\n".encode()
    return returning, newcomer, every


async def response(reader: asyncio.StreamReader) -> int:
    """The status, once the whole response is in: its headers and Content-Length bytes of
    body, as a browser reads it. Not the connection's close: gunicorn's sync worker closes
    it only after the response's close callbacks, where the tracker writes its batch, and
    no browser waits for that."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        return 0
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        await reader.read(-1)
    else:
        await reader.readexactly(length)
    return int(head[9:12])


async def one(port: int, request: bytes, due: float, timeout: float) -> tuple[int, int]:
    """(latency in µs from ``due``, HTTP status or 0 for a failure); ``timeout`` for the
    whole request, connection and response."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(request)
                status = await response(reader)
            finally:
                writer.close()
    except (TimeoutError, OSError, EOFError, asyncio.LimitOverrunError, ValueError):
        status = 0
    return int((time.perf_counter() - due) * 1e6), status


async def drive(port: int, rate: float, seconds: float, seed: int, timeout: float,
                limit: int) -> dict:
    returning, newcomer, every = requests_in_turn()
    rng = random.Random(seed)
    hist: dict[int, int] = {}
    # failed: no answer in time (or a broken one); skipped: not sent, --limit in flight
    counts = {"ok": 0, "status": 0, "failed": 0, "skipped": 0}
    late = 0.0
    pending: set[asyncio.Task] = set()

    def done(task: asyncio.Task) -> None:
        pending.discard(task)
        latency, status = task.result()
        if status == 200:
            counts["ok"] += 1
            hist[latency] = hist.get(latency, 0) + 1
        else:
            counts["status" if status else "failed"] += 1

    start = time.perf_counter() + 0.05
    end = start + seconds
    due, n, r = start, 0, 0
    while due < end:
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        late = max(late, time.perf_counter() - due)
        n += 1
        if not returning or (every > 0 and n % every == 0):
            request = newcomer
        else:
            request = returning[r % len(returning)]
            r += 1
        if len(pending) >= limit:  # the server has stopped answering: bounded, and counted
            counts["skipped"] += 1
        else:
            task = asyncio.ensure_future(one(port, request, due, timeout))
            pending.add(task)
            task.add_done_callback(done)
        due += rng.expovariate(rate)
    if pending:
        await asyncio.wait(set(pending), timeout=timeout + 1)
    for task in list(pending):  # each counted once: done now, or failed (never dropped)
        task.remove_done_callback(done)
        if task.done():  # finished, its callback not yet run
            done(task)
        else:
            pending.discard(task)
            task.cancel()
            counts["failed"] += 1
    return {"hist": hist, "counts": counts, "sent": n, "late_us": int(late * 1e6),
            "duration_us": int((end - start) * 1e6)}  # the schedule's, not the drain's


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rate", type=float, required=True, help="requests a second (mean)")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--limit", type=int, default=512, help="requests in flight at most")
    args = ap.parse_args()
    if not (math.isfinite(args.rate) and args.rate > 0 and math.isfinite(args.seconds)
            and args.seconds > 0):
        ap.error("--rate and --seconds: positive numbers")
    res = asyncio.run(drive(args.port, args.rate, args.seconds, args.seed, args.timeout,
                            args.limit))
    values = sorted(v for v, c in res["hist"].items() for _ in range(c))

    def q(p: float) -> int:
        return percentile(values, p) if values else 0

    c = res["counts"]
    print("WRK_JSON " + json.dumps({
        "requests": c["ok"], "duration_us": res["duration_us"], "bytes": 0,
        "err_connect": 0, "err_read": c["failed"], "err_write": 0, "err_status": c["status"],
        "err_timeout": 0, "err_skipped": c["skipped"],
        "lat_mean_us": sum(values) / max(len(values), 1),
        "lat_p50_us": q(50), "lat_p90_us": q(90), "lat_p99_us": q(99),
        "lat_max_us": values[-1] if values else 0, "sent": res["sent"],
        "late_us": res["late_us"]}))
    print("WRK_HIST " + ",".join(f"{v}:{n}" for v, n in sorted(res["hist"].items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
