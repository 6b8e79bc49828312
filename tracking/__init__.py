"""The JourneyTracker Flask extension (built in the journey-tracking issue)."""
