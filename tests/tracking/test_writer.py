"""Where batches are written: on the request's own thread once its response is sent (the
default), or on the writer thread; and how after-response writing steps aside when the
database fails or is slow, or another thread is writing."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time

from sqlalchemy import func, select

from tracking.models import journey_events

from .conftest import make_bare_app

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}


def stored(app) -> int:
    with app.extensions["journey"].engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(journey_events))


def browse(client, n: int, *, close: bool = True) -> list:
    """n product pages; a WSGI server closes each response once it is sent (close=True)."""
    responses = []
    for i in range(n):
        response = client.get(f"/products/{i}", headers=BROWSER)
        assert response.status_code == 200
        if close:
            response.close()
        responses.append(response)
    return responses


@contextlib.contextmanager
def app_with(tmp_path, **config):
    """The bare app with these settings, its tracker state, and its writer closed after."""
    app, _ = make_bare_app(f"sqlite:///{tmp_path}/bare.db", JOURNEY_STRICT=True, **config)
    state = app.extensions["journey"]
    try:
        yield app, state
    finally:
        state.close()


def writer_threads(state) -> list[threading.Thread]:
    """The threads that write each batch from now on, in order."""
    threads, write = [], state.writer._write
    state.writer._write = lambda batch: (threads.append(threading.current_thread()),
                                         write(batch))[1]
    return threads


def test_a_due_batch_is_written_by_the_request_thread_once_its_response_is_closed(tmp_path):
    # A flush interval of an hour: the writer thread's timer never fires in this test, and
    # it leaves a backlog under two batches to the requests.
    with app_with(tmp_path, JOURNEY_BATCH_SIZE=4, JOURNEY_FLUSH_INTERVAL=3600) as (app, state):
        client = app.test_client()
        writers = writer_threads(state)
        pending = browse(client, 3, close=False)  # landing + 3 views: a batch of 4 is due
        assert stored(app) == 0 and state.writer.depth == 4, "nothing before the close"
        for response in pending:
            response.close()  # the server has sent it: now the thread writes
        assert stored(app) == 4 and state.writer.depth == 0
        browse(client, 4)
        assert stored(app) == 8
        assert writers and all(t is threading.current_thread() for t in writers), \
            "written on the request's thread, not the writer thread"


def test_events_that_waited_a_flush_interval_are_written_by_the_next_response(tmp_path):
    with app_with(tmp_path, JOURNEY_BATCH_SIZE=500, JOURNEY_FLUSH_INTERVAL=0.2) as (app, state):
        client = app.test_client()
        with state.writer._lock:  # hold the writer thread off while the events age
            browse(client, 1)
            time.sleep(0.3)
        assert state.writer.depth == 2
        browse(client, 1)  # its close finds landing + view overdue, and itself queued
        assert stored(app) == 3 and state.writer.depth == 0


def test_a_response_never_waits_for_another_writer(tmp_path):
    # Batches of 4: the 7 events below stay under the thread's backlog of two batches.
    with app_with(tmp_path, JOURNEY_BATCH_SIZE=4, JOURNEY_FLUSH_INTERVAL=3600) as (app, state):
        client = app.test_client()
        with state.writer._lock:  # another thread is writing
            started = time.perf_counter()
            browse(client, 5)
            assert time.perf_counter() - started < 5
            assert state.writer.depth == 6 and stored(app) == 0, "left for the next turn"
        browse(client, 1)
        assert stored(app) == 4 and state.writer.depth == 3, "one batch per response"
        state.writer.flush()
        assert stored(app) == 7


def test_a_failed_write_is_spooled_and_hands_writing_to_the_thread(tmp_path):
    (tmp_path / "gone").mkdir()
    with app_with(tmp_path, JOURNEY_BATCH_SIZE=2, JOURNEY_FLUSH_INTERVAL=3600) as (app, state):
        client = app.test_client()
        assert state.writer.inline()
        state._engine = None
        state.database_url = f"sqlite:///{tmp_path}/gone/missing/x.db"  # cannot be opened
        responses = browse(client, 1)
        assert responses[0].status_code == 200, "the shopper got the page regardless"
        # (the writer thread may be retrying the spool just now: count, don't look)
        assert state.registry.get_sample_value("tracking_events_spooled_total") == 2, \
            "the batch waits on disk"
        assert not state.writer.inline(), "requests leave the failing database alone"
        assert state.writer.running


def stored_products(app) -> list[str]:
    with app.extensions["journey"].engine.connect() as conn:
        return list(conn.scalars(select(journey_events.c.product_id)
                                 .where(journey_events.c.touchpoint == "product_view")
                                 .order_by(journey_events.c.id)))


def test_a_batch_the_locked_database_cannot_take_waits_for_the_next_response(tmp_path):
    # Another worker is writing its batch (SQLite: one write lock for the whole database).
    # The request thread does not wait for the lock, nor spool, nor hand its writing over:
    # the batch goes back to the head of the queue, and the next response writes it first.
    db = tmp_path / "bare.db"
    with app_with(tmp_path, JOURNEY_BATCH_SIZE=2, JOURNEY_FLUSH_INTERVAL=3600) as (app, state):
        client = app.test_client()
        browse(client, 1)  # landing + product 0
        assert stored(app) == 2
        other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        try:
            other.execute("BEGIN IMMEDIATE")
            client.get("/products/1", headers=BROWSER).close()
            client.get("/products/2", headers=BROWSER).close()  # due: tried, locked out
            assert stored(app) == 2 and state.writer.depth == 2, "queued, not written"
            assert not state.registry.get_sample_value("tracking_events_spooled_total")
            assert state.writer.inline(), "the next response writes as usual"
            other.execute("COMMIT")
        finally:
            other.close()
        client.get("/products/3", headers=BROWSER).close()
        assert stored_products(app) == ["0", "1", "2"], "the batch that waited went first"
        assert state.writer.depth == 1
        state.writer.flush()
        assert stored_products(app) == ["0", "1", "2", "3"]
        assert state.registry.get_sample_value("tracking_events_dropped_total",
                                               {"reason": "error"}) in (None, 0.0)
        with state.engine.connect() as conn:  # the writer thread's long wait is back
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_a_long_held_lock_is_the_writer_threads_to_wait_out(tmp_path):
    # Another process holds the lock for seconds: each response tries once and leaves its
    # batch queued; the backlog is then the writer thread's, which waits for the lock.
    db = tmp_path / "bare.db"
    with app_with(tmp_path, JOURNEY_BATCH_SIZE=2, JOURNEY_FLUSH_INTERVAL=0.2) as (app, state):
        client = app.test_client()
        browse(client, 1)
        assert stored(app) == 2
        other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(2, lambda: other.execute("COMMIT"))
        release.start()
        try:
            browse(client, 6)
            assert stored(app) == 2, "nothing got past the lock"
        finally:
            release.join()
            other.close()
        deadline = time.monotonic() + 10
        while stored(app) < 8 and time.monotonic() < deadline:  # the thread, not a flush
            time.sleep(0.05)
        assert stored(app) == 8
        assert not state.registry.get_sample_value("tracking_events_spooled_total")


def test_with_after_response_writing_off_the_thread_writes_everything(tmp_path):
    with app_with(tmp_path, JOURNEY_BATCH_SIZE=2, JOURNEY_FLUSH_INTERVAL=0.05,
                  JOURNEY_WRITE_AFTER_RESPONSE=False) as (app, state):
        client = app.test_client()
        writers = writer_threads(state)
        browse(client, 5)
        deadline = time.monotonic() + 10
        while stored(app) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored(app) == 6
        assert writers and all(t.name == "journey-writer" for t in writers)


def test_a_commit_after_a_response_leaves_the_checkpoint_to_the_writer_thread(tmp_path):
    """SQLite's automatic checkpoint syncs the WAL and the database to disk inside the
    commit that fills the WAL past 1000 pages; on a request thread the worker's next request
    would wait for it. A request thread's commit skips it, its connection goes back to the
    pool with automatic checkpoints on, and the writer thread's checkpoint folds the WAL."""
    from tracking.extension import WAL_CHECKPOINT_BYTES, _on_a_request_thread

    database = tmp_path / "bare.db"
    wal = tmp_path / "bare.db-wal"
    with app_with(tmp_path) as (_app, state):
        before = database.stat().st_size
        with state.engine.begin() as conn:
            _on_a_request_thread(conn)
            conn.exec_driver_sql("CREATE TABLE scratch (b BLOB)")
            conn.exec_driver_sql("INSERT INTO scratch VALUES (zeroblob(6000000))")
        assert wal.stat().st_size > WAL_CHECKPOINT_BYTES
        assert database.stat().st_size - before < 100_000, "nothing checkpointed yet"
        with state.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert state.checkpoint(), "the writer thread's housekeeping checkpoints"
        assert database.stat().st_size - before > 6_000_000
        # The next commit restarts the WAL, cut back to 1 MiB: nothing left to fold, and
        # the file's size says so.
        with state.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO scratch VALUES (x'00')")
        assert wal.stat().st_size <= 1024 * 1024
        assert not state.checkpoint()


