"""The overview's filters (tier, language, ...), the verbatims page and the full CSV export,
through a real prioritize (SQLite, seeded rows) and notify served on loopback."""

import csv
import io
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from feedloop.common.db import create_engine
from feedloop.console.app import create_app as create_console
from feedloop.console.settings import LOCAL_PASSWORD, LOCAL_USER, ConsoleSettings
from feedloop.notify.app import create_app as create_notify
from feedloop.notify.settings import NotifySettings
from feedloop.prioritize.app import create_app as create_prioritize
from feedloop.prioritize.issues.store import new_issue, persist_issue
from feedloop.prioritize.models import feedback_t
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import insert

from services.console.tests.bench_overview import rows, seed
from services.console.tests.loop import in_thread
from tests.support.browser import serve_in_thread
from tests.support.keys import TEST_API_KEY, api_keys_json

pytestmark = [pytest.mark.kafka]
N = 400
ISSUE = "i-7"


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[httpx.Client, list[dict[str, Any]]]]:
    """A signed-in console over prioritize holding N rows of the last 14 days."""
    data = rows(N, datetime.now(UTC))
    for i, row in enumerate(data):
        row["enrichment"] = {"language": {"code": "de" if i % 3 == 0 else "en", "confidence": 1}}
        row["tier"] = "gold" if i % 4 == 0 else "standard"
        row["issue_id"] = ISSUE if i % 25 == 0 else None
    common: dict[str, Any] = {
        "environment": "test",
        "api_keys": api_keys_json(),
        "metrics_port": 0,
        "log_level": "WARNING",
        "kafka_bootstrap_servers": os.environ.get("FEEDLOOP_TEST_KAFKA", "127.0.0.1:19092"),
        "consume": False,
    }
    with tempfile.TemporaryDirectory() as folder:
        db = f"sqlite+aiosqlite:///{Path(folder)}/prioritize.db"
        in_thread(seed(db, 0))
        in_thread(_insert(db, data))
        in_thread(_issue(db))
        notify_db = f"sqlite+aiosqlite:///{folder}/notify.db"
        prioritize = create_prioritize(PrioritizeSettings(**common, database_url=db))
        notify = create_notify(NotifySettings(**common, database_url=notify_db))
        with serve_in_thread(prioritize) as p_url, serve_in_thread(notify) as n_url:
            settings = ConsoleSettings(
                environment="test",
                metrics_port=0,
                log_level="WARNING",
                prioritize_url=p_url,
                notify_url=n_url,
                api_key=TEST_API_KEY,
            )
            with (
                serve_in_thread(create_console(settings)) as c_url,
                httpx.Client(base_url=c_url, timeout=60) as browser,
            ):
                form = browser.get("/login").text
                token = re.search(r'name="csrf" value="([^"]+)"', form)
                assert token
                browser.post(
                    "/login",
                    data={"csrf": token[1], "user": LOCAL_USER, "password": LOCAL_PASSWORD},
                )
                yield browser, data


async def _insert(url: str, data: list[dict[str, Any]]) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(feedback_t), data)
    finally:
        await engine.dispose()


async def _issue(url: str) -> None:
    engine = create_engine(url)
    try:
        now = datetime.now(UTC)
        issue = new_issue(issue_id=ISSUE, theme="price", title="Too dear", at=now, now=now)
        async with engine.begin() as conn:
            await persist_issue(conn=conn, issue=issue, now=now, created=True)
    finally:
        await engine.dispose()


def _theme_volumes(page: str) -> dict[str, int]:
    found = re.findall(
        r'<th scope="row"><a href="/issues\?theme=([a-z_]+)[^>]*>[^<]+</a></th>\s*'
        r'<td class="num">(\d+)</td>',
        page,
    )
    return {theme: int(volume) for theme, volume in found}


def _nps(scores: list[int]) -> float:
    return 100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)


