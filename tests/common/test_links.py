"""Public-link tokens: a genuine one verifies for its purpose until it expires, nothing else."""

import base64
import hashlib
import hmac

import orjson
import pytest
from feedloop.common.links import (
    MAX_TOKEN_CHARS,
    LinkExpired,
    LinkInvalid,
    LinkKey,
    LinkKeySettings,
    LinkSigner,
    parse_link_keys,
)
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

OLD = LinkKey(key_id="2026-06", secret=b"o" * 32)
NEW = LinkKey(key_id="2026-12", secret=bytes(range(40)))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _signer(clock: Clock, *keys: LinkKey, active: str | None = None) -> LinkSigner:
    return LinkSigner(list(keys) or [NEW], active_key_id=active, clock=clock)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_token_verifies_for_its_purpose_and_gives_back_subject_expiry_and_data() -> None:
    clock = Clock()
    signer = _signer(clock)
    token = signer.sign(
        purpose="unsubscribe", subject="cust-42", ttl_s=3600, data={"channel": "email"}
    )
    claims = signer.verify(token, purpose="unsubscribe")
    assert claims.subject == "cust-42"
    assert claims.purpose == "unsubscribe"
    assert claims.expires_at == int(clock.now) + 3600
    assert claims.key_id == "2026-12"
    assert claims.data == {"channel": "email"}


def test_a_token_is_url_safe_and_compact() -> None:
    token = _signer(Clock()).sign(purpose="unsubscribe", subject="cust-42", ttl_s=3600)
    assert all(c.isalnum() or c in "-_." for c in token)
    assert len(token) < 120


def test_an_unsubscribe_token_does_not_verify_as_a_survey_token() -> None:
    signer = _signer(Clock())
    token = signer.sign(purpose="unsubscribe", subject="cust-42", ttl_s=3600)
    with pytest.raises(LinkInvalid) as caught:
        signer.verify(token, purpose="survey")
    assert not isinstance(caught.value, LinkExpired)


def test_a_token_expires_at_its_time_and_says_so() -> None:
    clock = Clock()
    signer = _signer(clock)
    token = signer.sign(purpose="survey", subject="inv-1", ttl_s=60)
    clock.now += 59
    assert signer.verify(token, purpose="survey").subject == "inv-1"
    clock.now += 1
    with pytest.raises(LinkExpired):
        signer.verify(token, purpose="survey")


def test_a_token_issued_at_a_given_time_is_the_same_whatever_the_clock_says() -> None:
    """A replayed batch signs its links from the batch's time: same input, same message."""
    clock = Clock()
    signer = _signer(clock)
    first = signer.sign(purpose="followup", subject="c-1", ttl_s=60, issued_at=clock.now - 10)
    clock.now += 5
    again = signer.sign(purpose="followup", subject="c-1", ttl_s=60, issued_at=clock.now - 15)
    assert first == again
    assert signer.verify(first, purpose="followup").expires_at == int(clock.now) - 15 + 60


@pytest.mark.parametrize("part", [0, 1, 2])
def test_changing_any_character_of_a_token_makes_it_invalid(part: int) -> None:
    signer = _signer(Clock(), OLD, NEW)
    token = signer.sign(purpose="survey", subject="inv-1", ttl_s=60)
    parts = token.split(".")
    for index in range(len(parts[part])):
        chars = list(parts[part])
        chars[index] = "A" if chars[index] != "A" else "B"
        forged = ".".join([*parts[:part], "".join(chars), *parts[part + 1 :]])
        with pytest.raises(LinkInvalid):
            signer.verify(forged, purpose="survey")


def test_a_longer_expiry_cannot_be_written_into_a_genuine_token() -> None:
    clock = Clock()
    signer = _signer(clock)
    key_id, _payload, tag = signer.sign(purpose="survey", subject="inv-1", ttl_s=60).split(".")
    longer = _b64(orjson.dumps({"s": "inv-1", "e": int(clock.now) + 10**6}))
    with pytest.raises(LinkInvalid):
        signer.verify(f"{key_id}.{longer}.{tag}", purpose="survey")


def test_a_token_signed_with_another_secret_under_the_same_key_id_is_invalid() -> None:
    clock = Clock()
    impostor = LinkSigner([LinkKey(key_id=NEW.key_id, secret=b"x" * 32)], clock=clock)
    token = impostor.sign(purpose="unsubscribe", subject="cust-42", ttl_s=60)
    with pytest.raises(LinkInvalid):
        _signer(clock).verify(token, purpose="unsubscribe")


def test_the_tag_is_hmac_sha256_under_a_per_purpose_key_not_the_raw_secret() -> None:
    signer = _signer(Clock())
    token = signer.sign(purpose="unsubscribe", subject="cust-42", ttl_s=60)
    signed, _, tag = token.rpartition(".")
    raw_secret_tag = hmac.digest(NEW.secret, signed.encode(), hashlib.sha256)
    per_purpose = hmac.digest(NEW.secret, b"feedloop.links.v1/unsubscribe", hashlib.sha256)
    assert tag != _b64(raw_secret_tag)
    assert tag == _b64(hmac.digest(per_purpose, signed.encode(), hashlib.sha256))


