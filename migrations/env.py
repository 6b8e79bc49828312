"""Alembic (through Flask-Migrate) over two databases: the shop's and the journey tracker's.

One migration history; every revision has a pair of functions per database
(``upgrade_shop``/``upgrade_journeys``), and ``flask db upgrade`` runs the shop's side on
the shop's database and the tracker's side where ``JOURNEY_DATABASE_URL`` points. On a
SQLite file the store gives the tracker a file of its own (storefront/config.py says why);
elsewhere the two usually share one database, and both sides then run there.

Each database records its own revision: ``alembic_version`` for the shop's tables,
``journey_alembic_version`` for the tracker's (in one database when they share it).
Autogenerate compares each side with its own tables only, so the shop's side never
proposes to drop the tracker's tables, nor the other way round; a tracker table removed
from the models needs its drop written by hand.
"""

import logging
from contextlib import ExitStack, contextmanager
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import inspect, make_url, text

config = context.config
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

SHOP, JOURNEYS = "shop", "journeys"
VERSION_TABLES = {SHOP: "alembic_version", JOURNEYS: "journey_alembic_version"}


def _sides():
    """name -> (engine, metadata, include_name) for the shop and the tracker."""
    from tracking.models import metadata as tracking_metadata

    shop_db = current_app.extensions["migrate"].db
    shop_engine = shop_db.engine
    tracker = current_app.extensions["journey"]
    shared = not tracker.database_url or make_url(tracker.database_url) == shop_engine.url
    journey_engine = shop_engine if shared else tracker.engine
    theirs = set(tracking_metadata.tables) | {VERSION_TABLES[JOURNEYS]}

    def shop_tables(name, type_, parent_names):
        return type_ != "table" or name not in theirs

    def journey_tables(name, type_, parent_names):
        return type_ != "table" or name in tracking_metadata.tables

    return {
        SHOP: (shop_engine, shop_db.metadatas[None], shop_tables),
        JOURNEYS: (journey_engine, tracking_metadata, journey_tables),
    }, shared


# The last revision under which the shop's side made and changed the tracker's tables too,
# with no record of its own for them (0007): tables found without that record were last
# migrated at or before it.
LAST_UNRECORDED = "7b2d4e6f8a10"


def _adopted_revision(connection):
    """The revision the tracker's tables are at when they were made in the shop's database
    by revisions that recorded only the shop's (up to 0007): the shop's revision, or 0007
    if the shop's side has moved on since. The tracker's side is stamped with it, and its
    later revisions then run. None when there is nothing to adopt."""
    names = set(inspect(connection).get_table_names())
    if VERSION_TABLES[JOURNEYS] in names or "journeys" not in names:
        return None
    if VERSION_TABLES[SHOP] not in names:
        raise RuntimeError(
            "The tracker's database has journey tables but no record of their revision "
            f"({VERSION_TABLES[JOURNEYS]}); stamp it with `flask db stamp` once you know "
            "which revision they are at."
        )
    shop = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLES[SHOP]}")).scalar()
    unrecorded = {r.revision for r in context.script.walk_revisions("base", LAST_UNRECORDED)}
    return shop if shop in unrecorded else LAST_UNRECORDED


def _moves_revisions() -> bool:
    """Whether this command moves revisions (upgrade, downgrade, stamp: they name one). Only
    those adopt; `current`, `check` and autogenerate leave the database as it is."""
    try:
        context.get_revision_argument()
    except KeyError:
        return False
    return True


def _warn_of_left_behind_journeys(shop_engine) -> None:
    with shop_engine.connect() as connection:
        if "journeys" in inspect(connection).get_table_names():
            logger.warning(
                "The shop's database still holds journey tables from before the tracker had "
                "a database of its own; the tracker now uses JOURNEY_DATABASE_URL. To keep "
                "using the old ones, set JOURNEY_DATABASE_URL to the shop's database URL.")


def process_revision_directives(context_, revision, directives):
    # No empty revision from `flask db migrate` when neither side changed. Called once per
    # side, with the operations found so far: decide once both sides are in.
    if getattr(config.cmd_opts, "autogenerate", False):
        script = directives[0]
        if len(script.upgrade_ops_list) >= len(VERSION_TABLES) and all(
                ops.is_empty() for ops in script.upgrade_ops_list):
            directives[:] = []
            logger.info("No changes in schema detected.")


