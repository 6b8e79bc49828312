"""Shared helpers for the tracker benchmarks (tracking_overhead.py, track_latency.py).

Not a test and not part of the app: everything here runs against 127.0.0.1 only, on a
throwaway copy of a seeded SQLite database, and every loop is bounded in count and time.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable

PRODUCT_PATH = "/p/cast-iron-skillet-10-in"
# A current desktop Chrome: not a bot, so the tracker tracks it; "desktop" device class.
BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Safari/537.36")
ACCEPT_HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# Fixed, so that cookies minted once are valid in every process of every variant.
SECRET_KEY = "touchpoint-benchmark-secret-not-for-production"


def _schema_tag() -> str:
    """The migrations' fingerprint: a checkout with another schema builds its own benchmark
    database, and never measures its code on this one's tables (or this one's on theirs)."""
    digest = hashlib.sha1()
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:10]


DEFAULT_PRISTINE_DB = f"/tmp/touchpoint-bench-{_schema_tag()}.db"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(main: Callable[[], int | None]) -> None:
    """A benchmark's entry point: a SIGTERM (``kill``, ``timeout``) or SIGHUP (the terminal
    gone) ends it as a Ctrl-C does, through its ``finally`` blocks, so the servers it started
    (each in a session of its own, which a signal to its group does not reach) are stopped,
    not left running."""

    def _terminated(signum, _frame):
        for sig in (signal.SIGTERM, signal.SIGHUP):  # once: the finally blocks run in peace
            signal.signal(sig, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminated)
    sys.exit(main())


# -- database ------------------------------------------------------------------------------
def app_env(db_path: str, *, tracker: bool, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every variant of the store runs with (only JOURNEY_ENABLED differs)."""
    env = dict(os.environ)
    for key in list(env):  # a developer's shell must not change what is measured
        if key.startswith(("JOURNEY_", "PROMETHEUS_", "GUNICORN_", "FLASK_")):
            del env[key]
    env.update({
        "DEMO": "true",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{db_path}",
        "JOURNEY_ENABLED": "true" if tracker else "false",
        # Never spool into the work tree's instance/ (only used if the queue overflows or
        # the database refuses a batch; the benchmarks check that neither happens).
        "JOURNEY_SPOOL_DIR": os.path.join(os.path.dirname(db_path), "journey-spool"),
    })
    env.update(extra or {})
    return env


def journeys_file(db_path: str) -> str:
    """Where the store keeps the tracker's tables beside a SQLite file (shop.db ->
    shop-journeys.db)."""
    from storefront.config import journeys_file_beside  # noqa: PLC0415 (after sys.path)

    return journeys_file_beside(db_path)


def journey_events_stored(db_path: str, settings: dict[str, str] | None = None) -> int:
    """How many events the store run on ``db_path`` (with these settings) has stored."""
    from sqlalchemy import create_engine, text  # noqa: PLC0415

    url = (settings or {}).get("JOURNEY_DATABASE_URL") or f"sqlite:///{journeys_file(db_path)}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM journey_events")).scalar_one()
    finally:
        engine.dispose()


def ensure_pristine_db(path: str = DEFAULT_PRISTINE_DB) -> str:
    """Migrate and seed ``path`` (and the tracker's file beside it) once: the demo catalog,
    48 products and 320 past orders."""
    if all(Path(f).exists() and Path(f).stat().st_size > 0 for f in (path, journeys_file(path))):
        return path
    log(f"building the benchmark database {path} (flask db upgrade && flask seed)")
    env = app_env(path, tracker=True)
    flask = [str(VENV_BIN / "flask"), "--app", "wsgi"]
    for args in (["db", "upgrade"], ["seed"]):
        subprocess.run(flask + args, cwd=ROOT, env=env, check=True, timeout=300,
                       stdout=subprocess.DEVNULL)
    # Everything into the main files: runs copy those alone, and a process that exits with
    # a connection open leaves its last pages in the write-ahead log.
    for f in (path, journeys_file(path)):
        with sqlite3.connect(f) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def fresh_db_copy(pristine: str, directory: str, name: str) -> str:
    """Each run starts from the same seeded state (journeys and their events grow while
    the tracker is on, and the product page's "also viewed" reads them): the shop's file
    and the tracker's beside it."""
    dst = os.path.join(directory, name)
    for src, to in ((pristine, dst), (journeys_file(pristine), journeys_file(dst))):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(to + suffix):
                os.remove(to + suffix)
        shutil.copyfile(src, to)
    return dst


