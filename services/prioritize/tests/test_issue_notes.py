"""An internal note on an issue: PATCH with only `note` keeps it in the history, status as it
was, with no new version and no event."""

from datetime import UTC, datetime

from feedloop.common.db import create_engine
from feedloop.prioritize.issues.store import new_issue, persist_issue
from feedloop.prioritize.migrate import upgrade

from tests.support.clients import AppClient


async def _issue(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        now = datetime.now(UTC)
        issue = new_issue(issue_id="i-1", theme="sizing", title="Runs small", at=now, now=now)
        async with engine.begin() as conn:
            await persist_issue(conn=conn, issue=issue, now=now, created=True)
    finally:
        await engine.dispose()


async def test_a_note_alone_is_kept_in_the_history_without_a_new_version(
    app_client: AppClient, sqlite_url: str
) -> None:
    await _issue(sqlite_url)
    async with app_client(sqlite_url, consume=False) as client:
        before = (await client.get("/v1/issues/i-1")).json()
        noted = await client.patch("/v1/issues/i-1", json={"note": "Asked the warehouse."})
        assert noted.status_code == 200, noted.text
        after = (await client.get("/v1/issues/i-1")).json()
    assert after["version"] == before["version"]
    added = after["status_history"][len(before["status_history"]) :]
    assert [(h["previous"], h["status"], h["note"]) for h in added] == [
        (before["status"], before["status"], "Asked the warehouse.")
    ]
