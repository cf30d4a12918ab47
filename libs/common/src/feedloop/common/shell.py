"""The service shell: one app builder and one lifespan composed of the parts a service has.

A service's `create_app` builds its own objects (auth, engine, domain services), then calls
`service_app` with a lifespan made by `build_lifespan` from steps such as these:

    lifespan = build_lifespan(
        service="notify",
        settings=settings,
        steps=[
            store_step(engine, upgrade=migrations.upgrade, migrate=settings.migrate),
            producer_step(lambda: create_producer(settings)),
            relay_step(outbox, engine=engine, settings=settings),
            consumers_step(lambda app: [BatchConsumer(...)]),
        ],
    )

Each step starts one part and registers how to stop it; the parts stop in reverse order
(consumers first, the engine last), also when a later step fails to start. Steps hand what
they start to later steps and to routes through `app.state` (producer, relay, consumers).

This module needs no database: the store and outbox steps live in feedloop.common.db and
feedloop.common.outbox (the `db` extra).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI
from feedloop.common.health import ReadinessCheck
from feedloop.common.kafka import kafka_reachable
from feedloop.common.logs import configure_logging
from feedloop.common.settings import ServiceSettings
from feedloop.common.web import StatusHook, docs_options, install_common

Step = Callable[[FastAPI, contextlib.AsyncExitStack], Awaitable[None]]
"""Starts one part of a service and pushes its stop onto the stack."""

Lifespan = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]


class Consumer(Protocol):
    """What the shell needs of a consumer loop (feedloop.common.consumer.BatchConsumer)."""

    @property
    def running(self) -> bool:
        """True while the loop runs."""

    @property
    def healthy(self) -> bool:
        """False while batch after batch fails."""

    async def start(self) -> None:
        """Starts the loop."""

    async def stop(self) -> None:
        """Stops the loop after the batch in flight."""


def build_lifespan(*, service: str, settings: ServiceSettings, steps: Sequence[Step]) -> Lifespan:
    """Returns a lifespan that configures logging, runs `steps` in order, stops them in reverse."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service=service, level=settings.log_level, json=settings.log_json)
        async with contextlib.AsyncExitStack() as stack:
            for step in steps:
                await step(app, stack)
            yield

    return lifespan


class Startable(Protocol):
    """A part with an async start and stop (a Kafka producer, a durable producer, ...)."""

    async def start(self) -> None:
        """Starts the part."""

    async def stop(self) -> None:
        """Stops the part."""


def started_step(name: str, create: Callable[[], Startable]) -> Step:
    """Starts the part `create` returns as `app.state.<name>`; stopped after later steps."""

    async def step(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        part = create()
        await part.start()
        stack.push_async_callback(part.stop)
        setattr(app.state, name, part)

    return step


def producer_step(create: Callable[[], Startable]) -> Step:
    """Starts a Kafka producer as `app.state.producer`; stopped after the parts that use it."""
    return started_step("producer", create)


def consumers_step(build: Callable[[FastAPI], Iterable[Consumer]]) -> Step:
    """Starts the consumer loops `build` returns as `app.state.consumers` (and `.consumer`).

    They are stopped first on shutdown: no new work is taken while the rest drains.
    """

    async def step(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        consumers = list(build(app))
        for consumer in consumers:
            stack.push_async_callback(consumer.stop)  # also closes one that failed to start
            await consumer.start()
        app.state.consumers = consumers
        app.state.consumer = consumers[0] if consumers else None

    return step


def task_step(name: str, run: Callable[[], Coroutine[Any, Any, object]]) -> Step:
    """Runs `run()` as a background task for the app's life; cancelled on shutdown."""

    async def step(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
        del app
        task = asyncio.create_task(run(), name=name)

        async def cancel() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        stack.push_async_callback(cancel)

    return step


def kafka_check(settings: ServiceSettings) -> ReadinessCheck:
    """Readiness: the Kafka cluster answers a metadata request."""

    async def check() -> bool:
        return await kafka_reachable(settings)

    return check


def consumers_check(app: FastAPI) -> ReadinessCheck:
    """Readiness: every consumer loop runs and is healthy (one failing batch after batch stalls
    its partitions)."""

    async def check() -> bool:
        consumers: list[Consumer] = app.state.consumers
        return bool(consumers) and all(c.running and c.healthy for c in consumers)

    return check


def readiness(
    app: FastAPI, settings: ServiceSettings, *, consume: bool, **more: ReadinessCheck
) -> dict[str, ReadinessCheck]:
    """The usual readiness checks: Kafka, then `more` (e.g. database=db_check(engine)), then
    the consumer loops when the service consumes."""
    checks = {"kafka": kafka_check(settings), **more}
    if consume:
        checks["consumer"] = consumers_check(app)
    return checks


def service_app(
    *,
    service: str,
    settings: ServiceSettings,
    summary: str,
    lifespan: Lifespan,
    routers: Sequence[APIRouter] = (),
    state: dict[str, Any] | None = None,
    checks: Callable[[FastAPI], dict[str, ReadinessCheck]] | None = None,
    on_status: StatusHook | None = None,
) -> FastAPI:
    """Returns the service's FastAPI app with the common parts installed (web.install_common).

    `state` seeds `app.state` (settings, producer, relay and consumers are set here);
    `checks(app)` returns the readiness checks, which may read what the lifespan starts.
    """
    app = FastAPI(
        title=f"feedloop {service} API",
        version="1.0.0",
        summary=summary,
        lifespan=lifespan,
        **docs_options(settings),
    )
    app.state.settings = settings
    app.state.producer = None
    app.state.relay = None
    app.state.consumers = []
    app.state.consumer = None
    for name, value in (state or {}).items():
        setattr(app.state, name, value)
    install_common(
        app,
        service=service,
        settings=settings,
        checks=checks(app) if checks is not None else {},
        on_status=on_status,
    )
    for router in routers:
        app.include_router(router)
    return app
