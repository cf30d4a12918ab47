"""Intake: `prioritized` events into the store, and what each feedback item is owed."""
