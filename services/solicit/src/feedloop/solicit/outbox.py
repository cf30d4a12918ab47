"""Solicit's transactional outbox: survey answers as feedback.received on raw-feedback."""

from feedloop.common.outbox import Outbox
from feedloop.solicit.models import outbox_t

SERVICE = "solicit"
OUTBOX = Outbox(outbox_t, service=SERVICE, lock_id=0x5011C17)
