"""Which one channel a notification goes through, and whom to acknowledge: pure rules.

Routing: feedback that came in through a channel of `email_first_for` (by default: e-mail) is
answered by e-mail when the customer's address is known. Otherwise the channels of
`channel_order` are tried in turn (by default: the originating system's webhook when it has a
callback URL, then e-mail when the address is known and SMTP is configured); the first
available one wins. None available: outcome `no_channel`. Opt-outs do not re-route: a customer
who opted out of the chosen channel is not contacted through another one (outcome `opted_out`).
"""

from dataclasses import dataclass
from typing import Literal

from feedloop.common.events import FeedbackPrioritized
from feedloop.notify.settings import DeliveryChannel, NotifySettings

Route = DeliveryChannel | Literal["none"]


@dataclass(frozen=True, slots=True)
class Contact:
    """What routing needs to know about one feedback item and its customer."""

    source_system: str
    feedback_channel: str
    email: str | None


def route(contact: Contact, settings: NotifySettings) -> Route:
    """Returns the channel of a notification for this feedback item."""
    system = settings.webhooks.get(contact.source_system)
    available: dict[DeliveryChannel, bool] = {
        "webhook": system is not None and system.callback_url is not None,
        "email": contact.email is not None and settings.smtp_server is not None,
    }
    if contact.feedback_channel in settings.email_first_for and available["email"]:
        return "email"
    for channel in settings.channel_order:
        if available[channel]:
            return channel
    return "none"


def wants_acknowledgement(event: FeedbackPrioritized, settings: NotifySettings) -> bool:
    """True when the ack policy promises this reporter an immediate "we hear you"."""
    policy = settings.ack
    if not policy.enabled or event.issue_status == "resolved":
        return False
    if event.severity in policy.severities:
        return True
    nps = event.feedback.survey_scores.get("nps")
    if policy.nps_detractor_max is not None and nps is not None and nps <= policy.nps_detractor_max:
        return True
    sentiment = event.feedback.sentiment
    return (
        policy.sentiment_at_most is not None
        and sentiment is not None
        and sentiment.score <= policy.sentiment_at_most
    )


def wants_thanks(event: FeedbackPrioritized, settings: NotifySettings) -> bool:
    """True when the thank-you policy thanks this praise (a promoter, a sure positive text)."""
    policy = settings.thanks
    if not policy.enabled:
        return False
    nps = event.feedback.survey_scores.get("nps")
    if policy.nps_promoter_min is not None and nps is not None and nps >= policy.nps_promoter_min:
        return True
    sentiment = event.feedback.sentiment
    return (
        policy.sentiment_at_least is not None
        and sentiment is not None
        and sentiment.label == "positive"
        and sentiment.score >= policy.sentiment_at_least
        and sentiment.confidence >= policy.min_confidence
    )
