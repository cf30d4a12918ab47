"""The console's client of the prioritize and notify REST APIs (its only source of data)."""

import asyncio
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from feedloop.console.settings import ConsoleSettings

MAX_PAGE = 500
DIMENSIONS = ("segment", "tier", "channel", "theme", "language")
"""The dimensions every view filters by (the KPI and feedback APIs take each as a filter)."""
Filters = Mapping[str, str]
"""Dimension: the one value wanted (absent: all)."""
NOTIFICATION_SCAN_LIMIT = 20_000
"""Counting notifications pages through the list; past this many it says the count is partial."""


class BackendError(Exception):
    """An API answered with an error (its problem+json detail kept) or could not be reached."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)
    return str(body)[:300]


class Backend:
    """Reads and acts through prioritize and notify with the console's own key."""

    def __init__(
        self, settings: ConsoleSettings, transport: httpx.AsyncBaseTransport | None = None
    ):
        agent = {"User-Agent": "feedloop-console"}
        timeout = httpx.Timeout(settings.api_timeout_s)
        self.prioritize = httpx.AsyncClient(
            base_url=settings.prioritize_url,
            headers=agent | {"X-API-Key": settings.effective_api_key},
            timeout=timeout,
            transport=transport,
        )
        self.notify = httpx.AsyncClient(
            base_url=settings.notify_url,
            headers=agent | {"X-API-Key": settings.effective_notify_api_key},
            timeout=timeout,
            transport=transport,
        )

    async def start(self) -> None:
        """Nothing to open: connections are made on first use (the shell's Startable)."""

    async def stop(self) -> None:
        """Closes both connection pools."""
        await self.prioritize.aclose()
        await self.notify.aclose()

    async def _call(self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BackendError(502, f"{client.base_url} unreachable: {exc!r}") from exc
        if response.status_code >= 400:
            raise BackendError(response.status_code, _detail(response))
        return response.json() if response.content else None

    async def reachable(self, client: httpx.AsyncClient) -> bool:
        """True when the API answers its liveness probe."""
        try:
            response = await client.get("/healthz", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    # Issues

    async def issues(self, **params: Any) -> dict[str, Any]:
        """One page of issues (GET /v1/issues), filters passed through."""
        query = {k: v for k, v in params.items() if v not in (None, "", [])}
        result: dict[str, Any] = await self._call(
            self.prioritize, "GET", "/v1/issues", params=query
        )
        return result

    async def issue(self, issue_id: str) -> dict[str, Any]:
        """An issue with its evidence and status history."""
        result: dict[str, Any] = await self._call(self.prioritize, "GET", f"/v1/issues/{issue_id}")
        return result

    async def patch_issue(self, issue_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Changes an issue (status, owner, action, resolution message, note)."""
        result: dict[str, Any] = await self._call(
            self.prioritize, "PATCH", f"/v1/issues/{issue_id}", json=changes
        )
        return result

    async def merge_issue(self, issue_id: str, into: str) -> dict[str, Any]:
        """Merges an issue into another one."""
        result: dict[str, Any] = await self._call(
            self.prioritize, "POST", f"/v1/issues/{issue_id}/merge", json={"into": into}
        )
        return result

    async def impact(self, issue_id: str, days: int = 14) -> dict[str, Any]:
        """Complaint rate before and after an issue's resolution, with the test's result."""
        result: dict[str, Any] = await self._call(
            self.prioritize, "GET", f"/v1/kpis/issues/{issue_id}/impact", params={"days": days}
        )
        return result

    # KPIs

    async def scores(
        self, since: datetime, until: datetime, filters: Filters | None = None
    ) -> dict[str, Any]:
        """NPS, CSAT and CES in a period of the filtered feedback, overall and per value of
        each dimension (segment, channel, theme, tier, language)."""
        params: dict[str, Any] = {"since": since.isoformat(), "until": until.isoformat()}
        result: dict[str, Any] = await self._call(
            self.prioritize,
            "GET",
            "/v1/kpis/scores",
            params=params | {"by": list(DIMENSIONS)} | dict(filters or {}),
        )
        return result

    async def scores_over_time(
        self,
        *,
        buckets: int,
        bucket: str,
        today: date | None = None,
        filters: Filters | None = None,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Scores per day or ISO week, oldest first, one API call per bucket (concurrent): whole
        UTC days, which prioritize answers from its daily rollup."""
        today = today or datetime.now(UTC).date()
        if bucket == "week":
            first = today - timedelta(days=today.weekday()) - timedelta(weeks=buckets - 1)
            step = timedelta(weeks=1)
        else:
            first = today - timedelta(days=buckets - 1)
            step = timedelta(days=1)
        starts = [first + i * step for i in range(buckets)]
        periods = [
            (
                datetime(d.year, d.month, d.day, tzinfo=UTC),
                datetime(d.year, d.month, d.day, tzinfo=UTC) + step,
            )
            for d in starts
        ]
        results = await asyncio.gather(*(self.scores(s, u, filters) for s, u in periods))
        return [(d.isoformat(), r) for d, r in zip(starts, results, strict=True)]

    async def themes(
        self, *, since: datetime, until: datetime, bucket: str, filters: Filters | None = None
    ) -> dict[str, Any]:
        """Volume, complaints, praise and sentiment per theme and bucket, filtered."""
        params = {"since": since.isoformat(), "until": until.isoformat(), "bucket": bucket}
        result: dict[str, Any] = await self._call(
            self.prioritize, "GET", "/v1/kpis/themes", params=params | dict(filters or {})
        )
        return result

    async def nps_impact(
        self, *, since: datetime, until: datetime, filters: Filters | None = None
    ) -> dict[str, Any]:
        """Each theme's impact on NPS in points (the NPS without its complaints)."""
        params = {"since": since.isoformat(), "until": until.isoformat()}
        result: dict[str, Any] = await self._call(
            self.prioritize, "GET", "/v1/kpis/nps-impact", params=params | dict(filters or {})
        )
        return result

    async def spikes(self, *, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Theme volume spikes in a period."""
        result: dict[str, Any] = await self._call(
            self.prioritize,
            "GET",
            "/v1/kpis/spikes",
            params={"since": since.isoformat(), "until": until.isoformat()},
        )
        spikes: list[dict[str, Any]] = result["spikes"]
        return spikes

    async def closure(self, *, since: datetime, until: datetime) -> dict[str, Any]:
        """Closure rate and time to close."""
        result: dict[str, Any] = await self._call(
            self.prioritize,
            "GET",
            "/v1/kpis/closure",
            params={"since": since.isoformat(), "until": until.isoformat()},
        )
        return result

    # Feedback

    async def feedback(
        self,
        *,
        filters: Filters,
        since: datetime | None,
        until: datetime | None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """One page of stored feedback (texts redacted), newest first, and the next cursor."""
        params: dict[str, Any] = dict(filters) | {"limit": limit}
        if since is not None:
            params["since"] = since.isoformat()
        if until is not None:
            params["until"] = until.isoformat()
        if cursor:
            params["cursor"] = cursor
        result: dict[str, Any] = await self._call(
            self.prioritize, "GET", "/v1/feedback", params=params
        )
        return result

    async def feedback_item(self, feedback_id: str) -> dict[str, Any]:
        """One feedback item with its internal notes."""
        result: dict[str, Any] = await self._call(
            self.prioritize, "GET", f"/v1/feedback/{quote(feedback_id, safe='')}"
        )
        return result

    async def add_feedback_note(self, feedback_id: str, text: str, author: str) -> dict[str, Any]:
        """Keeps an internal note on a feedback item."""
        result: dict[str, Any] = await self._call(
            self.prioritize,
            "POST",
            f"/v1/feedback/{quote(feedback_id, safe='')}/notes",
            json={"text": text, "author": author},
        )
        return result

    # Notifications

    async def notifications(self, **params: Any) -> dict[str, Any]:
        """One page of notifications, newest first."""
        query = {k: v for k, v in params.items() if v not in (None, "")}
        result: dict[str, Any] = await self._call(
            self.notify, "GET", "/v1/notifications", params=query
        )
        return result

    async def notification_counts(self) -> tuple[dict[str, Counter[str]], int, bool]:
        """Notifications per channel and outcome (pending ones by status), the total, and
        whether the scan stopped at NOTIFICATION_SCAN_LIMIT before the end."""
        counts: dict[str, Counter[str]] = {}
        offset, total = 0, 0
        while offset < NOTIFICATION_SCAN_LIMIT:
            page = await self.notifications(limit=MAX_PAGE, offset=offset)
            total = page["total"]
            for item in page["items"]:
                outcome = item["outcome"] or item["status"]
                counts.setdefault(item["channel"], Counter())[outcome] += 1
            offset += len(page["items"])
            if not page["items"] or offset >= total:
                break
        return counts, total, offset < total

    async def failed_notifications(self, limit: int = 50) -> dict[str, Any]:
        """Notifications that failed after their retries."""
        result: dict[str, Any] = await self._call(
            self.notify, "GET", "/v1/notifications/failed", params={"limit": limit}
        )
        return result

    async def resend(self, notification_id: str) -> dict[str, Any]:
        """Sends a failed notification again."""
        result: dict[str, Any] = await self._call(
            self.notify, "POST", f"/v1/notifications/{notification_id}/resend"
        )
        return result

    # KPI alerts (notify's /v1/alerts) and the weekly digest (prioritize's /v1/kpis/digest)

    async def alert_subscriptions(self) -> list[dict[str, Any]]:
        """Who gets spike alerts and digests (notify, admin scope)."""
        result: list[dict[str, Any]] = await self._call(
            self.notify, "GET", "/v1/alerts/subscriptions"
        )
        return result

    async def subscribe(self, body: dict[str, Any]) -> dict[str, Any]:
        """Adds an alert subscription."""
        result: dict[str, Any] = await self._call(
            self.notify, "POST", "/v1/alerts/subscriptions", json=body
        )
        return result

    async def unsubscribe(self, subscription_id: str) -> None:
        """Deletes an alert subscription and its deliveries."""
        await self._call(self.notify, "DELETE", f"/v1/alerts/subscriptions/{subscription_id}")

    async def alert_deliveries(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest alert deliveries and their status."""
        result: list[dict[str, Any]] = await self._call(
            self.notify, "GET", "/v1/alerts/deliveries", params={"limit": limit}
        )
        return result

    async def digest_preview(self, week: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """A week's digest (prioritize) and its e-mail as notify renders it."""
        params = {"week": week} if week else {}
        digest: dict[str, Any] = await self._call(
            self.prioritize, "GET", "/v1/kpis/digest", params=params
        )
        message: dict[str, Any] = await self._call(
            self.notify, "POST", "/v1/alerts/preview", json={"kind": "digest", "payload": digest}
        )
        return digest, message
