"""One Dockerfile builds every image: its context and build stage reproduced here, no engine.

There is no Docker engine on this machine, so no image is built. What can go wrong without one is
checked for real: each image's context is assembled from the Dockerfile's own COPY lines through
.dockerignore, `uv lock --check` runs in it, then the build stage's `uv sync --locked` commands
and the image checks (data files in the wheels, console scripts load) run against a fresh venv.
"""

import re
import subprocess
from pathlib import Path

import pytest

from tests.images.context import DOCKERFILE, ROOT, UV, DockerIgnore, reproduce, run_in


def members() -> dict[str, dict[str, str]]:
    """Each workspace member that ships as an image, with its build arguments."""
    images = {
        path.parent.name: {"SERVICE": path.parent.name}
        for path in sorted((ROOT / "services").glob("*/pyproject.toml"))
    }
    images["cli"] = {"SERVICE": "cli", "SOURCE": "tools/cli", "COMMAND": "feedloop"}
    return images


IMAGES = members()


def test_every_image_is_documented_in_the_dockerfile() -> None:
    text = DOCKERFILE.read_text()
    for name in IMAGES:
        if name != "cli":
            assert re.search(rf"SERVICE: .*\b{name}\b", text), f"{name} missing from the header"
    cli = "--build-arg SERVICE=cli --build-arg SOURCE=tools/cli --build-arg COMMAND=feedloop"
    assert cli in text


def test_the_context_holds_every_members_metadata_and_no_tests_or_secrets(tmp_path: Path) -> None:
    build = reproduce(tmp_path, {"SERVICE": "notify"}, run=False)
    workspace = [
        "libs/common/pyproject.toml",
        "tools/cli/pyproject.toml",
        *(p.relative_to(ROOT).as_posix() for p in ROOT.glob("services/*/pyproject.toml")),
    ]
    for pyproject in workspace:
        assert (tmp_path / "src" / pyproject).is_file(), f"{pyproject} is not sent to the build"
    assert "uv.lock" in build.copied
    assert not [p for p in build.copied if "/tests/" in p or "__pycache__" in p or ".env" in p]
    assert not [p for p in build.copied if p.startswith("services/enrich/src")], "another service"


def test_the_lock_is_current_in_the_context_the_dockerfile_sends(tmp_path: Path) -> None:
    run_in(reproduce(tmp_path, {"SERVICE": "ingest"}, run=False), "uv lock --check")


@pytest.mark.slow
def test_a_missing_member_makes_the_lock_stale_there(tmp_path: Path) -> None:
    """The test can fail: without tools/cli's metadata (the old Dockerfiles) the lock is stale."""
    reproduce(tmp_path, {"SERVICE": "ingest"}, run=False)
    (tmp_path / "src" / "tools" / "cli" / "pyproject.toml").unlink()
    done = subprocess.run(
        [UV, "lock", "--check"], cwd=tmp_path / "src", capture_output=True, text=True
    )
    assert done.returncode != 0, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("image", sorted(IMAGES))
def test_the_build_stage_syncs_from_the_lock_and_the_image_checks_pass(
    image: str, tmp_path: Path
) -> None:
    build = reproduce(tmp_path, IMAGES[image])
    syncs = [c for c in build.ran if " sync " in c]
    assert len(syncs) == 2, build.ran
    assert all(
        {"--locked", "--no-dev", f"--package feedloop-{image}"}
        <= set(re.findall(r"--[a-z-]+(?: feedloop-[a-z]+)?", c))
        for c in syncs
    )
    assert any("check_image.py --package" in c for c in build.ran), "the runtime check ran"
    venv = tmp_path / "app" / ".venv"
    assert (venv / "bin" / IMAGES[image].get("COMMAND", f"feedloop-{image}")).is_file()
    assert not list(venv.glob("lib/python*/site-packages/*.pth")), "editable install in an image"
    others = {f"feedloop_{name}" for name in IMAGES if name != image}
    installed = {p.name.split("-")[0] for p in venv.glob("lib/python*/site-packages/*.dist-info")}
    assert not installed & others, "another member is installed"


def test_the_image_runs_as_uid_10001_on_python_311_slim_with_the_makefiles_uv() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim\S*$", text, re.MULTILINE)
    uv_image = re.search(r"^ARG UV_IMAGE=ghcr\.io/astral-sh/uv:(\d+\.\d+\.\d+)$", text, re.M)
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert uv_image and makefile_uv and uv_image.group(1) == makefile_uv.group(1)
    froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert froms[-1] == "${PYTHON_IMAGE}", "the runtime stage is the slim Python image"
    final_stage = text.rsplit("\nFROM ", 1)[1]
    assert "USER 10001:10001" in final_stage
    assert "COPY --from=build /app/.venv /app/.venv" in final_stage
    assert final_stage.rstrip().endswith('CMD ["/bin/sh", "-c", "exec \\"$FEEDLOOP_COMMAND\\""]')


def test_the_old_per_service_dockerfiles_are_gone() -> None:
    assert not list(ROOT.glob("services/*/Dockerfile"))
    assert not list(ROOT.glob("tools/*/Dockerfile"))


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("uv.lock", False),
        ("services/ingest/src/feedloop/ingest/app.py", False),
        ("tools/cli/pyproject.toml", False),
        ("deploy/docker/check_image.py", False),
        ("deploy/k8s/base/kustomization.yaml", True),
        ("services/ingest/tests/test_ingest_http.py", True),
        ("libs/common/src/feedloop/common/__pycache__/x.cpython-311.pyc", True),
        ("services/notify/.env", True),
        ("services/enrich/training/corpus/en.yaml", True),
        ("services/enrich/src/feedloop/enrich/taxonomy.yaml", False),
        ("services/notify/prod.env", True),
        (".venv/bin/python", True),
        ("README.md", True),
    ],
)
def test_dockerignore_rules_apply_as_docker_applies_them(path: str, excluded: bool) -> None:
    assert DockerIgnore.read(ROOT / ".dockerignore").excludes(path) is excluded
