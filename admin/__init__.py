"""The shop owner's journey panel (built in the admin-panel issue)."""
