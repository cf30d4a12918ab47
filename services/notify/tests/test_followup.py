""" "Did it help?": each resolution message carries a signed link; answers come back as survey
feedback on raw-feedback, linked to the issue, through a public, rate-limited route."""

import re

import httpx
from feedloop.common import topics
from feedloop.common.codec import decode
from feedloop.common.events import FeedbackReceived

from tests.support.clients import AppClient
from tests.support.kafka import read_topic
from tests.support.polling import eventually

from .conftest import notifications_of
from .factory import NotifyLoop, issue, linked

LINK = re.compile(r"(/v1/followup/[A-Za-z0-9_.-]+)")


async def test_a_resolution_asks_did_it_help_and_the_answer_comes_back_as_survey_feedback(
    loop: NotifyLoop,
    sqlite_url: str,
) -> None:
    events = [
        linked("f1", "i1", "c1", locale="de-DE"),
        issue("i1", 2, "resolved", message="Fixed."),
    ]
    async with loop.app(sqlite_url) as client:
        await loop.send(events)

        async def delivered() -> bool:
            items = await notifications_of(client, kind="resolution")
            return bool(items) and items[0]["outcome"] == "delivered"

        assert await eventually(delivered)
        message = loop.receiver.delivered()[0].body["message"]
        assert message.startswith("Fixed.\n\nIst es für Sie behoben?"), message
        match = LINK.search(message)
        assert match, message
        link = match.group(1)
        page = await client.get(link)
        assert page.status_code == 200 and 'name="answer"' in page.text
        said = await client.post(link, json={"answer": "no", "comment": "Still too small."})
        again = await client.post(link, data={"answer": "yes"})
        assert (said.status_code, again.status_code) == (200, 200), said.text
        bad = await client.post(link, json={"answer": "maybe"})
        forged = await client.post(link[:-3] + "abc", json={"answer": "yes"})
        other = await client.post(link.replace("followup", "unsubscribe"), data={})
        records_ = await read_topic(
            loop.bootstrap,
            loop.prefix + topics.RAW_FEEDBACK,
            until=lambda rs: len(rs) >= 2,
            timeout_s=30,
        )
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert forged.status_code == 400
    assert other.status_code == 400, "a follow-up token cannot unsubscribe"
    envelopes = [decode(r.value, accept=[FeedbackReceived]) for r in records_]
    assert len({e.event_id for e in envelopes}) == 1, "one answer per customer and issue counts"
    first = envelopes[0].payload
    assert first.item.customer.id == "c1" and first.item.channel == "survey"
    assert first.item.metadata == {"followup_issue_id": "i1", "followup_answer": "no"}
    assert first.item.text == "Still too small." and first.item.locale == "de-DE"
    assert [(a.metric, a.score) for a in first.item.answers] == [("csat", 1)]
    assert all(r.key == b"c1" for r in records_)


async def test_the_public_route_is_rate_limited_before_verifying(
    app_client: AppClient, sqlite_url: str
) -> None:
    async with app_client(sqlite_url, consume=False) as client:
        codes = [
            (await client.get("/v1/followup/not.a.token", headers={"X-API-Key": ""})).status_code
            for _ in range(15)
        ]
    assert codes[0] == 400 and 429 in codes, codes


__all__ = ["httpx"]
