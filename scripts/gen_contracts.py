"""Regenerates docs/events (JSON Schema per event type, AsyncAPI) and docs/openapi (REST APIs)."""

import importlib
import sys
from pathlib import Path

import orjson
from feedloop.common.contracts import write_all

ROOT = Path(__file__).resolve().parents[1]

# (service, settings-free factory module) of every REST API whose OpenAPI we publish.
APIS = [
    ("ingest", "feedloop.ingest.app"),
    ("enrich", "feedloop.enrich.app"),
    ("prioritize", "feedloop.prioritize.app"),
    ("notify", "feedloop.notify.app"),
    ("solicit", "feedloop.solicit.app"),
]


def openapi_documents() -> dict[str, bytes]:
    """Returns docs/openapi/<service>.json contents for each service that exists."""
    out = {}
    for service, module_name in APIS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        app = module.create_app()
        out[f"openapi/{service}.json"] = (
            orjson.dumps(app.openapi(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )
    return out


def main() -> None:
    """Writes every generated document."""
    written = write_all(ROOT / "docs")
    for relative, content in openapi_documents().items():
        path = ROOT / "docs" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    for path in written:
        print(path.relative_to(ROOT), file=sys.stderr)


if __name__ == "__main__":
    main()
