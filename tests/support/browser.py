"""A real browser for tests: Debian's headless Chromium driven by Playwright, and live servers.

Playwright's own browser downloads come from a vendor CDN, which is not reachable here: the
browser is Debian's package (`make chromium`), launched by path. The fixtures use Playwright's
async API on pytest-asyncio's session loop (the sync API would leave its loop marked running
in the main thread for the rest of the session, breaking every later asyncio test); apps under
test run in threads of their own with `serve_in_thread`.

    from tests.support.browser import browser, page, serve_in_thread  # noqa: F401 (fixtures)

    async def test_docs(page: Page) -> None:
        with serve_in_thread(create_app(settings)) as url:
            await page.goto(f"{url}/docs")
"""

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("FEEDLOOP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
AXE = ROOT / "services" / "console" / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core from npm, installed through services/console/package-lock.json (`make chromium`)."""
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(app: Any, *, timeout_s: float = 60.0) -> Iterator[str]:
    """Serves an ASGI app (its lifespan included) on loopback in a thread; yields its URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the app on port {port} did not start")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the app on port {port} did not start in {timeout_s:.0f}s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium for the whole session (fails, never skips, when missing)."""
    if not CHROMIUM.exists():  # noqa: ASYNC240 (once per session)
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh page (own cookies) at 1280 px; script errors collected in page.errors.

    axe-core, when installed, is loaded into every document through the DevTools protocol, so
    a page's Content-Security-Policy need not allow it.
    """
    context = await browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    if AXE.exists():
        await context.add_init_script(path=str(AXE))
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.errors = errors  # type: ignore[attr-defined]
    try:
        yield opened
    finally:
        await context.close()


async def axe_violations(
    page: Page, impacts: tuple[str, ...] = ("serious", "critical")
) -> list[Any]:
    """Runs axe-core (loaded by the page fixture) in the page; returns the violations of the
    given impacts."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make chromium` (npm ci in services/console)")
    result = await page.evaluate("async () => JSON.stringify(await axe.run(document))")
    violations: list[Any] = json.loads(result)["violations"]
    return [v for v in violations if v.get("impact") in impacts]
