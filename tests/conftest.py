"""Fixtures: the app on SQLite and on PostgreSQL, localstripe, shoppers.

Every test that uses ``app`` runs once per database backend (``--db`` picks one). The
schema is built once per backend through the Alembic migrations (the only way the schema is
made); each test then gets empty tables: a copy of the migrated SQLite files (the shop's and
the tracker's beside it), or TRUNCATE on PostgreSQL, where they share one database.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from storefront.app import create_app
from storefront.config import journeys_file_beside
from storefront.extensions import db
from tracking.models import metadata as tracking_metadata

from .support import PG_ADMIN_URL, WEBHOOK_SECRET, Gunicorn, LocalStripe, Shopper

BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser):
    parser.addoption(
        "--db", choices=(*BACKENDS, "both"), default="both",
        help="database backend(s) for the app fixture (default: both)",
    )


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--db")
        backends = BACKENDS if chosen == "both" else (chosen,)
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory):
    server = LocalStripe(tmp_path_factory.mktemp("localstripe") / "localstripe.log")
    yield server
    server.stop()


def _config(url: str, stripe_server: LocalStripe, **extra) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "STRIPE_API_BASE": stripe_server.url,
        "STRIPE_JS_URL": stripe_server.url + "/js.stripe.com/v3/",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SERVER_NAME": None,
        "JOURNEY_SWEEP_INTERVAL": 0,
        "ALSO_VIEWED_CACHE_SECONDS": 0,  # each test sees the views it just made
        **extra,
    }


class PostgresDatabase:
    """A throw-away database on the local PostgreSQL server for this test session."""

    def __init__(self):
        self.name = f"touchpoint_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
        with admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}".replace("postgresql://", "postgresql+psycopg://", 1)

    def drop(self):
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database(backend, tmp_path_factory, localstripe):
    """A migrated, empty database for the backend; yields its SQLAlchemy URL."""
    if backend == "postgresql":
        try:
            pg = PostgresDatabase()
        except psycopg.OperationalError as exc:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {exc}")
            pytest.skip(f"PostgreSQL unreachable: {exc}")
        app = create_app(_config(pg.url, localstripe))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        app.extensions["journey"].close()  # its last connection folds the WAL into the file
        yield {"backend": backend, "url": pg.url}
        pg.drop()
    else:
        template = tmp_path_factory.mktemp("sqlite") / "template.db"
        app = create_app(_config(f"sqlite:///{template}", localstripe))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        app.extensions["journey"].close()  # its last connection folds the WAL into the file
        yield {"backend": backend, "url": f"sqlite:///{template}", "template": template}


def _empty_database(database, tmp_path) -> str:
    if database["backend"] == "sqlite":
        # The shop's file and, beside it, the tracker's (storefront.config.journey_database_url).
        template = database["template"]
        fresh = tmp_path / "shop.db"
        shutil.copyfile(template, fresh)
        shutil.copyfile(journeys_file_beside(str(template)), journeys_file_beside(str(fresh)))
        return f"sqlite:///{fresh}"
    return database["url"]


def _truncate_all(app) -> None:
    with app.app_context():
        names = [t.name for t in (*db.metadata.sorted_tables, *tracking_metadata.sorted_tables)]
        tables = ", ".join(f'"{name}"' for name in names)
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()


@pytest.fixture
def app_factory(database, localstripe, tmp_path):
    """Build apps on this test's empty database; extra config overrides the defaults."""
    url = _empty_database(database, tmp_path)
    made = []

    def make(**extra):
        extra.setdefault("JOURNEY_SPOOL_DIR", str(tmp_path / "journey-spool"))
        app = create_app(_config(url, localstripe, **extra))
        if not made and database["backend"] == "postgresql":
            _truncate_all(app)
        made.append(app)
        return app

    make.made = made
    yield make
    for app in made:
        app.extensions["journey"].close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def flush_journeys(app_factory):
    """Write every queued journey event of every app of this test (the CLI runner runs in
    whichever app context is current, so events may sit in another app's writer)."""

    def flush() -> None:
        for made in app_factory.made:
            made.extensions["journey"].writer.flush()

    return flush


@pytest.fixture
def cli(app):
    """Run a CLI command against ``app`` (not whichever app context a fixture pushed)."""

    def run(*args: str, input: str | None = None):
        with app.app_context():
            return app.test_cli_runner().invoke(args=list(args), input=input)

    return run


@pytest.fixture
def app(app_factory):
    return app_factory()


@pytest.fixture(autouse=True)
def _push_request_context():
    """Replace pytest-flask's: with ``app``'s context pushed for the whole test, every client
    request would reuse it and share one ``g`` (stale CSRF tokens, cached users), hiding
    exactly the app-context bugs a real server has."""


@pytest.fixture
def client(app):
    """A browser: its own cookie jar; no request context is kept after a request."""
    return app.test_client()


@pytest.fixture
def shop_db(app, app_factory):
    """Direct database access for a test, through a second app on the same database, so the
    test's context never leaks into the requests the client makes to ``app``."""
    inspector = app_factory()
    with inspector.test_request_context():
        yield db


@pytest.fixture
def shopper(client, localstripe):
    return Shopper(client, localstripe)


@pytest.fixture
def new_shopper(app, localstripe):
    """Another browser: a fresh client with its own cookies."""

    def make() -> Shopper:
        return Shopper(app.test_client(), localstripe)

    return make


@pytest.fixture
def catalog(shop_db):
    """The demo catalog (48 products, 8 categories) with no history; returns slug -> id."""
    from checkout.seed import seed_catalog
    from storefront.models import utcnow

    products = seed_catalog(utcnow())
    shop_db.session.commit()
    return {slug: p.id for slug, p in products.items()}


@pytest.fixture
def seeded(app, shop_db):
    """The whole demo store as `flask seed` makes it (fewer past orders, to stay quick)."""
    result = app.test_cli_runner().invoke(args=["seed", "--orders", "80"])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def gunicorn(app, shop_db, database, tmp_path):
    """Start gunicorn on this test's database (the SQLite copy, or PostgreSQL)."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    servers = []

    def start(**extra_env: str) -> Gunicorn:
        servers.append(Gunicorn(url, tmp_path, **extra_env))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
