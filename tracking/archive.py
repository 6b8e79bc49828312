"""Metric files of processes that have ended, moved into one archive per metric type.

prometheus_client's multiprocess mode writes a file per metric type and process
(``counter_<pid>.db``) and leaves them when the process ends, so its counts keep counting;
every scrape reads every file, and a server that replaces workers (reloads, timeouts,
``max_requests``) piles them up. :func:`retire_process` adds an ended process's counters,
histograms and summaries into ``counter_archive.db`` (and so on) and removes its files;
:class:`LockedCollector` reads the directory. Moving them was declined upstream because it
races with the scrape (prometheus/client_python#518); here:

- **A scrape sees every count once.** The move holds the directory's lock (``archive.lock``)
  exclusively, the collector shared. And the move is journaled, so that even a mover killed
  halfway leaves files the collector reads as the same totals: the ended file is renamed
  ``<kind>_<pid>.merging`` (read as before), the new archive is written as
  ``<kind>_archive.ready`` (read *instead of* the archive and the merging files once it is
  there), then the merging file goes, then the ready one is renamed over the archive. The
  next move finishes whatever one was interrupted.
- **Counters never go back.** Float values (revenue, a histogram's sum) added in another
  order round differently, and Prometheus reads any decrease as a counter reset. The
  archive's sums are rounded up, never down, and the collector adds each series' values
  across files with ``math.fsum`` (exactly rounded, so in no particular order): a total is
  then never below the one before. Whole-number counts are exact either way.
- **The master never deadlocks on itself.** gunicorn calls ``child_exit`` from its SIGCHLD
  handler, which may run again inside itself: a nested call leaves its pid to the call it
  interrupted. And a failure is logged, never raised into the server.

Gauges: the live modes' files go with their process (``mark_process_dead``); the other
modes' files (``all`` is prometheus_client's default) are left as they are.

This module imports only the standard library and prometheus_client: a gunicorn master can
load it by path (``deploy/gunicorn.conf.py`` does) without importing Flask and the app,
which its workers would otherwise inherit, old, across a reload.
"""

from __future__ import annotations

import collections
import contextlib
import glob
import logging
import math
import os
import struct
import threading

from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.samples import Sample

try:
    import fcntl
except ImportError:  # Windows: no multiprocess server there to share a directory
    fcntl = None

log = logging.getLogger("tracking.archive")

# The files whose values the collector adds up across processes, so a process's values can
# be added into another file without changing any sum. Histograms store their buckets
# apart (not accumulated) and their sum; the count is made from the buckets.
SUMMED = ("counter", "histogram", "summary")
ARCHIVE = "archive"
LOCK_FILE = "archive.lock"  # not *.db, which the collector reads


@contextlib.contextmanager
def directory_lock(directory: str, exclusive: bool):
    """The metrics directory's lock: shared while a scrape reads the files, exclusive while
    an ended process's files are moved. A scrape that cannot take it (no such lock on this
    system, a read-only directory without the file) reads without it."""
    fd = None
    if fcntl is not None:
        path = os.path.join(directory, LOCK_FILE)
        for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):  # read-only: flock works too
            try:
                fd = os.open(path, flags, 0o666)  # the umask decides, as for the .db files
                break
            except OSError:
                continue
    if fd is None:
        if exclusive:
            raise OSError(f"cannot lock {directory}: no moves there")
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # and the lock with it


_GUARD = threading.Lock()
_WAITING: collections.deque = collections.deque(maxlen=10_000)


def retire_process(pid: int | str, directory: str | None = None) -> int:
    """An ended process's live gauges go, and its counters, histograms and summaries move
    into the directory's archive (above). For a process that has ended (gunicorn's
    ``child_exit``), or for this one as it ends (the tracker does it at exit). Never
    raises: what cannot be moved is logged and stays where it is. Returns how many files
    were moved."""
    directory = directory or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory or not os.path.isdir(directory):
        return 0
    _WAITING.append((int(pid), directory))  # int: "archive" is no process
    moved = 0
    while _WAITING:
        if not _GUARD.acquire(blocking=False):
            return moved  # a call under way in this process (interrupted by a signal) does it
        try:
            while _WAITING:
                ended, where = _WAITING.popleft()
                try:
                    moved += _retire(ended, where)
                except Exception:
                    log.warning("metrics: process %s's files stay in %s", ended, where,
                                exc_info=True)
        finally:
            _GUARD.release()
    return moved


def _name(directory: str, kind: str, who: int | str, suffix: str) -> str:
    return os.path.join(directory, f"{kind}_{who}.{suffix}")


