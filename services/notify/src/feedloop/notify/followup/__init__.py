"""The "did it help?" follow-up: a signed link in each resolution message, answered publicly."""
