"""The writer: a bounded queue filled by requests, drained in batches.

The request thread calls ``enqueue`` (O(1), never blocks, never raises). Batches are
written in their own transactions, in one of two places:

- after a response has been sent (``write_due``, from the response's close): the request
  thread that finds a batch due writes it before the server gives it the next request.
  This is the default (``after_response=True``) and the cheaper place: a writer *thread*
  that runs beside a busy request thread costs more than its own work, in GIL hand-offs
  and caches refilled after every switch (benchmarks/tracking_overhead.py measures both;
  the README has the figures);
- on the daemon writer thread, which also runs the periodic sweep, the spool and the
  database's housekeeping (SQLite's checkpoint, which requests' commits leave to it): it
  writes what the requests leave (traffic stopped, a backlog of more than two batches),
  and everything while after-response writing is off or cooling down after the database
  failed or was slow.

A batch the database refuses, and an event the full queue cannot take, go to the durable
spool and are replayed when the database answers again. Nothing here can raise into, block
or roll back a request: a response is already sent when its thread writes, the thread only
writes if no other is writing (it never waits for the lock), one batch at most, and not at
all for ``cooloff`` seconds after a batch failed or took longer than ``slow``.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time
from collections.abc import Callable

from .events import Event
from .forks import MendedAfterFork
from .spool import Spool

log = logging.getLogger(__name__)


# Seconds after which an event whose journey was not found is tried again: the second try
# after the other workers' next batches, the last after their spool replays (5 s apart).
DEFER_DELAYS = (2.0, 5.0, 10.0)


class Busy(Exception):
    """Raised by a write after a response when another process holds the database's write
    lock just then (SQLite: another worker's batch): the batch goes back to the head of the
    queue for the thread's next response, instead of the thread waiting for the lock while
    requests queue for it."""


class Refused(Exception):
    """Raised by the write function when the database answered and refused the batch's data,
    or the fold could not read it (a value too long for its column, a NUL character, a
    property missing): the same events would be refused again, and a batch spooled for them
    would block the spool. The writer halves the batch until it finds the events at fault,
    writes the others, and sets those aside (``Spool.set_aside``), counted as dropped
    ("refused")."""


def _thread_missing_in_child(writer: EventWriter) -> None:
    writer._thread_alive = False
    writer._start_lock = threading.Lock()  # a thread may have held it at the fork


# Every writer of this process: a forked child (a gunicorn worker) marks each one's thread
# missing, so the request path asks a flag per event, not os.getpid() (a system call).
_WRITERS: MendedAfterFork[EventWriter] = MendedAfterFork(_thread_missing_in_child,
                                                         "mark a journey writer's thread missing")


class EventWriter:
    def __init__(
        self,
        write: Callable[[list[Event]], None],
        sweep: Callable[[], None] | None,
        *,
        queue_size: int,
        batch_size: int,
        flush_interval: float,
        sweep_interval: float,
        on_dropped: Callable[[str, int], None],
        on_depth: Callable[[int], None],
        spool: Spool | None = None,
        on_spooled: Callable[[int], None] | None = None,
        replay_interval: float = 5.0,
        after_response: bool = False,
        slow: float = 0.25,
        cooloff: float = 30.0,
        maintain: Callable[[], object] | None = None,
    ):
        self._spool = spool
        self._on_spooled = on_spooled or (lambda n: None)
        self._replay_interval = replay_interval
        self._last_replay = 0.0
        self._write = write
        self._sweep = sweep
        self._maintain = maintain  # the database's housekeeping (SQLite: the checkpoint)
        self._maintain_logged = -60.0
        self._queue_size = max(queue_size, 1)
        self._batch_size = max(batch_size, 1)
        self._flush_interval = max(flush_interval, 0.001)
        self._sweep_interval = sweep_interval
        self._on_dropped = on_dropped
        self._on_depth = on_depth
        self._after_response = after_response
        self._slow = slow
        self._cooloff = cooloff
        self._inline_paused_until = 0.0  # after a failed or slow batch: the thread's turn
        self._inline_ident: int | None = None  # the thread in write_due, while it writes
        self._start_lock = threading.Lock()
        self._last_sweep = time.monotonic()
        self._registered_exit = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._fresh_process_state()
        _WRITERS.add(self)

    def _fresh_process_state(self) -> None:
        """Queues, locks and events of this process (a forked child starts its own)."""
        self._pid = os.getpid()
        # A deque, not a queue.Queue: append and popleft are atomic, and the request thread
        # takes no lock and signals no condition; the writer wakes on a timer, or early
        # once a batch is waiting.
        self._queue: collections.deque[Event] = collections.deque()
        self._oldest = 0.0  # when the queue last went from empty to not (monotonic)
        self._overflow: collections.deque[Event] = collections.deque()
        # Events whose journey was not found yet (defer): (due, tries, event), retried by
        # the thread; ``_tries`` holds a retried batch's tries while it is written.
        self._deferred: collections.deque[tuple[float, int, Event]] = collections.deque()
        self._tries: dict[int, int] = {}
        self._overflow_lock = threading.Lock()
        self._lock = threading.Lock()  # held while a batch is taken *and* written
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = None
        self._thread_alive = False

    # -- request side ---------------------------------------------------------------------
    def enqueue(self, event: Event) -> bool:
        if self._thread_missing():
            self._ensure_running()
        q = self._queue
        if len(q) >= self._queue_size:  # may overshoot by a few under races: still bounded
            # No disk on the request thread: a bounded overflow the writer thread spools
            # in batches (one fsync each).
            if self._spool is not None and len(self._overflow) < max(self._queue_size, 1000):
                self._overflow.append(event)
                self._wake.set()
                return True
            self._on_dropped("queue_full", 1)
            return False
        if not q:
            self._oldest = time.monotonic()
        q.append(event)
        n = len(q)  # the backlog check reads the clock: only once a batch is waiting
        if n >= self._batch_size and n >= self._thread_backlog() and not self._wake.is_set():
            self._wake.set()
        return True

    def ensure_started(self) -> None:
        """The thread running in this process (it also flushes the request path's metric
        counts, whether or not any event ever comes)."""
        if not self._stopped and self._thread_missing():
            self._ensure_running()

    def _thread_missing(self) -> bool:
        """No writer thread of this process is alive (none yet, a forked child, or dead).
        Asked on every event: the thread's own flag, not Thread.is_alive() (a lock), which
        the thread clears when it ends and a fork clears in the child (_after_fork_in_child;
        _ensure_running then finds the process changed and starts afresh)."""
        return not self._thread_alive

    # -- after a response -----------------------------------------------------------------
    def inline(self, now: float | None = None) -> bool:
        """Whether request threads write batches after their responses just now."""
        return (self._after_response and not self._stopped
                and (time.monotonic() if now is None else now) >= self._inline_paused_until)

    def due(self) -> bool:
        """A batch is due: a full one, or events that have waited ``flush_interval``. Cheap:
        the request thread asks once per response."""
        q = self._queue
        if not q:
            return False
        now = time.monotonic()
        return self.inline(now) and (len(q) >= self._batch_size
                                     or now - self._oldest >= self._flush_interval)

    def write_due(self) -> None:
        """Write one batch on this thread (a response's close: the response is sent).
        Never waits for the lock, never raises; a batch that fails (it is spooled) or is
        slow hands the writing to the writer thread for ``cooloff`` seconds."""
        try:
            if self._pid != os.getpid():
                # Forked by code that runs no fork hooks: the thread flag said alive; the
                # queue, locks and thread of this process start here (what the queue held,
                # the parent's and this child's first events, is left behind).
                self._ensure_running()
                return
            if not self.inline():
                return
            if not self._lock.acquire(blocking=False):
                return  # another thread is writing: the events wait for the next turn
            try:
                batch = self._take()
                if not batch:
                    return
                started = time.monotonic()
                self._inline_ident = threading.get_ident()
                try:
                    # A failure pauses after-response writing; a locked database does not
                    self._write_batch(batch)
                finally:
                    self._inline_ident = None
                if time.monotonic() - started > self._slow:
                    self._pause_inline()
                if not self.inline():  # failed or slow: the thread's turn, now
                    self._wake.set()
            finally:
                self._lock.release()
        except Exception:  # a response's close must never raise
            log.exception("journey writer: writing after the response failed")

    def troubled(self, now: float | None = None) -> bool:
        """Whether a batch failed or was slow lately (the cool-off after it): the database
        is best left alone by request threads."""
        return (time.monotonic() if now is None else now) < self._inline_paused_until

    def on_writer_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def writing_after_response(self) -> bool:
        """Whether this thread is writing a batch after its response (``write_due``)."""
        return self._inline_ident == threading.get_ident()

    def _pause_inline(self) -> None:
        """The database failed or was slow: for ``cooloff`` seconds the writer thread
        writes, and requests leave the database alone."""
        if self._after_response:
            self._inline_paused_until = time.monotonic() + self._cooloff

    def _thread_backlog(self) -> int:
        """Queued events at which the thread writes without waiting for its timer: while
        requests write, only a backlog they are not keeping up with."""
        return 2 * self._batch_size if self.inline() else self._batch_size

    def _spool_overflow(self) -> None:
        batch: list[Event] = []
        while len(batch) < 10 * self._batch_size:
            try:  # flush() and the thread may both be draining: never trust a len() check
                batch.append(self._overflow.popleft())
            except IndexError:
                break
        if batch and self._spool is not None and self._spool.append(batch):
            self._on_spooled(len(batch))

    @property
    def depth(self) -> int:
        return len(self._queue)

    def health(self) -> str:
        """"running"; "idle" before the first event in this process (the thread starts
        with it); "stopped" after stop(); "dead" if the thread died, which it must not."""
        if self._stopped:
            return "stopped"
        if self._thread is None or self._pid != os.getpid():
            return "idle"
        return "running" if self._thread.is_alive() else "dead"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    # -- events that name a journey not yet written ---------------------------------------
    def defer(self, events: list[Event]) -> list[Event]:
        """Events that named an order or a visitor no stored journey holds yet: the event
        that ties them to one may still be in another worker's queue (a webhook's purchase
        a second after the shopper's payment_submitted) or spool. Each is tried again after
        ``DEFER_DELAYS`` (about a replay interval of every process in all); returns those
        it gives up on (tried that often, or too many waiting), for the caller to count.
        Once the writer stops, they go to the spool instead."""
        if self._stopped and self._spool is not None and self._spool.append(events):
            # The process is ending: the next one (or another worker) replays them, with
            # tries of its own, instead of their being given up after a single one here.
            self._on_spooled(len(events))
            return []
        now = time.monotonic()
        given_up = []
        for event in events:
            tries = self._tries.get(id(event), 0)
            if tries < len(DEFER_DELAYS) and len(self._deferred) < self._queue_size:
                self._deferred.append((now + DEFER_DELAYS[tries], tries + 1, event))
            else:
                given_up.append(event)
        return given_up

    def _retry_deferred(self, force: bool = False, last: bool = False) -> None:
        """The deferred events that are due (all of them when ``force``), written again;
        ``last``: none is deferred again (the writer stops)."""
        if not self._deferred:
            return
        now = time.monotonic()
        due: list[tuple[float, int, Event]] = []
        for _ in range(len(self._deferred)):
            try:
                item = self._deferred.popleft()
            except IndexError:
                break
            if force or item[0] <= now:
                due.append(item)
            else:
                self._deferred.append(item)
        with self._lock:
            for start in range(0, len(due), self._batch_size):
                part = due[start:start + self._batch_size]
                self._tries = {id(event): len(DEFER_DELAYS) if last else tries
                               for _, tries, event in part}
                try:
                    self._write_batch([event for _, _, event in part])
                finally:
                    self._tries = {}

    # -- lifecycle ------------------------------------------------------------------------
    def _ensure_running(self) -> None:
        with self._start_lock:
            if self._pid != os.getpid():
                # A forked child (gunicorn worker): the parent's queue and locks are not ours.
                self._fresh_process_state()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="journey-writer",
                                                daemon=True)
                self._thread_alive = True  # before start: a thread that ends at once says so
                try:
                    self._thread.start()
                except BaseException:
                    self._thread_alive = False
                    raise
            if not self._registered_exit:
                atexit.register(self.stop)
                self._registered_exit = True
                if self._spool is not None:
                    self._spool.recover_abandoned_claims()

    def stop(self, timeout: float = 10.0) -> None:
        """Flush what is queued and stop the thread (at exit, and in tests). Once."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            thread.join(timeout)
        self.flush(timeout)

    def flush(self, timeout: float = 10.0) -> None:
        """Write everything queued so far, on the calling thread if need be. The writer
        thread takes a batch and writes it under one lock, so once this thread has the lock
        every event enqueued before the call is written (or spooled)."""
        if not self._drain_and_write(timeout):
            log.warning("journey writer: flush timed out with %d events unwritten",
                        len(self._queue))
            return
        self._replay(force=True)
        # Their journeys may be written now: once more each (at stop, the last time)
        self._retry_deferred(force=True, last=self._stopped)

    # -- writer thread --------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        finally:  # whatever ended it: the next event starts another
            self._thread_alive = False

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._wake.wait(self._flush_interval)
                self._wake.clear()
                if self._thread_turn():
                    self._drain_and_write()
                self._replay()
                self._retry_deferred()
                self._maybe_sweep()
                self._maybe_maintain()
            except Exception:  # the thread must survive anything
                log.exception("journey writer: unexpected error")
                time.sleep(1)

    def _thread_turn(self) -> bool:
        """Whether the thread writes now: always, unless request threads are writing after
        their responses; then only what they leave: events older than two flush
        intervals (traffic stopped) or a backlog of more than two batches."""
        q = self._queue
        if not q:
            return False
        if not self.inline():
            return True
        return (len(q) >= self._thread_backlog()
                or time.monotonic() - self._oldest >= 2 * self._flush_interval)

    def _take(self) -> list[Event]:
        """Up to a batch from the queue; what stays counts its wait from now."""
        q, batch = self._queue, []
        try:
            for _ in range(self._batch_size):
                batch.append(q.popleft())
        except IndexError:
            pass
        if batch:
            if q:
                self._oldest = time.monotonic()
            self._on_depth(len(q))
        return batch

    def _put_back(self, batch: list[Event]) -> None:
        """The batch first in the queue again, due at once (it has waited already): the
        next response that finds it due tries again, and a backlog of two batches is the
        writer thread's, which waits for the lock as long as it takes."""
        self._queue.extendleft(reversed(batch))
        self._oldest = min(self._oldest, time.monotonic() - self._flush_interval)
        self._on_depth(len(self._queue))

    def _drain_and_write(self, timeout: float = -1) -> bool:
        if not self._lock.acquire(timeout=timeout):
            return False
        try:
            while batch := self._take():
                self._write_batch(batch)
            return True
        finally:
            self._lock.release()

    def _write_batch(self, batch: list[Event]) -> None:
        """Write the batch, or spool it (or count it dropped); after a response, a batch the
        database was too busy to take (Busy) goes back to the queue's head instead."""
        try:
            self._store(batch)
        except Exception as exc:
            # What was not yet written or set aside when it failed (a refused event found
            # by halving, then the database gone): only that is spooled or put back.
            batch = getattr(exc, "unwritten", batch)
            if isinstance(exc, Busy) and self.writing_after_response():
                self._put_back(batch)
                return
            if self._spool is None:
                log.exception("journey writer: could not store %d events", len(batch))
                self._on_dropped("error", len(batch))
            elif self._spool.append(batch):
                log.warning("journey writer: database unavailable (%s); spooled %d events",
                            type(exc).__name__, len(batch))
                self._on_spooled(len(batch))
            else:  # the spool has counted them dropped (full, or the disk refused)
                log.error("journey writer: could not store or spool %d events (%s)",
                          len(batch), type(exc).__name__)
            self._pause_inline()  # requests must not try the failing database next

    def _store(self, batch: list[Event]) -> None:
        """Write the batch. Events the database refuses (Refused) are found by halving it
        (a batch with one such event takes about 2·log2(size) writes) and set aside; the
        others are written. Any other failure propagates, for the batch to be spooled; once
        halving has begun, it carries what is left (``unwritten``): the parts written and
        the events set aside are not handled twice."""
        parts = [batch]  # in order: each is written, or halved in its place
        while parts:
            part = parts.pop(0)
            try:
                self._write(part)
            except Refused as exc:
                if len(part) > 1:
                    half = len(part) // 2
                    parts[:0] = [part[:half], part[half:]]
                else:
                    self._set_aside(part[0], exc)
            except Exception as exc:
                exc.unwritten = [event for rest in (part, *parts) for event in rest]
                raise

    def _set_aside(self, event: Event, exc: Refused) -> None:
        """One event the database refused: kept in the spool apart, counted, logged."""
        cause = exc.__cause__
        # the driver's own message, not SQLAlchemy's (which quotes the values)
        reason = getattr(cause, "orig", None) or cause or exc
        kept = self._spool is not None and self._spool.set_aside([event])
        log.warning("journey writer: the database refused a %s event (%s: %s); %s",
                    event.touchpoint, type(reason).__name__, reason,
                    "set aside in the spool's refused-*.jsonl" if kept else "dropped")
        self._on_dropped("refused", 1)

    def _replay(self, force: bool = False) -> None:
        """Spooled events back to the database, every few seconds while any wait."""
        if self._spool is None:
            return
        # One drainer at a time (the thread, or flush()): whoever comes second sees the
        # overflow already on disk, so a flush never misses events another thread holds.
        with self._overflow_lock:
            while self._overflow:
                self._spool_overflow()
            now = time.monotonic()
            if not force and now - self._last_replay < self._replay_interval:
                return
            self._last_replay = now
            if not self._spool.pending():
                return
            with self._lock:
                replayed = self._spool.replay(self._store, self._batch_size)
        if replayed:
            log.info("journey writer: replayed %d spooled events", replayed)

    def _maybe_maintain(self) -> None:
        if self._maintain is None:
            return
        try:
            self._maintain()
        except Exception:  # a locked or missing database: next turn (said once a minute)
            now = time.monotonic()
            if now - self._maintain_logged >= 60:
                self._maintain_logged = now
                log.warning("journey writer: housekeeping (checkpoint) failed", exc_info=True)

    def _maybe_sweep(self) -> None:
        if not self._sweep or self._sweep_interval <= 0:
            return
        if time.monotonic() - self._last_sweep < self._sweep_interval:
            return
        self._last_sweep = time.monotonic()
        try:
            self._sweep()
        except Exception:
            log.exception("journey writer: periodic sweep failed")
