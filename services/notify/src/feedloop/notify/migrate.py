"""`alembic upgrade head` of the notify store: at app start (local) or by the script."""

from pathlib import Path

from feedloop.common.migrate import Migrations
from feedloop.notify.models import Base
from feedloop.notify.settings import NotifySettings

MIGRATIONS = Migrations(
    Path(__file__).parent / "migrations",
    lock_id=0x5F0B0D6,
    metadata=Base.metadata,
    database_url=lambda: NotifySettings().database_url,
)
upgrade = MIGRATIONS.upgrade
main = MIGRATIONS.main  # feedloop-notify-migrate [upgrade | revision -m MESSAGE]

if __name__ == "__main__":
    main()
