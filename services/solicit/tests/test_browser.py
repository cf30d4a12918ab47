"""The hosted survey page in a real browser (Debian Chromium): accessible, phone-sized, no script.

axe-core finds no serious or critical violation; a keyboard alone answers the survey.
"""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from feedloop.common import topics
from feedloop.common.codec import decode
from feedloop.common.events import FeedbackReceived
from feedloop.solicit.app import create_app
from playwright.async_api import Page

from tests.support.browser import PHONE, axe_violations, browser, page, serve_in_thread
from tests.support.kafka import read_topic
from tests.support.keys import TEST_API_KEY
from tests.support.polling import eventually
from tests.support.receivers import SmtpServer

from .conftest import make_settings

__all__ = ["browser", "page"]
LINK = re.compile(r"https?://[^/\s]+(/s/[A-Za-z0-9_.-]+)")


async def test_the_survey_page_is_accessible_and_answered_by_keyboard_on_a_phone(
    page: Page, tmp_path: Path, kafka_bootstrap: str, topic_prefix: str, smtp: SmtpServer
) -> None:
    settings = make_settings(
        tmp_path,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=topic_prefix,
        smtp_port=smtp.port,
    )
    with serve_in_thread(create_app(settings)) as url:
        body = {
            "source_system": "shop",
            "touchpoint_id": "b-1",
            "type": "ticket.solved",
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "customer": {"id": "b-1", "email": "b1@example.com", "locale": "fr-FR"},
        }
        async with httpx.AsyncClient(headers={"X-API-Key": TEST_API_KEY}) as client:
            posted = await client.post(f"{url}/v1/touchpoints", json=body)
            assert posted.status_code == 200, posted.text
        mail = await eventually(lambda: smtp.handler.accepted, what="the invitation")
        link = LINK.search(mail[0].text)
        assert link is not None
        await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        await page.goto(url + link.group(1))
        assert await page.locator("html").get_attribute("lang") == "fr"
        assert await page.locator("script").count() == 0
        assert await axe_violations(page) == []
        fits = await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, "the page scrolls sideways on a phone"
        await page.keyboard.press("Tab")  # the first score
        for _ in range(3):
            await page.keyboard.press("ArrowRight")  # radio groups move with arrows: 4
        await page.keyboard.press("Tab")
        await page.keyboard.type("Rapide et aimable")
        await page.keyboard.press("Tab")
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert "Merci" in await page.content()
        assert await axe_violations(page) == []
    records = await read_topic(
        kafka_bootstrap, topic_prefix + topics.RAW_FEEDBACK, until=lambda r: len(r) >= 1
    )
    item = decode(records[0].value, accept=[FeedbackReceived]).payload.item
    assert (item.answers[0].metric, item.answers[0].score) == ("csat", 4)
    assert item.text == "Rapide et aimable"
