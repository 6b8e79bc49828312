"""Configuration: typed defaults, overridable from the environment under the same name."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import make_url

from tracking.config import apply_defaults as apply_journey_defaults
from tracking.config import database_url, sqlite_file

log = logging.getLogger(__name__)

LOCALSTRIPE_URL = "http://127.0.0.1:8420"
LOCALSTRIPE_WEBHOOK_SECRET = "whsec_localstripe"
# The shortest SECRET_KEY a store outside tests and the demo starts with.
MIN_SECRET_KEY = 32


class ConfigError(RuntimeError):
    """A configuration value is missing or cannot be parsed."""


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected one of true/false/1/0/yes/no/on/off")


def parse_int(raw: str) -> int:
    return int(raw.strip())


def parse_str(raw: str) -> str:
    return raw


def parse_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


# name -> (parser, default). Every key can be set from the environment.
SETTINGS: dict[str, tuple[Callable[[str], Any], Any]] = {
    "SECRET_KEY": (parse_str, None),
    # Earlier keys, comma-separated: what they signed still reads (sessions, the visitor
    # cookie, order and cart links) while new signatures use SECRET_KEY. Flask's own name.
    "SECRET_KEY_FALLBACKS": (parse_list, ()),
    "DATABASE_URL": (parse_str, None),
    "DEMO": (parse_bool, False),
    "STORE_NAME": (parse_str, "Touchpoint Store"),
    "STORE_CURRENCY": (parse_str, "USD"),
    "FREE_SHIPPING_THRESHOLD": (parse_int, 2500),
    "PAGE_SIZE": (parse_int, 12),
    "STRIPE_SECRET_KEY": (parse_str, "sk_test_localstripe"),
    "STRIPE_PUBLISHABLE_KEY": (parse_str, "pk_test_localstripe"),
    "STRIPE_WEBHOOK_SECRET": (parse_str, LOCALSTRIPE_WEBHOOK_SECRET),
    "STRIPE_API_BASE": (parse_str, LOCALSTRIPE_URL),
    "STRIPE_JS_URL": (parse_str, LOCALSTRIPE_URL + "/js.stripe.com/v3/"),
    "STRIPE_TIMEOUT": (parse_int, 10),
    "MAX_CONTENT_LENGTH": (parse_int, 1024 * 1024),  # bytes of a request body
    "SESSION_COOKIE_SECURE": (parse_bool, False),  # true behind HTTPS
    "ALSO_VIEWED_CACHE_SECONDS": (parse_int, 300),  # "customers also viewed", per product
    "TRUSTED_PROXIES": (parse_int, 0),  # proxies in front that set X-Forwarded-For/-Proto
    # Days a guest's checkout email is kept when no order came of it, and a cart reminder
    # in the outbox (`orders expire`).
    "CHECKOUT_CONTACT_DAYS": (parse_int, 30),
    "RETURN_DAYS": (parse_int, 30),  # days after delivery a buyer may ask to return lines
    # The store's public address, for the links in its messages (the outbox); unset: the
    # address the request that caused the message came to.
    "STORE_URL": (parse_str, None),
    # The mail server the outbox is sent through (`orders send-mail`): smtp://host:25,
    # smtp+tls://user:password@host:587 (STARTTLS) or smtps://user:password@host:465.
    # Unset: messages are recorded in the outbox, not sent. Checked at start (checkout.mail).
    "MAIL_URL": (parse_str, None),
    "MAIL_FROM": (parse_str, None),  # the sender, e.g. "Touchpoint Store <shop@example.com>"
    "MAIL_TIMEOUT": (parse_int, 10),  # seconds to wait for the mail server
    # Seconds after which a message the mail server would not take is no longer tried (a
    # three-day-old "out for delivery" is noise).
    "MAIL_MAX_AGE": (parse_int, 2 * 86400),
}


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Parse every known key present in ``environ``; raise ConfigError naming a bad one."""
    parsed: dict[str, Any] = {}
    for name, (parser, _default) in SETTINGS.items():
        if name not in environ:
            continue
        try:
            parsed[name] = parser(environ[name])
        except ValueError as exc:
            raise ConfigError(f"{name}={environ[name]!r} is not valid: {exc}") from None
    return parsed


