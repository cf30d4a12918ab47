"""What a claimed invitation becomes: the message, its links and headers; when it must not go."""

from datetime import UTC, datetime, timedelta

from feedloop.common.links import LinkSigner, parse_link_keys
from feedloop.solicit.channels import mail_message
from feedloop.solicit.compose import SURVEY_PURPOSE, UNSUBSCRIBE_PURPOSE, Claimed, compose
from feedloop.solicit.programs import Program, Survey
from feedloop.solicit.queue import backoff_s
from feedloop.solicit.sender import unsendable
from feedloop.solicit.settings import SolicitSettings

from .conftest import LINK_KEYS

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PROGRAM = Program(id="nps", trigger="order.delivered", survey=Survey(metric="nps"), window_s=3600)
SIGNER = LinkSigner(parse_link_keys(LINK_KEYS), clock=lambda: NOW.timestamp())


def claimed(stage: str = "scheduled", **overrides: object) -> Claimed:
    values: dict[str, object] = {
        "id": "inv-1",
        "program_id": "nps",
        "touchpoint_id": "tp-1",
        "customer_id": "c-1",
        "source_system": "shop",
        "channel": "email",
        "language": "de",
        "stage": stage,
        "attempts": 1,
        "due_at": NOW,
        "expires_at": NOW + timedelta(days=14),
        "details": {"customer": {"email": "c1@example.com"}},
    }
    return Claimed(**(values | overrides))  # type: ignore[arg-type]


def test_an_invitation_e_mail_carries_its_key_language_and_one_click_unsubscribe() -> None:
    message = compose(claimed(), PROGRAM, base="https://s.example/", signer=SIGNER, now=NOW)
    assert message.key == "inv-1.invitation" and message.subject.startswith("Wie waren wir")
    mail = mail_message(message, SolicitSettings(environment="test"))
    assert mail["Message-ID"] == "<inv-1.invitation@solicit.feedloop.example>"
    assert mail["Content-Language"] == "de"
    mailto = "unsubscribe@feedloop.example?subject=unsubscribe%20" + message.unsubscribe_token
    assert mail["List-Unsubscribe"] == f"<{message.unsubscribe_url}>, <mailto:{mailto}>"
    assert message.unsubscribe_url.endswith("/u/" + message.unsubscribe_token)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.survey_url in mail.get_content()
    survey_token = message.survey_url.rsplit("/", 1)[1]
    assert SIGNER.verify(survey_token, purpose=SURVEY_PURPOSE).subject == "inv-1"
    unsubscribe_token = message.unsubscribe_url.rsplit("/", 1)[1]
    assert SIGNER.verify(unsubscribe_token, purpose=UNSUBSCRIBE_PURPOSE).subject == "inv-1"


def test_the_reminder_has_its_own_key_and_words() -> None:
    message = compose(claimed("sent"), PROGRAM, base="https://s.example", signer=SIGNER, now=NOW)
    assert message.key == "inv-1.reminder" and message.kind == "survey.reminder"
    assert message.subject.startswith("Erinnerung")


def test_what_must_not_be_sent() -> None:
    assert unsendable(claimed(), PROGRAM, blocked=None, now=NOW) is None
    assert unsendable(claimed(), PROGRAM, blocked="opted_out", now=NOW) == "opted_out"
    assert unsendable(claimed(), None, blocked=None, now=NOW) == "program_off"
    late = NOW + timedelta(hours=2)  # the sender was down past the program's window
    assert unsendable(claimed(), PROGRAM, blocked=None, now=late) == "too_old"
    after = NOW + timedelta(days=15)
    assert unsendable(claimed("sent"), PROGRAM, blocked=None, now=after) == "expired"


def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    waits = [backoff_s(n, base_s=5, max_s=60) for n in range(1, 7)]
    assert waits == [5, 10, 20, 40, 60, 60]
