"""The tracker's database goes down in the middle of traffic: the store keeps selling, events
wait in the spool, and when PostgreSQL is back every touchpoint is stored exactly once."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import func, make_url, select

from checkout.models import Order
from storefront.extensions import db
from tracking.models import journey_events

from . import factories
from .support import CARD_OK, Shopper, free_port


class PrivatePostgres:
    """A PostgreSQL server of our own (initdb in a temp dir), so stopping it harms nobody."""

    def __init__(self, root: Path):
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not versions or os.geteuid() != 0 or shutil.which("runuser") is None:
            raise RuntimeError("needs Debian's PostgreSQL binaries and root (to run as postgres)")
        self.bin = versions[-1].parent
        self.data = root / "pgdata"
        self.sockets = root / "sockets"
        for path in (self.data, self.sockets):
            path.mkdir()
            shutil.chown(path, "postgres", "postgres")
        shutil.chown(root, "postgres", "postgres")
        self.port = free_port()
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / tool), *args],
                       check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-o",
                          f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1",
                          "-l", str(self.data / "server.log"), "start")

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", "fast",
                          "stop")


@pytest.fixture
def tracker_postgres(backend):
    if backend != "sqlite":
        pytest.skip("the shop's own database is not the point here: run once")
    # Not under pytest's temp dir: that one is root's, 0700, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="touchpoint-pg-"))
    try:
        server = PrivatePostgres(root)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot run a private PostgreSQL: {exc}")
        pytest.skip(f"cannot run a private PostgreSQL: {exc}")
    server.start()
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):
        server.stop()
    shutil.rmtree(root, ignore_errors=True)


def shoppers_browse(app, localstripe, product, n: int) -> list[Shopper]:
    shoppers = [Shopper(app.test_client(), localstripe) for _ in range(n)]
    for s in shoppers:
        assert s.client.get(f"/p/{product.slug}").status_code == 200
        assert s.add_to_cart(product.id).status_code == 302
    return shoppers


def test_postgres_down_and_back_loses_nothing_and_stores_once(
        app_factory, localstripe, shop_db, tracker_postgres, touchpoints):
    app = app_factory(JOURNEY_DATABASE_URL=tracker_postgres.url, JOURNEY_STRICT=False)
    journey = app.extensions["journey"]
    with app.app_context():
        journey.tracker.create_all()
    mug = factories.product("Mug", price=1500, stock=100)

    shoppers_browse(app, localstripe, mug, 5)
    journey.writer.flush()

    tracker_postgres.stop()
    during = shoppers_browse(app, localstripe, mug, 5)
    buyer = during[0]
    buyer.to_payment()
    assert buyer.pay(CARD_OK).get_json()["status"] == "succeeded", "the store kept selling"
    journey.writer.flush(timeout=5)
    assert journey.spool.pending(), "events wait on disk while the database is down"
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1

    tracker_postgres.start()
    journey.writer.flush()
    assert not journey.spool.pending()
    stored = [e for e in touchpoints.events if e.stored]
    with journey.engine.connect() as conn:
        rows = conn.execute(select(journey_events.c.event_id)).scalars().all()
    assert sorted(rows) == sorted(e.event_id for e in stored), "every event, exactly once"
    # All ten shoppers' views, five made before the outage and five during it.
    assert [e.touchpoint for e in stored].count("product_view") == 10

    journey.writer.flush()  # replaying again changes nothing
    with journey.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(journey_events)).scalar() == \
            len(stored)


def test_a_tracker_transaction_holding_its_sqlite_file_does_not_hold_up_the_shop(
        app, localstripe, shop_db, backend):
    """SQLite lets one connection write a file at a time. The tracker's tables have a file of
    their own, so a long tracker transaction (a sweep of many journeys, `journey forget`, a
    batch stuck on a slow disk) never makes a cart or an order wait for the write lock —
    sharing the shop's file, this checkout would wait 30 s for it and then fail."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL locks rows, not the database")
    journey = app.extensions["journey"]
    mug = factories.product("Mug", price=1500, stock=10)
    tracker_file = make_url(app.config["JOURNEY_DATABASE_URL"]).database
    assert tracker_file != make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database
    holder = sqlite3.connect(tracker_file, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # the tracker's write lock, held by someone else
    try:
        buyer = Shopper(app.test_client(), localstripe)
        assert buyer.client.get(f"/p/{mug.slug}").status_code == 200
        assert buyer.add_to_cart(mug.id).status_code == 302
        buyer.to_payment()
        assert buyer.pay(CARD_OK).get_json()["status"] == "succeeded"
        assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    journey.writer.flush()
    with journey.engine.connect() as conn:
        touchpoints = set(conn.execute(select(journey_events.c.touchpoint)).scalars())
    assert {"product_view", "add_to_cart", "purchase"} <= touchpoints
