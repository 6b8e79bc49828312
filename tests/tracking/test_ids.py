"""Ids: time-ordered, and unique across the worker processes a server forks."""

import os
import random

from tracking.visitor import new_event_id, new_id


def _in_forked_child(make) -> str:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a gunicorn worker forked from a master that had already made ids
        os.write(write, make().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as f:
        return f.read()


def test_event_ids_differ_between_a_process_and_its_forked_worker():
    before = new_event_id()
    child = _in_forked_child(new_event_id)
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