def _check_nps_impact(page: str, shown: list[dict[str, Any]], theme: str) -> None:
    """The theme's row in the NPS impact table, recomputed answer by answer."""
    answers = [r for r in shown if r["nps"] is not None]
    mine = [r["nps"] for r in answers if r["is_complaint"] and r["theme"] == theme]
    others = [r["nps"] for r in answers if not (r["is_complaint"] and r["theme"] == theme)]
    without, overall = _nps(others), _nps([r["nps"] for r in answers])
    cells = [
        str(len(mine)),
        str(sum(s <= 6 for s in mine)),
        f"{round(without, 1):+.1f}",
        f"{round(without - overall, 1):+.1f}",
    ]
    row = re.search(rf">{theme}</a></th>((?:\s*<td class=\"num\">[^<]*</td>){{4}})", page)
    assert row, f"no NPS impact row for {theme}"
    assert re.findall(r'<td class="num">([^<]*)</td>', row[1]) == cells


def test_overview_filters_by_tier_and_language(
    seeded: tuple[httpx.Client, list[dict[str, Any]]],
) -> None:
    browser, data = seeded
    everyone = browser.get("/")
    assert everyone.status_code == 200
    assert '<select name="tier">' in everyone.text and '<select name="language">' in everyone.text
    # The overview's 14 days are whole UTC days, today's included.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    shown = [r for r in data if r["occurred_at"] >= today - timedelta(days=13)]
    assert sum(_theme_volumes(everyone.text).values()) == len(shown)
    _check_nps_impact(everyone.text, shown, "price")
    # The impact table once, in the page's main part; the <title> is text only.
    assert everyone.text.count('id="impact-title"') == 1
    assert "<title>Overview · feedloop</title>" in everyone.text
    gold_de = browser.get("/", params={"tier": "gold", "language": "de"})
    assert gold_de.status_code == 200
    wanted = [
        r for r in shown if r["tier"] == "gold" and r["enrichment"]["language"]["code"] == "de"
    ]
    volumes = _theme_volumes(gold_de.text)
    assert sum(volumes.values()) == len(wanted)
    assert volumes["price"] == sum(1 for r in wanted if r["theme"] == "price")
    assert '<option value="gold" selected>gold</option>' in gold_de.text


def test_verbatims_page_by_page_and_the_whole_filtered_export(
    seeded: tuple[httpx.Client, list[dict[str, Any]]],
) -> None:
    browser, data = seeded
    page = browser.get("/feedback", params={"theme": "price"})
    assert page.status_code == 200
    assert page.text.count("<tr>") - 1 == 50  # one page; the header row is the one more
    older = re.search(r'href="(/feedback\?[^"]*cursor=[^"]+)"', page.text)
    assert older, "no link to the older page"
    second = browser.get(older[1].replace("&amp;", "&"))
    assert second.status_code == 200 and "No feedback matches" not in second.text

    export = browser.get("/feedback.csv", params={"theme": "price", "language": "de"})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(export.text)))
    wanted = {
        r["id"]
        for r in data
        if r["theme"] == "price" and r["enrichment"]["language"]["code"] == "de"
    }
    assert {line["feedback_id"] for line in lines} == wanted and len(lines) == len(wanted)
    assert {line["language"] for line in lines} == {"de"}


def test_an_issues_feedback_and_an_internal_note_on_it(
    seeded: tuple[httpx.Client, list[dict[str, Any]]],
) -> None:
    browser, data = seeded
    page = browser.get("/feedback", params={"issue_id": ISSUE})
    assert page.status_code == 200
    linked = [r for r in data if r["issue_id"] == ISSUE]
    assert page.text.count(f'href="/issues/{ISSUE}"') == len(linked) == N // 25
    export = browser.get("/feedback.csv", params={"issue_id": ISSUE})
    assert {line["feedback_id"] for line in csv.DictReader(io.StringIO(export.text))} == {
        r["id"] for r in linked
    }

    issue = browser.get(f"/issues/{ISSUE}")
    token = re.search(r'name="csrf" value="([^"]+)"', issue.text)
    assert token
    added = browser.post(
        f"/issues/{ISSUE}/note", data={"csrf": token[1], "note": "Asked finance about it."}
    )
    assert added.status_code == 303
    history = browser.get(f"/issues/{ISSUE}").text
    assert "Asked finance about it. (" in history and "note (new)" in history


