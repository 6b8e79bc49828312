"""The fork hook: what a gunicorn worker mends in what it inherited from its master."""

import gc

from tracking.forks import MendedAfterFork

from ..support import in_forked_child


class _Thing:
    def __init__(self, name: str):
        self.name = name


def test_a_forked_child_mends_every_live_object_though_one_fails():
    mended: list[str] = []

    def mend(thing: _Thing) -> None:
        if thing.name == "broken":
            raise RuntimeError("cannot")
        mended.append(thing.name)

    things = MendedAfterFork(mend, "mend a thing")
    kept = [_Thing("a"), _Thing("broken"), _Thing("b")]
    for thing in kept:
        things.add(thing)
    dropped = _Thing("dropped")
    things.add(dropped)
    del dropped
    gc.collect()

    child = in_forked_child(lambda: ",".join(sorted(mended)))
    assert child == "a,b", "each live object mended in the child, past the one that failed"
    assert mended == [], "the parent's objects are left as they are"
    assert sorted(t.name for t in things) == ["a", "b", "broken"], "held weakly"