def test_the_writer_thread_runs_the_databases_housekeeping(tmp_path):
    with app_with(tmp_path, JOURNEY_FLUSH_INTERVAL=0.05) as (app, state):
        calls = []
        state.writer._maintain = lambda: calls.append(threading.current_thread())
        app.test_client().get("/", headers=BROWSER)  # the first event starts the thread
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(calls) >= 2 and all(t.name == "journey-writer" for t in calls)


def test_the_wal_is_found_as_sqlite_names_the_database(tmp_path, monkeypatch):
    """A relative path or a file: URI must still name the WAL the writer thread checkpoints
    (a wrong name would leave requests' commits skipping the checkpoint, and the WAL growing
    without end); in memory there is none, and requests' commits checkpoint as usual."""
    from .conftest import make_bare_app

    monkeypatch.chdir(tmp_path)
    for url, wal in (("sqlite:///relative.db", tmp_path / "relative.db-wal"),
                     (f"sqlite:///file:{tmp_path}/uri.db?mode=rwc&uri=true",
                      tmp_path / "uri.db-wal")):
        app, _ = make_bare_app(url, JOURNEY_SPOOL_DIR=str(tmp_path / "spool"))
        state = app.extensions["journey"]
        assert state._wal_path() == str(wal)
        state.close()
    app, _ = make_bare_app("sqlite://", JOURNEY_SPOOL_DIR=str(tmp_path / "spool"))
    state = app.extensions["journey"]
    assert state._wal_path() is None and state.checkpoint() is False
    state.close()


