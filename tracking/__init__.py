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

# The tracker's version, the code's own (tracking/pyproject.toml and the store's
# pyproject.toml say the same; a test keeps them so): tracking_build_info's label.
__version__ = "0.1.0"