def _configure_args(name: str, metadata, include_name) -> dict:
    args = dict(current_app.extensions["migrate"].configure_args)
    args.setdefault("process_revision_directives", process_revision_directives)
    return {
        **args,
        "target_metadata": metadata,
        "include_name": include_name,
        "version_table": VERSION_TABLES[name],
        "upgrade_token": f"{name}_upgrades",
        "downgrade_token": f"{name}_downgrades",
    }


def run_migrations_offline():
    """`flask db upgrade --sql`: the shop's SQL, then the tracker's."""
    sides, _shared = _sides()
    for name, (engine, metadata, include_name) in sides.items():
        logger.info("Migrating the %s database (SQL only)", name)
        context.configure(url=engine.url.render_as_string(False), literal_binds=True,
                          **_configure_args(name, metadata, include_name))
        context.get_context().impl.static_output(
            f"-- The {name} database ({engine.url.render_as_string(True)}); a database "
            "migrated before the two histories: `flask db stamp` its side first.\n")
        with context.begin_transaction():
            context.run_migrations(engine_name=name)


# pg_advisory_lock's keys for "this side is being migrated" (fixed bigints: "tpmigra" and
# a side letter). One per side: when the tracker's URL names the shop's database in other
# words, one key taken on two connections would wait on itself.
MIGRATION_LOCK_KEYS = {SHOP: 0x74706D6967726173, JOURNEYS: 0x74706D696772616A}


@contextmanager
def _migration_lock(engine, key: int):
    """Hold PostgreSQL's advisory lock while migrating, so two hosts upgrading at once take
    turns (else both create alembic_version and one fails on a unique violation). On its own
    autocommit connection: a session lock, released at the end or when the process dies.
    A no-op on other databases (SQLite serialises writers itself)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def _unreachable_journeys(sides, shared) -> bool:
    """``flask db upgrade -x journeys=optional`` (the systemd unit's): the tracker's own
    database not answering leaves its side for the next upgrade instead of failing the
    shop's. The store then starts and sells; its events wait in the spool (a database that
    answers again with an older schema refuses them as a database fault, not as bad data,
    so they stay there until the upgrade that follows)."""
    if shared or context.get_x_argument(as_dictionary=True).get("journeys") != "optional":
        return False
    try:
        with sides[JOURNEYS][0].connect():
            return False
    except Exception as exc:  # noqa: BLE001 - whatever keeps it from answering
        logger.warning("The tracker's database does not answer (%s): its side is left for "
                       "the next `flask db upgrade`; journeys wait in the spool meanwhile.",
                       type(exc).__name__)
        return True


def run_migrations_online():
    sides, shared = _sides()
    if _unreachable_journeys(sides, shared):
        sides.pop(JOURNEYS)
        shared = True  # nothing of the tracker's to warn about either
    shop_engine = sides[SHOP][0]
    journey_engine = sides[JOURNEYS][0] if JOURNEYS in sides else shop_engine
    with ExitStack() as locks:
        # Advisory locks are per database: one on each, always the shop's first.
        locks.enter_context(_migration_lock(shop_engine, MIGRATION_LOCK_KEYS[SHOP]))
        if journey_engine is not shop_engine:
            locks.enter_context(_migration_lock(journey_engine, MIGRATION_LOCK_KEYS[JOURNEYS]))
        adopted = None
        if JOURNEYS in sides and _moves_revisions():
            with journey_engine.connect() as connection:
                adopted = _adopted_revision(connection)
        # One side after the other, each committed before the next begins: when they share
        # one SQLite file, two open write transactions would wait on each other.
        for name, (engine, metadata, include_name) in sides.items():
            with engine.connect() as connection:
                context.configure(connection=connection,
                                  **_configure_args(name, metadata, include_name))
                if name == JOURNEYS and adopted is not None:
                    logger.info("Stamping the tracker's tables at %s, the shop's revision "
                                "they were made under", adopted)
                    context.get_context().stamp(context.script, adopted)
                with context.begin_transaction():
                    context.run_migrations(engine_name=name)
                connection.commit()
    if not shared:
        _warn_of_left_behind_journeys(shop_engine)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
