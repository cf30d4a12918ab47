"""Who may do what: the seeded login only in local mode, identity headers only from the
configured proxies, roles on every action, CSRF on every form. These requests never reach
the APIs (they point at a closed port): refusals happen before, and a request that passes the
checks shows up as the API being unreachable (a 502 page, or a flash after an action)."""

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from feedloop.common.auth import DEV_API_KEY
from feedloop.console.app import create_app
from feedloop.console.settings import LOCAL_PASSWORD, ConsoleSettings
from pydantic import ValidationError

PROXY = "10.0.0.1"
CLOSED = "http://127.0.0.1:9"
PROD: dict[str, Any] = {
    "environment": "prod",
    "api_key": "console-key",
    "session_secret": "s" * 32,
    "trusted_proxies": [f"{PROXY}/32"],
    "roles": {"ann@example.com": "viewer", "cx-owners": "owner", "ops@example.com": "admin"},
    "default_role": None,
    "prioritize_url": CLOSED,
    "notify_url": CLOSED,
    "metrics_port": 0,
    "log_json": False,
    "secure_cookies": False,
}


def client(settings: ConsoleSettings, peer: str = PROXY) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(settings), client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://console")


@pytest.fixture
async def prod() -> AsyncIterator[httpx.AsyncClient]:
    async with client(ConsoleSettings(**PROD)) as http:
        yield http


def as_(user: str, groups: str = "") -> dict[str, str]:
    return {"X-Forwarded-Email": user, "X-Forwarded-Groups": groups}


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def test_local_login_is_refused_outside_local_mode(prod: httpx.AsyncClient) -> None:
    assert (await prod.get("/login")).status_code == 404
    answer = await prod.post("/login", data={"user": "cx-lead", "password": LOCAL_PASSWORD})
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


async def test_identity_headers_count_only_from_a_configured_proxy() -> None:
    async with client(ConsoleSettings(**PROD), peer="10.0.0.2") as stranger:
        answer = await stranger.get("/issues", headers=as_("ops@example.com"))
    assert answer.status_code == 401
    assert "no identity from a trusted proxy" in answer.text
    async with client(ConsoleSettings(**PROD)) as proxied:
        answer = await proxied.get("/issues", headers=as_("ops@example.com"))
    assert answer.status_code == 502  # signed in: the page asked the (closed) API
    assert "ops@example.com" in answer.text


async def test_a_person_without_a_role_is_refused(prod: httpx.AsyncClient) -> None:
    answer = await prod.get("/issues", headers=as_("stranger@example.com"))
    assert answer.status_code == 403


async def test_roles_are_enforced_on_actions(prod: httpx.AsyncClient) -> None:
    viewer = as_("ann@example.com")
    token = csrf_of(await prod.get("/issues", headers=viewer))
    refused = await prod.post("/issues/i-1/acknowledge", headers=viewer, data={"csrf": token})
    assert refused.status_code == 403
    assert "needs the owner role" in refused.json()["detail"]

    owner = as_("bob@example.com", "staff, cx-owners")
    allowed = await prod.post("/issues/i-1/acknowledge", headers=owner, data={"csrf": token})
    assert allowed.status_code == 303  # past the checks; the API call failed and was flashed
    page = await prod.get("/issues/i-1", headers=owner)
    assert "unreachable" in page.text

    note = {"csrf": token, "note": "Asked the warehouse."}
    assert (await prod.post("/issues/i-1/note", headers=viewer, data=note)).status_code == 403
    assert (await prod.post("/issues/i-1/note", headers=owner, data=note)).status_code == 303
    assert (await prod.post("/feedback/f-1/note", headers=viewer, data=note)).status_code == 403
    assert (await prod.post("/feedback/f-1/note", headers=owner, data=note)).status_code == 303

    resend = await prod.post("/notifications/n-1/resend", headers=owner, data={"csrf": token})
    assert resend.status_code == 403
    admin = as_("ops@example.com")
    resend = await prod.post("/notifications/n-1/resend", headers=admin, data={"csrf": token})
    assert resend.status_code == 303

    # Alert subscriptions are for admins: the page, subscribing and deleting.
    assert (await prod.get("/alerts", headers=owner)).status_code == 403
    gone = await prod.post("/alerts/s-1/delete", headers=owner, data={"csrf": token})
    assert gone.status_code == 403
    sub = {"csrf": token, "name": "x", "channel": "email", "target": "x@example.com"}
    added = await prod.post("/alerts/subscribe", headers=viewer, data=sub | {"kinds": "spike"})
    assert added.status_code == 403
    gone = await prod.post("/alerts/s-1/delete", headers=admin, data={"csrf": token})
    assert gone.status_code == 303  # past the checks; notify is unreachable here


