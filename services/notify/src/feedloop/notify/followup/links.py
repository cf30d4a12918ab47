"""Signed follow-up links: one per customer and resolved issue ("Is it fixed for you?").

The token is signed for the purpose "followup" (feedloop.common.links): it names the customer
(subject) and the issue, and can do nothing else; an unsubscribe token does not verify here.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from feedloop.common.links import LinkClaims, LinkInvalid, LinkSigner
from feedloop.notify.settings import NotifySettings

PURPOSE: Final = "followup"
PATH: Final = "/v1/followup"
TTL_S: Final = 60 * 24 * 3600
"""A follow-up link works for 60 days after the resolution message."""
QUESTION: Final = {
    "en": "Is it fixed for you? Tell us (yes / no / a comment):",
    "de": "Ist es für Sie behoben? Sagen Sie es uns (ja / nein / ein Kommentar):",
    "fr": "Est-ce réglé pour vous ? Dites-le-nous (oui / non / un commentaire) :",
    "es": "¿Está resuelto para usted? Díganoslo (sí / no / un comentario):",
}


@dataclass(frozen=True, slots=True)
class Asked:
    """What a verified follow-up link is about."""

    customer_id: str
    issue_id: str


class FollowupLinks:
    """Makes and reads the follow-up links of one notify instance."""

    def __init__(self, settings: NotifySettings) -> None:
        self.signer: LinkSigner = settings.link_signer()
        self.base = settings.public_base_url + PATH

    def url(self, customer_id: str, issue_id: str, *, asked_at: datetime | None = None) -> str:
        """Returns the link that asks `customer_id` whether `issue_id` is fixed for them.

        `asked_at` (the resolution's processing time) fixes the link's expiry, so planning the
        same delivery again writes the same message.
        """
        token = self.signer.sign(
            purpose=PURPOSE,
            subject=customer_id,
            ttl_s=TTL_S,
            data={"i": issue_id},
            issued_at=asked_at.timestamp() if asked_at is not None else None,
        )
        return f"{self.base}/{token}"

    def read(self, token: str) -> Asked:
        """Returns what a genuine, unexpired link asks; raises LinkInvalid otherwise."""
        claims: LinkClaims = self.signer.verify(token, purpose=PURPOSE)
        issue_id = claims.data.get("i")
        if not issue_id:
            raise LinkInvalid("follow-up link names no issue")
        return Asked(customer_id=claims.subject, issue_id=issue_id)


def with_followup(message: str | None, url: str, locale: str | None) -> str:
    """Returns the resolution message with the one follow-up question and its link."""
    language = (locale or "en").split("-")[0].lower()
    question = QUESTION.get(language, QUESTION["en"])
    return f"{message or ''}\n\n{question} {url}".strip()
