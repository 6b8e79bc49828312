"""Prometheus metrics: one CollectorRegistry per app, bounded labels, multiprocess-aware."""

from __future__ import annotations

import atexit
import bisect
import collections
import logging
import os
import platform
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from .archive import LockedCollector, retire_process
from .config import BY_NAME
from .forks import MendedAfterFork
from .touchpoints import ABANDONABLE, EXITS, STAGES, Stage

log = logging.getLogger(__name__)
T = TypeVar("T")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"
LATENCY_BUCKETS = BY_NAME["JOURNEY_HTTP_BUCKETS"].default  # the request latency's, unless set
JOURNEY_BUCKETS = (10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 86400, 3 * 86400,
                   7 * 86400, 14 * 86400, 30 * 86400)
DELIVERY_BUCKETS = (3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 3 * 86400, 5 * 86400,
                    7 * 86400, 10 * 86400, 14 * 86400)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


# ISO 4217 currencies whose minor unit is not a hundredth (touchpoint values are in minor
# units; storefront_revenue_total counts major ones).
_EXPONENTS = {**dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
                               "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
              **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
              "CLF": 4, "UYW": 4}


def minor_units(currency: str) -> int:
    """How many minor units make one of the currency (100 for USD, 1 for JPY)."""
    return 10 ** _EXPONENTS.get(currency, 2)


# Why events were not stored (tracking_events_dropped_total's reason): invalid properties;
# the queue full (and the spool's overflow too); a batch neither written nor spooled; an
# order or visitor no journey holds; the spool full; the database refused the event's data
# (set aside in the spool's refused-*.jsonl, for `flask journey requeue`).
DROPPED_REASONS = ("invalid", "queue_full", "error", "no_journey", "spool_full", "refused")


class Metrics:
    """The metric objects of one app. Names and labels are a public contract."""

    def __init__(self, registry: CollectorRegistry, http: bool = True,
                 http_buckets: tuple[float, ...] = LATENCY_BUCKETS):
        self.registry = registry
        r = registry
        # The request counter and latency (JOURNEY_HTTP_METRICS): off where another exporter
        # (prometheus-flask-exporter) counts requests already.
        self.http_requests = Counter(
            "storefront_http_requests", "HTTP requests by Flask endpoint.",
            ["endpoint", "method", "status"], registry=r) if http else None
        self.http_duration = Histogram(
            "storefront_http_request_duration_seconds", "HTTP request latency.",
            ["endpoint", "method"], buckets=http_buckets, registry=r) if http else None
        self.touchpoints = Counter(
            "journey_touchpoints", "Touchpoints tracked.", ["touchpoint"], registry=r)
        self.stage_entered = Counter(
            "journey_stage_entered", "Journeys that entered a stage (once per journey).",
            ["stage"], registry=r)
        self.time_to_stage = Histogram(
            "journey_time_to_stage_seconds", "Time from journey start to entering a stage.",
            ["stage"], buckets=JOURNEY_BUCKETS, registry=r)
        self.abandoned = Counter(
            "journey_abandoned", "Journeys abandoned (idle) at a stage.", ["stage"], registry=r)
        self.recovered = Counter(
            "journey_recovered", "Abandoned journeys whose visitor later purchased.", registry=r)
        self.orders = Counter("storefront_orders", "Orders paid.", registry=r)
        self.revenue = Counter(
            "storefront_revenue", "Revenue of paid orders, in major units.", ["currency"],
            registry=r)
        self.refunds = Counter(
            "storefront_refunds", "Refunds of returned lines, in major units (revenue "
            "less refunds is what the shop keeps).", ["currency"], registry=r)
        self.payments = Counter(
            "storefront_payments", "Payment attempt outcomes: succeeded, failed, "
            "requires_action (3-D Secure; counted again as succeeded or failed once decided).",
            ["outcome"], registry=r)
        self.delivery = Histogram(
            "storefront_delivery_seconds", "Time from payment to delivery.",
            buckets=DELIVERY_BUCKETS, registry=r)
        self.reviews = Counter(
            "storefront_reviews", "Reviews submitted.", ["rating"], registry=r)
        self.written = Counter(
            "tracking_events_written", "Events stored by the writer.", registry=r)
        self.dropped = Counter(
            "tracking_events_dropped",
            f"Events not stored, by reason: {', '.join(DROPPED_REASONS)} (README, Metrics).",
            ["reason"], registry=r)
        self.spooled = Counter(
            "tracking_events_spooled", "Events put in the durable spool (database down or "
            "queue full); they are replayed later.", registry=r)
        self.queue_depth = Gauge(
            "tracking_queue_depth", "Events waiting in the writer's queue.",
            multiprocess_mode="livesum", registry=r)
        # Pre-create the closed label sets so every series exists from the first scrape.
        for stage in STAGES:
            self.stage_entered.labels(stage.label)
            if stage is not Stage.LANDING:  # a journey starts there: always 0 s, 17 series
                self.time_to_stage.labels(stage.label)
        for stage in (*EXITS, *ABANDONABLE):  # a purchased journey is never abandoned
            self.abandoned.labels(stage.label)
        for outcome in ("succeeded", "failed", "requires_action"):
            self.payments.labels(outcome)
        for rating in range(1, 6):
            self.reviews.labels(str(rating))
        for reason in DROPPED_REASONS:
            self.dropped.labels(reason)


