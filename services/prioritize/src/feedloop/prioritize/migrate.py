"""`alembic upgrade head` of the prioritize store: at app start (local) or by the script."""

from pathlib import Path

from feedloop.common.migrate import Migrations
from feedloop.prioritize.models import Base
from feedloop.prioritize.settings import PrioritizeSettings

MIGRATIONS = Migrations(
    Path(__file__).parent / "migrations",
    lock_id=0x5F0B0C6,
    metadata=Base.metadata,
    database_url=lambda: PrioritizeSettings().database_url,
)
upgrade = MIGRATIONS.upgrade
main = MIGRATIONS.main  # feedloop-prioritize-migrate [upgrade | revision -m MESSAGE]

if __name__ == "__main__":
    main()
