"""The prioritize app factory and its lifespan (DB engine, migrations, consumers, outbox relay)."""

import functools

from fastapi import FastAPI
from feedloop.common import topics
from feedloop.common.audit import SCOPE_AUDIT, audit_router
from feedloop.common.auth import build_auth
from feedloop.common.consumer import BatchConsumer
from feedloop.common.db import create_store_engine, db_check
from feedloop.common.dbfaults import db_transient
from feedloop.common.health import ReadinessCheck
from feedloop.common.kafka import create_consumer
from feedloop.common.openapi import install_openapi
from feedloop.common.outbox import stateful_steps
from feedloop.common.shell import (
    build_lifespan,
    consumers_step,
    readiness,
    service_app,
)
from feedloop.prioritize import export, retention, rights
from feedloop.prioritize.consumer import SERVICE, closed_handler, enriched_handler
from feedloop.prioritize.feedback.api import router as feedback_router
from feedloop.prioritize.inbox.api import router as inbox_router
from feedloop.prioritize.issues.api import router as issues_router
from feedloop.prioritize.kpis import alerts as kpi_alerts
from feedloop.prioritize.kpis.api import router as kpis_router
from feedloop.prioritize.migrate import upgrade
from feedloop.prioritize.models import audit_t
from feedloop.prioritize.outbox import OUTBOX
from feedloop.prioritize.praise.api import router as praise_router
from feedloop.prioritize.settings import (
    SCOPE_READ,
    SCOPE_RESOLVE,
    SCOPE_WRITE,
    PrioritizeSettings,
)
from sqlalchemy.ext.asyncio import AsyncEngine


def create_app(settings: PrioritizeSettings | None = None) -> FastAPI:
    """Builds the prioritize app; nothing connects until the lifespan starts."""
    settings = settings or PrioritizeSettings()
    engine = create_store_engine(settings)
    auth = build_auth(
        settings,
        dev_scopes=frozenset(
            {SCOPE_READ, SCOPE_WRITE, SCOPE_RESOLVE, SCOPE_AUDIT, export.SCOPE_EXPORT}
        ),
    )
    steps = stateful_steps(
        engine=engine, settings=settings, outbox=OUTBOX, upgrade=upgrade, migrate=settings.migrate
    )
    if settings.consume:
        steps.append(retention.step(engine, settings))
        steps.append(consumers_step(lambda app: _consumers(app, engine, settings)))
        if settings.kpi_alerts:
            steps.append(kpi_alerts.step(engine, settings))

    def checks(app: FastAPI) -> dict[str, ReadinessCheck]:
        return readiness(app, settings, consume=settings.consume, database=db_check(engine))

    app = service_app(
        service=SERVICE,
        settings=settings,
        summary="Issues grouped from customer feedback, ranked with reasons; KPIs.",
        lifespan=build_lifespan(service=SERVICE, settings=settings, steps=steps),
        routers=[
            issues_router,
            inbox_router,
            praise_router,
            kpis_router,
            feedback_router,
            audit_router(table=audit_t, service=SERVICE),
            export.router,
        ],
        state={"auth": auth, "engine": engine},
        checks=checks,
    )
    install_openapi(app, settings)
    return app


def _consumers(
    app: FastAPI, engine: AsyncEngine, settings: PrioritizeSettings
) -> list[BatchConsumer]:
    relay = app.state.relay
    consumer = functools.partial(
        BatchConsumer,
        service=SERVICE,
        transient=db_transient,
        max_records=settings.batch_max_records,
        timeout_ms=settings.batch_timeout_ms,
    )
    return [
        consumer(
            consumer=create_consumer(settings),
            topics_in=[settings.topic(topics.ENRICHED)],
            handler=enriched_handler(engine=engine, settings=settings, on_commit=relay.wake),
            group_id=settings.consumer_group,
            producer=app.state.producer,
        ),
        consumer(
            consumer=create_consumer(settings, group_id=settings.closed_consumer_group),
            topics_in=[settings.topic(topics.CLOSED)],
            handler=closed_handler(engine=engine, settings=settings),
            group_id=settings.closed_consumer_group,
            # `closed` has no dead-letter topic of ours: a bad record costs a KPI.
            dead_letters=False,
        ),
        rights.consumer(app, engine, settings),
    ]
