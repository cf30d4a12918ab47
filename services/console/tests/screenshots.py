"""`make screenshots`: every console page as a PNG, from the same seeded loop as the browser
test (prioritize and notify on the test broker), at 1280 px and at a phone's width.

    python -m services.console.tests.screenshots docs/screenshots
"""

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright

from services.console.tests.loop import (
    SIZING,
    Loop,
    eventually,
    running_loop,
    story_after,
    story_before,
)
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE
from tests.support.keys import TEST_API_KEY

MESSAGE = "We fixed the size chart: the jeans now fit as labelled. Thank you for telling us."


async def _ready(loop: Loop) -> None:
    async with httpx.AsyncClient(
        base_url=loop.prioritize, headers={"X-API-Key": TEST_API_KEY}
    ) as api:

        async def sizing_first() -> bool:
            items = (await api.get("/v1/issues", params={"limit": 1})).json()["items"]
            return bool(items and items[0]["theme"] == SIZING and items[0]["is_pattern"])

        await eventually(sizing_first, timeout_s=90, what="the sizing issue ranked first")


async def _shoot(page: Page, out: Path, name: str) -> None:
    await page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    print(f"  {out / name}.png")


async def take(loop: Loop, out: Path) -> None:
    """Signs in, walks the pages (resolving the sizing issue on the way) and shoots each."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        context = await browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
        page = await context.new_page()
        await page.goto(f"{loop.console}/login")
        await _shoot(page, out, "login")
        await page.get_by_label("Password").fill("feedloop-local")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{loop.console}/")
        await _shoot(page, out, "overview")
        await page.goto(f"{loop.console}/feedback?theme={SIZING}")
        await _shoot(page, out, "feedback")
        await page.goto(f"{loop.console}/issues")
        await _shoot(page, out, "issues")
        await page.locator("ol.issues a.title").first.click()
        await page.get_by_role("button", name="Acknowledge").click()
        await page.get_by_label("Owner").fill("anna.fit")
        await page.get_by_role("button", name="Assign").click()
        await page.get_by_label("Planned action").fill("Correct the size chart of the jeans")
        await page.get_by_role("button", name="Plan").click()
        await _shoot(page, out, "issue")
        issue_url = page.url
        await page.get_by_label("Message to the", exact=False).fill(MESSAGE)
        await page.get_by_role("button", name="Preview and resolve…").click()
        await _shoot(page, out, "resolve-preview")
        await page.get_by_role("button", name="Resolve and notify", exact=False).click()
        await asyncio.to_thread(loop.send, story_after(loop.run))

        async def notified() -> bool:
            await page.goto(f"{loop.console}/notifications")
            return await page.locator('td[data-outcome="delivered"]').count() > 0

        await eventually(notified, what="notifications delivered")
        await asyncio.sleep(3)  # the praise after the fix reaches prioritize
        await page.goto(f"{loop.console}/notifications")
        await _shoot(page, out, "notifications")
        await page.goto(f"{loop.console}/impact")
        await _shoot(page, out, "impact")
        await page.goto(issue_url)
        await _shoot(page, out, "issue-resolved")
        await page.goto(f"{loop.console}/alerts")
        await page.get_by_label("Name").fill("CX leads")
        await page.get_by_label("Address or webhook URL").fill("cx-leads@example.com")
        await page.get_by_role("button", name="Subscribe").click()
        await _shoot(page, out, "alerts")
        await page.goto(f"{loop.console}/digest")
        await _shoot(page, out, "digest")
        await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        for path, name in (("/", "phone-overview"), ("/issues", "phone-issues")):
            await page.goto(f"{loop.console}{path}")
            await _shoot(page, out, name)
        await browser.close()


def main() -> int:
    """Writes the PNGs into the folder given (default docs/screenshots)."""
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    bootstrap = os.environ.get("FEEDLOOP_TEST_KAFKA", "127.0.0.1:19092")
    with tempfile.TemporaryDirectory() as folder, running_loop(bootstrap, Path(folder)) as loop:
        loop.send(story_before(loop.run))
        asyncio.run(_ready(loop))
        asyncio.run(take(loop, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
