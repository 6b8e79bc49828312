"""The schema is made only by the migrations, and they agree with the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from storefront.extensions import db
from tracking.models import metadata as tracking_metadata


def test_models_and_migrations_agree(app, backend):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(context, [db.metadata, tracking_metadata])
    assert diff == [], f"models and migrations differ on {backend}: {diff}"


def test_db_upgrade_builds_the_schema_on_an_empty_database(app_factory, backend, tmp_path):
    if backend == "sqlite":
        app = app_factory(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/empty.db")
    else:
        app = app_factory()
        with app.app_context():
            db.session.execute(db.text("DROP SCHEMA public CASCADE"))
            db.session.execute(db.text("CREATE SCHEMA public"))
            db.session.commit()
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    expected = {t.name for t in db.metadata.sorted_tables} | {"alembic_version", "journeys",
                                                               "journey_events"}
    assert expected <= tables
