"""PII redaction: typed placeholders for what identifies a person or opens an account.

Detectors run in a fixed order on the text as redacted so far, so a later one never matches
inside an earlier placeholder. Numbers are checked (Luhn, mod-97, octet ranges, SSN rules)
before they are replaced: order numbers and prices must survive, they are what support needs.
"""

import ipaddress
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

Finder = Callable[[str], list[tuple[int, int, str]]]

# Lengths of the IBAN of each country (SWIFT IBAN registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'\])]+", re.IGNORECASE)
_URL_USERINFO = re.compile(r"^[a-z]+://[^/@\s]+:[^/@\s]*@", re.IGNORECASE)
_URL_SECRET_PARAM = re.compile(
    r"[?&#;](?:[\w.-]*(?:token|secret|passw(?:or)?d|pwd|api[_-]?key|apikey|auth|session|sid"
    r"|signature|sig|otp|code|key))=[^&\s]+",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.%+-]+@(?:[\w-]+\.)+[A-Za-z]{2,24}(?![\w-])")
_SECRET = re.compile(
    r"\b(passwor[dt]|passcode|pin code|PIN|mot de passe|contraseña|wachtwoord|kennwort)"
    r"(\s*(?:is|was|ist|war|est|es|:|=)\s*)"
    r"(?=\S*[\d!@#$%^&*_?])(\S{4,})",
    re.IGNORECASE,
)
_IBAN_START = re.compile(r"\b([A-Za-z]{2})\d{2}")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}\b")
_NINO = re.compile(
    r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_SEP = r"(?:[ \t]?[.\-/][ \t]?|[ \t])"
_PHONE = re.compile(
    rf"(?<![\w+/#-])(?:(?:\+|00)\d{{1,3}}{_SEP}?(?:\(0\){_SEP}?)?)?(?:\(\d{{1,5}}\){_SEP}?)?"
    rf"\d+(?:{_SEP}\d+){{0,6}}(?![\w-]|[.,]\d)"
)
_PHONE_CUE = re.compile(
    r"\b(?:tel|phone|call|ring|mobile|cell|whatsapp|sms|text me|reach me|telefon|handy|"
    r"rufnummer|nummer|t[ée]l[ée]phone|portable|tel[ée]fono|m[óo]vil|llamar|bel me|mobiel)"
    r"\w*(?:[\s.:]+\w+){0,3}[\s.:]*$",
    re.IGNORECASE,
)
_NOT_PHONE_CUE = re.compile(
    r"\b(?:order|invoice|tracking|parcel|ref|reference|ticket|item|sku|art|article|bestell\w*|"
    r"commande|pedido|bestelling|no\.|nr\.?|number|n[º°])[\s.:#]*$",
    re.IGNORECASE,
)
_DATE = re.compile(r"^\d{1,4}[./-]\d{1,2}[./-]\d{1,4}$")
_NANP = re.compile(r"^(?:\+?1[ .-]?)?\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]\d{4}$")
_LOCAL_ZERO = re.compile(r"^\(?0[1-9][\d \t().\-/]+$")
_GROUPED_9 = re.compile(r"^[6789]\d{2}(?: \d{2,3}){2,3}$")

_STREET_EN = (
    r"Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|"
    r"Terrace|Close|Crescent|Square|Sq|Parkway|Pkwy|Highway|Hwy"
)
_ADDRESSES = [
    re.compile(rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:[A-Z][\w'.-]*\s+){{1,4}}(?:{_STREET_EN})\b\.?"),
    # At most five hyphenated parts: unbounded, every "-Aa" of "Aa-Aa-Aa-..." would rescan
    # the chain to its end, quadratic in its length; bounded, each start reads a few words.
    re.compile(
        r"\b[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+){0,5}-?"
        r"(?i:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|"
        r"straat|laan|plein|gracht|kade|singel|dijk|steeg)"
        r"\s+\d{1,4}(?:\s?[a-zA-Z]\b)?"
    ),
    re.compile(
        r"\b[A-ZÄÖÜ][a-zäöüß]+(?:er|sche)?\s+(?:Straße|Strasse|Str\.|Weg|Allee|Platz|Gasse|Ring)"
        r"\s+\d{1,4}(?:\s?[a-zA-Z]\b)?"
    ),
    re.compile(
        r"\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|chemin|all[ée]e|"
        r"impasse|quai|route)\s+(?:(?:de|du|des|la|le|l'|d')\s*)*[A-ZÀ-Ý][\w'-]+"
        r"(?:\s+[A-ZÀ-Ý][\w'-]+){0,3}",
        re.IGNORECASE,
    ),
    re.compile(
        r"\b(?:Calle|C/|Avenida|Avda\.?|Plaza|Paseo|Camino|Carrer)\s+(?:(?:de|del|la|las|los|el)\s+)*"
        r"[A-ZÁÉÍÓÚÑ][\w'-]+(?:\s+[A-ZÁÉÍÓÚÑ][\w'-]+){0,3},?\s*(?:n[º°o]\.?\s*)?\d{1,4}\b"
    ),
]
_UK_POSTCODE = re.compile(
    r"\b(?:[A-PR-UWYZ][A-HK-Y]?\d[A-HJKS-UW\d]?|GIR) ?\d[ABD-HJLNP-UW-Z]{2}\b"
)


def luhn_valid(digits: str) -> bool:
    """True when a digit string passes the Luhn checksum (payment cards)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(compact: str) -> bool:
    """True when an IBAN (no spaces, upper case) has its country's length and passes mod-97."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def _regex(pattern: re.Pattern[str], kind: str) -> Finder:
    return lambda text: [(m.start(), m.end(), kind) for m in pattern.finditer(text)]


def _urls(text: str) -> list[tuple[int, int, str]]:
    # Plain links are useful context; only links carrying credentials or tokens go.
    return [
        (m.start(), m.end(), "url")
        for m in _URL.finditer(text)
        if _URL_USERINFO.match(m.group()) or _URL_SECRET_PARAM.search(m.group())
    ]


def _ibans(text: str) -> list[tuple[int, int, str]]:
    found = []
    for m in _IBAN_START.finditer(text):
        length = IBAN_LENGTHS.get(m.group(1).upper())
        if length is None:
            continue
        compact, i = "", m.start()
        while i < len(text) and len(compact) < length:
            char = text[i]
            if char.isascii() and char.isalnum():
                compact += char.upper()
            elif not (char in " -" and compact and i + 1 < len(text) and text[i + 1].isalnum()):
                break
            i += 1
        boundary = i >= len(text) or not text[i].isalnum()
        if len(compact) == length and boundary and iban_valid(compact):
            found.append((m.start(), i, "iban"))
    return found


def _cards(text: str) -> list[tuple[int, int, str]]:
    found = []
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_valid(digits):
            found.append((m.start(), m.end(), "card"))
    return found


def _ips(text: str) -> list[tuple[int, int, str]]:
    found = []
    for m in _IPV4.finditer(text):
        before = text[max(0, m.start() - 9) : m.start()].lower()
        # "v1.2.3.4" / "version 10.2.0.1" are app versions, not addresses.
        if before.endswith("v") or "version" in before:
            continue
        if all(int(octet) <= 255 for octet in m.group().split(".")):
            found.append((m.start(), m.end(), "ip"))
    for m in _IPV6.finditer(text):
        if m.group().count(":") >= 2:
            try:
                ipaddress.IPv6Address(m.group())
            except ValueError:
                continue
            found.append((m.start(), m.end(), "ip"))
    return found


def _phones(text: str) -> list[tuple[int, int, str]]:
    found = []
    for m in _PHONE.finditer(text):
        candidate, start = m.group(), m.start()
        digits = re.sub(r"\D", "", candidate)
        before = text[max(0, start - 40) : start].rstrip(" \t(")
        if not 7 <= len(digits) <= 15 or _DATE.match(candidate):
            continue
        cued = bool(_PHONE_CUE.search(before))
        if _NOT_PHONE_CUE.search(before) and not cued:
            continue
        international = candidate.startswith(("+", "00")) and len(digits) >= 8
        local = (
            (_LOCAL_ZERO.match(candidate) is not None and 9 <= len(digits) <= 12)
            or _NANP.match(candidate) is not None
            or _GROUPED_9.match(candidate) is not None
        )
        if international or local or (cued and len(digits) >= 7):
            found.append((start, start + len(candidate), "phone"))
    return found


def _secrets(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(3), m.end(3), "secret") for m in _SECRET.finditer(text)]


def _addresses(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), "address") for p in _ADDRESSES for m in p.finditer(text)]