def test_an_internal_note_on_one_feedback_item(
    seeded: tuple[httpx.Client, list[dict[str, Any]]],
) -> None:
    browser, _data = seeded
    listing = browser.get("/feedback", params={"theme": "price"}).text
    first = re.search(r'<td><a href="/feedback/([^"]+)">', listing)
    assert first
    page = browser.get(f"/feedback/{first[1]}")
    assert page.status_code == 200 and "No notes yet." in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    added = browser.post(
        f"/feedback/{first[1]}/note", data={"csrf": token[1], "note": "Refund sent <b>today</b>."}
    )
    assert added.status_code == 303
    again = browser.get(f"/feedback/{first[1]}").text
    assert "Refund sent &lt;b&gt;today&lt;/b&gt;." in again  # escaped, never markup
    assert "No notes yet." not in again
    assert browser.get("/feedback/not-stored").status_code == 404


def test_the_issue_list_takes_the_shared_tier_and_language_filters(
    seeded: tuple[httpx.Client, list[dict[str, Any]]],
) -> None:
    browser, data = seeded
    linked = [r for r in data if r["issue_id"] == ISSUE]
    tiers = {r["tier"] for r in linked}
    assert "gold" in tiers  # the seeded issue has gold feedback in German
    listed = browser.get("/issues", params={"tier": "gold", "language": "de"})
    assert listed.status_code == 200
    assert f'href="/issues/{ISSUE}"' in listed.text
    assert 'name="tier" value="gold"' in listed.text  # the form keeps the shared filters
    for params in ({"tier": "platinum"}, {"language": "fr"}, {"tier": "gold", "language": "xx"}):
        other = browser.get("/issues", params=params)
        assert other.status_code == 200 and f'href="/issues/{ISSUE}"' not in other.text
        assert "No issue matches these filters." in other.text


def test_an_admin_manages_alert_subscriptions_and_previews_the_digest(
    seeded: tuple[httpx.Client, list[dict[str, Any]]],
) -> None:
    browser, data = seeded
    page = browser.get("/alerts")
    assert page.status_code == 200 and "No subscription yet." in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    form = {"csrf": token[1], "name": "CX leads", "channel": "email"}
    added = browser.post(
        "/alerts/subscribe",
        data=form | {"target": "cx@example.com", "kinds": ["spike", "digest"], "themes": "price"},
    )
    assert added.status_code == 303
    listed = browser.get("/alerts").text
    assert "cx@example.com" in listed and "spike, digest" in listed and ">price<" in listed
    refused = browser.post(
        "/alerts/subscribe", data=form | {"target": "not-an-address", "kinds": ["spike"]}
    )
    assert refused.status_code == 303
    assert "Not done" in browser.get("/alerts").text
    sub = re.search(r'action="/alerts/([^/"]+)/delete"', listed)
    assert sub
    forged = browser.post(f"/alerts/{sub[1]}/delete", data={"csrf": "wrong"})
    assert forged.status_code == 403
    assert browser.post(f"/alerts/{sub[1]}/delete", data={"csrf": token[1]}).status_code == 303
    assert "No subscription yet." in browser.get("/alerts").text

    # The digest of this week: the seeded NPS answers of the week, as subscribers read it.
    monday = (datetime.now(UTC) - timedelta(days=datetime.now(UTC).weekday())).date()
    digest = browser.get("/digest", params={"week": monday.isoformat()})
    assert digest.status_code == 200
    week = [r["nps"] for r in data if r["nps"] is not None and r["occurred_at"].date() >= monday]
    expected = f"NPS {round(_nps(week), 1):g}" if week else "NPS n/a"
    assert f"Weekly digest, week of {monday.isoformat()}: {expected}" in digest.text
    assert "Top issues:" in digest.text and "/issues/" + ISSUE in digest.text
