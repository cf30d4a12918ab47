"""`alembic upgrade head` of the notify store: at app start (local) or by the script."""

from feedloop.common.migrate import Migrations
from feedloop.notify.alerts import models as _alerts  # noqa: F401 (its tables join Base)
from feedloop.notify.models import Base
from feedloop.notify.settings import NotifySettings

MIGRATIONS = Migrations.beside(
    __file__, lock_id=0x5F0B0D6, metadata=Base.metadata, settings=NotifySettings
)
upgrade = MIGRATIONS.upgrade
main = MIGRATIONS.main  # feedloop-notify-migrate [upgrade | revision -m MESSAGE]