async def test_every_form_needs_the_sessions_csrf_token(prod: httpx.AsyncClient) -> None:
    admin = as_("ops@example.com")
    await prod.get("/issues", headers=admin)  # the session (and its token) exist
    for path, data in [
        ("/issues/i-1/acknowledge", {}),
        ("/issues/i-1/resolve", {"message": "Fixed."}),
        ("/issues/i-1/assign", {"owner": "me"}),
        ("/issues/i-1/note", {"note": "Asked the warehouse."}),
        ("/feedback/f-1/note", {"note": "Called back."}),
        ("/notifications/n-1/resend", {}),
        ("/alerts/s-1/delete", {}),
        (
            "/alerts/subscribe",
            {"name": "x", "channel": "email", "target": "x@example.com", "kinds": "spike"},
        ),
        ("/logout", {}),
    ]:
        missing = await prod.post(path, headers=admin, data=data)
        wrong = await prod.post(path, headers=admin, data=data | {"csrf": "forged"})
        assert (missing.status_code, wrong.status_code) == (403, 403), path


async def test_local_login_with_the_seeded_user() -> None:
    settings = ConsoleSettings(
        environment="test", prioritize_url=CLOSED, notify_url=CLOSED, metrics_port=0
    )
    async with client(settings, peer="127.0.0.1") as local:
        first = await local.get("/issues")
        assert first.status_code == 303
        assert first.headers["location"] == "/login?next=%2Fissues"
        # A proxy header from an address not configured as a proxy is no identity.
        spoofed = await local.get("/issues", headers=as_("ops@example.com"))
        assert spoofed.status_code == 303
        form = await local.get("/login")
        token = csrf_of(form)
        wrong = await local.post(
            "/login", data={"csrf": token, "user": "cx-lead", "password": "guess"}
        )
        assert wrong.status_code == 401
        right = await local.post(
            "/login",
            data={"csrf": token, "user": "cx-lead", "password": LOCAL_PASSWORD, "next": "//evil"},
        )
        assert (right.status_code, right.headers["location"]) == (303, "/")
        for target in ("/\\evil.example", "https://evil.example/"):
            page = await local.get("/login", params={"next": target})
            assert 'name="next" value="/"' in page.text, target
        assert (await local.get("/issues")).status_code == 502  # signed in; the API is closed
        assert "default-src 'self'" in right.headers["content-security-policy"]


def test_settings_refuse_unsafe_production_setups() -> None:
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES"):
        ConsoleSettings(**(PROD | {"trusted_proxies": []}))
    with pytest.raises(ValidationError, match="SESSION_SECRET"):
        ConsoleSettings(**(PROD | {"session_secret": None}))
    with pytest.raises(ValidationError, match="development API key"):
        ConsoleSettings(**(PROD | {"api_key": DEV_API_KEY}))
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        ConsoleSettings(**(PROD | {"trusted_proxies": ["10.0.0.300"]}))
    assert ConsoleSettings(**PROD).cookies_secure is False
    assert ConsoleSettings(**(PROD | {"secure_cookies": None})).cookies_secure is True
