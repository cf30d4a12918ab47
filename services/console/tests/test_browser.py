"""In a real browser (Debian's headless Chromium): a CX lead signs in, sees the sizing issue
ranked first, resolves it with a previewed message, and sees customers notified and the
impact of the fix. The loop behind it is real: prioritize and notify on the test broker."""

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.support.browser import PHONE, axe_violations
from tests.support.browser import browser as browser
from tests.support.browser import page as page

from .loop import (
    SIZING,
    SIZING_CUSTOMERS,
    Loop,
    eventually,
    running_loop,
    story_after,
    story_before,
)
from .surveys_seed import ANSWERS, INVITED, PROGRAM

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
MESSAGE = "We fixed the size chart: the jeans now fit as labelled. Thank you for telling us."
PAGES = (
    "/",
    "/?tier=standard&language=en",
    "/issues",
    "/feedback",
    "/impact",
    "/notifications",
    "/surveys",
    "/alerts",
    "/digest",
)


@pytest.fixture(scope="module")
async def loop(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Loop]:
    """The seeded loop: the sizing pattern grouped and ranked by prioritize."""
    folder: Path = tmp_path_factory.mktemp("console-loop")
    with running_loop(kafka_bootstrap, folder) as running:
        await asyncio.to_thread(running.send, story_before(running.run))
        async with running.api(running.prioritize) as api:

            async def sizing_first() -> bool:
                items = (await api.get("/v1/issues", params={"limit": 5})).json()["items"]
                return bool(
                    items
                    and items[0]["theme"] == SIZING
                    and items[0]["distinct_customers"] == SIZING_CUSTOMERS
                )

            await eventually(sizing_first, timeout_s=90, what="the sizing issue ranked first")
        yield running


async def sign_in(page: Page, loop: Loop) -> None:
    """The local login with the seeded user."""
    await page.goto(f"{loop.console}/issues")
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.get_by_label("Password").fill("feedloop-local")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/issues$"))


async def test_cx_lead_resolves_the_sizing_issue_and_sees_the_loop_close(
    page: Page, loop: Loop
) -> None:
    await sign_in(page, loop)
    first = page.locator("ol.issues > li").first
    await expect(first.locator(".meta")).to_contain_text(SIZING)
    await expect(first.locator(".meta")).to_contain_text(f"{SIZING_CUSTOMERS} customers")
    await expect(first.locator("table.factors svg.bar").first).to_be_visible()

    await first.locator("a.title").click()
    await expect(page.get_by_role("heading", name="Evidence")).to_be_visible()
    await expect(page.locator("ul.evidence blockquote").first).to_contain_text("sizes small")
    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page.locator(".flash")).to_have_text("Acknowledged.")
    await expect(page.locator("table").last).to_contain_text("new → acknowledged")

    await page.get_by_label(re.compile("^Message to the")).fill(MESSAGE)
    await page.get_by_role("button", name="Preview and resolve…").click()
    await expect(page.locator("#preview-message")).to_have_text(MESSAGE)
    await page.get_by_role(
        "button", name=f"Resolve and notify {SIZING_CUSTOMERS} customers"
    ).click()
    await expect(page.locator(".flash")).to_contain_text("Resolved")
    await expect(page.locator(".badge").first).to_have_text("resolved")
    await expect(page.locator("table").last).to_contain_text("cx-lead (admin) in the console")

    # notify told every sizing customer once, through the webhook.
    async def delivered() -> bool:
        await page.goto(f"{loop.console}/notifications")
        cell = page.locator('tr:has(th:text-is("webhook")) td[data-outcome="delivered"]')
        return await cell.count() == 1 and int(await cell.inner_text()) >= SIZING_CUSTOMERS

    await eventually(delivered, timeout_s=60, what="the resolution notifications counted")
    assert len([c for c in loop.sink.calls if c == "/webhooks/shop"]) >= SIZING_CUSTOMERS

    # After the fix, praise only: the impact chart shows the complaint rate falling.
    await asyncio.to_thread(loop.send, story_after(loop.run))
    async with loop.api(loop.prioritize) as api:

        async def stored() -> bool:
            scores = (await api.get("/v1/kpis/scores")).json()
            return bool(scores["overall"]["feedback"] >= 25)

        await eventually(stored, what="the praise after the fix stored")
    await page.goto(f"{loop.console}/impact")
    box = page.locator("section.impact-box").first
    await expect(box.locator("svg.impact")).to_be_visible()
    await expect(box.locator(".verdict")).to_contain_text("fell from")
    await expect(box.locator(".verdict")).to_contain_text("significant at p")
    assert not page.errors  # type: ignore[attr-defined]