# Order matters: a URL holds e-mail-like userinfo, an IBAN and a card hold phone-like digits.
DETECTORS: list[Finder] = [
    _urls,
    _regex(_EMAIL, "email"),
    _secrets,
    _ibans,
    _cards,
    _regex(_SSN, "ssn"),
    _regex(_NINO, "nino"),
    _ips,
    _phones,
    _addresses,
    _regex(_UK_POSTCODE, "postcode"),
]
PLACEHOLDERS = {
    kind: f"[{kind.upper()}]"
    for kind in (
        "url",
        "email",
        "secret",
        "iban",
        "card",
        "ssn",
        "nino",
        "ip",
        "phone",
        "address",
        "postcode",
    )
}


@dataclass(frozen=True, slots=True)
class Redaction:
    """A text with its PII replaced, and how many values of each kind were replaced."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)


def _replace(text: str, spans: list[tuple[int, int, str]], counts: Counter[str]) -> str:
    kept: list[tuple[int, int, str]] = []
    for span in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    out, last = [], 0
    for start, end, kind in kept:
        out += [text[last:start], PLACEHOLDERS[kind]]
        counts[kind] += 1
        last = end
    out.append(text[last:])
    return "".join(out)


def redact(text: str) -> Redaction:
    """Replaces e-mails, phones, cards, IBANs, IPs, secret URLs, national ids and addresses."""
    if not text:
        return Redaction(text)
    counts: Counter[str] = Counter()
    for detector in DETECTORS:
        spans = detector(text)
        if spans:
            text = _replace(text, spans, counts)
    return Redaction(text, dict(counts))
