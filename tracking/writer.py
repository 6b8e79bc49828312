"""The background writer: a bounded queue filled by requests, drained in batches.

The request thread only calls ``enqueue`` (O(1), never blocks, never raises). A daemon
thread per process writes batches in their own transactions and runs the periodic sweep.
A batch the database refuses, and an event the full queue cannot take, go to the durable
spool and are replayed when the database answers again. Nothing here can raise into, block
or roll back a request.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from .events import Event
from .spool import Spool

log = logging.getLogger(__name__)
_STOP = object()  # wakes the thread at stop()


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
    ):
        self._spool = spool
        self._overflow: collections.deque[Event] = collections.deque()
        self._overflow_lock = threading.Lock()
        self._on_spooled = on_spooled or (lambda n: None)
        self._replay_interval = replay_interval
        self._last_replay = 0.0
        self._write = write
        self._sweep = sweep
        self._queue_size = max(queue_size, 1)
        self._batch_size = max(batch_size, 1)
        self._flush_interval = flush_interval
        self._sweep_interval = sweep_interval
        self._on_dropped = on_dropped
        self._on_depth = on_depth
        self._lock = threading.Lock()  # one batch at a time per process
        self._start_lock = threading.Lock()
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue[Event] = queue.Queue(self._queue_size)
        self._stopping = threading.Event()
        self._last_sweep = time.monotonic()
        self._registered_exit = False
        self._stopped = False

    # -- request side ---------------------------------------------------------------------
    def enqueue(self, event: Event) -> bool:
        self._ensure_running()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            # No disk on the request thread: a bounded overflow the writer thread spools
            # in batches (one fsync each).
            if self._spool is not None and len(self._overflow) < max(self._queue_size, 1000):
                self._overflow.append(event)  # deque.append is atomic
                return True
            self._on_dropped("queue_full", 1)
            return False
        self._on_depth(self._queue.qsize())
        return True

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
        return self._queue.qsize()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    # -- lifecycle ------------------------------------------------------------------------
    def _ensure_running(self) -> None:
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._pid != os.getpid():
                # A forked child (gunicorn worker): the parent's queue and lock are not ours.
                self._queue = queue.Queue(self._queue_size)
                self._overflow = collections.deque()
                self._overflow_lock = threading.Lock()
                self._lock = threading.Lock()
                self._stopping = threading.Event()
                self._pid = os.getpid()
                self._thread = None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="journey-writer",
                                                daemon=True)
                self._thread.start()
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
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            with contextlib.suppress(queue.Full):  # a busy thread sees _stopping anyway
                self._queue.put_nowait(_STOP)
            thread.join(timeout)
        self.flush(timeout)

    def flush(self, timeout: float = 10.0) -> None:
        """Write everything queued so far, on the calling thread if need be."""
        deadline = time.monotonic() + timeout
        self._drain_and_write()
        self._replay(force=True)
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning("journey writer: flush timed out with %d events unwritten",
                                self._queue.unfinished_tasks)
                    return
                self._queue.all_tasks_done.wait(remaining)

    # -- writer thread --------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._collect_batch()
                if batch:
                    with self._lock:
                        self._write_batch(batch)
                    self._drain_and_write()
                self._replay()
                self._maybe_sweep()
            except Exception:  # the thread must survive anything
                log.exception("journey writer: unexpected error")
                time.sleep(1)

    def _collect_batch(self) -> list[Event]:
        """Block for the first event, then gather more for up to the flush interval."""
        try:
            first = self._queue.get(timeout=1.0)
        except queue.Empty:
            return []
        if first is _STOP:
            self._queue.task_done()
            return []
        batch = [first]
        deadline = time.monotonic() + self._flush_interval
        while len(batch) < self._batch_size and not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.task_done()
                break
            batch.append(item)
        return batch

    def _drain_and_write(self) -> None:
        with self._lock:
            while True:
                batch: list[Event] = []
                while len(batch) < self._batch_size:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        self._queue.task_done()
                        continue
                    batch.append(item)
                if not batch:
                    return
                self._write_batch(batch)

    def _write_batch(self, batch: list[Event]) -> None:
        try:
            self._write(batch)
        except Exception as exc:
            if self._spool is not None and self._spool.append(batch):
                log.warning("journey writer: database unavailable (%s); spooled %d events",
                            type(exc).__name__, len(batch))
                self._on_spooled(len(batch))
            else:
                log.exception("journey writer: could not store %d events", len(batch))
                self._on_dropped("error", len(batch))
        finally:
            for _ in batch:
                self._queue.task_done()
            self._on_depth(self._queue.qsize())

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
                replayed = self._spool.replay(self._write, self._batch_size)
        if replayed:
            log.info("journey writer: replayed %d spooled events", replayed)

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
