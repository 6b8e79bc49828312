"""JourneyTracker: the Flask extension that turns a shop's touchpoints into journeys."""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import re
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial, wraps
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    has_app_context,
    has_request_context,
)
from flask.globals import app_ctx, request_ctx
from marshmallow import ValidationError
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
)

from . import config as settings
from . import store
from .events import (
    Event,
    from_epoch,
    journeys_abandoned,
    to_epoch,
    touchpoint_tracked,
    visitor_forgotten,
)
from .forks import MendedAfterFork
from .metrics import (
    ActiveJourneysCollector,
    BuildInfoCollector,
    Metrics,
    SpoolCollector,
    Tally,
    exposition,
    minor_units,
    multiprocess_dir,
    tracker_version,
)
from .models import journey_events, metadata
from .spool import Spool
from .touchpoints import (
    ABANDONABLE,
    CATALOGUE,
    EXITS,
    POST_PURCHASE,
    Stage,
    Touchpoint,
)
from .visitor import (
    Rekeyed,
    VisitorCookie,
    VisitorState,
    device_class,
    is_bot,
    new_id,
    opted_out,
    traffic_source,
    truncate_ip,
)
from .writer import Busy, EventWriter, Refused

log = logging.getLogger("tracking")
EXTENSION_KEY = "journey"
# Where a request's RequestJourney is kept: an attribute of its request context, read in one
# step (``flask.g`` is a proxy whose ``get`` costs ten times as much, three times a request).
# The context, not the request: a copy of the context (copy_current_request_context, in
# another thread) shares the request object but is not the shopper's request, and must see
# no journey of its own, as it saw an empty ``g`` before.
_REQUEST_ATTR = "_tp_journey"
_LANDING = Stage.LANDING.label  # where a journey starts: no time to it


def _public_request_context():
    """The request context, or None outside one, through Flask's public API."""
    return request_ctx._get_current_object() if has_request_context() else None


def _public_app_context():
    """The app context, or None outside one, through Flask's public API."""
    return app_ctx._get_current_object() if has_app_context() else None


try:  # the context variables behind flask.request_ctx and current_app: C calls, where the
    # proxies are Python functions (the request's is read three times a request)
    from flask.globals import _cv_app, _cv_request

    _current_request_context = partial(_cv_request.get, None)
    _current_app_context = partial(_cv_app.get, None)
except ImportError:  # a Flask that names them otherwise: the public, slower way
    _current_request_context, _current_app_context = _public_request_context, _public_app_context


class NoAppContext(RuntimeError):
    """Raised outside an application context by a tracker made for a factory."""


class TrackingError(ValueError):
    """An unknown touchpoint or invalid properties (raised only in strict mode)."""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(slots=True)
class RequestJourney:
    """Per-request state, on the request context (``_REQUEST_ATTR``)."""

    started: float | None  # None: a hook before the tracker's ended the request
    exempt: bool = False
    trackable: bool = False
    bot: bool = False  # a known crawler: its touchpoints are not a shopper's, and not counted
    state: VisitorState | None = None
    dirty: bool = False
    # What the visitor's cookie said on arrival: VisitorState's fields, in its order
    # (v, j, s, r, t0, ts, c, p), as the cookie's parse cached them.
    issued: tuple | None = None
    tracked: list[str] = field(default_factory=list)
    counted: bool = False
    opens_session: bool = False
    landing: dict | None = None  # the request's landing properties, once read


def _as_flask_sqlalchemy_reads(url: str | None, instance_path: str) -> str | None:
    """The shop's own database (SQLALCHEMY_DATABASE_URI) as Flask-SQLAlchemy opens it: a
    relative SQLite path lives in the instance folder, not the working directory."""
    path = settings.sqlite_file(url, instance_path) if url else None
    if path is None or path == make_url(url).database:  # not a file, or named absolutely
        return url
    os.makedirs(instance_path, exist_ok=True)  # as Flask-SQLAlchemy makes it
    return make_url(url).set(database=path).render_as_string(hide_password=False)


