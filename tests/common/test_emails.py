"""The fast path of feedloop.common.emails answers exactly as pydantic's EmailStr does."""

import string

import pytest
from feedloop.common.emails import Email, is_plain
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import EmailStr, TypeAdapter, ValidationError

FAST = TypeAdapter(Email)
SLOW = TypeAdapter(EmailStr)


def outcome(adapter: TypeAdapter[str], value: str) -> tuple[str, object]:
    """('ok', normalised) or ('error', the errors without their input echo)."""
    try:
        return "ok", adapter.validate_python(value)
    except ValidationError as exc:
        return "error", [(e["type"], e["msg"]) for e in exc.errors()]


PLAIN = [
    "c1@example.com",
    "Jane.Doe+tag@mail.shop.co.uk",
    "a_b-c!#$%&'*/=?^`{|}~@x9.io",
    "x@a-b.c-d.museum",
    "UPPER.local@lower.example.org",
    f"{'a' * 64}@example.com",
]
NOT_PLAIN = [
    "c1@Example.com",  # email-validator lower-cases the domain
    " c1@example.com",
    "c1@example.com ",
    "Jane <jane@example.com>",
    "c1@localhost",
    "c1@shop.test",
    "c1@local",
    "c1@x.arpa",
    "c1@xn--bcher-kva.example",
    "c1@ab--cd.example",
    "c1@-ab.example",
    "c1@ab-.example",
    ".c1@example.com",
    "c1.@example.com",
    "c..1@example.com",
    '"quoted"@example.com',
    "c1@[127.0.0.1]",
    "c1@example.c",
    "c1@example.123",
    "jörg@example.com",
    "c1@bücher.example",
    f"{'a' * 65}@example.com",
    f"c1@{'a' * 64}.com",
    "c1@" + ".".join(["abcdefghij"] * 23) + ".com",
    "",
    "@example.com",
    "c1@",
    "c1",
]


@pytest.mark.parametrize("value", PLAIN)
def test_plain_addresses_take_the_fast_path_and_come_back_unchanged(value: str) -> None:
    assert is_plain(value)
    assert outcome(FAST, value) == outcome(SLOW, value) == ("ok", value)


@pytest.mark.parametrize("value", NOT_PLAIN)
def test_everything_else_gets_emailstrs_own_answer(value: str) -> None:
    assert not is_plain(value)
    assert outcome(FAST, value) == outcome(SLOW, value)


ATOM = st.text(
    string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-.", min_size=0, max_size=70
)
LABEL = st.text(string.ascii_letters + string.digits + "-", min_size=0, max_size=66)
DOMAIN = st.lists(LABEL, min_size=1, max_size=5).map(".".join)
# Mostly well-formed: dot-atoms and lower-case labels, now and then a hyphen or a special TLD.
WORD = st.text(string.ascii_letters + string.digits + "+_-", min_size=1, max_size=30)
NEAR_LABEL = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=64)
NEAR_PLAIN = st.builds(
    lambda words, labels, tld: f"{'.'.join(words)}@{'.'.join([*labels, tld])}",
    st.lists(WORD, min_size=1, max_size=3),
    st.lists(NEAR_LABEL, min_size=1, max_size=4),
    st.sampled_from(["com", "io", "de", "museum", "test", "local", "arpa", "Com", "1a"]),
)
ADDRESS = st.one_of(
    NEAR_PLAIN,
    st.builds(lambda local, domain: f"{local}@{domain}", ATOM, DOMAIN),
    st.builds(lambda local, domain: f"{local}@{domain.lower()}", ATOM, DOMAIN),
    st.text(max_size=40),
)


@settings(max_examples=1000, deadline=None)
@given(ADDRESS)
def test_fast_path_never_differs_from_emailstr(value: str) -> None:
    assert outcome(FAST, value) == outcome(SLOW, value)
    if is_plain(value):
        assert outcome(SLOW, value) == ("ok", value)


def test_the_json_schema_is_emailstrs() -> None:
    assert FAST.json_schema() == SLOW.json_schema()