async def test_pages_pass_axe_and_fit_a_phone(page: Page, loop: Loop) -> None:
    await page.goto(f"{loop.console}/login")
    assert not await axe_violations(page)
    await sign_in(page, loop)
    issue = await page.locator("ol.issues a.title").first.get_attribute("href")
    await page.goto(f"{loop.console}/feedback")
    item = await page.locator("table.verbatims td a").first.get_attribute("href")
    paths = (*PAGES, issue or "/issues", item or "/feedback")
    for path in paths:
        await page.goto(f"{loop.console}{path}")
        serious = await axe_violations(page)
        assert not serious, (path, [(v["id"], v["help"], v["nodes"][:2]) for v in serious])
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    for path in paths:
        await page.goto(f"{loop.console}{path}")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, (path, width)
    assert not page.errors  # type: ignore[attr-defined]


async def test_feedback_of_the_filtered_issues_exports_as_csv(page: Page, loop: Loop) -> None:
    await sign_in(page, loop)
    await page.get_by_label("Theme").fill(SIZING)
    await page.get_by_label("Status").select_option("")
    await page.get_by_role("button", name="Filter").click()
    href = await page.get_by_role("link", name="Export feedback (CSV)").get_attribute("href")
    assert href is not None and f"theme={SIZING}" in href
    response = await page.request.get(f"{loop.console}{href}")
    assert response.ok and response.headers["content-type"].startswith("text/csv")
    lines = (await response.text()).splitlines()
    assert lines[0].startswith("issue_id,issue_title,theme,status")
    assert len(lines) > 1 and all(f",{SIZING}," in line for line in lines[1:])


async def test_surveys_show_response_rates_beside_their_scores(page: Page, loop: Loop) -> None:
    await sign_in(page, loop)
    await page.get_by_role("link", name="Surveys").click()
    await expect(page.get_by_role("heading", name="Surveys", exact=True)).to_be_visible()
    await expect(page.locator('[data-field="sent"]')).to_have_text(str(INVITED))
    await expect(page.locator('[data-field="answered"]')).to_have_text(str(len(ANSWERS)))
    await expect(page.locator('[data-field="response-rate"]')).to_contain_text("67 % (")
    rows = page.locator("table.surveys tbody tr")
    await expect(rows).to_have_count(2)  # one program and channel, two segments
    await expect(rows.first).to_contain_text(PROGRAM)
    await expect(rows.first).to_contain_text("NPS ")
    assert not page.errors  # type: ignore[attr-defined]


async def test_an_admin_subscribes_to_alerts_and_reads_the_digest(page: Page, loop: Loop) -> None:
    await sign_in(page, loop)
    await page.get_by_role("link", name="Alerts").click()
    await page.get_by_label("Name").fill("Product team")
    await page.get_by_label("Channel").select_option("webhook")
    await page.get_by_label("Address or webhook URL").fill("http://127.0.0.1:9/slack-hook")
    await page.get_by_label("Spikes of these themes only").fill(SIZING)
    await page.get_by_role("button", name="Subscribe").click()
    row = page.locator("table tbody tr", has_text="Product team")
    await expect(row).to_contain_text("http://127.0.0.1:9/slack-hook")
    await expect(row).to_contain_text(SIZING)
    await page.get_by_role("button", name="Delete the subscription Product team").click()
    await expect(page.locator("table tbody tr", has_text="Product team")).to_have_count(0)
    await page.get_by_role("link", name="Digest").click()
    await expect(
        page.get_by_role("heading", name=re.compile("^Weekly digest, week of"))
    ).to_be_visible()
    await expect(page.locator("pre.digest")).to_contain_text("Top issues:")
    await expect(page.locator("pre.digest")).to_contain_text(SIZING)
    assert not page.errors  # type: ignore[attr-defined]