def test_a_writer_thread_that_died_is_started_again_by_the_next_event(tmp_path):
    with app_with(tmp_path, JOURNEY_WRITE_AFTER_RESPONSE=False,
                  JOURNEY_FLUSH_INTERVAL=0.05) as (app, state):
        client = app.test_client()
        browse(client, 1)
        first = state.writer._thread
        assert first is not None and first.is_alive()
        state.writer._stopping.set()  # the thread ends, as one killed by anything would
        state.writer._wake.set()
        first.join(5)
        assert not first.is_alive() and state.writer.health() == "dead"
        state.writer._stopping.clear()
        browse(client, 2)
        assert state.writer._thread is not first and state.writer._thread.is_alive()
        assert state.writer.health() == "running"
        deadline = time.monotonic() + 5
        while stored(app) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stored(app) == 4, "the new thread writes what came after"


def test_a_forked_worker_writes_its_events_with_a_thread_and_connections_of_its_own(tmp_path):
    # gunicorn forks workers from a master: the parent's writer thread does not exist in
    # the child, and the child's first event must start the child's own, not queue for a
    # thread that is not there (the request path asks a flag that the fork clears); nor may
    # the child use the database connections its parent opened (SQLite's rule for a fork).
    with app_with(tmp_path, JOURNEY_WRITE_AFTER_RESPONSE=False,
                  JOURNEY_FLUSH_INTERVAL=0.05) as (app, state):
        browse(app.test_client(), 1)  # a new visitor: landing + product view
        state.writer.flush()
        assert not state.writer._thread_missing() and stored(app) == 2
        assert state.engine.pool.checkedin() >= 1
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: a new visitor's page, written by its own thread
            report = "the child did not finish"
            try:
                inherited = state.engine.pool.checkedin()
                missing = state.writer._thread_missing()
                browse(app.test_client(), 1)
                deadline = time.monotonic() + 10
                while stored(app) < 4 and time.monotonic() < deadline:
                    time.sleep(0.02)
                thread = state.writer._thread
                report = repr((inherited, missing, stored(app),
                               thread is not None and thread.is_alive()))
            finally:
                os.write(write, report.encode())
                os._exit(0)
        os.close(write)
        deadline = time.monotonic() + 30
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:  # never hang the suite on a stuck child
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise AssertionError("the forked worker did not finish in 30 s")
            time.sleep(0.05)
        with os.fdopen(read) as f:
            assert f.read() == repr((0, True, 4, True))
        assert state.writer._thread.is_alive() and stored(app) == 4


