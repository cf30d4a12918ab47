"""`alembic upgrade heads` of the solicit store: at app start (local) or by the script."""

from feedloop.common.migrate import Migrations
from feedloop.solicit.models import Base
from feedloop.solicit.settings import SolicitSettings

MIGRATIONS = Migrations.beside(
    __file__, lock_id=0x5011C18, metadata=Base.metadata, settings=SolicitSettings
)
upgrade = MIGRATIONS.upgrade
main = MIGRATIONS.main  # feedloop-solicit-migrate [upgrade | revision -m MESSAGE]

if __name__ == "__main__":
    main()
