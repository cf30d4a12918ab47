"""`alembic upgrade head` of the prioritize store: at app start (local) or by the script."""

from pathlib import Path

from feedloop.common import migrate
from feedloop.prioritize.settings import PrioritizeSettings
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x5F0B0C6  # advisory lock id: replicas starting together migrate one at a time


async def upgrade(engine: AsyncEngine) -> None:
    """Upgrades the schema to the newest revision through the app's engine."""
    await migrate.upgrade(engine, migrations=MIGRATIONS, lock_id=MIGRATION_LOCK)


def main() -> None:
    """Upgrades the database of FEEDLOOP_PRIORITIZE_DATABASE_URL to head."""
    migrate.upgrade_url(
        PrioritizeSettings().database_url, migrations=MIGRATIONS, lock_id=MIGRATION_LOCK
    )


if __name__ == "__main__":
    main()
