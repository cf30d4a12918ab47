"""Fixtures of the manifest checks: every overlay rendered once by `kubectl kustomize`."""

import importlib
import importlib.util
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
STAGES = ("enrich", "prioritize", "notify")


@dataclass
class Rendered:
    """The resources one overlay renders to, with lookups by kind and name."""

    overlay: str
    resources: list[dict[str, Any]]
    namespace: str = field(init=False)

    def __post_init__(self) -> None:
        (ns,) = self.of_kind("Namespace")
        self.namespace = ns["metadata"]["name"]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Returns every resource of a kind."""
        return [r for r in self.resources if r["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """Returns the resource of a kind and name; fails if there is none."""
        found = [r for r in self.of_kind(kind) if r["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {name}, found {len(found)}"
        return found[0]

    def generated(self, kind: str, base_name: str) -> dict[str, Any]:
        """Returns a generated ConfigMap or Secret by its name before the hash suffix."""
        pattern = re.compile(rf"{re.escape(base_name)}(-[a-z0-9]{{10}})?")
        found = [r for r in self.of_kind(kind) if pattern.fullmatch(r["metadata"]["name"])]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {base_name}, found {found}"
        return found[0]

    def pod_specs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yields (deployment name, pod spec) of every Deployment."""
        for d in self.of_kind("Deployment"):
            yield d["metadata"]["name"], d["spec"]["template"]["spec"]


def render(overlay: str) -> Rendered:
    """Renders an overlay with kubectl's built-in kustomize."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is required to render deploy/k8s (kubectl kustomize)"
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, f"kubectl kustomize {overlay} failed:\n{out.stderr}"
    return Rendered(overlay, [r for r in yaml.safe_load_all(out.stdout) if r])


@pytest.fixture(scope="session")
def rendered_all() -> dict[str, Rendered]:
    """Every overlay, rendered once per session."""
    assert OVERLAYS, "no overlay under deploy/k8s/overlays"
    return {overlay: render(overlay) for overlay in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, rendered_all: dict[str, Rendered]) -> Rendered:
    """One overlay's resources (the test runs once per overlay)."""
    return rendered_all[request.param]


@pytest.fixture(scope="session")
def topics() -> ModuleType:
    """feedloop.common.topics: installed in the workspace venv, else loaded from its file."""
    try:
        return importlib.import_module("feedloop.common.topics")
    except ModuleNotFoundError:
        path = ROOT / "libs" / "common" / "src" / "feedloop" / "common" / "topics.py"
        spec = importlib.util.spec_from_file_location("feedloop_common_topics", path)
        assert spec and spec.loader, f"cannot load {path}"
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


@pytest.fixture(scope="session")
def settings_groups() -> dict[str, set[str]]:
    """The *consumer_group defaults of each stage's settings class, for stages whose code exists."""
    groups = {}
    for stage in STAGES:
        module_name = f"feedloop.{stage}.settings"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            # Only "not written yet" is tolerated; a broken import of existing code fails.
            if e.name in ("feedloop", f"feedloop.{stage}", module_name):
                continue
            raise
        cls = getattr(module, f"{stage.capitalize()}Settings")
        fields = {n: f for n, f in cls.model_fields.items() if n.endswith("consumer_group")}
        assert "consumer_group" in fields, f"{cls.__name__} has no consumer_group"
        for name, f in fields.items():
            assert isinstance(f.default, str), f"{cls.__name__}.{name} has no default"
        groups[stage] = {f.default for f in fields.values()}
    return groups
