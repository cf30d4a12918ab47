"""The Surveys page: solicit's response rates per program, segment and channel, each KPI beside
the response rate it rests on (a score from 2 % of the customers asked is worth little alone).

Read through solicit's `GET /v1/response-rates` with the console's key (scope surveys:read).
"""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from feedloop.console.backend import Backend
from feedloop.console.pages import render
from feedloop.console.people import PersonDep
from feedloop.console.settings import ConsoleSettings

PERIODS = (7, 30, 90)
router = APIRouter(include_in_schema=False)


class Solicit:
    """Solicit's API with the console's key; errors become BackendError (the error page)."""

    def __init__(
        self,
        settings: ConsoleSettings,
        backend: Backend,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.backend = backend  # its call() maps errors and problem details to BackendError
        self.client = httpx.AsyncClient(
            base_url=settings.solicit_url,
            headers={
                "User-Agent": "feedloop-console",
                "X-API-Key": settings.effective_solicit_api_key,
            },
            timeout=httpx.Timeout(settings.api_timeout_s),
            transport=transport,
        )

    async def start(self) -> None:
        """Nothing to open: connections are made on first use."""

    async def stop(self) -> None:
        """Closes the connection pool."""
        await self.client.aclose()

    async def response_rates(self, *, since: datetime, until: datetime) -> dict[str, Any]:
        """Per program, segment and channel: sent, opened, answered, rates and KPIs."""
        params = {"since": since.isoformat(), "until": until.isoformat()}
        result: dict[str, Any] = await self.backend._call(
            self.client, "GET", "/v1/response-rates", params=params
        )
        return result


def percent(rate: dict[str, Any] | None) -> str:
    """A rate as "42 % (35 to 49 %)", its 95 % interval in brackets; "-" when nothing was sent."""
    if not rate or rate.get("value") is None:
        return "-"
    low, high = 100 * float(rate["low"]), 100 * float(rate["high"])
    return f"{100 * float(rate['value']):.0f} % ({low:.0f} to {high:.0f} %)"


def duration(seconds: float | None) -> str:
    """Seconds as the largest sensible unit ("3.5 h")."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def kpi_words(kpi: dict[str, Any] | None) -> str:
    """A KPI with its interval and the number of answers behind it."""
    if not kpi:
        return "-"
    digits = 0 if kpi["metric"] == "nps" else 2
    value, low, high = (f"{float(kpi[k]):.{digits}f}" for k in ("value", "low", "high"))
    return f"{kpi['metric'].upper()} {value} ({low} to {high}), {kpi['answers']} answers"


@router.get("/surveys", response_class=HTMLResponse)
async def surveys_page(
    request: Request, _person: PersonDep, days: Annotated[int, Query(ge=1, le=400)] = 30
) -> Response:
    solicit: Solicit = request.app.state.solicit
    until = datetime.now(UTC)
    rates = await solicit.response_rates(since=until - timedelta(days=days), until=until)
    return render(
        request,
        "surveys.html",
        rates=rates,
        days=days,
        periods=PERIODS,
        percent=percent,
        duration=duration,
        kpi_words=kpi_words,
    )
