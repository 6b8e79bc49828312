"""Two `flask db upgrade` at once on a fresh PostgreSQL database (two hosts deploying
together): migrations/env.py makes one wait for the other, and both succeed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import psycopg
import pytest

from .support import PG_ADMIN_URL, ROOT, STORE_SECRET_KEY

# `flask --app wsgi db upgrade`, after the app is built and at an agreed moment, so the two
# processes migrate at the same time instead of one finishing while the other imports.
UPGRADE_AT = """
import sys, time
from flask.cli import main
import wsgi  # noqa: F401 (builds the app now, so `main` only runs the command)
time.sleep(max(float(sys.argv[1]) - time.time(), 0))
sys.argv = ["flask", "--app", "wsgi", "db", "upgrade"]
main()
"""


@pytest.fixture
def scratch_postgres():
    """A fresh, empty PostgreSQL database for this test; dropped afterwards."""
    name = f"touchpoint_lock_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_upgrades_at_once_on_a_fresh_postgresql_both_succeed(scratch_postgres, tmp_path):
    env = {**os.environ, "DATABASE_URL": scratch_postgres, "SECRET_KEY": STORE_SECRET_KEY,
           "JOURNEY_SPOOL_DIR": str(tmp_path / "spool"), "JOURNEY_SWEEP_INTERVAL": "0"}
    env.pop("JOURNEY_DATABASE_URL", None)
    start_at = f"{time.time() + 5:.3f}"  # past both imports (about 1.5 s each)
    procs = [subprocess.Popen([sys.executable, "-c", UPGRADE_AT, start_at], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output
        assert "UniqueViolation" not in output
    with psycopg.connect(scratch_postgres) as conn:
        [(shop,)] = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        [(tracker,)] = conn.execute("SELECT version_num FROM journey_alembic_version").fetchall()
    assert shop == tracker, "both sides at head, recorded once each"
    assert shop == subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "heads"], cwd=ROOT, env=env,
        capture_output=True, text=True, check=True).stdout.split()[0]