def defaults() -> dict[str, Any]:
    return {name: default for name, (_parser, default) in SETTINGS.items()}


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling of the scheme was given (the tracker's
    rule, for the shop's database and the tracker's alike)."""
    return database_url(url)


def journeys_file_beside(path: str) -> str:
    """The tracker's SQLite file beside the shop's: ``shop.db`` -> ``shop-journeys.db``."""
    stem, ext = os.path.splitext(path)
    return f"{stem}-journeys{ext or '.db'}"


def journey_database_url(shop_url: str, instance_path: str) -> str | None:
    """On a SQLite file, the journey tracker's tables go in a file of their own beside it
    (``journeys_file_beside``); None elsewhere, and None for a shop file that already holds
    journeys (an install from before this default keeps them where they are, rather than
    start an empty file beside them). The tracker then shares the shop's database.

    Why a file of its own: SQLite lets one connection write a file at a time, so in the
    shop's file every journey batch, sweep or ``journey forget`` would make carts and orders
    wait for the write lock (tests/test_outage.py). ``flask db upgrade`` migrates both."""
    path = sqlite_file(shop_url, instance_path)
    if path is None or _holds_journeys(path):
        return None
    return make_url(shop_url).set(database=journeys_file_beside(path)).render_as_string(False)


def _holds_journeys(path: str) -> bool:
    if not os.path.exists(path):
        return False
    try:  # read-only: never creates or changes the file
        with contextlib.closing(sqlite3.connect(f"{Path(path).as_uri()}?mode=ro",
                                                   uri=True)) as conn:
            return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                                "AND name = 'journeys'").fetchone() is not None
    except sqlite3.Error:
        return False


def _uses_real_stripe(cfg: Mapping[str, Any]) -> bool:
    """Stripe itself, not localstripe: an API off this machine, or a live key."""
    host = urlsplit(cfg["STRIPE_API_BASE"]).hostname
    return host not in {"127.0.0.1", "localhost", "::1"} or \
        cfg["STRIPE_SECRET_KEY"].startswith(("sk_live_", "rk_live_"))


def load(app, test_config: Mapping[str, Any] | None) -> None:
    """Defaults, then the environment, then ``test_config``; then check what is mandatory."""
    app.config.from_mapping(defaults())
    app.config.update(from_environment(os.environ))
    if test_config:
        app.config.update(test_config)

    if not app.config["SECRET_KEY"]:
        if app.testing or app.config["DEMO"]:
            app.config["SECRET_KEY"] = "insecure-demo-key-" + ("test" if app.testing else "demo")
        else:
            raise ConfigError(
                "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random "
                "string (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`), "
                "or DEMO=true for a local demo."
            )

    elif (len(app.config["SECRET_KEY"]) < MIN_SECRET_KEY
          and not (app.testing or app.config["DEMO"])):
        # It signs the admin's session: a short or placeholder key ("...", "changeme") is
        # guessed offline from any one cookie, and the guesser is signed in as the owner.
        raise ConfigError(
            f"SECRET_KEY is {len(app.config['SECRET_KEY'])} characters long: a key that signs "
            f"sessions needs at least {MIN_SECRET_KEY} random ones (e.g. `python -c 'import "
            "secrets; print(secrets.token_hex(32))'`)."
        )

    short = [key for key in app.config.get("SECRET_KEY_FALLBACKS") or ()
             if len(key) < MIN_SECRET_KEY]
    if short and not (app.testing or app.config["DEMO"]):
        # Flask reads sessions signed with any of them: a short one forges the owner's too
        raise ConfigError(
            f"SECRET_KEY_FALLBACKS holds {len(short)} key(s) under {MIN_SECRET_KEY} "
            "characters: sessions signed with a short key can be forged by anyone, so what "
            "it signed cannot be kept; drop it (its sessions and links end)."
        )

    if not 0 <= app.config["RETURN_DAYS"] <= 3650:
        raise ConfigError(f"RETURN_DAYS={app.config['RETURN_DAYS']!r} is not valid: the days "
                          "after delivery a buyer may ask to return items, 0 (no returns) to "
                          "3650")
    if app.config["TRUSTED_PROXIES"] < 0:
        raise ConfigError(f"TRUSTED_PROXIES={app.config['TRUSTED_PROXIES']!r} is not valid: "
                          "the number of proxies in front of the app, 0 for none")
    if (app.config["STRIPE_WEBHOOK_SECRET"] in (LOCALSTRIPE_WEBHOOK_SECRET, "")
            and not (app.testing or app.config["DEMO"]) and _uses_real_stripe(app.config)):
        # Anyone could sign webhooks with the published default and mark orders paid.
        raise ConfigError(
            "STRIPE_WEBHOOK_SECRET is not set (or empty: every real webhook would be refused), "
            "and the default is localstripe's, which anyone can sign with. Set it to the "
            "signing secret (whsec_...) Stripe shows for the "
            "/stripe/webhook endpoint (`stripe listen` prints one), or DEMO=true for a local "
            "demo."
        )

    if not (app.testing or app.config["DEMO"] or _uses_real_stripe(app.config)):
        # Started, as a store must be able to be, but every checkout would pay a fake.
        log.warning("Payments go to localstripe at %s, the development fake: set "
                    "STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET and "
                    "STRIPE_API_BASE=https://api.stripe.com (README, Deploy)",
                    app.config["STRIPE_API_BASE"])

    store_url = app.config.get("STORE_URL")
    if store_url and not store_url.startswith(("https://", "http://")):
        raise ConfigError(f"STORE_URL={store_url!r} is not an address: give it with its "
                          "scheme, e.g. https://shop.example.com")
    url = app.config.get("SQLALCHEMY_DATABASE_URI") or app.config["DATABASE_URL"]
    if not url:
        # Only this default needs the instance folder made here (Flask-SQLAlchemy makes it
        # for a relative SQLite path, the tracker for its spool): elsewhere it may be
        # read-only (systemd's ProtectSystem=strict).
        os.makedirs(app.instance_path, exist_ok=True)
        url = "sqlite:///" + os.path.join(app.instance_path, "touchpoint.db")
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(url)
    apply_journey_defaults(app.config)  # the tracker's own precedence: config, environment
    if app.config["JOURNEY_DATABASE_URL"]:  # read as is by the migrations too
        app.config["JOURNEY_DATABASE_URL"] = normalise_database_url(
            app.config["JOURNEY_DATABASE_URL"])
    else:
        own = journey_database_url(app.config["SQLALCHEMY_DATABASE_URI"], app.instance_path)
        if own:
            app.config["JOURNEY_DATABASE_URL"] = own
    # hide_parameters: a failed statement's error (and so any log of it) shows its SQL but
    # not its values, which are shoppers' emails, names and addresses.
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS",
                          {"pool_pre_ping": True, "hide_parameters": True})
