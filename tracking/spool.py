"""A durable local spool: events the database could not take (it was down) or the queue
could not hold (it was full) wait on disk and are replayed when the database is back.

Files are JSON lines, fsync'd on write. A writer appends to its own ``writing-…`` file and
seals it (renames it ``spool-…``) before replaying; replay claims sealed files by renaming them
(atomic), so no file is read while someone appends to it and no two processes replay the
same file. A dead process's unsealed file is claimed too. A replay interrupted half-way is
simply replayed again, because event ids make stored events idempotent. The spool is bounded
by ``max_bytes``: past it events are dropped and counted, never silently.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from .events import Event
from .forks import MendedAfterFork

log = logging.getLogger(__name__)
_FIELDS = ("event_id", "touchpoint", "stage", "props", "journey_id", "visitor_id",
           "session_id", "customer_id", "order_ref", "new_session", "context", "stored")


def _encode(event: Event) -> str:
    data = {name: getattr(event, name) for name in _FIELDS}
    data["occurred_at"] = event.occurred_at.isoformat()
    data["journey_started_at"] = (event.journey_started_at.isoformat()
                                  if event.journey_started_at else None)
    return json.dumps(data, separators=(",", ":"), default=str)


def _decode(line: str) -> Event:
    data = json.loads(line)
    started = data.pop("journey_started_at")
    return Event(occurred_at=datetime.fromisoformat(data.pop("occurred_at")),
                 journey_started_at=datetime.fromisoformat(started) if started else None,
                 **{k: data[k] for k in _FIELDS})


# Seconds a spool's writable() answer is kept (/readyz and scrapes ask it).
WRITABLE_TTL = 30.0


class SpoolSizes(NamedTuple):
    replayable: int
    refused: int


class Spool:
    def __init__(self, directory: str | os.PathLike, max_bytes: int,
                 on_dropped: Callable[[str, int], None]):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._on_dropped = on_dropped
        self._lock = threading.Lock()
        self._current: Path | None = None
        self._pid: int | None = None
        self._replay_traced = -60.0  # when a failed replay's traceback was last logged
        self._writable, self._writable_at = True, -WRITABLE_TTL  # writable(): not asked yet
        _SPOOLS.add(self)

    def _renew_lock(self) -> None:
        """A forked child's own lock: the parent's writer may have held it (spooling) at the
        fork. The file it appends to is found afresh too (``_file``: by pid)."""
        self._lock = threading.Lock()

    # -- writing ----------------------------------------------------------------------------
    def append(self, events: list[Event]) -> bool:
        """Keep ``events`` on disk. False (and counted as dropped) when the spool is full or
        the disk refuses."""
        if not events:
            return True
        failed = self._keep(events, self._file)
        if failed:
            self._on_dropped(failed, len(events))
            return False
        return True

    def set_aside(self, events: list[Event]) -> bool:
        """Keep events the database refused (writer.Refused) where replay does not read them:
        ``refused-…`` files, within the spool's size limit, until ``requeue`` (``flask
        journey requeue``) hands them back, once whatever refused them is mended. False if
        the spool is full or the disk refuses (the writer counts them refused either way)."""
        return self._keep(events, self._refused_file) is None

    def _keep(self, events: list[Event], where: Callable[[], Path]) -> str | None:
        """Append the events to the file ``where()`` names, fsync'd, within ``max_bytes``:
        None once kept, else why not ("spool_full", "error")."""
        payload = "".join(_encode(e) + "\n" for e in events).encode()
        with self._lock:
            try:
                if self.size() + len(payload) > self.max_bytes:
                    return "spool_full"
                with open(where(), "ab") as f:
                    f.write(payload)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError:
                log.exception("journey spool: could not write %d events", len(events))
                return "error"
        return None

    def _refused_file(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / f"refused-{os.getpid()}.jsonl"

    def refused(self) -> int:
        """Events set aside as refused, on this host."""
        total = 0
        for path in self.directory.glob("refused-*.jsonl"):
            try:
                with open(path, encoding="utf-8") as f:
                    total += sum(1 for line in f if line.strip())
            except OSError:
                continue
        return total

    def requeue(self) -> int:
        """Every refused event back in the spool, replayed at the writer's next turn (one
        still refused is set aside again). Returns how many."""
        moved = 0
        with self._lock:
            for path in sorted(self.directory.glob("refused-*.jsonl")):
                target = path.with_name(f"spool-requeued-{uuid.uuid4().hex}.jsonl")
                try:
                    with open(path, encoding="utf-8") as f:
                        count = sum(1 for line in f if line.strip())
                    path.rename(target)  # atomic: a process setting aside starts a new file
                except OSError:
                    continue
                moved += count
        return moved

    def _file(self) -> Path:
        if self._current is None or self._pid != os.getpid():
            self.directory.mkdir(parents=True, exist_ok=True)
            self._pid = os.getpid()
            self._current = self.directory / f"writing-{self._pid}-{uuid.uuid4().hex}.jsonl"
        return self._current

    def _seal(self) -> None:
        """Hand this writer's file over to replay (called under the lock)."""
        if self._current is not None and self._current.exists():
            self._current.rename(self._current.with_name(
                "spool-" + self._current.name.removeprefix("writing-")))
        self._current = None

    # -- reading ----------------------------------------------------------------------------
    def size(self) -> int:
        """Bytes of every spool file, refused ones too: ``max_bytes`` bounds the disk."""
        return sum(self.sizes())

    def writable(self, now: float | None = None) -> bool:
        """Whether events could be kept here now: an entry made and removed in the directory,
        or, while it is not there yet, in the nearest folder above it that is (where the
        first spill would make it; made now, it would tell `journey requeue` a store had
        used it). Asked by /readyz and each scrape, so the answer is kept for
        ``WRITABLE_TTL`` seconds. A spool that cannot be written is found out before the
        outage it is for, not during it."""
        now = time.monotonic() if now is None else now
        if now - self._writable_at < WRITABLE_TTL:
            return self._writable
        try:
            there = self.directory
            while not there.exists() and there.parent != there:  # at most the path's depth
                there = there.parent
            probe = there / f".probe-{os.getpid()}-{uuid.uuid4().hex}"
            os.mkdir(probe, 0o700)  # NotADirectoryError where a file stands in the way
            os.rmdir(probe)
            self._writable = True
        except OSError as exc:
            if self._writable or self._writable_at == -WRITABLE_TTL:  # once, not each scrape
                log.error("journey spool: %s cannot be written (%s): events the database "
                          "cannot take while it is down or slow would be dropped, not kept",
                          self.directory, exc.strerror or type(exc).__name__)
            self._writable = False
        self._writable_at = now
        return self._writable

    def sizes(self) -> SpoolSizes:
        """Bytes waiting to be replayed, and bytes set aside as refused: apart, because the
        refused never drain by themselves (they wait for ``flask journey requeue``)."""
        replayable = refused = 0
        try:
            paths = list(self.directory.glob("*.jsonl"))
        except OSError:  # no directory to list: nothing waits
            paths = []
        for path in paths:
            try:
                size = path.stat().st_size
            except OSError:  # claimed (renamed) or replayed (removed) since the listing
                continue
            if path.name.startswith("refused-"):
                refused += size
            else:
                replayable += size
        return SpoolSizes(replayable, refused)

    def pending(self) -> bool:
        if not self.directory.is_dir():
            return False
        if self._current is not None and self._current.exists():
            return True
        return (any(self.directory.glob("spool-*.jsonl"))
                or any(self.directory.glob(f"replaying-{os.getpid()}-*.jsonl"))
                or any(_owner_dead(p) for p in self.directory.glob("writing-*.jsonl")))

    def replay(self, write: Callable[[list[Event]], None], batch_size: int) -> int:
        """Write spooled events back; returns how many. Stops at the first failure (the
        database is still down) and leaves the rest for next time."""
        replayed = 0
        claimed = self._claim()
        for i, path in enumerate(claimed):
            try:
                for batch in self._batches(path, batch_size):
                    write(batch)
                    replayed += len(batch)
            except Exception as exc:
                # Every few seconds while the database is down: the traceback once a minute
                now = time.monotonic()
                traced = now - self._replay_traced >= 60
                if traced:
                    self._replay_traced = now
                log.warning("journey spool: replay of %s failed (%s); will retry", path.name,
                            type(exc).__name__, exc_info=traced)
                # This file and every one not yet tried go back for the next replay (a
                # claim kept would be a file no one replays while this process lives).
                for rest in claimed[i:]:
                    try:
                        self._unclaim(rest)
                    except OSError:
                        log.warning("journey spool: could not return %s", rest.name,
                                    exc_info=True)
                break
            path.unlink(missing_ok=True)
        return replayed

    def _claim(self) -> list[Path]:
        claimed = []
        with self._lock:
            self._seal()  # our own file: appends go to a new one from now on
            # Claims of this process a replay left (one replays at a time here): again
            for path in self.directory.glob(f"replaying-{os.getpid()}-*.jsonl"):
                try:
                    self._unclaim(path)
                except OSError:
                    continue
            for path in self.directory.glob("writing-*.jsonl"):
                if _owner_dead(path):  # its writer died before sealing it
                    path.rename(path.with_name("spool-" + path.name.removeprefix("writing-")))
            for path in sorted(self.directory.glob("spool-*.jsonl")):
                target = path.with_name(f"replaying-{os.getpid()}-{path.name}")
                try:
                    path.rename(target)  # atomic: exactly one process wins
                except OSError:
                    continue
                claimed.append(target)
        return claimed

    def _unclaim(self, path: Path) -> None:
        original = path.name.split("-", 2)[2]
        path.rename(path.with_name(original))

    @staticmethod
    def _batches(path: Path, batch_size: int) -> Iterator[list[Event]]:
        batch: list[Event] = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    batch.append(_decode(line))
                except (ValueError, KeyError, TypeError):
                    log.warning("journey spool: skipped a damaged line in %s", path.name)
                    continue
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def adopt(self, older: Path) -> int:
        """Files a spool of the same database left in ``older`` (the default folder before
        it was one per database) moved into this one, to be replayed: sealed files, refused
        ones, and those whose writer died. Returns how many."""
        moved = 0
        try:
            paths = [p for p in older.glob("*.jsonl") if p.is_file()]
        except OSError:
            return 0
        for path in paths:
            kind = path.name.split("-", 1)[0]
            if kind not in ("spool", "refused", "writing", "replaying"):
                continue
            if kind in ("writing", "replaying") and not _owner_dead(path):
                continue
            if kind == "replaying":  # replaying-<pid>-spool-…: the claim given back
                name = path.name.split("-", 2)[2]
            elif kind == "writing":  # sealed here, for replay
                name = "spool-" + path.name.removeprefix("writing-")
            else:
                name = path.name
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                path.rename(self.directory / name)
            except OSError:  # another worker adopted it first
                continue
            moved += 1
        if moved:
            log.info("journey spool: %d files from %s moved to %s", moved, older, self.directory)
        return moved

    def recover_abandoned_claims(self) -> None:
        """Claims of processes that died mid-replay go back to the pool."""
        for path in self.directory.glob("replaying-*.jsonl"):
            pid = path.name.split("-")[1]
            if pid.isdigit() and not _alive(int(pid)):
                try:
                    self._unclaim(path)
                except OSError:
                    continue


def _owner_dead(path: Path) -> bool:
    pid = path.name.split("-")[1]
    return pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_SPOOLS: MendedAfterFork[Spool] = MendedAfterFork(Spool._renew_lock, "renew a journey spool's lock")
