"""What a feedback item asks of us: complaint, praise, question or remark (pure).

A complaint (signals.is_complaint) wants a fix; a question or a request tied to one order wants
an answer from an owner; praise wants thanks; a remark wants nothing. The question detector
reads multilingual cues (en, fr, de, es, it, pt, nl), not only a question mark: interrogative
words that open a sentence, request phrases anywhere ("could you", "pouvez-vous", "können Sie",
"¿", "gostaria de saber", "kunt u"), and order references. Its precision and recall per
language are measured on a labelled set in services/prioritize/tests/data/questions.json.

A complaint tied to one order or ticket that says what went wrong with it ("my parcel #12345
never arrived") is a one-off incident (`incident_reason`): it is answered individually in the
answer queue until more customers report the same (services/prioritize/tests/data/incidents.json
holds its labelled set).
"""

import re
from typing import Any, Final

from feedloop.common.events import FeedbackEnriched, FeedbackKind
from feedloop.prioritize.signals import Signals

# fmt: off
# Words that make a sentence a question when they open it (lower case, per language).
_OPENERS: Final[dict[str, tuple[str, ...]]] = {
    "en": (
        "does", "do", "is", "are", "can", "could", "will", "would", "when", "where", "what",
        "how", "why", "which", "who", "should", "has", "have", "did",
    ),
    "fr": (
        "est-ce", "pouvez-vous", "pourriez-vous", "quand", "où", "pourquoi", "comment", "quel",
        "quelle", "quels", "quelles", "combien", "avez-vous", "est-il", "y a-t-il",
    ),
    "de": (
        "wann", "wo", "wie", "warum", "welche", "welcher", "welches", "was", "können", "könnten",
        "kann", "gibt", "ist", "sind", "hat", "haben", "wieso", "passt", "wird", "werden",
    ),
    "es": (
        "cuándo", "cuando", "dónde", "donde", "cómo", "por qué", "cuál", "cuáles", "qué",
        "pueden", "podrían", "puedo", "hay", "tienen",
    ),
    "it": (
        "quando", "dove", "come", "perché", "quale", "quali", "potete", "potreste", "posso",
        "c'è", "avete", "è possibile",
    ),
    "pt": (
        "quando", "onde", "como", "por que", "porque", "qual", "quais", "podem", "poderiam",
        "posso", "há", "existe", "vocês têm", "tem",
    ),
    "nl": (
        "wanneer", "waar", "hoe", "waarom", "welke", "wat", "kunnen", "kunt", "kan", "is",
        "zijn", "heeft", "hebben", "past",
    ),
}
# Request phrases, anywhere in the text.
_REQUESTS: Final = (
    # en
    "could you", "can you", "would you", "please let me know", "please tell me",
    "i would like to know", "i'd like to know", "i need to know", "i am wondering",
    "i'm wondering", "i wonder", "please advise", "please send me", "please cancel",
    "please refund", "please change",
    # fr
    "pouvez-vous", "pourriez-vous", "je voudrais savoir", "j'aimerais savoir",
    "merci de me dire", "merci de m'indiquer", "je souhaiterais savoir", "pouvez vous",
    # de
    "können sie", "könnten sie", "ich möchte wissen", "ich würde gerne wissen",
    "bitte teilen sie mir", "bitte sagen sie mir", "ich hätte gerne gewusst",
    "bitte stornieren", "ist es möglich",
    # es
    "¿", "quisiera saber", "me gustaría saber", "pueden decirme", "podrían decirme",
    "necesito saber", "por favor díganme", "podrían indicarme",
    # it
    "vorrei sapere", "potete dirmi", "potreste dirmi", "mi potete", "mi sapete dire",
    "avrei bisogno di sapere",
    # pt
    "gostaria de saber", "podem me dizer", "poderiam me dizer", "preciso saber",
    "vocês podem", "me digam",
    # nl
    "kunt u", "kunnen jullie", "ik wil graag weten", "ik zou graag willen weten",
    "laat me weten", "kunt u mij vertellen",
)
# fmt: on
_ORDER_REF: Final = re.compile(
    r"(?:#\s?(?P<hash>[A-Z0-9][A-Z0-9-]{3,19})\b)"
    r"|(?:\b(?:order|commande|bestellung|pedido|ordine|encomenda|bestelling|ticket|"
    r"auftrag|bestellnummer|numéro de commande|n[°º]|nr\.?|no\.?)\s*(?:number|nummer|"
    r"numéro|número|numero|nr\.?|no\.?|#)?\s*:?\s*(?P<word>[A-Z]{0,4}-?\d[A-Z0-9-]{3,19})\b)",
    re.IGNORECASE,
)
# fmt: off
# What a one-off incident says happened to one order (lower case; whole words), per language.
_INCIDENT_CUES: Final = (
    # en
    "never arrived", "not arrived", "hasn't arrived", "has not arrived", "didn't arrive",
    "did not arrive", "never received", "not received", "haven't received", "have not received",
    "didn't receive", "did not receive", "lost", "missing", "damaged", "arrived broken",
    "wrong item", "charged twice", "double charged", "still waiting", "not delivered",
    "no refund", "refund", "never came", "not been delivered", "was delivered to",
    # fr
    "jamais reçu", "pas reçu", "jamais arrivé", "pas arrivé", "pas encore arrivé", "perdu",
    "manquant", "endommagé", "arrivé cassé", "mauvais article", "remboursement",
    "débité deux fois", "toujours pas", "pas été livré", "jamais été livré",
    # de
    "nie angekommen", "nicht angekommen", "nicht erhalten", "nie erhalten", "verloren", "fehlt",
    "beschädigt", "kaputt angekommen", "falschen artikel", "falscher artikel", "rückerstattung",
    "doppelt abgebucht", "immer noch nicht", "nicht geliefert", "noch nicht da",
    # es
    "nunca llegó", "no ha llegado", "no llegó", "no he recibido", "no recibí", "perdido",
    "dañado", "llegó roto", "artículo equivocado", "reembolso", "cobrado dos veces",
    "cobraron dos veces", "todavía no", "no fue entregado",
    # it
    "mai arrivato", "non è arrivato", "non è mai arrivato", "non ho ricevuto", "mai ricevuto",
    "smarrito", "perso", "danneggiato", "arrivato rotto", "articolo sbagliato", "rimborso",
    "addebitato due volte", "ancora non", "non consegnato",
    # pt
    "nunca chegou", "não chegou", "não recebi", "nunca recebi", "extraviado", "perdida",
    "danificado", "chegou quebrado", "produto errado", "artigo errado", "reembolso",
    "cobrado duas vezes", "ainda não", "não foi entregue",
    # nl
    "nooit aangekomen", "niet aangekomen", "niet ontvangen", "nooit ontvangen", "kwijt",
    "zoekgeraakt", "ontbreekt", "beschadigd", "kapot aangekomen", "verkeerde artikel",
    "terugbetaling", "dubbel afgeschreven", "nog steeds niet", "niet geleverd",
)
# fmt: on
_INCIDENT: Final = re.compile(
    r"(?<!\w)(?:"
    + "|".join(re.escape(c) for c in sorted(_INCIDENT_CUES, key=len, reverse=True))
    + r")(?!\w)"
)
_SENTENCE: Final = re.compile(r"(?<=[.!?\n])\s+")
MAX_TEXT: Final = 5000
"""Only the first characters are read: the cues sit early and the time stays bounded."""


