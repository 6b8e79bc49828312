"""The schema is made only by the migrations, and they agree with the models, on the shop's
database and on the tracker's, whether the two are one database or two."""

import shutil
import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from storefront.app import MIGRATIONS
from storefront.extensions import db
from tracking.models import metadata as tracking_metadata

SHOP_ONLY = {"alembic_version"}
TRACKER_ONLY = {"journey_alembic_version"}


def _diff(engine, metadata, include_name):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "compare_server_default": True, "include_name": include_name})
        return compare_metadata(context, metadata)


def _tables(engine) -> set[str]:
    with engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def test_models_and_migrations_agree(app, backend):
    theirs = set(tracking_metadata.tables)
    with app.app_context():
        shop = _diff(db.engine, db.metadata,
                     lambda name, type_, _p: type_ != "table" or name not in theirs | TRACKER_ONLY)
        tracker = _diff(app.extensions["journey"].engine, tracking_metadata,
                        lambda name, type_, _p: type_ != "table" or name in theirs)
    assert shop == [], f"the shop's models and migrations differ on {backend}: {shop}"
    assert tracker == [], f"the tracker's models and migrations differ on {backend}: {tracker}"


def test_on_sqlite_the_tracker_has_a_file_of_its_own(app_factory, backend, tmp_path):
    if backend != "sqlite":
        pytest.skip("PostgreSQL: the shop and the tracker share one database")
    app = app_factory(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/store.db")
    assert app.config["JOURNEY_DATABASE_URL"] == f"sqlite:///{tmp_path}/store-journeys.db"
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        shop, tracker = _tables(db.engine), _tables(app.extensions["journey"].engine)
    assert shop == {t.name for t in db.metadata.sorted_tables} | SHOP_ONLY
    assert tracker == set(tracking_metadata.tables) | TRACKER_ONLY


def test_db_upgrade_builds_both_schemas_in_one_database(app_factory, backend, tmp_path):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/empty.db"
        app = app_factory(SQLALCHEMY_DATABASE_URI=url, JOURNEY_DATABASE_URL=url)
    else:
        app = app_factory()
        with app.app_context():
            db.session.execute(db.text("DROP SCHEMA public CASCADE"))
            db.session.execute(db.text("CREATE SCHEMA public"))
            db.session.commit()
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        tables = _tables(db.engine)
    assert tables == ({t.name for t in db.metadata.sorted_tables} | set(tracking_metadata.tables)
                      | SHOP_ONLY | TRACKER_ONLY)


@pytest.mark.parametrize("shop_at", [
    "6a1f0c3e9b27",  # 0006: the tracker's tables were migrated with it
    "9c6a0d16670e",  # 0008: the shop's side moved on without them (its 0008 side is empty)
])
def test_a_database_migrated_before_the_tracker_had_its_own_revision_is_adopted(
        app_factory, backend, tmp_path, shop_at):
    """Revisions up to 0007 made the tracker's tables in the shop's database under the
    shop's revision alone. With the default settings such a file keeps its journeys (no
    empty file beside it), and the upgrade stamps the tracker's side at the shop's revision,
    or at 0007 if the shop's has moved past it, instead of making its tables again; its
    later revisions then run, and the journeys stored stay."""
    if backend != "sqlite":
        pytest.skip("the adoption is the same SQL on both; SQLite is enough")
    url = f"sqlite:///{tmp_path}/old.db"
    before = app_factory(SQLALCHEMY_DATABASE_URI=url, JOURNEY_DATABASE_URL=url)
    to = "6a1f0c3e9b27" if shop_at == "6a1f0c3e9b27" else "7b2d4e6f8a10"
    assert before.test_cli_runner().invoke(args=["db", "upgrade", to]).exit_code == 0
    before.extensions["journey"].close()
    with sqlite3.connect(tmp_path / "old.db") as conn:  # as a database from before looked
        conn.execute("DROP TABLE journey_alembic_version")
        conn.execute("UPDATE alembic_version SET version_num = ?", (shop_at,))
        conn.execute("INSERT INTO journeys (id, stage, stage_rank, status, started_at, "
                     "last_seen_at, last_touchpoint, sessions, events) VALUES ('j1', 'landing', "
                     "0, 'active', '2026-01-01', '2026-01-01', 'landing', 1, 1)")

    app = app_factory(SQLALCHEMY_DATABASE_URI=url)  # the default: no JOURNEY_DATABASE_URL
    assert app.extensions["journey"].database_url == url, "its journeys stay where they are"
    assert app.test_cli_runner().invoke(args=["db", "current"]).exit_code == 0
    with sqlite3.connect(tmp_path / "old.db") as conn:
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = "
                                "'journey_alembic_version'").fetchall(), "current only reads"
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "old-journeys.db").exists()
    with sqlite3.connect(tmp_path / "old.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == \
            conn.execute("SELECT version_num FROM journey_alembic_version").fetchall()
        assert conn.execute("SELECT id FROM journeys").fetchall() == [("j1",)]
        assert conn.execute("SELECT count(*) FROM admin_actions").fetchone() == (0,)  # 0007
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE "
                                              "tbl_name = 'journey_events' AND type = 'index'")}
        assert "ix_journey_events_order_ref" not in indexes, "0008's side for the tracker ran"
        assert "ix_journey_events_journey_id" in indexes


def test_autogenerate_finds_nothing_to_do_on_either_side(app_factory, backend, tmp_path):
    """`flask db migrate` on an up-to-date schema writes no revision (each side compares
    only its own tables, so neither proposes to drop the other's)."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL's side is checked by test_models_and_migrations_agree")
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, directory, ignore=shutil.ignore_patterns("__pycache__"))
    app = app_factory(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/store.db")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "-d", str(directory)]).exit_code == 0
    before = sorted(p.name for p in (directory / "versions").glob("*.py"))
    result = runner.invoke(args=["db", "migrate", "-d", str(directory), "-m", "nothing"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (directory / "versions").glob("*.py")) == before
