"""`alembic upgrade head` of the prioritize store: at app start (local) or by the script."""

from feedloop.common.migrate import Migrations
from feedloop.prioritize.kpis import alerts as _alerts  # noqa: F401 (kpi_alert joins Base)
from feedloop.prioritize.models import Base
from feedloop.prioritize.settings import PrioritizeSettings

MIGRATIONS = Migrations.beside(
    __file__, lock_id=0x5F0B0C6, metadata=Base.metadata, settings=PrioritizeSettings
)
upgrade = MIGRATIONS.upgrade
main = MIGRATIONS.main  # feedloop-prioritize-migrate [upgrade | revision -m MESSAGE]

if __name__ == "__main__":
    main()