def _database_key(url: str | None) -> str:
    """A short name for a database, its password left out (it may change; the spool stays)."""
    if not url:
        return "none"
    try:
        text = make_url(url).render_as_string(hide_password=True)  # "***" whatever it is
    except Exception:  # an unparseable URL fails where the engine is made, and is said there
        text = url
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class _AppState:
    """What the extension keeps per app, in ``app.extensions["journey"]``."""

    def __init__(self, tracker: JourneyTracker, app: Flask):
        cfg = app.config
        self.tracker = tracker
        self.app = weakref.ref(app)  # the signals' sender, outside the app's context too
        self.enabled: bool = cfg["JOURNEY_ENABLED"]
        self._strict: bool | None = cfg["JOURNEY_STRICT"]
        self.session_timeout = float(cfg["JOURNEY_SESSION_TIMEOUT"])
        self.abandon_after = float(cfg["JOURNEY_ABANDON_AFTER"])
        self.recovery_window = timedelta(seconds=cfg["JOURNEY_RECOVERY_WINDOW"])
        self.sweep_grace = timedelta(seconds=cfg["JOURNEY_SWEEP_GRACE"])
        self.cookie_name: str = cfg["JOURNEY_COOKIE_NAME"]
        self.cookie_max_age: int = cfg["JOURNEY_COOKIE_MAX_AGE"]
        self.exempt_paths: tuple[str, ...] = tuple(cfg["JOURNEY_EXEMPT_PATHS"])
        self.respect_privacy: bool = cfg["JOURNEY_RESPECT_PRIVACY_SIGNALS"]
        # JOURNEY_DATABASE_URL as given (a relative SQLite path from the working directory,
        # as a plain engine reads it: moving an existing install's file to instance/ would
        # leave its history, and its spool, behind); the shop's as Flask-SQLAlchemy reads it.
        url = (cfg["JOURNEY_DATABASE_URL"]
               or _as_flask_sqlalchemy_reads(cfg.get("SQLALCHEMY_DATABASE_URI"),
                                             app.instance_path))
        self.database_url = settings.database_url(url) if url else None
        if self.enabled and self.database_url:
            _check_database_url(self.database_url)
        self.cookie = VisitorCookie(cfg["SECRET_KEY"] or "",
                                    fallbacks=cfg.get("SECRET_KEY_FALLBACKS") or ())
        # The cookie's last-seen time may lag by this much, so an unchanged journey is
        # not re-signed and re-sent on every page (1/60 of the session timeout, <= 30 s).
        self.cookie_refresh = (cfg["JOURNEY_COOKIE_REFRESH"]
                               if cfg["JOURNEY_COOKIE_REFRESH"] is not None
                               else min(30.0, self.session_timeout / 60))
        self.cookie_attrs = f"; Max-Age={self.cookie_max_age}; Path=/; HttpOnly; SameSite=Lax"
        self.cookie_secure_attrs = self.cookie_attrs + "; Secure"
        self._children: dict[tuple, Any] = {}
        self._http: dict[tuple, tuple] = {}  # (endpoint, method, status) -> metric children
        self._exempt_endpoints: dict[str | None, bool] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_metrics: bool = cfg["JOURNEY_HTTP_METRICS"]
        self.metrics = Metrics(self.registry, http=self.http_metrics,
                               http_buckets=cfg["JOURNEY_HTTP_BUCKETS"])
        self.touchpoint_counters = {name: self.metrics.touchpoints.labels(name)
                                    for name in CATALOGUE}
        # The request path's counts, added to the metrics in batches (metrics.Tally).
        self.tally = Tally(cfg["JOURNEY_FLUSH_INTERVAL"])  # flushed at exit by metrics.py
        self._engine: Engine | None = None
        self._lookups_paused_until = 0.0  # is_purchased, after a failed read (monotonic)
        self._wal: str | None = None  # the SQLite WAL's path ("" when there is none)
        self._said_no_tables = False
        self.first_request_seen = False  # _first_request's checks: once
        # Collectors read when /metrics is scraped, with no per-process files: the tracker's
        # own (journey_active, the spool) and the host's (collect_when_scraped).
        self.scraped: list = []
        self.active = self.read_when_scraped(ActiveJourneysCollector(
            self._count_active, cfg["JOURNEY_ACTIVE_CACHE_SECONDS"]))
        # One spool per database by default: two apps sharing an instance folder never
        # replay each other's events into the wrong database.
        spool_dir = cfg["JOURNEY_SPOOL_DIR"] or os.path.join(
            app.instance_path, "journey-spool", _database_key(self.database_url))
        self.spool = Spool(spool_dir, cfg["JOURNEY_SPOOL_MAX_BYTES"],
                           on_dropped=lambda reason, n: self.metrics.dropped.labels(reason)
                           .inc(n))
        if not cfg["JOURNEY_SPOOL_DIR"] and self.enabled:
            # Events an earlier version spooled in the folder's top level (one spool for
            # every database) are this database's as far as anyone can tell: replayed here.
            self.spool.adopt(Path(app.instance_path, "journey-spool"))
        # Read from the spool directory when scraped, as journey_active from the database.
        self.spool_sizes = self.read_when_scraped(SpoolCollector(self.spool.sizes,
                                                                 self.spool.writable))
        if self.enabled:  # said at start (logged), not first in an outage
            self.spool.writable()
        self.read_when_scraped(BuildInfoCollector(tracker_version()))
        self.writer = EventWriter(
            self._write, self.sweep if self.database_url else None,
            queue_size=cfg["JOURNEY_QUEUE_SIZE"], batch_size=cfg["JOURNEY_BATCH_SIZE"],
            flush_interval=cfg["JOURNEY_FLUSH_INTERVAL"],
            sweep_interval=cfg["JOURNEY_SWEEP_INTERVAL"],
            on_dropped=lambda reason, n: self.metrics.dropped.labels(reason).inc(n),
            on_depth=self.metrics.queue_depth.set,
            spool=self.spool, on_spooled=self.metrics.spooled.inc,
            after_response=cfg["JOURNEY_WRITE_AFTER_RESPONSE"],
            maintain=self.housekeeping,
        )
        self.tally.on_first = self.writer.ensure_started
        _APP_STATES.add(self)  # last: the fork hook finds only whole states

    @property
    def strict(self) -> bool:
        """JOURNEY_STRICT if set; else whether the app is in debug or testing mode now (a
        test fixture sets TESTING after the tracker was made). Read on failures only."""
        if self._strict is not None:
            return self._strict
        app = self.app()
        return bool(app is not None and (app.debug or app.testing))

    @strict.setter
    def strict(self, value: bool | None) -> None:
        self._strict = value

    def read_when_scraped(self, collector):
        """Read at every scrape of this app's /metrics: in one process from the app's
        registry; under gunicorn added to each scrape's (metrics.exposition)."""
        self.scraped.append(collector)
        if not multiprocess_dir():
            self.registry.register(collector)
        return collector

    # -- database -------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            if not self.database_url:
                raise RuntimeError(
                    "JourneyTracker has no database: set JOURNEY_DATABASE_URL "
                    "(or SQLALCHEMY_DATABASE_URI)."
                )
            self._engine = _make_engine(self.database_url)
        return self._engine

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, stop the writer and close the tracker's database
        connections (an app being torn down: tests, or a worker's shutdown)."""
        self.writer.stop(timeout)
        if self._engine is not None:
            self._engine.dispose()

    def child(self, metric, *labels: str):
        """``metric.labels(*labels)``, looked up once: label values here come from closed
        sets (touchpoints, stages, the URL map), and the cache stops growing at 4096."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = metric.labels(*labels)
            if len(self._children) < 4096:
                self._children[key] = found
        return found

    def _write(self, events: list[Event]) -> None:
        self.tally.flush()  # a batch's effects are never counted before its requests (and a
        # metric that fails is logged there, never taken for a database failure)
        # The writer thread lets request threads have the GIL between steps; a request
        # thread writing after its response has no one to make way for.
        inline = self.writer.writing_after_response()
        pause = _let_requests_run if self.writer.on_writer_thread() else _no_pause

        if inline and not self._connected():
            # A request thread never opens a connection: a database that does not answer
            # would hold the shopper's worker for the connect timeout. The batch goes back
            # to the queue; the writer thread connects (within two flush intervals).
            raise Busy("no open connection")

        def write(replayed: bool) -> store.BatchOutcome:
            with self.engine.begin() as conn:
                if inline:
                    # No checkpoint in this commit only where the writer thread can find
                    # the WAL to checkpoint it (a file, not memory).
                    _on_a_request_thread(conn, checkpoint=self._wal_path() is None)
                return store.write_batch(conn, events, self.recovery_window,
                                         replayed=replayed, pause=pause)

        try:
            try:
                outcome = write(replayed=False)
            except IntegrityError:
                # An event stored before: a spool replay, or a retry after a commit whose
                # answer was lost. Write the batch again, skipping what is stored.
                outcome = write(replayed=True)
        except (OperationalError, ProgrammingError) as exc:
            # SQLite, after a response: another worker holds the write lock (the request
            # thread does not wait for it, _on_a_request_thread). Rolled back; the batch
            # waits for this thread's next response.
            if inline and isinstance(exc, OperationalError) and _sqlite_locked(exc):
                raise Busy from exc
            if settings.missing_table(exc) and not self._said_no_tables:
                self._said_no_tables = True  # the spool's own line follows every batch
                log.error("journey: the tracker's tables are not in its database (%s): "
                          "call journey.create_all(), or add tracking.models.metadata to "
                          "your migrations and run them; events wait in the spool until "
                          "then", type(exc.orig).__name__)
            raise
        except _REFUSED as exc:  # the data, not the database: the writer finds the event
            raise Refused(type(exc).__name__) from exc
        for stage, seconds in outcome.entered:
            self.child(self.metrics.stage_entered, stage).inc()
            if stage != _LANDING:  # where a journey starts: always 0 s
                self.child(self.metrics.time_to_stage, stage).observe(seconds)
        if outcome.recovered:
            self.metrics.recovered.inc(outcome.recovered)
        if outcome.unresolved:
            given_up = self.writer.defer(outcome.unresolved)
            if given_up:  # expected for an order no journey holds: a Do-Not-Track shopper's
                log.info("journey: %d events name an order or visitor no journey holds; "
                         "dropped (no_journey)", len(given_up))
                self.metrics.dropped.labels("no_journey").inc(len(given_up))
        # Last: once "written" shows a batch, everything it caused is counted too.
        self.metrics.written.inc(outcome.written)
        if outcome.entered or outcome.recovered:
            self.active.invalidate()

    def _connected(self) -> bool:
        """A connection is open and idle in the pool (SQLite: a local file, always)."""
        engine = self.engine
        if engine.dialect.name == "sqlite":
            return True
        checkedin = getattr(engine.pool, "checkedin", None)
        return checkedin is None or checkedin() > 0

    def housekeeping(self) -> None:
        """The writer thread's every turn: the request path's counts, then the checkpoint."""
        self.tally.flush()
        self.checkpoint()

    def checkpoint(self) -> bool:
        """SQLite: fold the write-ahead log into the database once it holds 1000 pages, on
        the writer thread (requests' commits leave it: _on_a_request_thread). A passive
        checkpoint: it never waits for, or blocks, a reader or another writer. True if it
        ran."""
        wal = self._wal_path()
        if wal is None:
            return False
        try:
            if os.path.getsize(wal) < WAL_CHECKPOINT_BYTES:
                return False
        except OSError:  # no WAL yet
            return False
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        return True

    def _wal_path(self) -> str | None:
        """The SQLite database's WAL file, as SQLite itself names the main database (so
        relative paths and ``file:`` URIs come out right); None for memory or PostgreSQL."""
        if self._wal is None and self.database_url:
            if self.engine.url.get_backend_name() != "sqlite":
                self._wal = ""
            else:
                with self.engine.connect() as conn:
                    files = {row[1]: row[2] for row in
                             conn.exec_driver_sql("PRAGMA database_list")}
                self._wal = files.get("main") + "-wal" if files.get("main") else ""
        return self._wal or None

    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        with self.engine.begin() as conn:
            counts, recovered = store.sweep(conn, now or utcnow(),
                                            timedelta(seconds=self.session_timeout),
                                            timedelta(seconds=self.abandon_after),
                                            self.recovery_window, self.sweep_grace)
        for stage, n in counts.items():
            self.metrics.abandoned.labels(stage).inc(n)
        if recovered:
            self.metrics.recovered.inc(recovered)
        if counts:
            self.active.invalidate()
            journeys_abandoned.send(self, counts=counts)
        return counts

    def _count_active(self) -> dict[str, int] | None:
        """Live journeys per stage (journey_active), or None if the database cannot say."""
        return self.lookup(
            lambda conn: store.count_active(conn, utcnow(),
                                            timedelta(seconds=self.session_timeout)),
            "counting live journeys", None)

    def is_purchased(self, journey_id: str) -> bool:
        """Whether the journey was paid (by a webhook, in another process). Unknown reads as
        not paid: the writer's fold still sees the purchase."""
        return self.lookup(lambda conn: store.is_purchased(conn, journey_id),
                           f"reading journey {journey_id}", False)

    def lookup(self, read: Callable[[Connection], Any], what: str, default: Any) -> Any:
        """``read(conn)`` on a request thread (a page, a scrape): bounded, and never while the
        database is failing. On PostgreSQL a statement gives up after READ_TIMEOUT_MS (a
        table locked by a migration, an overloaded server); after a failure, and during the
        writer's cool-off, no request reads for LOOKUP_PAUSE seconds: ``default`` at once,
        and one log line with its traceback per pause, not one per page."""
        now = time.monotonic()
        if now < self._lookups_paused_until or self.writer.troubled(now):
            return default
        try:
            with self.engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {READ_TIMEOUT_MS}")
                return read(conn)
        except Exception:
            self._lookups_paused_until = time.monotonic() + LOOKUP_PAUSE
            log.warning("journey: %s failed; requests leave the database alone for %d s",
                        what, LOOKUP_PAUSE, exc_info=True)
            return default


# What a batch's own data causes (rolled back, and refused again if written again): a value
# the database will not take (DataError: too long for its column, a NUL character), a
# constraint the retry that skips stored ids still breaks (IntegrityError), and what the
# fold raises on a malformed event. A connection lost, a lock timeout or a missing table
# (OperationalError, ProgrammingError) is the database's: such a batch is spooled.
_REFUSED = (DataError, IntegrityError, KeyError, TypeError, ValueError, AttributeError,
            IndexError)


def _pool_of_its_own(state: _AppState) -> None:
    """A forked worker (gunicorn, multiprocessing) opens database connections of its own:
    a SQLite or PostgreSQL connection must not be used by two processes. The parent's are
    left open for the parent (SQLAlchemy's ``dispose(close=False)``)."""
    if state._engine is not None:
        state._engine.dispose(close=False)


# Every app's tracker state in this process.
_APP_STATES: MendedAfterFork[_AppState] = MendedAfterFork(_pool_of_its_own,
                                                          "drop a journey database pool")


# Seconds a request thread leaves the database alone after a read of it failed.
LOOKUP_PAUSE = 30
# The most a read on a request thread may take on PostgreSQL (_AppState.lookup).
READ_TIMEOUT_MS = 500


def _let_requests_run() -> None:
    """Give up the GIL for a moment. A thread waiting for it gets it at once; without this,
    it would wait out the interpreter's 5 ms switch interval behind the writer."""
    time.sleep(0.0001)


def _no_pause() -> None:
    pass


# A request thread writing after its response must not sit out another writer's lock.
# PostgreSQL (row locks): it gives up after this long, the batch goes to the spool and the
# writer thread takes over. SQLite (one write lock for the whole database, which another
# worker holds for a couple of milliseconds a batch): it does not wait at all, and the
# batch goes back to the queue for the thread's next response (writer.Busy); a request
# queued behind a worker asleep in SQLite's busy handler waited for nothing.
INLINE_LOCK_WAIT_MS = 250
SQLITE_INLINE_BUSY_MS = 0


def _sqlite_locked(exc: OperationalError) -> bool:
    """SQLITE_BUSY: "database is locked" (the pysqlite driver's only sign of it)."""
    return "database is locked" in str(exc.orig)


# SQLite's own threshold for folding the write-ahead log into the database (1000 pages).
WAL_CHECKPOINT_BYTES = 1000 * 4096
WAL_SIZE_LIMIT = 1024 * 1024


def _on_a_request_thread(conn, checkpoint: bool = False) -> None:
    """A batch written on a request thread, after its response: a short lock wait (none on
    SQLite) and, on SQLite, no checkpoint. SQLite's automatic checkpoint runs in the commit
    that fills the WAL past 1000 pages, and syncs the WAL and the database to disk — tens
    of milliseconds on a busy disk, for which the worker's next request would wait. The
    writer thread checkpoints instead (_AppState.checkpoint), beside the requests."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {INLINE_LOCK_WAIT_MS}")
    elif conn.dialect.name == "sqlite":
        # Per connection, and the pool hands this one to the writer thread later: the
        # thread's 30 s wait and automatic checkpoints are restored when it goes back to
        # the pool (_make_engine).
        conn.info["tp_request_thread"] = True  # first: restored even if a pragma fails
        driver = conn.connection.driver_connection
        driver.execute(f"PRAGMA busy_timeout={SQLITE_INLINE_BUSY_MS}")
        if not checkpoint:
            driver.execute("PRAGMA wal_autocheckpoint=0")


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # hide_parameters: an error's text (logged) names no visitor, search or property.
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # readers never wait for the writer
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Once a checkpoint has folded it, the WAL restarts at this size, so the file's
            # size says how much it holds (_AppState.checkpoint reads it).
            cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            cursor.close()

        @event.listens_for(engine, "checkin")
        def _restore_wait(dbapi_connection, record):
            if record.info.pop("tp_request_thread", False):
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.execute("PRAGMA wal_autocheckpoint=1000")
                cursor.close()

        return engine
    # A database that stops answering must not hold a writer (on a request thread, after
    # its response) for the OS's TCP timeout: a connect gives up after 5 s.
    connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    # A request thread's read (_AppState.lookup) waits at most 2 s for a pooled connection.
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2, pool_timeout=2,
                         connect_args=connect_args, hide_parameters=True)


class JourneyTracker:
    """Tracks every customer touchpoint of a Flask shop as a journey.

    ``journey = JourneyTracker(app)`` or ``journey.init_app(app)`` in a factory. Settings
    (all ``JOURNEY_*``, see :mod:`tracking.config`) are read once in ``init_app``. Per-app
    state lives in ``app.extensions["journey"]``; per-request state on the request context.
    """

    def __init__(self, app: Flask | None = None):
        self._exempt_views: set[Callable] = set()
        self._exempt_blueprints: set[str] = set()
        # Views @tracks wrapped: a route that has one of them unwrapped got the decorators
        # the wrong way round (checked once per endpoint, at its first request)
        self._tracked_views: set[Callable] = set()
        self._states: weakref.WeakSet[_AppState] = weakref.WeakSet()
        # ``JourneyTracker(app)``: the one app, used outside its context too (a background
        # job); in a factory (``init_app``) the app comes from the context.
        self.app = app
        if app is not None:
            self.init_app(app)

    # -- setup ----------------------------------------------------------------------------
    def init_app(self, app: Flask) -> None:
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "JourneyTracker is already registered on this app; call init_app once per app."
            )
        settings.apply_defaults(app.config)
        if app.config["JOURNEY_ENABLED"] and not app.config.get("SECRET_KEY"):
            # signed with an empty key, the visitor cookie (its customer too) could be forged
            raise settings.ConfigError(
                "JourneyTracker signs the visitor cookie with SECRET_KEY: set it before "
                "init_app (or set JOURNEY_ENABLED=false).")
        if app.config["JOURNEY_ENABLED"] and not (app.config["JOURNEY_DATABASE_URL"]
                                                  or app.config.get("SQLALCHEMY_DATABASE_URI")):
            # else every event would wait in the spool for a database that never comes
            raise settings.ConfigError(
                "JourneyTracker stores journeys in JOURNEY_DATABASE_URL, else the shop's "
                "SQLALCHEMY_DATABASE_URI: set one before init_app (or set "
                "JOURNEY_ENABLED=false).")
        if app.config["JOURNEY_ENABLED"]:
            _check_cookie_name(app.config)
        path = app.config["JOURNEY_METRICS_PATH"]
        if app.config["JOURNEY_ENABLED"] and path:
            _check_metrics_path(app, path)
        state = _AppState(self, app)
        app.extensions[EXTENSION_KEY] = state
        self._states.add(state)
        from .cli import journey_cli

        app.cli.add_command(journey_cli)
        if not state.enabled:
            return
        # Bound to this app's state: no extension lookup per request. Plain functions, not
        # functools.partial: Flask asks of every hook, on every request, whether it is a
        # coroutine function, and inspect answers that for a partial the long way.
        before, after, teardown = (self._before_request, self._after_request,
                                   self._teardown_request)

        def journey_before_request():
            before(state)

        def journey_after_request(response):
            return after(state, response)

        def journey_teardown_request(exc):
            teardown(state, exc)

        # First of the app's before_request hooks: a hook that ends the request (a CSRF
        # check's 400, a size limit's 413) still has it counted and timed.
        app.before_request_funcs.setdefault(None, []).insert(0, journey_before_request)
        app.after_request(journey_after_request)
        app.teardown_request(journey_teardown_request)
        if path:
            app.add_url_rule(path, "journey_metrics", self.exempt(self.metrics_view))

    def _state(self, app: Flask | None = None) -> _AppState:
        if app is None:
            context = _current_app_context()
            app = context.app if context is not None else self.app
            if app is None:
                raise NoAppContext(
                    "JourneyTracker: no application context. Call it inside "
                    "`with app.app_context():` (a background job, the shell), or make the "
                    "tracker with JourneyTracker(app).")
        try:
            return app.extensions[EXTENSION_KEY]
        except KeyError:
            raise RuntimeError(
                "JourneyTracker.init_app(app) was not called for this app."
            ) from None

    def state(self, app: Flask | None = None) -> _AppState:
        return self._state(app)

    # -- public API -----------------------------------------------------------------------
    def track(
        self,
        touchpoint: str,
        *,
        journey_id: str | None = None,
        order_ref: str | int | None = None,
        customer_id: str | int | None = None,
        visitor_id: str | None = None,
        at: datetime | None = None,
        **props: Any,
    ) -> Event | None:
        """Record a touchpoint. Inside a request the visitor's journey is used unless
        ``journey_id`` is given; outside a request (webhooks, couriers, CLI) pass the
        ``journey_id`` kept on the order. Never raises unless JOURNEY_STRICT (and never
        outside an application context, where there are no settings to read: logged)."""
        try:
            state = self._state()
        except NoAppContext:  # (a forgotten init_app still raises, as it always did)
            log.error("journey: %s dropped: track() needs an application context "
                      "(`with app.app_context():`) or JourneyTracker(app)", touchpoint)
            return None
        if not state.enabled:
            return None
        tp = CATALOGUE.get(touchpoint)
        try:
            if tp is None:
                raise TrackingError(f"unknown touchpoint {touchpoint!r}")
            if (journey_id is not None or order_ref is not None or customer_id is not None
                    or visitor_id is not None):
                _check_references(journey_id=journey_id, visitor_id=visitor_id,
                                  customer_id=customer_id, order_ref=order_ref)
            if order_ref is not None and "order_ref" in tp.schema._declared_fields:
                props.setdefault("order_ref", str(order_ref))
            clean = tp.validate(props)
        except (TrackingError, ValidationError) as exc:
            return _dropped_invalid(state, touchpoint, str(exc), exc)
        try:
            now = time.time() if at is None else to_epoch(at)
            return self._record(state, tp, clean, journey_id, order_ref, customer_id,
                                visitor_id, now)
        except Exception:
            if state.strict:
                raise
            log.exception("journey: could not track %s", touchpoint)
            state.metrics.dropped.labels("error").inc()
            return None

    def identify(self, customer_id: str | int | None, via: str | None = "login") -> None:
        """Stitch the visitor (and this journey) to a customer at login or signup; later
        journeys of that customer carry their id too. ``identify(None, via=None)`` at
        logout."""
        state = self._state()
        if not state.enabled or not has_request_context():
            return
        try:
            _check_references(customer_id=customer_id)
        except TrackingError:
            if state.strict:
                raise
            log.warning("journey: identify() ignored an invalid customer id")
            state.metrics.dropped.labels("invalid").inc()
            return
        ctx = self._request_journey()
        if ctx is None or not ctx.trackable:
            if via:
                self.track(via)
            return
        customer = None if customer_id is None else str(customer_id)
        if ctx.state is not None:  # first: a journey the touchpoint starts inherits it
            ctx.state.c = customer
            ctx.dirty = True
        if via:
            self.track(via, customer_id=customer_id)
        if ctx.state is not None:  # a visitor's first request: the journey just started
            ctx.state.c = customer
            ctx.dirty = True

    def current_journey_id(self) -> str | None:
        """The visitor's journey in this request (starting one if needed), for the host to
        keep on an order so later touchpoints with no request can name it."""
        state = self._state()
        ctx = self._request_journey()
        if not state.enabled or ctx is None or not ctx.trackable or ctx.exempt:
            return None
        try:  # an order is placed whatever the tracker makes of this request
            if ctx.state is None or self._journey_ended(state, ctx.state, None, time.time()):
                self.track("landing", **self._landing_props())
        except Exception:
            if state.strict:
                raise
            log.exception("journey: could not start a journey for the order")
            return None
        return ctx.state.j if ctx.state is not None else None

    def collect_when_scraped(self, collector, app: Flask | None = None) -> None:
        """Add the host's own prometheus_client collector (``collect()``, and ``describe()``)
        to this app's /metrics, read at every scrape, in the scrape's request: a number
        kept in the shop's database (mail waiting to be sent, stock running low) that no
        worker's counter could get right. Under gunicorn (PROMETHEUS_MULTIPROC_DIR) it is
        read by the worker that answers the scrape, as journey_active is; its metric names
        must not be the tracker's. A collector that raises fails the scrape: catch there."""
        self._state(app).read_when_scraped(collector)

    def current_visitor_id(self) -> str | None:
        ctx = self._request_journey()
        return ctx.state.v if ctx is not None and ctx.state is not None else None

    def tracks(self, touchpoint: str, *, methods: Iterable[str] | None = None,
               **props: Any):
        """Decorator: a view that is a touchpoint. Fires after a successful response (for a
        GET, a page: not a redirect to another, which is the touchpoint there; a form's
        POST redirects when it succeeds), never for HEAD or OPTIONS; ``methods`` narrows
        it (``("POST",)`` on a view that shows its form and takes it). A callable property
        gets the view's keyword arguments it names (``lambda pid: pid`` on
        ``/product/<int:pid>/<slug>``), or all of them with ``**kwargs``. Put it below the
        route decorator.

        An unknown touchpoint or property name is an error here, when the view is
        decorated; a property callable that raises when the view answers is the tracker's
        failure, never the request's (logged and counted; raised in strict mode)."""
        tp = CATALOGUE.get(touchpoint)
        if tp is None:
            raise TrackingError(f"@journey.tracks: unknown touchpoint {touchpoint!r}")
        unknown = sorted(set(props) - set(tp.schema._declared_fields))
        if unknown:
            raise TrackingError(f"@journey.tracks({touchpoint!r}): no property "
                                f"{', '.join(unknown)} (it takes: "
                                f"{', '.join(tp.schema._declared_fields) or 'none'})")
        allowed = ({m.upper() for m in methods} if methods is not None else None)
        fixed = {k: v for k, v in props.items() if not callable(v)}
        try:  # the values given as they are: checked now, as the names are
            tp.schema(partial=True).load(fixed)
        except ValidationError as exc:
            raise TrackingError(f"@journey.tracks({touchpoint!r}): {exc}") from exc
        computed = {k: _view_arguments(v) for k, v in props.items() if callable(v)}

        def decorator(view):
            self._tracked_views.add(view)
            # Above the route decorator, the route has the view without this wrapper, and
            # the touchpoint would never fire: say so (the apps known yet: JourneyTracker(app))
            for state in list(self._states):
                app = state.app()
                if app is not None and view in app.view_functions.values():
                    _misplaced_tracks(state, f"@journey.tracks({touchpoint!r})", view.__name__)

            def after(response, kwargs):
                status = response.status_code
                method = _current_request_context().request.method
                if method in _NEVER_TRACKED or allowed is not None and method not in allowed:
                    return
                if status < 300 or status < 400 and method != "GET":
                    values = dict(fixed)
                    try:
                        for name, (fn, takes) in computed.items():
                            values[name] = fn(**(kwargs if takes is None else
                                                 {k: kwargs[k] for k in takes if k in kwargs}))
                    except Exception as exc:  # the host's lambda: the request goes on
                        self._property_failed(touchpoint, exc)
                        return
                    self.track(touchpoint, **values)

            if inspect.iscoroutinefunction(view):
                @wraps(view)
                async def async_wrapper(*args, **kwargs):
                    from flask import make_response

                    response = make_response(await view(*args, **kwargs))
                    after(response, kwargs)
                    return response

                return async_wrapper

            @wraps(view)
            def wrapper(*args, **kwargs):
                from flask import make_response

                response = make_response(view(*args, **kwargs))
                after(response, kwargs)
                return response

            return wrapper

        return decorator

    def _property_failed(self, touchpoint: str, exc: Exception) -> None:
        try:
            state = self._state()
        except NoAppContext:
            return
        # Its type only: the host's exception may carry what the shopper sent.
        _dropped_invalid(state, touchpoint,
                         f"a property callable raised {type(exc).__name__}", exc)

    def exempt(self, target):
        """A view or blueprint that is never a touchpoint (no cookie, no page_view)."""
        if isinstance(target, Blueprint):
            self._exempt_blueprints.add(target.name)
        else:
            self._exempt_views.add(target)
        for state in self._states:  # decided per endpoint, once: decide again
            state._exempt_endpoints.clear()
        return target

    def flush(self, timeout: float = 10.0) -> None:
        """Write everything queued now (tests; shutdown hooks)."""
        self._state().writer.flush(timeout)

    def sweep(self, now: datetime | None = None) -> dict[str, int]:
        """Abandon idle journeys now; safe to run in every process at once."""
        return self._state().sweep(now)

    def forget(self, visitor_id: str) -> tuple[int, int]:
        state = self._state()
        state.writer.flush()
        with state.engine.begin() as conn:
            result = store.forget(conn, visitor_id)
        state.active.invalidate()
        visitor_forgotten.send(state.app(), visitor_id=visitor_id)
        return result

    def co_viewed(self, product_id: str | int, *, limit: int = 4, days: float = 90,
                  viewers: int = 500) -> list[str]:
        """"Customers who viewed this also viewed": the products most often viewed (in
        ``product_view`` touchpoints) by the latest ``viewers`` visitors who viewed this one
        in the last ``days``. Opted-out visitors and bots are not in it; ``journey forget``
        takes a visitor out. Returns [] rather than raise if the database is unreachable.
        Each call is a query: cache the answer (the store keeps it a few minutes)."""
        state = self._state()
        if not state.enabled or not state.database_url:
            return []
        found = state.lookup(
            lambda conn: store.co_viewed(conn, str(product_id), utcnow() - timedelta(days=days),
                                         viewers, limit),
            f"co_viewed({product_id})", [])
        return [pid for pid, _ in found]

    def create_all(self) -> None:
        """Create the tracker's tables directly (quick starts and tests; use migrations in
        production)."""
        metadata.create_all(self._state().engine)

    # -- internals ------------------------------------------------------------------------
    @staticmethod
    def _request_journey() -> RequestJourney | None:
        return getattr(_current_request_context(), _REQUEST_ATTR, None)

    def _record(self, state: _AppState, tp: Touchpoint, props: dict, journey_id, order_ref,
                customer_id, visitor_id, now: float) -> Event:
        ctx = getattr(_current_request_context(), _REQUEST_ATTR, None)
        # Outside a shopper's request (a job, a webhook) an event needs a reference to
        # find its journey by: without one it could only be counted, never stored.
        orphan = ((ctx is None or ctx.exempt) and journey_id is None and order_ref is None
                  and visitor_id is None)
        if orphan and state.strict:
            raise TrackingError(f"{tp.name} outside a shopper's request needs journey_id=, "
                                "order_ref= or visitor_id= (the order's journey_id)")
        # A crawler's views, searches and carts are not shoppers' (they would feed the
        # shopper-traffic alert); its orders and payments, if any, are money, and counted.
        aggregated = tp.name in _AGGREGATED
        if aggregated or ctx is None or not ctx.bot:
            state.tally.inc(state.touchpoint_counters[tp.name])
        if aggregated:
            self._count_aggregates(state, tp, props)
        # Its id and datetimes are made when first read, by the writer (Event).
        event = Event(None, tp.name, tp.stage_label, None, props, None, visitor_id, None,
                      None if customer_id is None else str(customer_id),
                      None if order_ref is None else str(order_ref), at=now)
        if ctx is not None:
            ctx.tracked.append(tp.name)
        shopper_opted_out = ctx is not None and not ctx.trackable and not ctx.exempt
        if journey_id is not None or (visitor_id or order_ref) and (
                ctx is None or ctx.exempt or tp.name in POST_PURCHASE):
            # An explicit reference: webhooks, couriers, the CLI, or the order's journey.
            event.journey_id = journey_id
            event.stored = not shopper_opted_out
            current = ctx.state if ctx is not None else None
            if current is not None and current.j == journey_id:
                # e.g. payment in the shopper's own request: their visitor and session
                event.visitor_id = event.visitor_id or current.v
                event.session_id = current.s
                self._advance(ctx, tp, now)
            elif (journey_id is None and current is not None and tp.name == "purchase"
                  and ctx.trackable and not ctx.exempt and event.visitor_id is None):
                # The shopper's own purchase named by its order alone: the order's journey
                # if one holds it, else the one they are paying in (store.resolve_journeys);
                # the cookie learns it was bought.
                event.visitor_id, event.session_id = current.v, current.s
                event.fallback_journey_id = current.j
                self._advance(ctx, tp, now)
        elif ctx is not None and ctx.trackable and not ctx.exempt:
            self._attach(state, ctx, tp, event, now)
            event.stored = True
        if event.stored:
            state.writer.enqueue(event)
        elif orphan:
            log.warning("journey: %s dropped: outside a shopper's request it needs "
                        "journey_id=, order_ref= or visitor_id=", tp.name)
            state.metrics.dropped.labels("invalid").inc()
        if touchpoint_tracked.receivers:
            try:  # the host's receiver: its failure is not the event's (queued already)
                touchpoint_tracked.send(state.app(), event=event)
            except Exception:
                if state.strict:
                    raise
                log.exception("journey: a touchpoint_tracked receiver failed on %s", tp.name)
        return event

    def _attach(self, state: _AppState, ctx: RequestJourney, tp: Touchpoint, event: Event,
                now: float) -> None:
        """File the event under the visitor's journey, starting one (with its landing)."""
        current = ctx.state
        if current is None or self._journey_ended(state, current, tp, now):
            renew_session = current is None or now - current.ts > state.session_timeout
            ctx.state = current = VisitorState(
                v=current.v if current else new_id(), j=new_id(),
                s=new_id() if renew_session else current.s, r=0, t0=now, ts=now,
                c=current.c if current else None, p=current.t0 if current else None,
            )
            ctx.dirty = ctx.opens_session = True  # a journey's first event opens a session
            if tp.name != "landing":
                self._record(state, CATALOGUE["landing"], self._landing_props(), None, None,
                             None, None, now)
        elif now - current.ts > state.session_timeout:
            current.s = new_id()
            ctx.opens_session = True
        event.journey_id, event.visitor_id, event.session_id = current.j, current.v, current.s
        event.customer_id = event.customer_id or current.c
        event.new_session, ctx.opens_session = ctx.opens_session, False
        event._started = current.t0  # journey_started_at, made when read (Event)
        if tp.name == "landing":
            event.context = self._landing_context()
            if current.p is not None:
                event.context["previous_started_at"] = from_epoch(current.p)
        else:
            # The journey the cookie named on arrival, at a stage it had reached, with the
            # customer it had: the events that got it there entered the stages and set the
            # customer, so this one only adds to its counts (Event.routine).
            issued = ctx.issued
            event.routine = (issued is not None and issued[1] == current.j
                             and event.customer_id == issued[6] and event.order_ref is None
                             and tp.routine_after(issued[3]))
        # _advance, inline (once per touchpoint; current is ctx.state)
        if now > current.ts:
            current.ts = now
        if tp.rank > current.r:
            current.r = tp.rank
        ctx.dirty = True

    def _landing_props(self) -> dict:
        """The request's landing properties (traffic source, device, page), read from the
        request once: a new journey's landing and its context both need them."""
        ctx = self._request_journey()
        if ctx is not None and ctx.landing is not None:
            return dict(ctx.landing)
        req = _current_request_context().request
        environ = req.environ
        # The environ read directly, and the query string parsed, and the host worked out,
        # only when a source could come from them (most landings are direct).
        referrer = environ.get("HTTP_REFERER")
        query = environ.get("QUERY_STRING", "")  # "%": a key may spell utm_ escaped
        source = traffic_source(req.args if "utm" in query or "%" in query else {},
                                referrer, req.host if referrer else "")
        props = CATALOGUE["landing"].validate({
            "path": req.path.replace("\x00", "")[:500],
            "device": device_class(environ.get("HTTP_USER_AGENT", "")),
            **source,
        })
        if ctx is not None:
            ctx.landing = props
        return dict(props)

    def _landing_context(self) -> dict:
        props = self._landing_props()
        return {
            "source": props["source"] or None, "medium": props["medium"] or None,
            "campaign": props["campaign"] or None, "referrer_host": props["referrer"] or None,
            "device": props["device"], "landing_page": props["path"],
            "ip_net": truncate_ip(_current_request_context().request.remote_addr),
        }

    @staticmethod
    def _advance(ctx: RequestJourney, tp: Touchpoint, now: float) -> None:
        if ctx.state is None:
            return
        ctx.state.ts = max(ctx.state.ts, now)
        if tp.rank > ctx.state.r:
            ctx.state.r = tp.rank
        ctx.dirty = True

    def _journey_ended(self, state: _AppState, current: VisitorState, tp: Touchpoint | None,
                       now: float) -> bool:
        """The same rules the sweeper applies, decided from the cookie alone."""
        idle = now - current.ts
        rank = current.r
        if rank == 0 or rank in EXITS:  # Stage is an IntEnum: ranks compare as stages
            return idle > state.session_timeout
        if rank in ABANDONABLE:
            if idle > state.abandon_after:
                return True
            shopping = tp is not None and tp.shopping
            # Paid by webhook in another process while the shopper kept browsing?
            return bool(rank == Stage.PAYMENT and shopping and state.is_purchased(current.j))
        # Purchased: delivery and review carry the order's journey; shopping starts anew.
        return idle > state.session_timeout or (tp is not None and tp.shopping)

    @staticmethod
    def _count_aggregates(state: _AppState, tp: Touchpoint, props: dict) -> None:
        """The metrics a few touchpoints feed besides their count (_AGGREGATED)."""
        m = state.metrics
        if tp.name == "purchase":
            m.orders.inc()
            m.payments.labels("succeeded").inc()
            _add_money(m.revenue, props)
        elif tp.name == "payment_failed":
            m.payments.labels("failed").inc()
        elif tp.name == "payment_requires_action":
            m.payments.labels("requires_action").inc()
        elif tp.name == "delivered" and props.get("delivery_seconds") is not None:
            m.delivery.observe(props["delivery_seconds"])
        elif tp.name == "order_refunded":
            _add_money(m.refunds, props)
        elif tp.name == "review_submitted" and props.get("rating"):
            m.reviews.labels(str(props["rating"])).inc()

    # -- request hooks --------------------------------------------------------------------
    # These run on every request: one lookup of the request object each, the environ read
    # directly (no KeyError per missing header), decisions cached per endpoint.
    def _is_exempt(self, state: _AppState, req) -> bool:
        if req.path.startswith(state.exempt_paths):
            return True
        endpoint = req.endpoint
        found = state._exempt_endpoints.get(endpoint)
        if found is None:  # decided once per endpoint (the URL map is a closed set)
            blueprint = req.blueprint
            view = current_app.view_functions.get(endpoint) if endpoint else None
            found = bool(blueprint and blueprint.split(".")[0] in self._exempt_blueprints
                         or view is not None and view in self._exempt_views)
            if len(state._exempt_endpoints) < 4096:
                state._exempt_endpoints[endpoint] = found
            if view is not None and view in self._tracked_views:  # a blueprint's, a factory's
                _misplaced_tracks(state, "@journey.tracks", endpoint)
        return found

    def _before_request(self, state: _AppState) -> None:
        ctx = RequestJourney(started=time.perf_counter())
        context = _current_request_context()
        setattr(context, _REQUEST_ATTR, ctx)
        req = context.request
        try:
            if self._is_exempt(state, req):
                ctx.exempt = True
                return
            environ = req.environ
            ctx.bot = is_bot(environ.get("HTTP_USER_AGENT", ""))
            ctx.trackable = not (ctx.bot or state.respect_privacy and opted_out(environ))
            if ctx.trackable:
                issued = state.cookie.fields(req.cookies.get(state.cookie_name))
                if issued is not None:
                    ctx.state = VisitorState(*issued)
                    # signed with an earlier SECRET_KEY: sent again, under the current one
                    ctx.issued = None if issued.__class__ is Rekeyed else issued
        except TrackingError:  # a decorator the wrong way round: strict mode says so
            ctx.trackable, ctx.state, ctx.issued = False, None, None
            if state.strict:
                raise
        except Exception:  # the request goes on, untracked (its count still taken)
            log.exception("journey: before_request failed")
            ctx.trackable, ctx.state, ctx.issued = False, None, None

    def _after_request(self, state: _AppState, response: Response) -> Response:
        context = _current_request_context()
        ctx = getattr(context, _REQUEST_ATTR, None)
        if ctx is None:  # a blueprint's or an earlier app's hook ended it before ours ran
            ctx = _untimed(context)
        req = context.request
        try:
            if ctx.trackable and not ctx.exempt:
                if (not ctx.tracked and req.method == "GET" and response.status_code == 200
                        and response.mimetype == "text/html"):
                    self._page_view(state, ctx)
                if ctx.dirty and ctx.state is not None and self._reissue(state, ctx):
                    # The value is [A-Za-z0-9_~.:@%-] by construction: no quoting needed,
                    # and Max-Age alone (no Expires) is what every current browser reads.
                    response.headers.add(
                        "Set-Cookie", f"{state.cookie_name}={state.cookie.dumps(ctx.state)}"
                        f"{state.cookie_secure_attrs if req.is_secure else state.cookie_attrs}")
            self._count_request(state, ctx, req, response.status_code)
            if state.writer.due():  # written once this response is sent, on this thread
                response.call_on_close(state.writer.write_due)
        except Exception:
            log.exception("journey: after_request failed")
        return response

    @staticmethod
    def _reissue(state: _AppState, ctx: RequestJourney) -> bool:
        """Send the cookie again only if the journey changed or its time is stale."""
        s, issued = ctx.state, ctx.issued
        return (issued is None or issued != (s.v, s.j, s.s, s.r, s.t0, issued[5], s.c, s.p)
                or s.ts - issued[5] >= state.cookie_refresh)

    def _teardown_request(self, state: _AppState, exc: BaseException | None) -> None:
        context = _current_request_context()
        ctx = getattr(context, _REQUEST_ATTR, None)
        # None: a copy of the context (copy_current_request_context), not a request
        if ctx is not None and not ctx.counted:  # the view raised: after_request never ran
            try:
                self._count_request(state, ctx, context.request, 500)
            except Exception:
                log.exception("journey: teardown failed")

    def _page_view(self, state: _AppState, ctx: RequestJourney) -> None:
        """A page with no touchpoint of its own: the landing of a new journey, or a
        page_view that keeps the session alive."""
        page_view = CATALOGUE["page_view"]
        if ctx.state is None or self._journey_ended(state, ctx.state, page_view, time.time()):
            self.track("landing", **self._landing_props())
        else:
            self.track("page_view",
                       endpoint=(_current_request_context().request.endpoint or "")[:200])

    @staticmethod
    def _count_request(state: _AppState, ctx: RequestJourney, req, status: int) -> None:
        if ctx.counted:
            return
        ctx.counted = True
        if not state.first_request_seen:
            state.first_request_seen = True
            _first_request(state, req)
        if not state.http_metrics:
            return
        key = (req.endpoint, req.method, status)
        children = state._http.get(key)
        if children is None:
            endpoint = key[0] or "<unmatched>"
            method = key[1] if key[1] in _METHODS else "other"
            m = state.metrics
            children = (m.http_requests.labels(endpoint, method, str(status)),
                        m.http_duration.labels(endpoint, method))
            if len(state._http) < 4096:  # endpoints x methods x statuses: a closed set
                state._http[key] = children
        tally = state.tally
        tally.inc(children[0])
        if ctx.started is not None:
            tally.observe(children[1], time.perf_counter() - ctx.started)

    def metrics_view(self):
        """The tracker's metrics as Prometheus scrapes them: the view JOURNEY_METRICS_PATH
        serves. With JOURNEY_METRICS_PATH empty, mount it yourself, behind your own check:
        ``app.add_url_rule("/ops/metrics", view_func=ops_only(journey.metrics_view))``."""
        state = self._state()
        state.tally.flush()
        state.metrics.queue_depth.set(state.writer.depth)
        body, content_type = exposition(state.registry, *state.scraped)
        return Response(body, content_type=content_type)


# The references track() takes beside the properties, at most as long as their columns.
_REFERENCE_LIMITS = {name: journey_events.c[name].type.length
                     for name in ("journey_id", "visitor_id", "customer_id", "order_ref")}


def _add_money(counter, props: dict) -> None:
    """A touchpoint's ``value`` (minor units) added to a counter by currency, in major
    units (storefront_revenue_total, storefront_refunds_total)."""
    if props.get("value") is not None and props.get("currency"):
        currency = props["currency"]
        counter.labels(currency).inc(props["value"] / minor_units(currency))


def _dropped_invalid(state: _AppState, touchpoint: str, why: str, exc: Exception) -> None:
    """A touchpoint that cannot be recorded as given: an error in strict mode; else logged
    and counted (tracking_events_dropped_total{reason="invalid"})."""
    if state.strict:
        raise TrackingError(f"{touchpoint}: {why}") from exc
    log.warning("journey: dropped invalid touchpoint %s: %s", touchpoint, why)
    state.metrics.dropped.labels("invalid").inc()


# Never a touchpoint: HEAD (a GET's headers: a monitor, a link checker) and OPTIONS.
_NEVER_TRACKED = frozenset({"HEAD", "OPTIONS"})


def _view_arguments(fn: Callable) -> tuple[Callable, tuple[str, ...] | None]:
    """A property callable and the view arguments it names (None: all, it takes
    ``**kwargs``), decided once, when the view is decorated."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin with no signature: give it everything
        return fn, None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return fn, None
    return fn, tuple(p.name for p in params
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _first_request(state: _AppState, req) -> None:
    """What init_app could not see: the server (several processes?) and routes added
    after it (another /metrics, prometheus-flask-exporter's made after the tracker)."""
    if req.environ.get("wsgi.multiprocess") and not multiprocess_dir():
        log.warning(
            "journey: the server runs several worker processes, and PROMETHEUS_MULTIPROC_DIR "
            "is not set: each /metrics answer counts the requests and touchpoints of the "
            "worker that gave it. Set it to an empty directory before the server starts, "
            "and call tracking.metrics.retire_process(worker.pid) in gunicorn's "
            "child_exit (deploy/gunicorn.conf.py does both).")
    app = state.app()
    path = app.config.get("JOURNEY_METRICS_PATH") if app is not None else None
    if path:
        endpoints = _routes_at(app, path)
        if len(endpoints) > 1:
            log.warning("journey: %s has %d routes (%s): only the first answers. Set "
                        "JOURNEY_METRICS_PATH to another path, or to '' and serve "
                        "journey.metrics_view() where you like", path, len(endpoints),
                        ", ".join(endpoints))


def _check_database_url(url: str) -> None:
    """A URL SQLAlchemy cannot read, or whose driver is not installed, is an error at start:
    else every event would wait in the spool for a database that can never be opened."""
    try:
        dialect = make_url(url).get_dialect()
        if getattr(dialect, "is_async", False):
            raise ArgumentError("an asyncio driver; the tracker's engine is a plain one "
                                "(postgresql+psycopg://, sqlite://)")
        dialect.import_dbapi()  # the driver installed (psycopg2, MySQLdb: not with Flask)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        try:
            safe = make_url(url).render_as_string(hide_password=True)
        except ArgumentError:  # not a URL at all: no password to find in it
            safe = url
        raise settings.ConfigError(
            f"JourneyTracker cannot open the database {safe!r}: {exc}") from None


def _check_cookie_name(config) -> None:
    """The visitor cookie must not take the place of the session's (a login lost on every
    page) and is written into Set-Cookie as it is: a cookie name's characters only."""
    name = config["JOURNEY_COOKIE_NAME"]
    if not name or not _COOKIE_NAME.fullmatch(name):
        raise settings.ConfigError(f"JOURNEY_COOKIE_NAME={name!r} is not a cookie name")
    taken = {config.get("SESSION_COOKIE_NAME") or "session": "SESSION_COOKIE_NAME",
             config.get("REMEMBER_COOKIE_NAME") or "remember_token": "REMEMBER_COOKIE_NAME"}
    if name in taken:
        raise settings.ConfigError(
            f"JOURNEY_COOKIE_NAME={name!r} is the app's {taken[name]}: the visitor cookie "
            "would replace it")


# RFC 6265's cookie-name (an RFC 2616 token).
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _routes_at(app: Flask, path: str) -> list[str]:
    """The endpoints of the app's rules for this path, in the order they answer: of two,
    the first registered answers and the other never does (the host's /metrics,
    prometheus-flask-exporter's)."""
    return [rule.endpoint for rule in app.url_map.iter_rules() if rule.rule == path]


def _check_metrics_path(app: Flask, path: str) -> None:
    taken = _routes_at(app, path)
    if taken:
        raise settings.ConfigError(
            f"{path} is already the app's {taken[0]!r}: set JOURNEY_METRICS_PATH to "
            "another path, or to '' and serve journey.metrics_view() where you like")


def _misplaced_tracks(state: _AppState, decorator: str, view: str | None) -> None:
    """@journey.tracks above the route decorator: the route has the view unwrapped and the
    touchpoint never fires. Strict mode raises; otherwise a warning."""
    message = f"{decorator} is above the route decorator of {view}: put it below, or it never fires"
    if state.strict:
        raise TrackingError(message)
    log.warning("journey: %s", message)


def _check_references(**references) -> None:
    """TrackingError for an empty or too long reference, or one with a NUL character (the
    database would refuse the event, and the batch with it: writer.Refused)."""
    for name, value in references.items():
        if value is None:
            continue
        text = str(value)
        limit = _REFERENCE_LIMITS[name]
        if not text or len(text) > limit or "\x00" in text:
            raise TrackingError(f"{name} must be 1 to {limit} characters, without NUL")


def _untimed(context) -> RequestJourney:
    """A request the tracker's before_request never saw: counted, not timed, not tracked."""
    ctx = RequestJourney(started=None, exempt=True)
    setattr(context, _REQUEST_ATTR, ctx)
    return ctx


# The touchpoints with metrics of their own (orders, payments, deliveries, reviews).
_AGGREGATED = frozenset({"purchase", "payment_failed", "payment_requires_action", "delivered",
                         "review_submitted", "order_refunded"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
