"""A throwaway PostgreSQL server for the tests, started from the Debian binaries once a session."""

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG_PORT = int(os.environ.get("FEEDLOOP_TEST_PG_PORT", "15432"))


def _pg_bin() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Starts (or reuses) a PostgreSQL server on loopback; yields its admin URL base."""
    external = os.environ.get("FEEDLOOP_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    pg_bin = _pg_bin()
    if pg_bin is None:
        pytest.fail("PostgreSQL is not installed: run `make postgres` (apt-get install postgresql)")
    data = ROOT / ".local" / f"pg-test-{PG_PORT}"
    started_here = False
    if not _answers(PG_PORT):
        if data.exists() and not (data / "PG_VERSION").exists():
            shutil.rmtree(data)
        run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if not (data / "PG_VERSION").exists():
            data.mkdir(parents=True, exist_ok=True)
            if run_as:
                shutil.chown(data, "postgres")
            subprocess.run(
                [
                    *run_as,
                    str(pg_bin / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        sock_dir = Path("/tmp") / f"pg-feedloop-{PG_PORT}"
        sock_dir.mkdir(exist_ok=True)
        if run_as:
            shutil.chown(sock_dir, "postgres")
        subprocess.run(
            [
                *run_as,
                str(pg_bin / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(data / "server.log"),
                "-o",
                f"-p {PG_PORT} -k {sock_dir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c max_connections=200",
                "-w",
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        started_here = True
    deadline = time.time() + 30
    while not _answers(PG_PORT) and time.time() < deadline:
        time.sleep(0.2)
    yield f"postgresql+asyncpg://postgres@127.0.0.1:{PG_PORT}"
    if started_here and os.environ.get("FEEDLOOP_TEST_KEEP_PG") != "1":
        run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*run_as, str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
        )


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the test server for one test."""
    import asyncio

    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres_server.replace("postgresql+asyncpg", "postgresql")

    async def create() -> None:
        conn = await asyncpg.connect(dsn + "/postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return f"{postgres_server}/{name}"