class Tally:
    """What every request counts (its request counter, its latency, its touchpoints), kept
    in memory and added to the metrics in batches: ``flush()`` runs before every batch the
    writer writes, on every writer turn, on the first request after ``interval`` and before
    this process answers /metrics. A scrape of this process is exact; another worker's
    requests reach it about one flush interval late, and the writer thread (started with the
    first count, if no event started it) makes sure a worker that goes quiet flushes too.
    What a process killed outright (SIGKILL, out of memory) had not flushed is lost.

    On the request path a count is one ``deque.append`` (atomic, no lock): an update of a
    metric value takes a lock, and under gunicorn checks the pid and writes a memory-mapped
    file — four of those were 20 µs a request under load. The queue is bounded: past
    ``limit`` the request that finds it full flushes it."""

    def __init__(self, interval: float, limit: int = 50_000,
                 on_first: Callable[[], object] | None = None):
        self._interval = interval
        self._limit = limit
        self.on_first = on_first  # called when a count arrives in an empty tally
        self._failed_logged = -60.0
        self._reset()
        _TALLIES.add(self)

    def _reset(self) -> None:
        """Empty, with a new lock: a forked child must not flush its parent's counts again,
        nor wait on a lock a parent's thread held at the fork."""
        self._pending: collections.deque = collections.deque()
        self._last = time.monotonic()
        self._lock = threading.Lock()  # one flusher at a time

    def inc(self, child) -> None:
        """``child.inc()``, later (a Counter's labelled child)."""
        pending = self._pending
        if not pending and self.on_first is not None:
            self.on_first()
        pending.append(child)
        if len(pending) > self._limit:
            self.flush()

    def observe(self, child, amount: float) -> None:
        """``child.observe(amount)``, later (a Histogram's labelled child). Once a request,
        so here the tally also flushes itself when ``interval`` has passed."""
        pending = self._pending
        if not pending and self.on_first is not None:
            self.on_first()
        pending.append((child, amount))
        if len(pending) > self._limit or time.monotonic() - self._last >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Add every count so far to its metric. Never raises: a metric that fails is
        logged (once a minute) and its counts are lost, never the caller's work."""
        with self._lock:  # a flush in progress elsewhere is finished before this returns
            self._last = time.monotonic()
            pending = self._pending
            if not pending:
                return
            counts: dict = {}
            observed: dict = {}
            try:
                while True:  # popleft, not a snapshot: appends go on meanwhile
                    item = pending.popleft()
                    if item.__class__ is tuple:
                        observed.setdefault(item[0], []).append(item[1])
                    else:
                        counts[item] = counts.get(item, 0) + 1
            except IndexError:
                pass
            for child, n in counts.items():
                self._apply(child.inc, n)
            for child, amounts in observed.items():
                self._apply(_observe_all, child, amounts)

    def _apply(self, update, *args) -> None:
        try:
            update(*args)
        except Exception:
            now = time.monotonic()
            if now - self._failed_logged >= 60:
                self._failed_logged = now
                log.warning("metrics: a batched update failed", exc_info=True)


_TALLIES: MendedAfterFork[Tally] = MendedAfterFork(Tally._reset, "empty a metrics tally")


def _at_exit() -> None:
    for tally in _TALLIES:
        tally.flush()
    # A process that ends (a worker, a command run with the store's directory): its live
    # gauges stop counting, and its counts go into the directory's archive (nothing without
    # one). Threads still counting after this (a daemon thread) count into files no one
    # reads: lost, never counted twice.
    retire_process(os.getpid())


# Registered at import, so it runs after the writers' own exit flushes (atexit runs last in,
# first out), which may add counts.
atexit.register(_at_exit)


def _observe_all(histogram, amounts: list[float]) -> None:
    """Every amount observed, in one update per bucket and one of the sum, as observe()
    would leave them (the first bucket whose bound is >= the amount)."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:  # another client version
        for amount in amounts:
            histogram.observe(amount)
        return
    per_bucket: dict[int, int] = {}
    for amount in amounts:
        i = bisect.bisect_left(bounds, amount)
        per_bucket[i] = per_bucket.get(i, 0) + 1
    total.inc(sum(amounts))
    for i, n in per_bucket.items():
        buckets[i].inc(n)


class ScrapeCache:
    """A number a scrape reads from somewhere slow (the database), kept for ``seconds``.

    One reading at a time: a scrape that meets one under way answers with the last reading
    (or none) instead of queueing behind it. A reading that fails (or answers None) is
    logged as ``what`` and the last one stands: a scrape must not fail because the
    database did. For the host's collectors too (JourneyTracker.collect_when_scraped)."""

    def __init__(self, read: Callable[[], T | None], seconds: float, what: str):
        self._read = read
        self._seconds = seconds
        self._what = what
        self._cached: tuple[float, T] | None = None
        self._lock = threading.Lock()
        _CACHES.add(self)

    def _renew_lock(self) -> None:
        """A forked child's own lock: a scrape in the parent may have held it at the fork."""
        self._lock = threading.Lock()

    def __call__(self) -> T | None:
        cached = self._cached
        now = time.monotonic()
        if cached and now - cached[0] < self._seconds:
            return cached[1]
        if not self._lock.acquire(blocking=False):
            return cached[1] if cached else None
        try:
            try:
                value = self._read()  # None: it could not say (logged there)
            except Exception:
                log.warning("%s failed", self._what, exc_info=True)
                value = None
            if value is None:
                return cached[1] if cached else None
            self._cached = (now, value)
            return value
        finally:
            self._lock.release()

    def invalidate(self) -> None:
        self._cached = None  # one assignment: atomic


