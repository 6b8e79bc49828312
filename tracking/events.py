"""The event a touchpoint becomes, and the signals others may listen to."""

from __future__ import annotations

from datetime import UTC, datetime

from blinker import Namespace

from .visitor import event_id_bits, format_event_id

signals = Namespace()
#: Sent with ``event=`` for every touchpoint accepted (stored or aggregate-only).
touchpoint_tracked = signals.signal("touchpoint-tracked")
#: Sent with ``counts={stage: n}`` after a sweep abandoned journeys.
journeys_abandoned = signals.signal("journeys-abandoned")
#: Sent with ``visitor_id=`` when a visitor is erased, so the host can erase its own data.
visitor_forgotten = signals.signal("visitor-forgotten")


class Event:
    """One touchpoint, as the writer stores it (a row of ``journey_events``).

    On the request path ``track()`` gives it only the time, as a float (``at=``, and the
    journey's start as ``started=``) and the id's random bits, as an int: its id and its
    datetimes are made from those when first read — by the writer, in its batch, where the
    code is warm, or by whoever reads them first (a ``touchpoint_tracked`` receiver, the
    caller of ``track()``). Made from fixed values, they come out the same whichever thread
    reads first, and an event's id never changes. Made this way, each costs the request a
    float and an int, not a ``datetime`` and a formatted id (10-15 µs of ``track()`` in a
    busy worker, where the same calls in a warm loop are 3).

    Not a dataclass (it was one): events compare equal field by field as before, but
    ``dataclasses.asdict`` and ``replace`` do not take it."""

    __slots__ = ("_event_id", "touchpoint", "stage", "_occurred_at", "props", "journey_id",
                 "visitor_id", "session_id", "customer_id", "order_ref", "new_session",
                 "_journey_started_at", "context", "stored", "routine", "_at", "_started",
                 "_bits", "fallback_journey_id")

    def __init__(self, event_id: str | None = None, touchpoint: str = "",
                 stage: str | None = None, occurred_at: datetime | None = None,
                 props: dict | None = None, journey_id: str | None = None,
                 visitor_id: str | None = None, session_id: str | None = None,
                 customer_id: str | None = None, order_ref: str | None = None,
                 new_session: bool = False, journey_started_at: datetime | None = None,
                 context: dict | None = None, stored: bool = False, routine: bool = False,
                 *, at: float | None = None, started: float | None = None):
        if occurred_at is None and at is None:
            raise TypeError("an Event needs its time: occurred_at (a naive UTC datetime) or "
                            "at (seconds since the epoch)")
        self._event_id = event_id
        # The id's random bits, drawn now (one C call): the id made from them later is the
        # same whoever makes it.
        self._bits = event_id_bits() if event_id is None else None
        self.touchpoint = touchpoint
        self.stage = stage
        self._occurred_at = occurred_at
        self._at = at
        self.props = {} if props is None else props
        self.journey_id = journey_id
        self.visitor_id = visitor_id
        self.session_id = session_id
        self.customer_id = customer_id
        self.order_ref = order_ref
        self.new_session = new_session
        self._journey_started_at = journey_started_at
        self._started = started
        # The journey columns a landing sets (source, device, ...).
        self.context = {} if context is None else context
        #: Set when the event is to be stored: it names a journey, or an order or visitor
        #: the writer resolves to one. False for opted-out visitors and bots (aggregate
        #: metrics only).
        self.stored = stored
        #: Set by the request path when the visitor's cookie says this event can change only
        #: the journey's counts and times: the same journey as on arrival, not yet
        #: purchased, a stage it had already reached, the customer it already had, no
        #: order, not a landing or a purchase. An earlier event of the journey entered those
        #: stages, so the writer adds this one to the row without reading it
        #: (store.write_batch, SQLite), and sets the customer the cookie names, unless the
        #: row says otherwise: one behind the event's stage (the event that entered it was
        #: dropped) or already purchased (by a webhook the cookie has not seen) is folded
        #: the long way. Not spooled: a replayed event is folded the long way, which is
        #: always right.
        self.routine = routine
        # fallback_journey_id, set only on the shopper's own purchase named by its order
        # alone (extension._record): the journey it was made in, if no journey holds the
        # order. Left unset elsewhere (read with getattr): nothing on every event's path.

    @property
    def occurred_at(self) -> datetime:
        """When it happened (naive UTC)."""
        found = self._occurred_at
        if found is None:
            found = self._occurred_at = from_epoch(self._at)
        return found

    @occurred_at.setter
    def occurred_at(self, value: datetime) -> None:
        self._occurred_at, self._at = value, None

    @property
    def event_id(self) -> str:
        """Unique (it makes a replayed batch a no-op), laid out as visitor.new_event_id."""
        found = self._event_id
        if found is None:
            # The writer thread may read it while a touchpoint_tracked receiver (or the caller
            # of track()) does: both make the same string, from the same time and bits.
            at = self._at if self._at is not None else to_epoch(self.occurred_at)
            found = self._event_id = format_event_id(at, self._bits)
        return found

    @event_id.setter
    def event_id(self, value: str | None) -> None:
        """None: made again when next read, from the event's time and random bits (drawn
        now if it was given its id)."""
        self._event_id = value
        if value is None and self._bits is None:
            self._bits = event_id_bits()

    @property
    def journey_started_at(self) -> datetime | None:
        """When the journey started, as the visitor's cookie says (None: not known here)."""
        found = self._journey_started_at
        if found is None and self._started is not None:
            found = self._journey_started_at = from_epoch(self._started)
        return found

    @journey_started_at.setter
    def journey_started_at(self, value: datetime | None) -> None:
        self._journey_started_at, self._started = value, None

    def _fields(self) -> tuple:
        return (self.event_id, self.touchpoint, self.stage, self.occurred_at, self.props,
                self.journey_id, self.visitor_id, self.session_id, self.customer_id,
                self.order_ref, self.new_session, self.journey_started_at, self.context,
                self.stored, self.routine)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # as the dataclass it was: mutable, compared by value

    def __repr__(self) -> str:
        return (f"Event({self.event_id!r}, {self.touchpoint!r}, stage={self.stage!r}, "
                f"occurred_at={self.occurred_at!r}, journey_id={self.journey_id!r}, "
                f"stored={self.stored!r})")


def from_epoch(epoch: float) -> datetime:
    """Seconds since the epoch as the naive UTC datetime the tracker stores."""
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def to_epoch(at: datetime) -> float:
    """A datetime as seconds since the epoch (from_epoch's inverse): naive ones are UTC, as
    the tracker stores them; an aware one is read in its own zone."""
    if at.tzinfo is not None:
        return at.timestamp()
    return at.replace(tzinfo=UTC).timestamp()
