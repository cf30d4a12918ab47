"""PostgreSQL sessions carry statement and lock timeouts: nothing waits on the database for ever."""

import pytest
from feedloop.common.db import create_engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

pytestmark = pytest.mark.postgres


async def test_sessions_get_the_configured_statement_and_lock_timeouts(postgres_url: str) -> None:
    engine = create_engine(postgres_url, statement_timeout_ms=1500, lock_timeout_ms=700)
    try:
        async with engine.connect() as conn:
            statement = (await conn.execute(text("SHOW statement_timeout"))).scalar_one()
            lock = (await conn.execute(text("SHOW lock_timeout"))).scalar_one()
    finally:
        await engine.dispose()
    assert (statement, lock) == ("1500ms", "700ms")


async def test_a_statement_over_the_timeout_fails_instead_of_hanging(postgres_url: str) -> None:
    engine = create_engine(postgres_url, statement_timeout_ms=200)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="statement timeout"):
                await conn.execute(text("SELECT pg_sleep(30)"))
    finally:
        await engine.dispose()
