"""Each service's Dockerfile builds only its own package, as a non-root user, from the lock."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "enrich", "prioritize", "notify")


@pytest.mark.parametrize("service", SERVICES)
def test_the_dockerfile_installs_only_its_package_from_the_lock(service: str) -> None:
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    syncs = re.findall(r"uv sync ([^\n]+)", text)
    assert syncs, "no uv sync"
    for args in syncs:
        assert {"--locked", "--no-dev", f"--package feedloop-{service}"} <= set(
            re.findall(r"--[a-z-]+(?: feedloop-[a-z]+)?", args)
        ), args
    assert re.search(rf"--no-editable --package feedloop-{service}\b", text)


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_runs_its_entry_point_as_uid_10001_on_python_311_slim(service: str) -> None:
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim\S*$", text, re.MULTILINE)
    assert re.search(r"^ARG UV_IMAGE=ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+$", text, re.MULTILINE)
    froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert froms[-1] == "${PYTHON_IMAGE}", "the runtime stage is the slim Python image"
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert "USER 10001:10001" in final_stage
    assert final_stage.rstrip().endswith(f'CMD ["feedloop-{service}"]')
    assert "COPY --from=build /app/.venv /app/.venv" in final_stage


def test_the_build_context_leaves_out_caches_tests_and_secrets() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*") + 1 :][:4] == [
        "!pyproject.toml",
        "!uv.lock",
        "!libs/",
        "!services/",
    ]
    for pattern in ("**/.venv/", "**/__pycache__/", "**/tests/", "**/.env*"):
        assert pattern in lines
