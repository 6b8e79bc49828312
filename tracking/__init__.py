"""Touchpoint's journey tracker: a Flask extension for any shop.

    from tracking import JourneyTracker
    journey = JourneyTracker(app)
    journey.track("add_to_cart", product_id="42", quantity=1, value=1999, currency="USD")
"""

from .config import ConfigError
from .events import Event, journeys_abandoned, touchpoint_tracked, visitor_forgotten
from .extension import JourneyTracker, NoAppContext, TrackingError
from .touchpoints import CATALOGUE, Stage

__all__ = ["CATALOGUE", "ConfigError", "Event", "JourneyTracker", "NoAppContext", "Stage",
           "TrackingError", "journeys_abandoned", "touchpoint_tracked", "visitor_forgotten"]
