"""Which database errors retrying can cure; the others are the data's fault.

Needs the `db` extra. A consumer retries a batch after a transient fault (the database is down,
a deadlock, a lock or statement timeout) and isolates the bad record after any other one (a NUL
in text, a value too long for its column), so one record never stalls a partition.
"""

from feedloop.common.consumer import kafka_transient
from sqlalchemy import exc as sa

# SQLSTATE classes: connection exception, transaction rollback (serialization, deadlock),
# insufficient resources, operator intervention (timeouts, shutdown), system error.
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
TRANSIENT_SQLSTATES = frozenset({"55P03", "55006"})  # lock not available, object in use


def db_transient(exc: BaseException) -> bool:
    """True for faults of the broker, the network or the database server, not of one record."""
    if kafka_transient(exc):
        return True
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sa.DBAPIError) and seen.connection_invalidated:
            return True
        # SQLite reports a busy database as OperationalError; asyncpg a closed connection
        # as InterfaceError; the pool its exhaustion as TimeoutError.
        if isinstance(seen, sa.OperationalError | sa.InterfaceError | sa.DisconnectionError):
            return True
        if isinstance(seen, sa.TimeoutError):
            return True
        sqlstate = getattr(seen, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES or sqlstate in TRANSIENT_SQLSTATES
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
