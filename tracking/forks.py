"""What a forked child mends before it runs: a fork copies a process's queues, locks and
open database connections, but not its threads."""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class MendedAfterFork(Generic[T]):
    """The live objects of one kind in this process, each passed to ``mend`` in a forked
    child (gunicorn's workers fork from its master) before the child's own code runs.

    Weak references: an object nothing else holds is not kept alive for the hook. A fork
    hook must not raise, so an object ``mend`` fails on is logged and the others are still
    mended. Hooks run in the order their kinds were made (at import)."""

    def __init__(self, mend: Callable[[T], object], what: str):
        self._live: weakref.WeakSet[T] = weakref.WeakSet()
        self._mend = mend
        self._what = what
        os.register_at_fork(after_in_child=self._in_child)

    def add(self, obj: T) -> None:
        self._live.add(obj)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._live))  # a copy: the set may change while it is walked

    def _in_child(self) -> None:
        for obj in self:
            try:
                self._mend(obj)
            except Exception:
                log.exception("after a fork: could not %s", self._what)
