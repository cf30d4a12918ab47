"""`alembic upgrade head` of the prioritize store: at app start (local) or by the script."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from feedloop.prioritize.db import create_engine
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x5F0B0C6  # advisory lock id: replicas starting together migrate one at a time


def alembic_config(url: str) -> Config:
    """Returns an Alembic config pointing at the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(connection: Connection, url: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        connection.commit()
    config = alembic_config(url)
    config.attributes["connection"] = connection
    try:
        command.upgrade(config, "head")
        connection.commit()
    finally:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            connection.commit()


async def upgrade(engine: AsyncEngine) -> None:
    """Upgrades the schema to the newest revision through the app's engine."""
    async with engine.connect() as conn:
        await conn.run_sync(_upgrade, str(engine.url.render_as_string(hide_password=False)))


def main() -> None:
    """Upgrades the database of FEEDLOOP_PRIORITIZE_DATABASE_URL to head."""

    async def run() -> None:
        engine = create_engine(PrioritizeSettings().database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


if __name__ == "__main__":
    main()