def order_refs(text: str) -> list[str]:
    """Returns the order or ticket references a text names (deduplicated, in order)."""
    found: dict[str, None] = {}
    for match in _ORDER_REF.finditer(text[:MAX_TEXT]):
        ref = match.group("hash") or match.group("word")
        if ref and any(ch.isdigit() for ch in ref):
            found[ref.upper()] = None
    return list(found)[:10]


def _opens_question(sentence: str, language: str | None) -> bool:
    if sentence.rstrip().endswith("!"):
        return False  # "What a great shop!" exclaims
    words = sentence.lower().lstrip("\"'«„¡¿\u2013\u2014- ").split()
    if not words:
        return False
    head, pair = words[0].strip(",:;"), " ".join(words[:2])
    languages = [language] if language in _OPENERS else list(_OPENERS)
    return any(head in _OPENERS[lang] or pair in _OPENERS[lang] for lang in languages)


def is_question(text: str, language: str | None = None) -> bool:
    """True when the text asks something or requests something for the customer.

    A question mark counts, and so does a sentence opened by an interrogative word of the
    item's language (any of the seven when the language is unknown) or a request phrase.
    """
    text = text[:MAX_TEXT]
    if "?" in text or "\uff1f" in text:
        return True
    lowered = " ".join(text.lower().split())
    if any(phrase in lowered for phrase in _REQUESTS):
        return True
    lang = (language or "").split("-")[0].lower() or None
    sentences = [s for s in _SENTENCE.split(text) if s.strip()]
    # An opener alone, without "?", only counts in a short text (a one-line question):
    # in a long review "How it fits is lovely" is a statement.
    return len(sentences) <= 2 and any(_opens_question(s, lang) for s in sentences)


def incident_reason(text: str, refs: list[str] | None = None) -> str | None:
    """Why a complaint is a one-off incident of one order or ticket; None: it is not one.

    One: it names an order or ticket (the item's own references or its text's) and says what
    went wrong with it ("never arrived", "nicht erhalten", "cobrado dos veces", ...). A
    complaint about the product in general stays a (possible) pattern, order number or not.
    """
    named = list(dict.fromkeys([*(refs or []), *order_refs(text)]))
    if not named:
        return None
    cue = _INCIDENT.search(" ".join(text[:MAX_TEXT].lower().split()))
    if cue is None:
        return None
    return f"one-off incident: names {named[0]} and says {cue.group(0)!r}"


def is_praise(event: FeedbackEnriched, signals: Signals, *, min_confidence: float) -> bool:
    """True for a positive text (confident enough) or a promoter's score or a top rating."""
    sentiment = event.enrichment.sentiment
    if sentiment.label == "positive" and sentiment.confidence >= min_confidence:
        return True
    top_rating = signals.rating is not None and signals.rating >= 0.8
    promoter = signals.nps is not None and signals.nps >= 9
    return (promoter or top_rating) and sentiment.label != "negative"


def kind_of(
    event: FeedbackEnriched,
    signals: Signals,
    *,
    complaint: bool,
    praise_min_confidence: float = 0.6,
) -> FeedbackKind:
    """Returns what the item asks of us; a complaint stays a complaint, even when it asks."""
    if complaint:
        return "complaint"
    item: Any = event.item
    text = item.text or ""
    if is_question(text, event.enrichment.language.code):
        return "question"
    if is_praise(event, signals, min_confidence=praise_min_confidence):
        return "praise"
    return "remark"
