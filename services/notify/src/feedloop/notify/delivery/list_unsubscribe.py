"""One-click unsubscribe (RFC 2369, RFC 8058): the signed link each e-mail carries in its headers.

The token names the customer and the channel to opt out of; it is signed for the purpose
"unsubscribe" (feedloop.common.links), so no other public link (a survey's, say) can opt a
customer out, and an unsubscribe link can do nothing else. `feedloop.notify.unsubscribe` serves
the link: GET shows a page with one button, POST (the mailbox provider's one-click, or that
button) records the opt-out.
"""

from dataclasses import dataclass
from typing import Final

from feedloop.common.links import LinkClaims, LinkInvalid, LinkSigner
from feedloop.common.mail.headers import ONE_CLICK, list_unsubscribe
from feedloop.notify.delivery.mail_settings import MailAuthSettings, sender_domain

__all__ = ["ONE_CLICK", "PATH", "PURPOSE", "OptOut", "UnsubscribeLinks"]

PURPOSE: Final = "unsubscribe"
PATH: Final = "/v1/unsubscribe"


@dataclass(frozen=True, slots=True)
class OptOut:
    """What a verified unsubscribe link asks for."""

    customer_id: str
    channel: str


class UnsubscribeLinks:
    """Makes and reads the unsubscribe links of one notify instance."""

    def __init__(self, settings: MailAuthSettings, *, mail_from: str) -> None:
        self.signer: LinkSigner = settings.link_signer()
        self.base = settings.public_base_url + PATH
        self.mailto = settings.unsubscribe_mailto or f"unsubscribe@{sender_domain(mail_from)}"
        self.ttl_s = settings.unsubscribe_link_days * 24 * 3600

    def token(self, customer_id: str, channel: str = "email") -> str:
        """Returns a signed token that opts `customer_id` out of `channel`."""
        return self.signer.sign(
            purpose=PURPOSE, subject=customer_id, ttl_s=self.ttl_s, data={"ch": channel}
        )

    def url(self, token: str) -> str:
        """Returns the https (or, locally, http) link of a token."""
        return f"{self.base}/{token}"

    def header(self, customer_id: str) -> str:
        """Returns the List-Unsubscribe value: the https link first, then the mailto."""
        token = self.token(customer_id)
        return list_unsubscribe(self.url(token), self.mailto, token)

    def read(self, token: str) -> OptOut:
        """Returns what a genuine, unexpired link asks for; raises LinkInvalid otherwise."""
        claims: LinkClaims = self.signer.verify(token, purpose=PURPOSE)
        channel = claims.data.get("ch", "email")
        if channel not in ("email", "webhook", "all"):
            raise LinkInvalid("unsubscribe link names an unknown channel")
        return OptOut(customer_id=claims.subject, channel=channel)
