"""prioritize's effort per theme in the manifests and in `make run` is enrich's taxonomy's."""

import json
import subprocess
import sys
from pathlib import Path

from scripts.taxonomy_effort import DEFAULT_TAXONOMY, effort_by_theme

from .conftest import Rendered

ROOT = Path(__file__).resolve().parents[2]


def test_the_taxonomy_gives_every_theme_an_effort() -> None:
    efforts = effort_by_theme(DEFAULT_TAXONOMY)
    assert efforts, "no theme of the taxonomy has an effort"
    assert all(value > 0 for value in efforts.values())


def test_every_overlay_gives_prioritize_the_taxonomys_effort_per_theme(rendered: Rendered) -> None:
    config = rendered.generated("ConfigMap", "prioritize-config")["data"]
    configured = json.loads(config["FEEDLOOP_PRIORITIZE_EFFORT_BY_THEME"])
    assert configured == effort_by_theme(DEFAULT_TAXONOMY), (
        f"{rendered.overlay}: run `python -m scripts.taxonomy_effort` and copy its output into "
        "deploy/k8s/base/prioritize/kustomization.yaml"
    )


def test_make_run_fills_prioritizes_effort_from_the_taxonomy() -> None:
    (line,) = [
        line
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("prioritize:")
    ]
    assert "FEEDLOOP_PRIORITIZE_EFFORT_BY_THEME" in line and "scripts.taxonomy_effort" in line
    out = subprocess.run(
        [sys.executable, "-m", "scripts.taxonomy_effort"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout) == effort_by_theme(DEFAULT_TAXONOMY)
