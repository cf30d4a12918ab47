"""`alembic upgrade head` of a service's store, at app start (local) or by its migrate script.

Needs the `db` extra. Each service ships its migrations; its Alembic `env.py` calls `run_env`.
"""

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from feedloop.common.db import create_engine
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config(url: str, migrations: Path) -> Config:
    """Returns an Alembic config pointing at a package's migrations directory."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, url: str, migrations: Path, lock_id: int) -> None:
    # Replicas starting together migrate one at a time (session advisory lock on PostgreSQL).
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_id})
        connection.commit()
    config = alembic_config(url, migrations)
    config.attributes["connection"] = connection
    try:
        command.upgrade(config, "head")
        connection.commit()
    finally:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id})
            connection.commit()


async def upgrade(engine: AsyncEngine, *, migrations: Path, lock_id: int) -> None:
    """Upgrades the schema to the newest revision through the given engine."""
    url = engine.url.render_as_string(hide_password=False)
    async with engine.connect() as conn:
        await conn.run_sync(_upgrade, url, migrations, lock_id)


def upgrade_url(url: str, *, migrations: Path, lock_id: int) -> None:
    """Upgrades the database at `url` to head (the migrate console scripts)."""

    async def run() -> None:
        # Migrations may wait for the other replicas' lock and run long: no timeouts here.
        engine = create_engine(url, statement_timeout_ms=0, lock_timeout_ms=0)
        try:
            await upgrade(engine, migrations=migrations, lock_id=lock_id)
        finally:
            await engine.dispose()

    asyncio.run(run())


def run_env(context: Any, metadata: MetaData) -> None:
    """The body of a service's Alembic env.py: a handed-over connection, or its own engine."""

    def run_on(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_online() -> None:
        engine = create_engine(
            context.config.get_main_option("sqlalchemy.url") or "",
            statement_timeout_ms=0,
            lock_timeout_ms=0,
        )
        async with engine.connect() as conn:
            await conn.run_sync(run_on)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(
            url=context.config.get_main_option("sqlalchemy.url"), target_metadata=metadata
        )
        with context.begin_transaction():
            context.run_migrations()
    elif (shared := context.config.attributes.get("connection")) is not None:
        run_on(shared)
    else:
        asyncio.run(run_online())
