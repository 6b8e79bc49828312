"""What ended workers cost a scrape: their metric files left in place, as prometheus_client
leaves them, against moved into the directory's archive (tracking.archive.retire_process).

    .venv/bin/python benchmarks/metrics_ended_workers.py [--ended 0,1,10,100,300] [--reps 20]

One process builds the store, serves a few pages through the test client (the landing, a
search, a 404, the cart) and ends: its counter and histogram files are what every ended
gunicorn worker leaves. Then, for each count N, a directory holding N copies of them (as N
workers replaced by reloads, timeouts or max_requests would leave) is scraped --reps times
through the tracker's collector, and the same N ended workers moved into the archive one by
one (the time of each move is the master's child_exit's). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import json_line, log, machine_note, median, run, table  # noqa: E402

_WORKER = """
import os, sys
from storefront.app import create_app
here = sys.argv[1]
app = create_app({"TESTING": True, "SECRET_KEY": "bench",
                  "SQLALCHEMY_DATABASE_URI": f"sqlite:///{here}/shop.db",
                  "JOURNEY_SPOOL_DIR": f"{here}/spool"})
with app.app_context():
    from storefront.extensions import db
    db.create_all()
    app.extensions["journey"].tracker.create_all()
client = app.test_client()
for path in ("/", "/search?q=tea", "/no-such-page", "/cart"):
    client.get(path)
app.extensions["journey"].close()
"""


def one_ended_worker(work: Path) -> Path:
    """The files one ended worker leaves: made by a real process, moved into an archive
    by its own exit (so the archive holds exactly its values)."""
    directory = work / "one"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run([sys.executable, "-c", _WORKER, str(work)], env=env,
                          capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return directory


def scrape_ms(directory: Path, reps: int) -> float:
    from prometheus_client import CollectorRegistry, generate_latest

    from tracking.archive import LockedCollector

    times = []
    for _ in range(reps):
        registry = CollectorRegistry()
        LockedCollector(registry, path=str(directory))
        start = time.perf_counter()
        generate_latest(registry)
        times.append((time.perf_counter() - start) * 1000)
    return median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ended", default="0,1,10,100,300", help="ended workers, comma-separated")
    ap.add_argument("--reps", type=int, default=20, help="scrapes per directory (median)")
    args = ap.parse_args()
    counts = [int(n) for n in args.ended.split(",")]
    if any(n < 0 or n > 5000 for n in counts) or not 1 <= args.reps <= 1000:
        raise SystemExit("--ended from 0 to 5000 each, --reps from 1 to 1000")

    from tracking.archive import retire_process

    work = Path(tempfile.mkdtemp(prefix="bench-ended-"))
    try:
        log("one worker: building the store, serving four pages, ending")
        one = one_ended_worker(work)
        kinds = [p.name.split("_")[0] for p in one.glob("*_archive.db")]
        rows, results = [], []
        for n in counts:
            left, moved = work / f"left-{n}", work / f"moved-{n}"
            left.mkdir()
            moved.mkdir()
            move_ms = []
            for i in range(n):
                for kind in kinds:
                    shutil.copy(one / f"{kind}_archive.db", left / f"{kind}_{100000 + i}.db")
                    shutil.copy(one / f"{kind}_archive.db", moved / f"{kind}_{100000 + i}.db")
                start = time.perf_counter()
                retire_process(100000 + i, str(moved))
                move_ms.append((time.perf_counter() - start) * 1000)
            log(f"{n} ended workers: scraping {args.reps} times each way")
            files_left = len(list(left.glob("*.db")))
            files_moved = len(list(moved.glob("*.db")))
            left_ms, moved_ms = scrape_ms(left, args.reps), scrape_ms(moved, args.reps)
            move = median(move_ms)  # nan where none moved
            rows.append([n, files_left, f"{left_ms:.2f}", files_moved, f"{moved_ms:.2f}",
                         "—" if not move_ms else f"{move:.2f}"])
            results.append({"ended": n, "files_left": files_left, "scrape_ms_left": left_ms,
                            "files_archived": files_moved, "scrape_ms_archived": moved_ms,
                            "move_ms_median": move if move_ms else None})
        print(table(["ended workers", "files left", "scrape ms (left)", "files (archive)",
                     "scrape ms (archive)", "one move ms"], rows))
        json_line({"benchmark": "metrics_ended_workers", "reps": args.reps,
                   "results": results, "machine": machine_note()})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run(main)
