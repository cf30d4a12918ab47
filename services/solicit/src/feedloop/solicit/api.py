"""Routes of the solicit API: touchpoints in, programs and response rates out, erasure."""

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from feedloop.common.auth import ApiClient
from feedloop.common.db import EngineDep, TransactionDep
from feedloop.common.errors import Forbidden, Invalid, NotFound, TooLarge
from feedloop.common.events import utcnow
from feedloop.common.feedback import Identifier
from feedloop.common.problems import AUTHENTICATED, problem_responses
from feedloop.solicit import customers, rates
from feedloop.solicit.deps import EraserDep, ProgramsDep, ReaderDep, SettingsDep, WriterDep
from feedloop.solicit.programs import Program, ProgramsConfig
from feedloop.solicit.touchpoints import service
from feedloop.solicit.touchpoints.schemas import (
    TouchpointBatch,
    TouchpointBatchRead,
    TouchpointCreate,
    TouchpointRead,
)
from pydantic import BaseModel

router = APIRouter(prefix="/v1", tags=["solicit"], responses=problem_responses(*AUTHENTICATED))
MAX_PERIOD = timedelta(days=400)


def _may_write(client: ApiClient, items: list[TouchpointCreate]) -> None:
    foreign = sorted({i.source_system for i in items if not client.may_write_for(i.source_system)})
    if foreign:
        raise Forbidden(
            f"client {client.client_id!r} may not report touchpoints for {foreign}",
            kind="source-system-forbidden",
        )


@router.post("/touchpoints", response_model=TouchpointRead, summary="Report one touchpoint")
async def post_touchpoint(
    body: TouchpointCreate,
    conn: TransactionDep,
    settings: SettingsDep,
    programs: ProgramsDep,
    client: WriterDep,
) -> TouchpointRead:
    """Records it once (a repeat answers the first decisions, `duplicate: true`)."""
    _may_write(client, [body])
    (read,) = await service.record(
        conn=conn,
        items=[body],
        config=programs,
        callbacks=service.callbacks_of(settings, [body]),
        now=utcnow(),
    )
    return read


@router.post(
    "/touchpoints/batch", response_model=TouchpointBatchRead, summary="Report many touchpoints"
)
async def post_touchpoints(
    body: TouchpointBatch,
    conn: TransactionDep,
    settings: SettingsDep,
    programs: ProgramsDep,
    client: WriterDep,
) -> TouchpointBatchRead:
    """Records up to 1000 touchpoints in one transaction; answered per item, in order."""
    _may_write(client, body.items)
    if len(body.items) > settings.max_batch:
        raise TooLarge(f"at most {settings.max_batch} touchpoints per batch")
    items = await service.record(
        conn=conn,
        items=body.items,
        config=programs,
        callbacks=service.callbacks_of(settings, body.items),
        now=utcnow(),
    )
    return TouchpointBatchRead(items=items)


@router.get("/programs", response_model=ProgramsConfig, summary="Survey programs")
async def get_programs(programs: ProgramsDep, _client: ReaderDep) -> ProgramsConfig:
    """Every program and the shared fatigue policy, as configured."""
    return programs


@router.get("/programs/{program_id}", response_model=Program, summary="One survey program")
async def get_program(program_id: Identifier, programs: ProgramsDep, _client: ReaderDep) -> Program:
    """One program by id."""
    program = programs.by_id(program_id)
    if program is None:
        raise NotFound(f"no program {program_id!r}")
    return program


@router.get(
    "/response-rates", response_model=rates.ResponseRates, summary="Response rates with CIs"
)
async def get_response_rates(
    engine: EngineDep,
    _client: ReaderDep,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: Annotated[list[rates.Dimension] | None, Query()] = None,
    program_id: Identifier | None = None,
) -> rates.ResponseRates:
    """Sent, opened, answered and time to answer of invitations sent in [since, until)."""
    until = until or utcnow() + timedelta(seconds=1)
    since = since or until - timedelta(days=30)
    if since.tzinfo is None or until.tzinfo is None:
        raise Invalid("since and until need a time zone")
    if not timedelta(0) < until - since <= MAX_PERIOD:
        raise Invalid("the period must be positive and at most 400 days")
    by: list[rates.Dimension] = list(dict.fromkeys(group_by or rates.DIMENSIONS))
    async with engine.connect() as conn:
        return await rates.response_rates(
            conn=conn, since=since, until=until, by=by, program_id=program_id
        )


class ErasureRead(BaseModel):
    """What an erasure removed."""

    customer_id: str
    invitations_deleted: int


@router.delete("/customers/{customer_id}", response_model=ErasureRead, summary="Erase a customer")
async def erase_customer(
    customer_id: Identifier, conn: TransactionDep, _client: EraserDep
) -> ErasureRead:
    """Deletes the customer's touchpoints, invitations, skips and answers; never asks again."""
    deleted = await customers.erase(conn=conn, customer_id=customer_id, now=utcnow())
    return ErasureRead(customer_id=customer_id, invitations_deleted=deleted)


@router.post(
    "/customers/{customer_id}/opt-out", status_code=204, summary="Opt a customer out of surveys"
)
async def opt_out_customer(
    customer_id: Identifier, conn: TransactionDep, _client: EraserDep
) -> None:
    """Opts out as the one-click unsubscribe does, for systems that learn it elsewhere."""
    now = utcnow()
    await customers.opt_out(conn=conn, customer_id=customer_id, now=now)
    await customers.withdraw_pending(conn=conn, customer_id=customer_id, now=now)
