"""Signed, expiring, single-purpose tokens for public links (unsubscribe, surveys, "did it help?").

A token is `<key id>.<payload>.<tag>`, the last two base64url without padding:

- payload: compact JSON `{"s": subject, "e": expiry (unix seconds), "d": {extra claims}}`;
- tag: HMAC-SHA256 over `<key id>.<payload>` with a key derived from the secret *and the
  purpose*, so a token made for one purpose ("unsubscribe") fails, as a forgery would, when it
  is verified for another ("survey"); the purpose is never in the token, so nothing tells a
  holder which purposes exist.

Key rotation: every key has an id, the token names the key that signed it; the signer signs with
its active key and verifies with any key it still holds, so an old key is kept for verification
until the longest-lived token signed with it has expired, then dropped.

Keys come from a service's settings (`LinkKeySettings`): `<PREFIX>LINK_KEYS` is a JSON object
`{"<key id>": "<secret, base64, at least 32 bytes>"}`, `<PREFIX>LINK_KEY_ID` names the active
one (default: the last listed). Outside local and test mode they are required; locally an
ephemeral per-process key is used (links stop verifying when the process restarts).
"""

import base64
import binascii
import hmac
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final, Self

import orjson
from feedloop.common.settings import ServiceSettings
from pydantic import Field, model_validator

MIN_SECRET_BYTES: Final = 32
MAX_TOKEN_CHARS: Final = 1024
"""Longer tokens are refused before any decoding (a link is a bounded input like any other)."""
MAX_TTL_S: Final = 400 * 24 * 3600
"""No link lives longer than about 13 months."""
MAX_DATA_ITEMS: Final = 8
MAX_VALUE_CHARS: Final = 200

_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_PURPOSE = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_DERIVE_LABEL: Final = b"feedloop.links.v1/"


class LinkInvalid(ValueError):
    """The token is malformed, forged, signed with an unknown key or made for another purpose."""


class LinkExpired(LinkInvalid):
    """The token was genuine but its time is over."""


@dataclass(frozen=True, repr=False)
class LinkKey:
    """One signing secret and the id that names it in tokens (repr never shows the secret)."""

    key_id: str
    secret: bytes

    def __post_init__(self) -> None:
        if not _KEY_ID.fullmatch(self.key_id):
            raise ValueError(f"link key id {self.key_id!r}: 1-32 of A-Z a-z 0-9 _ -")
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(f"link key {self.key_id!r}: secret under {MIN_SECRET_BYTES} bytes")

    def __repr__(self) -> str:
        return f"LinkKey(key_id={self.key_id!r}, secret=<{len(self.secret)} bytes>)"

    def purpose_key(self, purpose: str) -> bytes:
        """Returns the key that signs tokens of one purpose (derived, never the secret itself)."""
        return hmac.digest(self.secret, _DERIVE_LABEL + purpose.encode(), "sha256")


