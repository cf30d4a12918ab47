"""Notify's transactional outbox: `feedback.closed` events and dead letters, relayed to Kafka."""

from feedloop.common.outbox import Outbox
from feedloop.notify.models import outbox_t

SERVICE = "notify"
OUTBOX = Outbox(outbox_t, service=SERVICE, lock_id=0x5F0B0D5)
"""Notify's outbox in the shared idiom (the relay step of the lifespan uses it)."""

create_relay = OUTBOX.relay
"""Returns a relay on notify's outbox (the app's lifespan runs one)."""
