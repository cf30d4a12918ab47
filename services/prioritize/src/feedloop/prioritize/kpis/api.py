"""Routes of the KPI API."""

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from feedloop.common.events import utcnow
from feedloop.common.feedback import EARLIEST, Timestamp
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.prioritize.deps import EngineDep, ReaderDep, SettingsDep
from feedloop.prioritize.kpis import digest, service
from feedloop.prioritize.kpis.service import Dimension
from pydantic import StringConstraints

router = APIRouter(prefix="/v1/kpis", tags=["kpis"], responses=problem_responses(*AUTHENTICATED))
Since = Annotated[Timestamp | None, Query(description="Default: 30 days before until")]
Until = Annotated[Timestamp | None, Query(description="Default: now")]


PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"
"""No control characters (PostgreSQL refuses NUL in text)."""
FilterValues = Annotated[
    list[Annotated[str, StringConstraints(max_length=200, pattern=PRINTABLE)]] | None,
    Query(max_length=50, description="Only feedback with one of these values ('unknown': none)"),
]


@dataclass
class KpiFilters:
    """Which feedback the figures count: any of the values given per dimension."""

    theme: FilterValues = None
    segment: FilterValues = None
    tier: FilterValues = None
    channel: FilterValues = None
    language: FilterValues = None

    def as_filters(self) -> dict[str, list[str]]:
        """The dimensions filtered, with their values."""
        return {k: v for k, v in asdict(self).items() if v}


FiltersDep = Annotated[KpiFilters, Depends()]


def _range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = until or utcnow() + timedelta(seconds=1)
    return since or max(EARLIEST, until - timedelta(days=30)), until


@router.get("/scores", summary="NPS, CSAT by method, CES by scale; overall and per dimension value")
async def scores(
    engine: EngineDep,
    _client: ReaderDep,
    filters: FiltersDep,
    since: Since = None,
    until: Until = None,
    by: Annotated[list[Dimension] | None, Query()] = None,
) -> dict[str, Any]:
    start, end = _range(since, until)
    async with engine.connect() as conn:
        return dict(
            await service.scores(
                conn=conn,
                since=start,
                until=end,
                dimensions=by or ["segment", "channel", "theme"],
                filters=filters.as_filters(),
            )
        )


@router.get("/themes", summary="Volume, complaints, praise and sentiment per theme over time")
async def themes(
    engine: EngineDep,
    _client: ReaderDep,
    filters: FiltersDep,
    since: Since = None,
    until: Until = None,
    bucket: Literal["day", "week"] = "day",
) -> dict[str, Any]:
    start, end = _range(since, until)
    async with engine.connect() as conn:
        return dict(
            await service.themes_over_time(
                conn=conn, since=start, until=end, bucket=bucket, filters=filters.as_filters()
            )
        )


@router.get("/nps-impact", summary="Each theme's impact on NPS: the NPS without its complaints")
async def nps_impact(
    engine: EngineDep,
    _client: ReaderDep,
    filters: FiltersDep,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    start, end = _range(since, until)
    async with engine.connect() as conn:
        return dict(
            await service.nps_impact(
                conn=conn, since=start, until=end, filters=filters.as_filters()
            )
        )


@router.get("/spikes", summary="Theme volume spikes (z >= 2 against the baseline)")
async def spikes(
    engine: EngineDep,
    settings: SettingsDep,
    _client: ReaderDep,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    start, end = _range(since, until)
    async with engine.connect() as conn:
        found = await service.spikes(
            conn=conn, since=start.date(), until=end.date(), baseline_days=settings.baseline_days
        )
    return {"spikes": found}


@router.get(
    "/digest",
    summary="The weekly digest of a week (what kpi.weekly_digest carries), for a preview",
)
async def weekly_digest(
    engine: EngineDep,
    settings: SettingsDep,
    _client: ReaderDep,
    week: Annotated[
        date | None, Query(description="A day of the week (UTC); default: the last whole week")
    ] = None,
) -> dict[str, Any]:
    now = utcnow()
    start = digest.week_start(week or now.date() - timedelta(weeks=1))
    async with engine.connect() as conn:
        built = await digest.build(conn, week=start, now=now, baseline_days=settings.baseline_days)
    return built.model_dump(mode="json")


@router.get("/closure", summary="Closure rate and time to close")
async def closure(
    engine: EngineDep, _client: ReaderDep, since: Since = None, until: Until = None
) -> dict[str, Any]:
    start, end = _range(since, until)
    async with engine.connect() as conn:
        return dict(await service.closure(conn=conn, since=start, until=end))


@router.get(
    "/issues/{issue_id}/impact",
    summary="Complaint rate before and after a resolution",
    responses=problem_responses(404, 409),
)
async def impact(
    issue_id: str,
    engine: EngineDep,
    _client: ReaderDep,
    days: Annotated[int, Query(ge=1, le=365)] = 14,
) -> dict[str, Any]:
    async with engine.connect() as conn:
        return dict(await service.impact(conn=conn, issue_id=issue_id, days=days, now=utcnow()))
