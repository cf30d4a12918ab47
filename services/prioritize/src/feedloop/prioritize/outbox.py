"""Prioritize's transactional outbox: the shared idiom (feedloop.common.outbox) on its table."""

from feedloop.common.db import table_of
from feedloop.common.outbox import Outbox, OutboxRelay
from feedloop.prioritize.models import OutboxEvent

__all__ = ["OUTBOX", "OutboxRelay", "create_relay", "outbox_row", "outbox_t", "write"]

outbox_t = table_of(OutboxEvent)
OUTBOX = Outbox(outbox_t, service="prioritize", lock_id=0x5F0B0C5)
"""Prioritize's outbox: rows, writes and the relay the lifespan's relay_step runs."""

outbox_row = OUTBOX.row
"""Returns an outbox row holding the encoded event, produced by prioritize."""
write = OUTBOX.write
"""Adds events to the outbox inside the caller's transaction."""
create_relay = OUTBOX.relay
"""Returns a relay on prioritize's outbox (the app's lifespan runs one)."""
