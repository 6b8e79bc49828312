"""Ids: time-ordered, and unique across the worker processes a server forks."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tracking.events import Event, touchpoint_tracked
from tracking.extension import utcnow
from tracking.models import journey_events
from tracking.visitor import new_event_id, new_id

from ..support import in_forked_child


def test_event_ids_differ_between_a_process_and_its_forked_worker():
    before = new_event_id()
    child = in_forked_child(new_event_id)
    parent = new_event_id()
    assert child[12:] != parent[12:], "a forked worker reseeds its random stream"
    assert before[:12] <= child[:12] and before[:12] <= parent[:12], "time-ordered"
    for made in (before, child, parent, new_id()):
        assert len(made) == 32 and int(made, 16) >= 0


def test_a_host_seeding_random_does_not_make_event_ids_repeat():
    """A host app or a test plugin calling random.seed() must not replay event ids: a
    repeated id is a replay to the writer, and the event would be skipped."""
    random.seed(1234)
    first = [new_event_id()[12:] for _ in range(3)]
    random.seed(1234)
    again = [new_event_id()[12:] for _ in range(3)]
    assert not set(first) & set(again)


def test_visitor_ids_differ_between_a_process_and_its_forked_worker():
    """Visitor, journey and session ids come from os.urandom bytes read ahead: a worker
    forked after its master read some must not hand out the master's next bytes."""
    new_id()  # the master has read a block and holds the rest of it
    child = in_forked_child(new_id)
    parent = new_id()
    assert child[12:] != parent[12:]


def test_ids_made_on_many_threads_are_all_distinct():
    import threading

    made: list[str] = []

    def make():
        mine = [new_id() for _ in range(2000)]  # several 4 KiB reads each
        made.extend(mine)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(made) == 8000
    assert len({m[12:] for m in made}) == 8000


def test_an_events_id_and_times_are_made_once_and_are_what_is_stored(bare):
    """track() leaves an event's id and datetimes to be made when first read (by the writer,
    in its batch). Whoever reads them first — the caller, a touchpoint_tracked receiver —
    fixes them: the row stored has that id and that time, and the id is time-ordered."""
    app, journey = bare
    received = []

    def receiver(_sender, event):
        received.append((event, event.event_id, event.occurred_at))

    returned = {}

    @app.get("/lazy-ids")
    def lazy_ids():
        returned["read"] = journey.track("product_view", product_id="1")
        returned["unread"] = journey.track("product_view", product_id="2")
        returned["id"], returned["at"] = returned["read"].event_id, returned["read"].occurred_at
        return "<h1>ok</h1>"

    before = utcnow()
    client = app.test_client()
    browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
    with touchpoint_tracked.connected_to(receiver):
        assert client.get("/lazy-ids", headers=browser).status_code == 200
    app.extensions["journey"].writer.flush()
    with app.extensions["journey"].engine.connect() as conn:
        stored = {r.product_id: r for r in conn.execute(
            select(journey_events).where(journey_events.c.touchpoint == "product_view"))}
    read, unread = returned["read"], returned["unread"]
    assert read.event_id == returned["id"] == stored["1"].event_id, "read once, fixed"
    assert read.occurred_at == returned["at"] == stored["1"].occurred_at
    assert unread.event_id == stored["2"].event_id and unread.occurred_at == stored["2"].occurred_at
    assert [r[1] for r in received if r[0] is read] == [read.event_id]
    assert before - timedelta(seconds=1) <= read.occurred_at <= utcnow()
    assert isinstance(read.journey_started_at, datetime)
    assert read.journey_started_at <= read.occurred_at
    ms = int(read.occurred_at.replace(tzinfo=UTC).timestamp() * 1000)
    assert abs(int(read.event_id[:12], 16) - ms) <= 1, "the id's time is the event's"
    assert stored["1"].event_id != stored["2"].event_id


def test_an_event_needs_its_time():
    with pytest.raises(TypeError, match="occurred_at"):
        Event(touchpoint="product_view")
    with pytest.raises(TypeError, match="occurred_at"):
        Event("an-id", "product_view")


def test_two_threads_reading_a_new_events_id_read_the_same_one(monkeypatch):
    """The writer thread can read an event's id while the request thread (a receiver of
    touchpoint_tracked, the caller of track()) does: whichever makes it, and even if both
    do at once, it is one id, the one stored."""
    import threading
    import time

    from tracking import events

    made = []
    real = events.format_event_id

    def slow(at, bits):
        made.append(at)
        time.sleep(0.05)  # the other thread reads the id meanwhile
        return real(at, bits)

    monkeypatch.setattr(events, "format_event_id", slow)
    at = time.time()
    event = Event(touchpoint="product_view", at=at)
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(event.event_id)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    # (an app another test left behind may have its writer format ids meanwhile: only this
    # event's count)
    assert made.count(at) == 2, "both threads made it at once"
    assert len(seen) == 2 and seen[0] == seen[1] == event.event_id


def test_events_compare_by_value_as_the_dataclass_did():
    at = 1_765_000_000.25
    one = Event("e1", "product_view", "browse", None, {"product_id": "1"}, at=at)
    same = Event("e1", "product_view", "browse", datetime.fromtimestamp(at, UTC).replace(
        tzinfo=None), {"product_id": "1"})
    assert one == same and one != Event("e2", "product_view", "browse", at=at)
