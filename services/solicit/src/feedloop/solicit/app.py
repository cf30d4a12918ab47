"""The solicit app factory and its lifespan (DB, migrations, outbox relay, sender)."""

import contextlib

from fastapi import FastAPI
from feedloop.common.auth import build_auth, writers_bound_to_sources
from feedloop.common.consumer import BatchConsumer
from feedloop.common.db import create_store_engine, db_check
from feedloop.common.health import ReadinessCheck
from feedloop.common.links import LinkSigner
from feedloop.common.openapi import install_openapi
from feedloop.common.outbox import stateful_steps
from feedloop.common.shell import Step, build_lifespan, consumers_step, readiness, service_app
from feedloop.solicit import inbound, pages, rights
from feedloop.solicit.api import router
from feedloop.solicit.channels import EmailChannel, WebhookChannel
from feedloop.solicit.migrate import upgrade
from feedloop.solicit.outbox import OUTBOX, SERVICE
from feedloop.solicit.programs import ProgramsConfig, load_programs
from feedloop.solicit.sender import Sender
from feedloop.solicit.settings import SCOPE_ERASE, SCOPE_READ, SCOPE_WRITE, SolicitSettings
from feedloop.solicit.touchpoints import consumer as touchpoints
from sqlalchemy.ext.asyncio import AsyncEngine


def create_app(
    settings: SolicitSettings | None = None, programs: ProgramsConfig | None = None
) -> FastAPI:
    """Builds the solicit app; nothing connects until the lifespan starts."""
    settings = settings or SolicitSettings()
    programs = programs or load_programs(settings.programs_file)
    engine = create_store_engine(settings)
    signer = settings.link_signer()
    steps = stateful_steps(
        engine=engine, settings=settings, outbox=OUTBOX, upgrade=upgrade, migrate=settings.migrate
    )
    if settings.send:
        steps.append(_sender_step(engine, settings, programs, signer))
    if settings.inbound_smtp_port is not None:
        steps.append(_inbound_step(engine, settings, signer))
    if settings.consume:
        steps.append(consumers_step(lambda app: _consumers(app, engine, settings, programs)))

    def checks(app: FastAPI) -> dict[str, ReadinessCheck]:
        return readiness(app, settings, consume=settings.consume, database=db_check(engine))

    app = service_app(
        service=SERVICE,
        settings=settings,
        summary="Survey invitations after touchpoints: programs, fatigue and consent, hosted "
        "survey pages, response rates.",
        lifespan=build_lifespan(service=SERVICE, settings=settings, steps=steps),
        routers=[router, pages.router],
        state={
            "auth": build_auth(
                settings,
                dev_scopes=frozenset({SCOPE_READ, SCOPE_WRITE, SCOPE_ERASE}),
                check=writers_bound_to_sources(
                    scope=SCOPE_WRITE, local=settings.is_local, may="may report touchpoints"
                ),
            ),
            "engine": engine,
            "programs": programs,
            "signer": signer,
            "sender": None,
            "inbound": None,
        },
        checks=checks,
    )
    install_openapi(app, settings)
    return app


def _consumers(
    app: FastAPI, engine: AsyncEngine, settings: SolicitSettings, programs: ProgramsConfig
) -> list[BatchConsumer]:
    """Erasure requests always; the touchpoints topic unless turned off."""
    loops = [rights.consumer(app, engine, settings)]
    if settings.consume_touchpoints:
        loops.append(touchpoints.consumer(app, engine, settings, programs))
    return loops


def _sender_step(
    engine: AsyncEngine, settings: SolicitSettings, programs: ProgramsConfig, signer: LinkSigner
) -> Step:
    """Starts the channels and the sender (`app.state.sender`); stops them before the relay."""

    async def step(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        webhook = WebhookChannel(settings)
        stack.push_async_callback(webhook.close)
        sender = Sender(
            engine=engine,
            settings=settings,
            config=programs,
            signer=signer,
            channels={"email": EmailChannel(settings), "webhook": webhook},
            on_commit=app.state.relay.wake,
        )
        app.state.sender = sender
        sender.start()
        stack.push_async_callback(sender.stop)

    return step


def _inbound_step(engine: AsyncEngine, settings: SolicitSettings, signer: LinkSigner) -> Step:
    """Starts the unsubscribe mailbox's SMTP listener (`app.state.inbound`, an asyncio.Server)."""

    async def step(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        server = await inbound.start_listener(settings, engine, signer)
        app.state.inbound = server

        async def close() -> None:
            server.close()
            await server.wait_closed()

        stack.push_async_callback(close)

    return step
