"""Ids: time-ordered, and unique across the worker processes a server forks."""

import os

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


def test_ids_made_together_are_all_different():
    made = [new_event_id() for _ in range(20_000)] + [new_id() for _ in range(2_000)]
    assert len(set(made)) == len(made)
