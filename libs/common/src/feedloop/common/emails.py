"""E-mail addresses validated as pydantic's EmailStr does, with a fast path for plain ones.

pydantic's EmailStr runs the email-validator package on every address: about 35 us each, the
largest single cost of validating a feedback item at ingest (py-spy, docs/profiles). Most
addresses are plain ASCII `local@sub.domain.tld`, for which email-validator's answer is the
address itself. `Email` recognises those with one regular expression and a few length checks
and returns them unchanged; anything else (upper-case or international domains, quoted or
"Name <addr>" forms, special-use domains, odd lengths, surrounding spaces) goes to pydantic's
own validator, so every error and every normalisation stays exactly EmailStr's.
tests/common/test_emails.py checks the fast path against EmailStr on generated addresses.
"""

import re
from typing import Annotated

import email_validator
from pydantic import AfterValidator, WithJsonSchema
from pydantic.networks import validate_email

# RFC 5322 atext (ASCII), dot-separated; a domain of lower-case LDH labels (no hyphen at either
# end, no "--" anywhere, so never an IDNA "xn--" label) ending in an alphabetic TLD.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9]|-(?!-))*(?<!-)"
_PLAIN = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@((?:{_LABEL}\.)+[a-z]{{2,63}})")
_LOCAL_MAX = 64
_ADDRESS_MAX = 254
_LABEL_MAX = 63


def is_plain(value: str) -> bool:
    """True when email-validator would accept the address and return it unchanged."""
    match = _PLAIN.fullmatch(value)
    if match is None or len(value) > _ADDRESS_MAX:
        return False
    local, domain = match.groups()
    if len(local) > _LOCAL_MAX:
        return False
    labels = domain.split(".")
    if any(len(label) > _LABEL_MAX for label in labels):
        return False
    special = email_validator.SPECIAL_USE_DOMAIN_NAMES
    return not any(domain == name or domain.endswith("." + name) for name in special)


def check_email(value: str) -> str:
    """EmailStr's validation: the normalised address, or its PydanticCustomError."""
    if is_plain(value):
        return value
    return validate_email(value)[1]


Email = Annotated[
    str, AfterValidator(check_email), WithJsonSchema({"type": "string", "format": "email"})
]
"""An e-mail address: what EmailStr accepts, normalised as EmailStr does, same JSON Schema."""
