"""The service shell of libs/common: settings mixins, auth, transactions, lifespan, migrations."""

import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from feedloop.common.auth import DEV_API_KEY, ApiClient, build_auth, require_scope
from feedloop.common.codec import encode
from feedloop.common.db import TransactionDep, create_engine
from feedloop.common.events import Envelope, FeedbackClosed
from feedloop.common.migrate import Migrations
from feedloop.common.problems import Problem, install_problem_handlers
from feedloop.common.settings import ApiKeySettings, StoreSettings
from feedloop.common.shell import Step, build_lifespan, service_app
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from tests.support.events import feedback_closed


class _KeyedSettings(StoreSettings, ApiKeySettings):
    model_config = SettingsConfigDict(env_prefix="FEEDLOOP_SHELLTEST_", frozen=True)


class _OptionalKeys(ApiKeySettings):
    api_keys_required = False


def test_keys_are_required_outside_local_mode_and_named_by_the_service_prefix() -> None:
    with pytest.raises(ValidationError, match="FEEDLOOP_SHELLTEST_API_KEYS or _API_KEYS_FILE"):
        _KeyedSettings(environment="prod")
    assert _KeyedSettings(environment="prod", api_keys="[]").migrate is False
    assert _KeyedSettings(environment="local").migrate is True
    assert _OptionalKeys(environment="prod").api_keys is None


async def test_the_auth_builder_gives_the_dev_key_its_scopes_in_local_mode_only() -> None:
    def app_with(settings: _KeyedSettings) -> FastAPI:
        app = FastAPI()
        install_problem_handlers(app)
        app.state.auth = build_auth(settings, dev_scopes=frozenset({"things:read"}))
        reader = Annotated[ApiClient, Depends(require_scope("things:read"))]
        writer = Annotated[ApiClient, Depends(require_scope("things:write"))]

        @app.get("/read")
        async def read(client: reader) -> dict[str, str]:
            return {"client": client.client_id}

        @app.get("/write")
        async def write(client: writer) -> dict[str, str]:
            return {"client": client.client_id}

        return app

    key = {"X-API-Key": DEV_API_KEY}
    local = httpx.ASGITransport(app=app_with(_KeyedSettings(environment="local")))
    async with httpx.AsyncClient(transport=local, base_url="http://t") as client:
        assert (await client.get("/read", headers=key)).json() == {"client": "local-dev"}
        assert (await client.get("/write", headers=key)).status_code == 403
        assert (await client.get("/read")).status_code == 401
    tests = httpx.ASGITransport(app=app_with(_KeyedSettings(environment="test")))
    async with httpx.AsyncClient(transport=tests, base_url="http://t") as client:
        assert (await client.get("/read", headers=key)).status_code == 401

    seen: list[list[ApiClient]] = []

    def refuse(clients: list[ApiClient]) -> None:
        seen.append(clients)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        build_auth(_KeyedSettings(), dev_scopes=frozenset({"x"}), check=refuse)
    assert [c.client_id for c in seen[0]] == ["local-dev"]


class _Relay:
    def __init__(self) -> None:
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


async def test_the_transaction_commits_before_the_response_and_then_wakes_the_relay(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/tx.db")
    metadata = MetaData()
    things = Table("things", metadata, Column("id", Integer, primary_key=True))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    app = FastAPI()
    app.state.engine = engine
    app.state.relay = relay = _Relay()

    @app.post("/things/{thing}")
    async def add(thing: int, conn: TransactionDep) -> dict[str, int]:
        await conn.execute(insert(things), [{"id": thing}])
        if thing < 0:
            raise Problem(409, "Conflict", "negative things are refused")
        return {"id": thing}

    install_problem_handlers(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/things/1")).status_code == 200
        # Visible to another connection as soon as the response arrived: committed before it.
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(things)) == 1
        assert relay.wakes == 1
        refused = await client.post("/things/-1")
        assert refused.status_code == 409
        assert refused.headers["content-type"].startswith("application/problem+json")
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(things)) == 1  # rolled back
    assert relay.wakes == 1  # nothing committed, nothing to relay
    await engine.dispose()


async def test_the_lifespan_stops_its_parts_in_reverse_even_when_a_later_one_fails() -> None:
    events: list[str] = []

    def part(name: str, *, fail: bool = False) -> Step:
        async def step(app: FastAPI, stack: contextlib.AsyncExitStack) -> None:
            del app
            if fail:
                raise RuntimeError(f"{name} did not start")
            events.append(f"start {name}")

            async def stop() -> None:
                events.append(f"stop {name}")

            stack.push_async_callback(stop)

        return step

    settings = _KeyedSettings()
    app = service_app(
        service="shelltest",
        settings=settings,
        summary="test",
        lifespan=build_lifespan(
            service="shelltest", settings=settings, steps=[part("db"), part("kafka")]
        ),
        state={"auth": build_auth(settings, dev_scopes=frozenset())},
    )
    async with app.router.lifespan_context(app):
        events.append("serving")
    assert events == ["start db", "start kafka", "serving", "stop kafka", "stop db"]
    assert app.title == "feedloop shelltest API"

    events.clear()
    failing = build_lifespan(
        service="shelltest", settings=settings, steps=[part("db"), part("kafka", fail=True)]
    )
    with pytest.raises(RuntimeError, match="kafka did not start"):
        async with failing(app):
            events.append("serving")
    assert events == ["start db", "stop db"]


_FIRST_REVISION = '''"""things"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("things", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("things")
'''


def test_migrations_run_a_services_revisions_through_the_shared_env_and_template(
    tmp_path: Path,
) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "0001_things.py").write_text(_FIRST_REVISION)
    metadata = MetaData()
    Table("things", metadata, Column("id", Integer, primary_key=True))
    Table("other", metadata, Column("id", Integer, primary_key=True), Column("name", String(10)))
    url = f"sqlite+aiosqlite:///{tmp_path}/m.db"
    migrations = Migrations(
        tmp_path / "migrations", lock_id=1, metadata=metadata, database_url=lambda: url
    )

    migrations.main([])  # the console script: upgrade to head
    migrations.main(["upgrade"])  # twice is harmless
    with sqlite3.connect(tmp_path / "m.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert {"things", "alembic_version"} <= tables
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]

    migrations.main(["revision", "-m", "add other"])
    (written,) = [p for p in versions.glob("*.py") if p.name != "0001_things.py"]
    text = written.read_text()
    assert "down_revision: str | None = '0001'" in text  # the shared template, typed
    assert "op.create_table('other'" in text  # autogenerated against the service's metadata
    assert text.startswith('"""add other"""\n')  # the message is the docstring
    assert "def upgrade() -> None:\n    # ### commands auto generated" in text
    assert "branch_labels" not in text and "depends_on" not in text  # only when given


def test_the_one_envelope_builder_encodes_the_same_with_or_without_validation() -> None:
    now = datetime.now(UTC)
    payload = feedback_closed("f1", channel="none", outcome="no_channel", at=now, seconds=2.0)
    options = {"event_id": "e1", "producer": "shelltest", "correlation_id": "x", "occurred_at": now}
    checked = Envelope.wrap(payload, **options)  # type: ignore[arg-type]
    trusted = Envelope.wrap(payload, validate=False, **options)  # type: ignore[arg-type]
    assert type(checked) is type(trusted) is Envelope[FeedbackClosed]
    assert checked.event_type == "feedback.closed" and checked.schema_version == 1
    assert encode(checked, key="c1").value == encode(trusted, key="c1").value
