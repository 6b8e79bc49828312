"""Ids: time-ordered, and unique across the worker processes a server forks."""

import random

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