def test_a_fork_that_ran_no_fork_hooks_is_found_by_the_first_due_batch(tmp_path):
    # A child forked from C code that skips Python's fork hooks keeps its parent's "thread
    # alive" flag. The first batch due after a response finds the process changed and
    # starts this process's own queue and thread; what was queued before is left behind
    # (the parent's to write), and every later event is written.
    with app_with(tmp_path, JOURNEY_BATCH_SIZE=2, JOURNEY_FLUSH_INTERVAL=3600) as (app, state):
        client = app.test_client()
        browse(client, 1)  # landing + product view: a batch, written after the response
        assert stored(app) == 2 and not state.writer._thread_missing()
        state.writer._pid = -1  # as if this process were such a child
        browse(client, 2)  # a batch due after the second page: its close finds the fork
        assert state.writer._pid == os.getpid() and state.writer.depth == 0
        assert not state.writer._thread_missing() and state.writer._thread.is_alive()
        browse(client, 1)
        state.writer.flush()
        assert stored(app) == 3  # the page after the reset; the two before were left


def test_a_request_thread_never_opens_a_database_connection(tmp_path):
    """A database server that accepts and never answers: a request thread writing after its
    response would wait out the connect timeout (5 s) before the worker's next shopper. It
    writes only on a connection the pool holds open; else the batch goes back to the
    queue, untouched, for the writer thread."""
    import socket

    silent = socket.create_server(("127.0.0.1", 0))
    silent.setblocking(False)
    port = silent.getsockname()[1]
    try:
        with app_with(tmp_path, JOURNEY_BATCH_SIZE=2, JOURNEY_FLUSH_INTERVAL=3600) as (app, state):
            client = app.test_client()
            state._wal_path()  # known: the thread's housekeeping never opens the new URL
            state._engine = None
            state.database_url = f"postgresql+psycopg://shop@127.0.0.1:{port}/shop"
            started = time.monotonic()
            browse(client, 1)  # landing + view: a batch due at the response's close
            assert time.monotonic() - started < 2, "the request thread did not connect"
            assert state.writer.depth == 2, "the batch is back in the queue"
            assert state.writer.inline(), "nothing failed: later responses still write"
            with contextlib.suppress(BlockingIOError):
                silent.accept()
                raise AssertionError("a request thread opened a connection")
            assert state.registry.get_sample_value("tracking_events_spooled_total") == 0
            state._engine, state.database_url = None, f"sqlite:///{tmp_path}/bare.db"
            state.writer.flush()
            assert stored(app) == 2, "nothing lost"
    finally:
        silent.close()
