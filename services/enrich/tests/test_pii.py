"""PII redaction: each kind replaced by its placeholder, look-alikes left alone."""

import pytest
from feedloop.enrich.pii import iban_valid, luhn_valid, redact


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("Write to jane.doe+shop@example.co.uk please", "Write to [EMAIL] please", "email"),
        ("Call +44 20 7946 0958 today", "Call [PHONE] today", "phone"),
        ("ruf an: 0171 / 1234567", "ruf an: [PHONE]", "phone"),
        ("appelez le 06 12 34 56 78", "appelez le [PHONE]", "phone"),
        ("my number is (415) 555-0134", "my number is [PHONE]", "phone"),
        ("mi móvil es 612 345 678", "mi móvil es [PHONE]", "phone"),
        ("0049 30 12345678 is my office", "[PHONE] is my office", "phone"),
        ("card 4111 1111 1111 1111 exp 12/26", "card [CARD] exp 12/26", "card"),
        ("paid with 5500-0000-0000-0004", "paid with [CARD]", "card"),
        ("IBAN DE89 3704 0044 0532 0130 00 thanks", "IBAN [IBAN] thanks", "iban"),
        ("refund to GB82WEST12345698765432", "refund to [IBAN]", "iban"),
        ("login from 192.168.10.20 failed", "login from [IP] failed", "ip"),
        ("from 2001:db8::8a2e:370:7334 too", "from [IP] too", "ip"),
        ("reset https://shop.example.com/reset?token=abc123", "reset [URL]", "url"),
        ("ftp://bob:hunter2@files.example.com/x", "[URL]", "url"),
        ("SSN 123-45-6789 on file", "SSN [SSN] on file", "ssn"),
        ("NI number AB 12 34 56 C", "NI number [NINO]", "nino"),
        ("my password is Hunter2!", "my password is [SECRET]", "secret"),
        ("ship to 221B Baker Street, London", "ship to [ADDRESS], London", "address"),
        ("Lieferadresse Hauptstraße 12, Berlin", "Lieferadresse [ADDRESS], Berlin", "address"),
        ("livrez au 12 rue de la Paix", "livrez au [ADDRESS]", "address"),
        ("envíenlo a Calle Mayor 5, Madrid", "envíenlo a [ADDRESS], Madrid", "address"),
        ("Kerkstraat 14 Amsterdam", "[ADDRESS] Amsterdam", "address"),
        ("London NW1 6XE", "London [POSTCODE]", "postcode"),
    ],
)
def test_each_kind_of_pii_is_replaced_by_its_placeholder_and_counted(
    text: str, expected: str, kind: str
) -> None:
    result = redact(text)
    assert result.text == expected
    assert result.counts == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails the Luhn check",
        "IBAN DE89 3704 0044 0532 0130 01 fails mod-97",
        "order #12345678 arrived on 2024-03-15",
        "order number 0612345678 is missing",
        "It cost 1 299.00 EUR on 12.03.2024 at 14:30",
        "size 38 and 40, three for 29.99",
        "the app v2.14.0.1 crashes",
        "version 10.2.0.1 is slow",
        "ip 300.1.2.3 is no address",
        "SSN-like 000-12-3456 and 666-12-3456 are invalid",
        "the password is wrong again",
        "a simple link https://shop.example.com/p/123?color=blue",
        "meeting at 10:30:45",
        "0000 0000 0000 0000",
    ],
)
def test_look_alikes_of_pii_are_left_alone(text: str) -> None:
    assert redact(text).text == text


def test_every_value_in_a_text_is_counted_by_kind() -> None:
    result = redact("a@x.io, b@y.io and +33 6 12 34 56 78")
    assert result.text == "[EMAIL], [EMAIL] and [PHONE]"
    assert result.counts == {"email": 2, "phone": 1}


def test_luhn_accepts_valid_card_numbers_only() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_mod97_accepts_valid_ibans_only() -> None:
    assert iban_valid("DE89370400440532013000")
    assert iban_valid("NL91ABNA0417164300")
    assert not iban_valid("NL91ABNA0417164301")
    assert not iban_valid("DE8937040044053201300")  # one digit short for Germany