@dataclass(frozen=True)
class LinkClaims:
    """What a verified token says."""

    purpose: str
    subject: str
    expires_at: int
    key_id: str
    data: Mapping[str, str] = field(default_factory=dict)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise LinkInvalid("token part is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise LinkInvalid("token part is not base64url") from exc


def _check_purpose(purpose: str) -> None:
    if not _PURPOSE.fullmatch(purpose):
        raise ValueError(f"link purpose {purpose!r}: lowercase, 1-40 of a-z 0-9 _ . -")


def _check_claims(subject: str, data: Mapping[str, str]) -> None:
    if not subject or len(subject) > MAX_VALUE_CHARS:
        raise ValueError(f"link subject: 1-{MAX_VALUE_CHARS} characters")
    if len(data) > MAX_DATA_ITEMS:
        raise ValueError(f"link data: at most {MAX_DATA_ITEMS} items")
    for name, value in data.items():
        if not isinstance(value, str) or not 0 < len(name) <= 40 or len(value) > MAX_VALUE_CHARS:
            raise ValueError(f"link data {name!r}: short string names and values only")


class LinkSigner:
    """Signs and verifies public-link tokens with a set of keys, one of them active."""

    def __init__(
        self,
        keys: Sequence[LinkKey],
        *,
        active_key_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ValueError("a link signer needs at least one key")
        self._keys = {key.key_id: key for key in keys}
        if len(self._keys) != len(keys):
            raise ValueError("link key ids must be unique")
        if active_key_id is not None and active_key_id not in self._keys:
            raise ValueError(f"active link key {active_key_id!r} is not among the keys")
        self._active = self._keys[active_key_id] if active_key_id else keys[-1]
        self._clock = clock

    @property
    def active_key_id(self) -> str:
        """The id of the key new tokens are signed with."""
        return self._active.key_id

    def sign(
        self,
        *,
        purpose: str,
        subject: str,
        ttl_s: float,
        data: Mapping[str, str] | None = None,
        issued_at: float | None = None,
    ) -> str:
        """Returns a token for `subject` that verifies for `purpose` during `ttl_s` seconds.

        `issued_at` (epoch seconds, default the signer's clock) makes the token a function of its
        input: the same delivery planned twice (a replayed batch) gets the same link.
        """
        _check_purpose(purpose)
        claims = dict(data or {})
        _check_claims(subject, claims)
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f"link ttl: over 0 and at most {MAX_TTL_S} s")
        start = self._clock() if issued_at is None else issued_at
        payload: dict[str, object] = {"s": subject, "e": int(start + ttl_s)}
        if claims:
            payload["d"] = claims
        signed = f"{self._active.key_id}.{_b64encode(orjson.dumps(payload))}"
        tag = hmac.digest(self._active.purpose_key(purpose), signed.encode("ascii"), "sha256")
        return f"{signed}.{_b64encode(tag)}"

    def verify(self, token: str, *, purpose: str) -> LinkClaims:
        """Returns the claims of a genuine, unexpired token of `purpose`; raises LinkInvalid."""
        _check_purpose(purpose)
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
            raise LinkInvalid("token is empty or too long")
        parts = token.split(".")
        if len(parts) != 3:
            raise LinkInvalid("token does not have three parts")
        key_id, payload_text, tag_text = parts
        key = self._keys.get(key_id)
        if key is None:
            raise LinkInvalid("token names an unknown key")
        expected = hmac.digest(
            key.purpose_key(purpose), f"{key_id}.{payload_text}".encode("ascii"), "sha256"
        )
        if not hmac.compare_digest(expected, _b64decode(tag_text)):
            raise LinkInvalid("token signature does not match")
        claims = _decode_payload(_b64decode(payload_text), purpose=purpose, key_id=key_id)
        if claims.expires_at <= self._clock():
            raise LinkExpired("link has expired")
        return claims


def _decode_payload(raw: bytes, *, purpose: str, key_id: str) -> LinkClaims:
    """Reads a payload whose tag was verified (so its shape is ours, but check it anyway)."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise LinkInvalid("token payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise LinkInvalid("token payload is not an object")
    subject, expires_at, data = payload.get("s"), payload.get("e"), payload.get("d", {})
    if (
        not isinstance(subject, str)
        or not isinstance(expires_at, int)
        or not isinstance(data, dict)
    ):
        raise LinkInvalid("token payload has the wrong shape")
    if not all(isinstance(value, str) for value in data.values()):
        raise LinkInvalid("token payload has the wrong shape")
    return LinkClaims(
        purpose=purpose, subject=subject, expires_at=expires_at, key_id=key_id, data=data
    )


def parse_link_keys(text: str) -> list[LinkKey]:
    """Reads `{"<key id>": "<base64 secret>", ...}` (standard or URL-safe base64), in order."""
    try:
        mapping = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError("link keys: not a JSON object") from exc
    if not isinstance(mapping, dict) or not mapping:
        raise ValueError('link keys: a non-empty JSON object {"<key id>": "<base64 secret>"}')
    keys = []
    for key_id, encoded in mapping.items():
        if not isinstance(encoded, str):
            raise ValueError(f"link key {key_id!r}: the secret must be a base64 string")
        try:
            standard = encoded.strip().replace("-", "+").replace("_", "/").rstrip("=")
            secret = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"link key {key_id!r}: the secret is not base64") from exc
        keys.append(LinkKey(key_id=key_id, secret=secret))
    return keys


_EPHEMERAL: Final = LinkKey(key_id="ephemeral", secret=os.urandom(MIN_SECRET_BYTES))
"""Local and test mode without configured keys: one random key per process."""


class LinkKeySettings(ServiceSettings):
    """Mixin: the keys that sign a service's public links; required outside local and test."""

    link_keys_required: ClassVar[bool] = True
    """False for a service that needs links only for some of its work (it checks when it starts
    that work, e.g. notify when e-mail is configured)."""

    link_keys: str | None = Field(
        default=None,
        description='JSON object {"<key id>": "<base64 secret, >= 32 bytes>"}; keep retired keys '
        "listed until their last link has expired.",
        repr=False,
    )
    link_key_id: str | None = Field(
        default=None, description="The key that signs new links (default: the last listed)."
    )

    @model_validator(mode="after")
    def _link_keys_valid_and_required_outside_local(self) -> Self:
        if self.link_keys:
            keys = parse_link_keys(self.link_keys)
            if self.link_key_id and self.link_key_id not in {key.key_id for key in keys}:
                raise ValueError(f"link key id {self.link_key_id!r} is not among the link keys")
        elif self.link_keys_required and not self.is_local:
            prefix = str(self.model_config.get("env_prefix", "")).upper()
            raise ValueError(f"{prefix}LINK_KEYS is required outside local and test mode")
        return self

    def link_signer(self, *, clock: Callable[[], float] = time.time) -> LinkSigner:
        """Returns the signer of this service's public links."""
        if not self.link_keys:
            if not self.is_local:
                raise ValueError("no link keys are configured outside local and test mode")
            return LinkSigner([_EPHEMERAL], clock=clock)
        return LinkSigner(
            parse_link_keys(self.link_keys), active_key_id=self.link_key_id, clock=clock
        )
