"""Routes of "what's going well": praise patterns ranked, fading ones flagged."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from feedloop.common.events import utcnow
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.prioritize.deps import EngineDep, ReaderDep, SettingsDep
from feedloop.prioritize.praise import service
from feedloop.prioritize.praise.schemas import PraiseBy, PraiseList

router = APIRouter(
    prefix="/v1/praise", tags=["praise"], responses=problem_responses(*AUTHENTICATED)
)


@router.get("", response_model=PraiseList, summary="What's going well: praise patterns")
async def list_praise(
    engine: EngineDep,
    settings: SettingsDep,
    _client: ReaderDep,
    window_days: Annotated[
        float | None, Query(gt=0, le=365, description="Recent window (default: setting)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    by: Annotated[
        PraiseBy, Query(description="theme: one row per theme; pattern: split by similarity")
    ] = "theme",
    theme: Annotated[
        str | None, Query(max_length=200, description="by=pattern: this theme only")
    ] = None,
) -> dict[str, Any]:
    days = window_days or settings.praise_window_days
    async with engine.connect() as conn:
        if by == "pattern":
            items = await service.list_praise_patterns(
                conn=conn,
                now=utcnow(),
                window_days=days,
                limit=limit,
                settings=settings,
                theme=theme,
            )
        else:
            items = await service.list_praise(
                conn=conn, now=utcnow(), window_days=days, limit=limit
            )
    return {"items": items, "window_days": days, "by": by}
