"""Touchpoints in: moments worth asking about, decided into invitations or recorded skips."""