def _retire(pid: int, directory: str) -> int:
    mark_process_dead(pid, directory)
    left = [kind for kind in SUMMED if os.path.exists(_name(directory, kind, pid, "db"))]
    unfinished = glob.glob(os.path.join(directory, f"*_{ARCHIVE}.ready")) or glob.glob(
        os.path.join(directory, "*.merging"))
    if not left and not unfinished:
        return 0  # it moved its own files as it ended: no lock taken
    moved = 0
    with directory_lock(directory, exclusive=True):
        for kind in SUMMED:
            _finish(directory, kind)
        for kind in left:
            try:
                moved += _move(directory, kind, pid)
            except (OSError, ValueError, struct.error, RuntimeError):
                # Unreadable (a worker killed as it made the file leaves it empty): it stays
                # as it is, and the other files move
                log.warning("metrics: process %s's files stay in %s", pid, directory,
                            exc_info=True)
    return moved


def _finish(directory: str, kind: str) -> None:
    """A move interrupted (its process killed): the ready archive holds its files' counts,
    so they go and it becomes the archive; merging files with no ready archive are moved."""
    ready = _name(directory, kind, ARCHIVE, "ready")
    if os.path.exists(ready):
        for merging in glob.glob(_name(directory, kind, "*", "merging")):
            os.remove(merging)
        os.replace(ready, _name(directory, kind, ARCHIVE, "db"))
    for merging in glob.glob(_name(directory, kind, "*", "merging")):
        _merge(directory, kind, merging)


def _move(directory: str, kind: str, pid: int) -> int:
    """One ended file into the archive (its merging file, if a move of it was interrupted,
    was finished by _finish before this)."""
    ended, merging = _name(directory, kind, pid, "db"), _name(directory, kind, pid, "merging")
    if not os.path.exists(ended):
        return 0
    list(MmapedDict.read_all_values_from_file(ended))  # readable, or it stays a .db
    os.replace(ended, merging)
    _merge(directory, kind, merging)
    return 1


def _merge(directory: str, kind: str, merging: str) -> None:
    archive, ready = _name(directory, kind, ARCHIVE, "db"), _name(directory, kind, ARCHIVE, "ready")
    totals: dict[str, float] = {}
    if os.path.exists(archive):
        for key, value, _, _ in MmapedDict.read_all_values_from_file(archive):
            totals[key] = value
    for key, value, _, _ in MmapedDict.read_all_values_from_file(merging):
        totals[key] = _add_up(totals.get(key, 0.0), value)
    made = _name(directory, kind, ARCHIVE, "new")
    _write(made, totals)
    os.replace(made, ready)  # complete: read instead of the archive and the merging file
    os.remove(merging)
    os.replace(ready, archive)


def _add_up(a: float, b: float) -> float:
    """a + b, rounded up where it is not exact: the sum of the files' values is then never
    less than before the move, so a counter read with fsum never goes back."""
    total = a + b
    if math.fsum((total, -a, -b)) < 0:  # the exact difference's sign
        total = math.nextafter(total, math.inf)
    return total


def _write(path: str, values: dict[str, float]) -> None:
    """An mmap dict's file (prometheus_client.mmap_dict's layout), written with write(), not
    through a memory map: a full tmpfs is an OSError here, where a map would be a SIGBUS."""
    entries = []
    for key, value in values.items():
        encoded = key.encode("utf-8")
        padded = encoded + b" " * (8 - (len(encoded) + 4) % 8)
        entries.append(struct.pack(f"i{len(padded)}sdd", len(encoded), padded, value, 0.0))
    body = b"".join(entries)
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
    with open(path, "wb") as f:
        f.write(struct.pack("i", 8 + len(body)) + b"\0" * 4 + body)


def files_to_read(directory: str) -> list[str]:
    """What a scrape reads: every file, but for a move under way (or interrupted), its
    ready archive in place of the archive and the files it holds."""
    files = glob.glob(os.path.join(directory, "*.db"))
    for kind in SUMMED:
        ready = _name(directory, kind, ARCHIVE, "ready")
        if os.path.exists(ready):
            archive = _name(directory, kind, ARCHIVE, "db")
            files = [f for f in files if f != archive]
            files.append(ready)
        else:
            files.extend(glob.glob(_name(directory, kind, "*", "merging")))
    return files


class LockedCollector(MultiProcessCollector):
    """The multiprocess collector, reading under the directory's shared lock, the journal's
    files as they stand, and each series' values across files added with fsum."""

    def collect(self):
        with directory_lock(self._path, exclusive=False):
            metrics = self._read_metrics(files_to_read(self._path))
        for metric in metrics.values():
            if metric.type in SUMMED:
                values: dict = {}
                for sample in metric.samples:
                    values.setdefault((sample.name, sample.labels), []).append(sample.value)
                metric.samples = [Sample(name, labels, math.fsum(v))
                                  for (name, labels), v in values.items()]
        return list(self._accumulate_metrics(metrics, True))
