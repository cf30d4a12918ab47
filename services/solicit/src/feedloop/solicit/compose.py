"""Turning a claimed invitation into the message its channel sends (links signed here)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedloop.common.links import LinkSigner
from feedloop.solicit.channels import Kind, Outgoing
from feedloop.solicit.messages import texts
from feedloop.solicit.programs import Program

SURVEY_PURPOSE = "survey"
UNSUBSCRIBE_PURPOSE = "unsubscribe"
UNSUBSCRIBE_TTL_S = 365 * 86400


@dataclass(frozen=True)
class Claimed:
    """An invitation the sender holds a lease on, with what its message needs."""

    id: str
    program_id: str
    touchpoint_id: str
    customer_id: str
    source_system: str
    channel: str
    language: str
    stage: str
    attempts: int
    due_at: datetime
    expires_at: datetime
    details: dict[str, Any]

    @property
    def kind(self) -> Kind:
        """An invitation first, then (stage sent) its reminder."""
        return "survey.invitation" if self.stage == "scheduled" else "survey.reminder"

    @property
    def email(self) -> str | None:
        """The customer's address, if the touchpoint gave one."""
        email: str | None = self.details.get("customer", {}).get("email")
        return email


def survey_url(base: str, signer: LinkSigner, invitation_id: str, ttl_s: float) -> str:
    """The signed, expiring link to an invitation's survey page."""
    token = signer.sign(purpose=SURVEY_PURPOSE, subject=invitation_id, ttl_s=max(ttl_s, 1))
    return f"{base.rstrip('/')}/s/{token}"


def unsubscribe_token(signer: LinkSigner, invitation_id: str) -> str:
    """The signed token that opts an invitation's customer out (the link's and the mailto's)."""
    return signer.sign(purpose=UNSUBSCRIBE_PURPOSE, subject=invitation_id, ttl_s=UNSUBSCRIBE_TTL_S)


def unsubscribe_url(base: str, token: str) -> str:
    """The one-click unsubscribe link (RFC 8058) of a token."""
    return f"{base.rstrip('/')}/u/{token}"


def compose(
    claimed: Claimed, program: Program, *, base: str, signer: LinkSigner, now: datetime
) -> Outgoing:
    """The message of a claimed invitation (or reminder) in the customer's language."""
    words = texts(claimed.language)
    reminding = claimed.kind == "survey.reminder"
    survey = survey_url(base, signer, claimed.id, (claimed.expires_at - now).total_seconds())
    token = unsubscribe_token(signer, claimed.id)
    unsubscribe = unsubscribe_url(base, token)
    lines = [
        words["greeting"],
        "",
        words["reminder"] if reminding else words["invite"],
        survey,
        "",
        f"{words['unsubscribe']}: {unsubscribe}",
    ]
    return Outgoing(
        key=f"{claimed.id}.{'reminder' if reminding else 'invitation'}",
        kind=claimed.kind,
        customer_id=claimed.customer_id,
        source_system=claimed.source_system,
        language=claimed.language,
        email=claimed.email,
        subject=words["reminder_subject"] if reminding else words["subject"],
        text="\n".join(lines) + "\n",
        survey_url=survey,
        unsubscribe_url=unsubscribe,
        unsubscribe_token=token,
        payload={
            "kind": claimed.kind,
            "invitation_id": claimed.id,
            "program_id": claimed.program_id,
            "touchpoint_id": claimed.touchpoint_id,
            "customer_id": claimed.customer_id,
            "language": claimed.language,
            "survey_url": survey,
            "unsubscribe_url": unsubscribe,
            "expires_at": claimed.expires_at.isoformat(),
            "survey": program.survey.model_dump(mode="json"),
        },
    )
