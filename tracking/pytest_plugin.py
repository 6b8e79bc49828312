"""pytest plugin (entry point ``pytest11``): capture the touchpoints a test produced.

    def test_add_to_cart(client, touchpoints):
        client.post("/cart/add", data=...)
        assert touchpoints.names() == ["landing", "add_to_cart"]
"""

from __future__ import annotations

import pytest

from .events import Event, touchpoint_tracked


class TouchpointRecorder:
    def __init__(self):
        self.events: list[Event] = []

    def _receive(self, sender, event: Event, **_extra) -> None:
        self.events.append(event)

    def names(self, *, stored_only: bool = False) -> list[str]:
        return [e.touchpoint for e in self.events if e.stored or not stored_only]

    def of(self, touchpoint: str) -> list[Event]:
        return [e for e in self.events if e.touchpoint == touchpoint]

    def journeys(self) -> list[str]:
        seen: list[str] = []
        for e in self.events:
            if e.journey_id and e.journey_id not in seen:
                seen.append(e.journey_id)
        return seen

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
def touchpoints():
    """Every touchpoint tracked (by any app) while the test runs, in order."""
    recorder = TouchpointRecorder()
    touchpoint_tracked.connect(recorder._receive)
    try:
        yield recorder
    finally:
        touchpoint_tracked.disconnect(recorder._receive)