def test_after_rotation_new_tokens_use_the_new_key_and_old_tokens_still_verify() -> None:
    clock = Clock()
    before = _signer(clock, OLD)
    old_token = before.sign(purpose="survey", subject="inv-1", ttl_s=3600)
    after = _signer(clock, OLD, NEW)
    assert after.active_key_id == "2026-12"
    assert after.sign(purpose="survey", subject="inv-1", ttl_s=60).startswith("2026-12.")
    assert after.verify(old_token, purpose="survey").key_id == "2026-06"
    dropped = _signer(clock, NEW)
    with pytest.raises(LinkInvalid, match="unknown key"):
        dropped.verify(old_token, purpose="survey")


def test_the_active_key_can_be_named_so_a_new_key_is_rolled_out_before_it_signs() -> None:
    signer = _signer(Clock(), OLD, NEW, active="2026-06")
    assert signer.sign(purpose="survey", subject="s", ttl_s=60).startswith("2026-06.")
    with pytest.raises(ValueError, match="not among"):
        _signer(Clock(), OLD, active="2027-01")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "2026-12.@@@.AAAA",
        "2026-12.e30.A",
        "2026-12." + "A" * MAX_TOKEN_CHARS + ".AAAA",
        "nokey.e30.AAAA",
    ],
)
def test_malformed_tokens_are_invalid_not_errors(token: str) -> None:
    with pytest.raises(LinkInvalid):
        _signer(Clock()).verify(token, purpose="survey")


def test_a_correctly_signed_payload_of_the_wrong_shape_is_invalid() -> None:
    purpose_key = NEW.purpose_key("survey")
    for payload in (b"[]", b'{"s": 1, "e": 2}', b'{"s": "x", "e": 9999999999, "d": {"a": 1}}'):
        signed = f"{NEW.key_id}.{_b64(payload)}"
        tag = hmac.digest(purpose_key, signed.encode(), hashlib.sha256)
        with pytest.raises(LinkInvalid, match=r"shape|object"):
            _signer(Clock()).verify(f"{signed}.{_b64(tag)}", purpose="survey")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"purpose": "Survey", "subject": "s", "ttl_s": 60}, "purpose"),
        ({"purpose": "survey", "subject": "", "ttl_s": 60}, "subject"),
        ({"purpose": "survey", "subject": "s" * 201, "ttl_s": 60}, "subject"),
        ({"purpose": "survey", "subject": "s", "ttl_s": 0}, "ttl"),
        ({"purpose": "survey", "subject": "s", "ttl_s": 10**9}, "ttl"),
        ({"purpose": "survey", "subject": "s", "ttl_s": 60, "data": {"a": "b" * 201}}, "data"),
    ],
)
def test_signing_refuses_unbounded_or_malformed_claims(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _signer(Clock()).sign(**kwargs)  # type: ignore[arg-type]


def test_keys_refuse_short_secrets_and_odd_ids_and_never_show_the_secret() -> None:
    with pytest.raises(ValueError, match="under 32 bytes"):
        LinkKey(key_id="k", secret=b"short")
    with pytest.raises(ValueError, match="key id"):
        LinkKey(key_id="a.b", secret=b"x" * 32)
    assert "xxxx" not in repr(LinkKey(key_id="k", secret=b"x" * 32))


def test_link_keys_are_read_from_json_in_standard_or_url_safe_base64() -> None:
    secret = bytes(range(250, 256)) * 6
    text = orjson.dumps(
        {
            "a": base64.b64encode(secret).decode(),
            "b": base64.urlsafe_b64encode(secret).rstrip(b"=").decode(),
        }
    ).decode()
    assert [(k.key_id, k.secret) for k in parse_link_keys(text)] == [("a", secret), ("b", secret)]
    for bad in ("[]", "{}", '{"a": 1}', '{"a": "!!!"}', "nope"):
        with pytest.raises(ValueError, match="link key"):
            parse_link_keys(bad)


class _Settings(LinkKeySettings):
    model_config = SettingsConfigDict(env_prefix="LINKTEST_", frozen=True)


def test_settings_require_link_keys_outside_local_and_test_mode() -> None:
    with pytest.raises(ValidationError, match="LINKTEST_LINK_KEYS is required"):
        _Settings(environment="prod")
    with pytest.raises(ValidationError, match="not among"):
        _Settings(link_keys='{"a": "' + "A" * 44 + '"}', link_key_id="b")


def test_settings_build_a_signer_that_verifies_across_instances_with_the_same_keys() -> None:
    keys = orjson.dumps({OLD.key_id: base64.b64encode(OLD.secret).decode()}).decode()
    one = _Settings(environment="prod", link_keys=keys).link_signer()
    other = _Settings(environment="prod", link_keys=keys).link_signer()
    token = one.sign(purpose="unsubscribe", subject="cust-1", ttl_s=60)
    assert other.verify(token, purpose="unsubscribe").subject == "cust-1"


def test_local_mode_without_keys_signs_with_one_ephemeral_key_per_process() -> None:
    token = _Settings(environment="test").link_signer().sign(purpose="p", subject="s", ttl_s=60)
    assert token.startswith("ephemeral.")
    assert _Settings(environment="local").link_signer().verify(token, purpose="p").subject == "s"


class _Optional(LinkKeySettings):
    link_keys_required = False
    model_config = SettingsConfigDict(env_prefix="LINKOPT_", frozen=True)


def test_a_service_may_defer_the_requirement_but_gets_no_signer_without_keys() -> None:
    settings = _Optional(environment="prod")
    with pytest.raises(ValueError, match="no link keys"):
        settings.link_signer()