ACTIVE_HELP = ("Live journeys per stage, counted in the journey database every host shares: "
               "max() across hosts, not sum().")


class ActiveJourneysCollector:
    """journey_active{stage}: live journeys now, counted in the shared database.

    A per-process gauge cannot be right across gunicorn workers (each sees its own
    visitors); the database is shared by all of them, so this is. Cached briefly.
    """

    def __init__(self, count: Callable[[], dict[str, int]], cache_seconds: float):
        self._counts = ScrapeCache(count, cache_seconds, "journey_active: counting live journeys")
        self.invalidate = self._counts.invalidate

    def describe(self):
        return [GaugeMetricFamily("journey_active", ACTIVE_HELP, labels=["stage"])]

    def collect(self):
        family = GaugeMetricFamily("journey_active", ACTIVE_HELP,
                                   labels=["stage"])
        counts = self._counts()
        if counts is not None:
            for stage in STAGES:
                family.add_metric([stage.label], counts.get(stage.label, 0))
        yield family


def tracker_version() -> str:
    """The running tracker's version: its code's own, not an installed distribution's (a
    host may have installed the tracker's wheel once and run the store's copy since)."""
    from . import __version__  # noqa: PLC0415 (the package imports this module)

    return __version__


class BuildInfoCollector:
    """tracking_build_info{version, python} 1: which tracker each host runs, to line a
    change in the other series up with a deploy (Prometheus's *_build_info convention).
    A constant yielded at the scrape: one series per host, no worker's file."""

    def __init__(self, version: str):
        self._labels = [version, platform.python_version()]

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily("tracking_build_info", "The journey tracker's version and "
                                 "its Python's, as labels; always 1.",
                                 labels=["version", "python"])

    def describe(self):
        return [self._family()]

    def collect(self):
        family = self._family()
        family.add_metric(self._labels, 1)
        yield family


class SpoolCollector:
    """tracking_spool_bytes and tracking_spool_refused_bytes: this host's spool directory,
    read when scraped.

    The directory belongs to the host, not to a worker: a gauge each worker set would show
    whichever worker set it (in multiprocess mode "max", a dead worker's value for ever),
    where a listing at scrape time is right in every mode. The refused bytes are apart: they
    never drain by themselves (``flask journey requeue`` hands them back).
    """

    def __init__(self, sizes: Callable[[], tuple[int, int]],
                 writable: Callable[[], bool] | None = None):
        self._sizes = sizes  # () -> (replayable bytes, refused bytes): Spool.sizes
        self._writable = writable  # Spool.writable

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (GaugeMetricFamily("tracking_spool_bytes",
                                  "Bytes in this host's spool waiting to be replayed."),
                GaugeMetricFamily("tracking_spool_refused_bytes",
                                  "Bytes of events the database refused, set aside in this "
                                  "host's spool until `flask journey requeue`."),
                GaugeMetricFamily("tracking_spool_writable",
                                  "1 if this host's spool directory can be written (events "
                                  "wait there while the database is down), 0 if not."))

    def describe(self):
        families = self._families()
        return list(families if self._writable is not None else families[:2])

    def collect(self):
        waiting, refused, writable = self._families()
        try:
            replayable_bytes, refused_bytes = self._sizes()
        except Exception:  # a scrape must not fail because the disk did
            log.warning("tracking_spool_bytes: reading the spool failed", exc_info=True)
        else:
            waiting.add_metric([], replayable_bytes)
            refused.add_metric([], refused_bytes)
        yield waiting
        yield refused
        if self._writable is not None:
            writable.add_metric([], 1 if self._writable() else 0)
            yield writable


def exposition(app_registry: CollectorRegistry, *read_when_scraped):
    """(body, content type) for /metrics: all workers' values under gunicorn.

    ``read_when_scraped``: collectors with no per-process files (journey_active, the
    spool), registered in ``app_registry`` only when there is one process."""
    directory = multiprocess_dir()
    if directory:
        registry = CollectorRegistry()
        LockedCollector(registry, path=directory)
        for collector in read_when_scraped:
            registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(app_registry), CONTENT_TYPE_LATEST


_CACHES: MendedAfterFork[ScrapeCache] = MendedAfterFork(
    ScrapeCache._renew_lock, "renew a scrape cache's lock")
