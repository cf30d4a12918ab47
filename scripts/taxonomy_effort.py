"""Prints the taxonomy's effort per theme as FEEDLOOP_PRIORITIZE_EFFORT_BY_THEME wants it (JSON).

prioritize never imports enrich: the effort of each theme reaches it through this setting, which
`make run` (Procfile) fills from enrich's taxonomy and deploy/k8s carries as a literal (checked
against the taxonomy by tests/k8s). With another taxonomy, pass its path (or set
FEEDLOOP_ENRICH_TAXONOMY_PATH, as for enrich).
    python -m scripts.taxonomy_effort [taxonomy.yaml]
"""

import os
import sys
from pathlib import Path

import orjson
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TAXONOMY = ROOT / "services/enrich/src/feedloop/enrich/taxonomy.yaml"


def effort_by_theme(path: Path) -> dict[str, float]:
    """Returns each theme's effort of a taxonomy file; themes without one are left out."""
    themes = yaml.safe_load(path.read_text())["themes"]
    return {t["id"]: float(t["effort"]) for t in themes if t.get("effort") is not None}


def main() -> None:
    """Prints the JSON object of the given (or configured, or default) taxonomy."""
    configured = os.environ.get("FEEDLOOP_ENRICH_TAXONOMY_PATH")
    path = Path(sys.argv[1] if len(sys.argv) > 1 else configured or DEFAULT_TAXONOMY)
    sys.stdout.write(orjson.dumps(effort_by_theme(path)).decode() + "\n")


if __name__ == "__main__":
    main()
