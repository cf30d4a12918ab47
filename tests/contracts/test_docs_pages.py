"""Each service's /docs (Swagger UI) and /redoc render in a real browser with the network cut.

The pages' scripts and styles come from the service itself (the fastapi-offline wheel through
the lock), so they render on a machine or cluster without internet: any request to a host other
than loopback is aborted and recorded, and none may be attempted.
"""

import contextlib
import importlib
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from playwright.async_api import Page, Request, Route
from starlette.types import Receive, Scope, Send

from tests.support.browser import browser as browser
from tests.support.browser import page as page
from tests.support.browser import serve_in_thread

# A browser and four apps: out of `make test-fast`.
pytestmark = pytest.mark.slow

SERVICES = ("ingest", "enrich", "prioritize", "notify")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class WithoutLifespan:
    """Serves an app's routes without starting its lifespan (Kafka, database, models):
    the documentation pages need none of them."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def create(service: str) -> FastAPI:
    """The service's app with its default (local) settings, which serve /docs."""
    app: FastAPI = importlib.import_module(f"feedloop.{service}.app").create_app()
    return app


def operations(app: FastAPI) -> list[tuple[str, str, str]]:
    """(METHOD, path, summary) of every operation the app's OpenAPI document lists."""
    return [
        (method.upper(), path, str(operation.get("summary", "")))
        for path, ops in app.openapi()["paths"].items()
        for method, operation in ops.items()
    ]


@pytest.fixture(scope="module")
def served() -> Iterator[Callable[[str], tuple[FastAPI, str]]]:
    """Starts each service once on loopback, on demand; stops them all at the end."""
    running: dict[str, tuple[FastAPI, str]] = {}
    stack = contextlib.ExitStack()

    def start(service: str) -> tuple[FastAPI, str]:
        if service not in running:
            app = create(service)
            running[service] = (app, stack.enter_context(serve_in_thread(WithoutLifespan(app))))
        return running[service]

    with stack:
        yield start


async def cut_network(page: Page) -> list[str]:
    """Aborts every request to a host other than loopback; returns the list of those tried."""
    tried: list[str] = []

    async def handle(route: Route, request: Request) -> None:
        if urlsplit(request.url).hostname in LOOPBACK or request.url.startswith("data:"):
            await route.continue_()
        else:
            tried.append(request.url)
            await route.abort("internetdisconnected")

    await page.route("**/*", handle)
    return tried


@pytest.mark.parametrize("service", SERVICES)
async def test_swagger_ui_lists_every_operation_offline(
    page: Page, served: Callable[[str], tuple[FastAPI, str]], service: str
) -> None:
    app, url = served(service)
    tried = await cut_network(page)
    expected = operations(app)
    assert any(path.startswith("/v1/") for _, path, _ in expected)

    await page.goto(f"{url}/docs")
    await page.wait_for_selector(".opblock", timeout=60_000)

    shown = set()
    for block in await page.locator(".opblock").all():
        method = await block.locator(".opblock-summary-method").inner_text()
        path = await block.locator(".opblock-summary-path").inner_text()
        # Swagger UI breaks long paths with zero-width spaces.
        shown.add((method.strip(), path.strip().replace("\u200b", "")))
    missing = [(m, p) for m, p, _ in expected if (m, p) not in shown]
    assert not missing, f"{service} /docs does not list {missing}"
    # The security schemes are there to use: Swagger UI offers its Authorize button.
    assert await page.locator("button.authorize").count() == 1
    assert tried == [], f"{service} /docs tried to reach {tried}"
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("service", SERVICES)
async def test_redoc_lists_every_operation_offline(
    page: Page, served: Callable[[str], tuple[FastAPI, str]], service: str
) -> None:
    app, url = served(service)
    tried = await cut_network(page)

    await page.goto(f"{url}/redoc")
    await page.wait_for_selector("[role=menuitem], li[data-item-id]", timeout=60_000)
    await page.wait_for_load_state("networkidle")
    text = await page.locator("body").inner_text()

    missing = [summary for _, _, summary in operations(app) if summary not in text]
    assert not missing, f"{service} /redoc does not list {missing}"
    assert tried == [], f"{service} /redoc tried to reach {tried}"
    assert page.errors == []  # type: ignore[attr-defined]
