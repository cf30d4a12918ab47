"""What notify's webhooks and e-mails carry: header names and the HMAC signature scheme.

Receivers (source systems, the demo sinks) verify a webhook by recomputing
`HMAC-SHA256(secret, f"{timestamp}." + body)` and comparing it with the signature header
(`v1=<hex>`), rejecting timestamps too far from their clock, and drop repeats by the
idempotency key. E-mails carry the same key as their Message-ID.
"""

import hashlib
import hmac
import time
from typing import Final

HEADER_SIGNATURE: Final = "X-Feedloop-Signature"
HEADER_TIMESTAMP: Final = "X-Feedloop-Timestamp"
HEADER_IDEMPOTENCY_KEY: Final = "Idempotency-Key"
HEADER_EVENT: Final = "X-Feedloop-Event"
# E-mail headers naming what the message is, for mail filters and the demo sink.
MAIL_HEADER_KIND: Final = "X-Feedloop-Kind"
MAIL_HEADER_CUSTOMER: Final = "X-Feedloop-Customer"
MAIL_HEADER_ISSUE: Final = "X-Feedloop-Issue"
MAIL_HEADER_IDEMPOTENCY_KEY: Final = "X-Feedloop-Idempotency-Key"

SIGNATURE_VERSION: Final = "v1"
DEFAULT_TOLERANCE_S: Final = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Returns the signature header value of a body sent at `timestamp` (Unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={digest.hexdigest()}"


def verify(
    secret: str,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when the signature matches the body and the timestamp is recent enough."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    moment = int(timestamp)
    if abs((time.time() if now is None else now) - moment) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, moment, body), signature)