def migrate_elsewhere(db_path: str, settings: dict[str, str] | None) -> None:
    """A run that keeps the tracker's tables somewhere else than beside ``db_path`` (its
    JOURNEY_DATABASE_URL): make them there, as ``flask db upgrade`` does on deploy."""
    if settings and settings.get("JOURNEY_DATABASE_URL"):
        subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                       env=app_env(db_path, tracker=True, extra=settings), check=True,
                       timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def mint_cookies(pristine: str, count: int, *, into: str | None = None,
                 settings: dict[str, str] | None = None) -> list[str]:
    """``count`` returning shoppers' Cookie headers: each the tracker's signed visitor cookie
    and the Flask session cookie (with its CSRF token), as set by a first visit to the
    product page, in a subprocess. With ``into`` (a run's own copy of the database) the
    visitors' journeys are stored there, as a returning visitor's are; without it they are
    minted on a scratch copy and each visitor's first event in a run creates its journey.
    ``settings``: the run's own (where its tracker stores journeys, say)."""
    if into is not None:
        return _mint(into, count, settings)
    with tempfile.TemporaryDirectory(prefix="tp-bench-cookie-") as tmp:
        return _mint(fresh_db_copy(pristine, tmp, "cookie.db"), count)


def _mint(db: str, count: int, settings: dict[str, str] | None = None) -> list[str]:
    code = (
        "from storefront.app import create_app\n"
        "app = create_app()\n"
        "c = app.test_client(use_cookies=False)\n"
        f"for _ in range({int(count)}):\n"
        f"    r = c.get({PRODUCT_PATH!r}, headers={{'User-Agent': {BROWSER_UA!r}}})\n"
        "    assert r.status_code == 200, r.status_code\n"
        "    jar = [h.split(';', 1)[0] for h in r.headers.getlist('Set-Cookie')]\n"
        "    assert any(j.startswith('tp_visitor=') for j in jar), jar\n"
        "    print('COOKIE ' + '; '.join(jar))\n"
        "app.extensions['journey'].writer.stop()\n"
    )
    env = app_env(db, tracker=True, extra=settings)
    out = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=300)
    cookies = [ln[len("COOKIE "):] for ln in out.stdout.splitlines()
               if ln.startswith("COOKIE ")]
    assert len(cookies) == count and len(set(cookies)) == count, "could not mint cookies"
    assert all("|" not in c for c in cookies)  # "|" separates them in BENCH_COOKIES
    return cookies


# -- processes and ports -------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def cpu_split(pids: Iterable[int]) -> tuple[float, float]:
    """(user, system) CPU of these processes (all their threads), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user, system = user + int(fields[11]), system + int(fields[12])  # utime, stime
    return user / tick, system / tick


def rss_mb(pids: Iterable[int]) -> list[float]:
    """The resident set of each of these processes still running, in MiB."""
    sizes = []
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return sizes



def leave_writing_out(state, environ=os.environ) -> bool:
    """The tracker's request path alone, for a ``--try path:BENCH_NO_WRITE=1`` variant: with
    BENCH_NO_WRITE=1 every event is made and dropped where it would be queued; with
    BENCH_NO_THREAD=1 as well, nothing starts the journey writer's thread (the request
    counters then flush themselves each interval, on a request). Whether it applied."""
    if not state.enabled or environ.get("BENCH_NO_WRITE") != "1":
        return False
    state.writer.enqueue = lambda event: None
    if environ.get("BENCH_NO_THREAD") == "1":
        state.tally.on_first = None  # what starts the thread when no event does
    return True

# -- statistics and output -----------------------------------------------------------------
def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def median(values: Iterable[float]) -> float:
    vals = sorted(v for v in values if v is not None and not math.isnan(v))
    if not vals:
        return math.nan
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable in a terminal, pastes into the README)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for row in cells[1:]:
        lines.append("| " + " | ".join(c.rjust(w) if _numeric(c) else c.ljust(w)
                                       for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def _numeric(cell: str) -> bool:
    return cell.replace(".", "", 1).replace("-", "", 1).replace("+", "", 1).replace(
        "%", "").replace(",", "").replace("x", "").strip().isdigit()


def pct(x: float, digits: int = 1) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:+.{digits}f}%"


def json_line(payload: dict) -> None:
    print(json.dumps(payload, sort_keys=False, default=_json_default), flush=True)


def _json_default(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def machine_note() -> dict:
    load1, load5, _ = os.getloadavg()
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0],
            "loadavg_1m": round(load1, 2), "loadavg_5m": round(load5, 2)}
