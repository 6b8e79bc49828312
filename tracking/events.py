"""The event a touchpoint becomes, and the signals others may listen to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from blinker import Namespace

signals = Namespace()
#: Sent with ``event=`` for every touchpoint accepted (stored or aggregate-only).
touchpoint_tracked = signals.signal("touchpoint-tracked")
#: Sent with ``counts={stage: n}`` after a sweep abandoned journeys.
journeys_abandoned = signals.signal("journeys-abandoned")
#: Sent with ``visitor_id=`` when a visitor is erased, so the host can erase its own data.
visitor_forgotten = signals.signal("visitor-forgotten")


@dataclass(slots=True)
class Event:
    event_id: str
    touchpoint: str
    stage: str | None
    occurred_at: datetime  # naive UTC
    props: dict
    journey_id: str | None = None
    visitor_id: str | None = None
    session_id: str | None = None
    customer_id: str | None = None
    order_ref: str | None = None
    new_session: bool = False
    journey_started_at: datetime | None = None
    context: dict = field(default_factory=dict)  # journey columns a landing sets

    #: Set when the event is to be stored: it names a journey, or an order or visitor the
    #: writer resolves to one. False for opted-out visitors and bots (aggregate metrics only).
    stored: bool = False
    #: Set by the request path when the visitor's cookie says this event can change only the
    #: journey's counts and times: the same journey as on arrival, not yet purchased, a stage
    #: it had already reached, the customer it already had, no order, not a landing or a
    #: purchase. An earlier event of the journey entered those stages, so the writer adds
    #: this one to the row without reading it (store.write_batch, SQLite), and sets the
    #: customer the cookie names, unless the row says otherwise: one behind the event's stage
    #: (the event that entered it was dropped) or already purchased (by a webhook the cookie
    #: has not seen) is folded the long way. Not spooled: a replayed event is folded the long
    #: way, which is always right.
    routine: bool = False
