"""Every JOURNEY_* setting in one place, with its default and meaning.

Precedence: a value already in ``app.config`` wins, then the environment variable of the
same name, then the default. Text is parsed to the setting's type wherever it comes from
(``JOURNEY_ENABLED="false"`` is off, ``JOURNEY_EXEMPT_PATHS="/health,/static/"`` two
prefixes), and a value of the wrong type or range is a clear error at ``init_app``.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url


def database_url(url: str) -> str:
    """A database URL as SQLAlchemy 2 opens it: ``postgres://`` (Heroku's, Render's
    spelling, which SQLAlchemy no longer reads) as ``postgresql://``, and with psycopg 3
    when no driver is named and it is installed (SQLAlchemy 2.0's default is psycopg2)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is not None:
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def sqlite_file(url: str, instance_path: str) -> str | None:
    """The file a SQLite URL names, as Flask-SQLAlchemy opens it (a relative path is read
    from the instance folder, not the working directory); None for any other URL, and for
    an in-memory or ``file:`` URI database."""
    if not url.startswith("sqlite"):
        return None
    parsed = make_url(url)
    path = parsed.database
    if (not path or path == ":memory:" or path.startswith("file:")
            or parsed.query.get("mode") == "memory"):
        return None
    return path if os.path.isabs(path) else os.path.join(instance_path, path)


def missing_table(exc: Exception) -> bool:
    """A database error that says a table is not there: the schema was never made or
    migrated (SQLite's "no such table", PostgreSQL's undefined_table, 42P01)."""
    orig = getattr(exc, "orig", None)
    return "no such table" in str(orig) or getattr(orig, "sqlstate", None) == "42P01"


class ConfigError(RuntimeError):
    pass


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _float(raw: str) -> float:
    value = _finite(raw)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _finite(raw: str) -> float:
    """A number of seconds: "inf" would overflow the writer's timed waits, "nan" make them
    return at once (a thread spinning)."""
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _opt_float(raw: str) -> float | None:
    return _float(raw) if raw.strip() else None


def _str_or_none(raw: str) -> str | None:
    return raw or None


def _paths(raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _opt_bool(raw: str) -> bool | None:
    return None if raw.strip() == "" else _bool(raw)


# Each bound is a series per endpoint and method, in every worker's file: a limit on them.
MAX_BUCKETS = 30


def _buckets(raw: str) -> tuple[float, ...]:
    """Histogram bounds in seconds, comma-separated ("0.05,0.1,0.3,1")."""
    return _bounds(tuple(_finite(p) for p in raw.split(",") if p.strip()))


def _bounds(values: tuple) -> tuple[float, ...]:
    if not values:
        raise ValueError("expected at least one bound, in seconds")
    if len(values) > MAX_BUCKETS:
        raise ValueError(f"at most {MAX_BUCKETS} bounds (each is a series per endpoint and "
                         "method)")
    if any(not _number(v) or not math.isfinite(v) or v <= 0 for v in values):
        raise ValueError("each bound a number of seconds above 0 (+Inf is always added)")
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ValueError("the bounds must increase")
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    parse: Callable[[str], Any]
    doc: str


SETTINGS: tuple[Setting, ...] = (
    Setting("JOURNEY_ENABLED", True, _bool,
            "Kill switch. False: no cookie, no events, no metrics, no writer thread."),
    Setting("JOURNEY_DATABASE_URL", None, _str_or_none,
            "Where journeys are stored; defaults to SQLALCHEMY_DATABASE_URI (this "
            "project's store sets its own default: see Configuration)."),
    Setting("JOURNEY_SESSION_TIMEOUT", 1800, _int,
            "Seconds without a touchpoint that end a session (GA4, PostHog, Matomo: 30 min)."),
    Setting("JOURNEY_ABANDON_AFTER", 1800, _int,
            "Seconds idle after which a cart/checkout/payment journey is abandoned."),
    Setting("JOURNEY_RECOVERY_WINDOW", 7 * 86400, _int,
            "Seconds after abandonment within which a purchase marks it recovered."),
    Setting("JOURNEY_COOKIE_NAME", "tp_visitor", str, "The signed first-party visitor cookie."),
    Setting("JOURNEY_COOKIE_MAX_AGE", 395 * 86400, _int, "Visitor cookie lifetime (13 months)."),
    Setting("JOURNEY_COOKIE_REFRESH", None, _opt_float,
            "Seconds the cookie's last-seen time may lag before the cookie is sent again "
            "(it is always sent when the journey changes). Default: 1/60 of the session "
            "timeout, at most 30."),
    Setting("JOURNEY_QUEUE_SIZE", 10_000, _int,
            "Events the in-process queue holds before it overflows (bounded memory)."),
    Setting("JOURNEY_BATCH_SIZE", 50, _int,
            "Most events the writer inserts per transaction, and so the most a request "
            "thread writes after its response: a bigger batch costs less per event and "
            "holds that worker's next request longer."),
    Setting("JOURNEY_FLUSH_INTERVAL", 1.0, _float,
            "Seconds the writer waits to fill a batch before writing what it has; also "
            "the most the request counters and latency reach another worker's /metrics "
            "late (they are added in batches). Longer: cheaper writing, rarer but longer "
            "pauses after a response (1 s measured faster than 0.5 s in time, p99 and "
            "p99.9; 2 s faster again but a longer p99.9)."),
    Setting("JOURNEY_WRITE_AFTER_RESPONSE", True, _bool,
            "Write a due batch on the request's own thread once its response is sent (the "
            "writer thread then writes only what requests leave). Off: the writer thread "
            "writes everything."),
    Setting("JOURNEY_SWEEP_INTERVAL", 60, _int,
            "Seconds between automatic abandonment sweeps in each process (0: never)."),
    Setting("JOURNEY_SWEEP_GRACE", 60, _int,
            "Extra idle seconds before a sweep abandons: longer than the writer's latency, so "
            "an event still in a queue never lands on an abandoned journey."),
    Setting("JOURNEY_SPOOL_DIR", None, _str_or_none,
            "Where events wait while the database is down or the queue is full "
            "(default: instance/journey-spool/ and a folder per database; one "
            "directory belongs to one database)."),
    Setting("JOURNEY_SPOOL_MAX_BYTES", 256 * 1024 * 1024, _int,
            "The spool's size limit; past it events are dropped and counted."),
    Setting("JOURNEY_HTTP_METRICS", True, _bool,
            "Count requests and their latency by endpoint (storefront_http_requests_total, "
            "storefront_http_request_duration_seconds). Off where another exporter "
            "(prometheus-flask-exporter) counts them already."),
    Setting("JOURNEY_HTTP_BUCKETS", (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                                     10.0), _buckets,
            "The request latency histogram's bounds, in seconds (a list, or comma-separated "
            "text; +Inf is added): put one at your latency objective (0.3 for \"99% under "
            "300 ms\") to read it exactly. Changing them takes a restart, not a reload (see "
            "Metrics)."),
    Setting("JOURNEY_METRICS_PATH", "/metrics", _str_or_none,
            "Where Prometheus scrapes; empty to register no route."),
    Setting("JOURNEY_EXEMPT_PATHS", ("/static/", "/metrics", "/favicon.ico"), _paths,
            "Path prefixes that are never touchpoints (a list, or comma-separated text)."),
    Setting("JOURNEY_RESPECT_PRIVACY_SIGNALS", True, _bool,
            "Honour Sec-GPC: 1 and DNT: 1: no cookie, nothing stored, aggregate metrics only."),
    Setting("JOURNEY_STRICT", None, _opt_bool,
            "Raise on unknown touchpoints or bad properties. Default: app.debug or app.testing, "
            "read when it matters (a test fixture may set TESTING after init_app)."),
    Setting("JOURNEY_ACTIVE_CACHE_SECONDS", 5, _float,
            "How long the journey_active gauge reuses its database count."),
)
BY_NAME = {s.name: s for s in SETTINGS}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# What a value set in app.config must be, by its setting's parser (a string is parsed as
# the environment's is first: JOURNEY_ENABLED="false" is False, not a true string).
_TYPES: dict[Callable, tuple[str, Callable[[Any], bool]]] = {
    _bool: ("true or false", lambda v: isinstance(v, bool)),
    _opt_bool: ("true, false or None", lambda v: v is None or isinstance(v, bool)),
    _int: ("a whole number, not negative",
           lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    _float: ("a number, not negative", lambda v: _number(v) and math.isfinite(v) and v >= 0),
    _opt_float: ("a number, not negative, or None",
                 lambda v: v is None or _number(v) and math.isfinite(v) and v >= 0),
    _paths: ("a list of path prefixes",
             lambda v: isinstance(v, list | tuple) and all(isinstance(p, str) for p in v)),
    _str_or_none: ("text or None", lambda v: v is None or isinstance(v, str)),
    _buckets: ("a list of increasing numbers of seconds above 0",
               lambda v: isinstance(v, list | tuple)),
    str: ("text", lambda v: isinstance(v, str)),
}


# Counts (and the cookie's Max-Age, written into its header): whole numbers. Other whole
# seconds in the environment may be any number in code (timedelta(...).total_seconds()).
_WHOLE = {"JOURNEY_QUEUE_SIZE", "JOURNEY_BATCH_SIZE", "JOURNEY_SPOOL_MAX_BYTES",
          "JOURNEY_COOKIE_MAX_AGE"}


def _from_config(setting: Setting, value: Any) -> Any:
    """A value the app's code set: parsed if text, then checked (ConfigError)."""
    if isinstance(value, str) and setting.parse not in (str, _str_or_none):
        try:
            value = setting.parse(value)
        except ValueError as exc:
            raise ConfigError(f"{setting.name}={value!r} is not valid: {exc}") from None
    if setting.parse is _int and isinstance(value, float) and math.isfinite(value):
        if setting.name not in _WHOLE:
            return _checked(setting, value, _float)
        if value.is_integer():
            value = int(value)
    if setting.parse is _paths and isinstance(value, set | frozenset):
        value = sorted(value)
    value = _checked(setting, value, setting.parse)
    if setting.parse is _buckets:
        try:
            return _bounds(tuple(value))
        except ValueError as exc:
            raise ConfigError(f"{setting.name}={value!r} is not valid: {exc}") from None
    return tuple(value) if setting.parse is _paths else value


def _checked(setting: Setting, value: Any, parse: Callable) -> Any:
    what, ok = _TYPES[parse]
    if not ok(value):
        raise ConfigError(f"{setting.name}={value!r} is not valid: expected {what}")
    return value


def apply_defaults(config: dict, environ=os.environ) -> None:
    for setting in SETTINGS:
        if setting.name in config:
            config[setting.name] = _from_config(setting, config[setting.name])
            continue
        if setting.name in environ:
            try:
                config[setting.name] = setting.parse(environ[setting.name])
            except ValueError as exc:
                raise ConfigError(
                    f"{setting.name}={environ[setting.name]!r} is not valid: {exc}"
                ) from None
        else:
            config[setting.name] = setting.default


def docs_table() -> str:
    """The settings as a Markdown table (the README's is generated from this)."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = (", ".join(map(str, s.default)) if isinstance(s.default, tuple)
                   else s.default)
        rows.append(f"| `{s.name}` | `{default}` | {s.doc} |")
    return "\n".join(rows)
