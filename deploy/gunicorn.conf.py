"""gunicorn settings for Touchpoint: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Prometheus multiprocess mode done right:
- PROMETHEUS_MULTIPROC_DIR is set (a fresh, empty directory) here, at config load, before
  prometheus_client is imported: the client picks its value store at import time, and
  workers fork from this master process.
- child_exit retires a dead worker's files (tracking/archive.py's retire_process): its
  live gauges stop counting, and its counters and histograms are added into the
  directory's two archive files under a lock the store's /metrics reads under, so the
  directory holds three files per live worker and the archives, however many have ended.
- Both the metric files and gunicorn's worker heartbeat files live in memory (/dev/shm, as
  deploy/touchpoint.service puts them under /run): every request writes to the mmap'd
  metric files, and on a disk-backed /tmp the kernel writes those pages back to disk all
  the while (gunicorn's own docs say the same of the heartbeat: worker_tmp_dir).

And the garbage collector: each worker builds the app (no preload_app), and its 120,000-odd
start-up objects (modules, the URL map, templates, SQLAlchemy's tables) would otherwise be
traversed by every full collection, a ~90 ms pause for the request it lands in.
post_worker_init moves them to the permanent generation (gc.freeze), which no collection
traverses; full collections then only walk what the worker made since: a few milliseconds.
"""

import contextlib
import gc
import logging
import multiprocessing
import os
import re
import shutil
import sys
import tempfile

from gunicorn import glogging

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# gunicorn's own rule for sync workers, (2 x cores) + 1: 5 on a 2-core box, so a request
# waiting on Stripe (up to STRIPE_TIMEOUT) does not hold up half the capacity. Each worker
# is ~100 MB; with GUNICORN_THREADS > 1 (gthread) fewer workers do the same.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20  # time for each worker's journey writer to flush at shutdown
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
# Apache/NCSA combined format plus the request time in microseconds.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s'

# A guest's order link carries a signed token that opens the order (its items, its delivery,
# its review form) to whoever holds it, and a cart reminder's link the products a shopper
# left: the access log keeps the path without them.
_ORDER_LINK = re.compile(
    r"(/(?:orders|checkout/confirmation|checkout/pay|cart/return)/)[^/?#\s\"]+")


# The panel's journey search (/admin/journeys?q=, /admin/api/journeys?q=) is by a shopper's
# email, and its page's address is every later request's referrer: the value is left out.
_PANEL_SEARCH = re.compile(r"(/admin/[^?\s\"]*\?(?:[^\s\"#]*?&)?q=)[^&\s\"#]*")
_SEARCH_VALUE = re.compile(r"((?:^|&)q=)[^&]*")  # the same, in a query string alone


class AccessLogWithoutOrderTokens(glogging.Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f"):  # the request line, the path, the referrer
            if isinstance(atoms.get(key), str):
                atoms[key] = _PANEL_SEARCH.sub(r"\1…", _ORDER_LINK.sub(r"\1…", atoms[key]))
        if atoms.get("q") and req.path.startswith("/admin/"):
            atoms["q"] = _SEARCH_VALUE.sub(r"\1…", atoms["q"])
        return atoms


logger_class = AccessLogWithoutOrderTokens

# The app's own log lines (the tracker's, the store's, Flask's errors) with a time, the
# worker's pid and a level, as gunicorn's own lines have them; without a handler Python
# prints the bare message. Set here, in the master: every worker inherits it.
# gunicorn reads this file again on SIGHUP (a reload), in the same master: once only.
_root = logging.getLogger()
if not any(getattr(h, "touchpoint", False) for h in _root.handlers):
    _app_log = logging.StreamHandler(sys.stderr)
    _app_log.touchpoint = True
    _app_log.setFormatter(logging.Formatter(
        "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
        "%Y-%m-%d %H:%M:%S %z"))
    _root.addHandler(_app_log)
# The app's own loggers at TOUCHPOINT_LOG_LEVEL (INFO: a spool replayed, events dropped for
# want of a journey); libraries' at WARNING (stripe's INFO is a line per API call).
_root.setLevel(logging.WARNING)
_app_level = os.environ.get("TOUCHPOINT_LOG_LEVEL", "INFO").upper()
for _name in ("tracking", "storefront", "checkout", "admin"):
    logging.getLogger(_name).setLevel(_app_level)

# In memory where the machine has it; the system's temporary directory otherwise.
_in_memory = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
if _in_memory:
    worker_tmp_dir = _in_memory

# What prometheus_client and tracking/archive.py keep in the directory: <kind>_<pid>.db (and
# <kind>_archive.db), <kind>_<pid>.merging, <kind>_archive.new (a merge cut short) and
# .ready, archive.lock.
_METRIC_FILE = re.compile(
    r"^(?:[a-z_]+_(?:\d+|archive)\.(?:db|merging|new|ready)|archive\.lock)$")


def _clear_metrics_dir(path):
    """Empty the metrics directory of a previous run's files, and only of those: a
    directory that holds anything else (a typo for the spool's, another service's) is not
    this store's, and the store refuses to start rather than delete it. Two stores on one
    host each need their own directory: one would empty the other's under it."""
    os.makedirs(path, exist_ok=True)
    names = os.listdir(path)
    foreign = [n for n in names if not _METRIC_FILE.match(n)
               or not os.path.isfile(os.path.join(path, n))]
    if foreign:
        raise SystemExit(
            f"PROMETHEUS_MULTIPROC_DIR={path} holds {len(foreign)} entries that are not "
            f"metric files (e.g. {sorted(foreign)[0]!r}): it must be a directory of this "
            "store's own (it is emptied at every start); name another, or empty it")
    for name in names:
        # retired meanwhile by a command that ran with the directory: gone already
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(path, name))


_multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
# gunicorn reads this file again on SIGHUP, with the workers still writing their files: then
# the directory is the one set up at start, and is neither wiped nor made again.
_reloaded = bool(_multiproc_dir) and os.environ.get("TOUCHPOINT_METRICS_DIR") == _multiproc_dir
if not _multiproc_dir:
    _multiproc_dir = tempfile.mkdtemp(prefix="touchpoint-prometheus-", dir=_in_memory)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _multiproc_dir
    os.environ["TOUCHPOINT_METRICS_DIR_MADE"] = _multiproc_dir  # removed again at exit
elif not _reloaded:  # stale files from a previous run would be summed into today's counters
    _clear_metrics_dir(_multiproc_dir)
os.environ["TOUCHPOINT_METRICS_DIR"] = _multiproc_dir


def _load_archive():
    """tracking/archive.py by its path, not `import tracking.archive`: that would import
    the tracker's package (Flask, SQLAlchemy, the extension) into this master, and workers
    forked after a reload (SIGHUP) would run that old code beside the new app. This module
    imports only the standard library and prometheus_client; read again at every reload."""
    import importlib.util

    spec = importlib.util.find_spec("tracking")  # found, not imported
    where = os.path.dirname(spec.origin) if spec and spec.origin else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), os.pardir, "tracking")
    loaded = importlib.util.spec_from_file_location(
        "touchpoint_metrics_archive", os.path.join(where, "archive.py"))
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module.retire_process


# Only now, with the directory set: loaded here, not lazily in child_exit, which runs in a
# SIGCHLD handler where a half-done import can be re-entered by the next signal.
retire_process = _load_archive()


def post_worker_init(worker):
    # The app is loaded and no request is served yet: start-up garbage goes now, the rest
    # to the permanent generation (never traversed, never freed: it lives as long as the
    # worker anyway).
    gc.collect()
    gc.freeze()
    worker.log.info("Worker %s: %d start-up objects frozen out of garbage collection",
                    worker.pid, gc.get_freeze_count())


def child_exit(server, worker):
    # A worker that exits cleanly has retired its own files at exit; one killed (timeout,
    # out of memory) has not. Its counts move into the archive under the directory's lock,
    # which a scrape takes to read: the sums never go back nor count it twice. Its pid is
    # reaped already, and no new worker is forked before this returns.
    # retire_process never raises (a file it cannot move is logged and stays), and a call
    # that a second SIGCHLD interrupts leaves that worker to the call under way.
    if retire_process(worker.pid):
        server.log.info("Worker %s: its counts moved into the metrics archive", worker.pid)


def on_exit(server):
    if os.environ.get("TOUCHPOINT_METRICS_DIR_MADE") == _multiproc_dir:  # it is memory
        shutil.rmtree(_multiproc_dir, ignore_errors=True)
