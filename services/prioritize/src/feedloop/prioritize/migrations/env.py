"""Alembic environment: runs on a connection handed over by migrate.py, or opens its own."""

import asyncio

from alembic import context
from feedloop.prioritize.db import create_engine
from feedloop.prioritize.models import Base
from sqlalchemy.engine import Connection

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    """Runs the migrations on a synchronous connection."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    """Opens an engine from the configured URL and migrates through it."""
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as conn:
        await conn.run_sync(run_on)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    run_on(shared)
else:
    asyncio.run(run_online())
