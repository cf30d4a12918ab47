"""Fails when the contracts would break a consumer of the last released ones.

docs/events/released/ keeps what consumers were last promised: every event schema
(`events/<type>.v<N>.json`) and every OpenAPI document (`openapi/<service>.json`, of which the
response schemas are compared). The current documents (docs/events/schemas, docs/openapi) must
still honour each of them:

- an event schema must accept every record the released one accepted, and give consumers every
  field they were given: no removed or renamed field, no field that stops being required, no new
  required field (old records on the topic lack it), no narrowed or changed type, no removed
  enum value or oneOf branch, no changed const, no tighter bound;
- a response schema the same, except that a new required field is additive there;
- a released event schema version or operation stays published, unchanged in meaning, until
  the deprecation recorded in released/manifest.json for it has ended.

A breaking change is published side by side instead: a new event type version
(`<type>.v2.json`, schema_version 2) or a new path (`/v2/...`), with the old one deprecated in the
manifest for the deprecation period (docs/consuming.md). `--release` copies the current documents
into released/ once a version is released.

Usage: python -m scripts.contract_compat [--release]
"""

import argparse
import datetime
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RELEASED = DOCS / "events" / "released"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass
class Documents:
    """Where one set of contracts lies: event schemas and OpenAPI documents."""

    events: Path
    openapi: Path

    def event_schemas(self) -> dict[str, dict[str, Any]]:
        """Every `<type>.v<N>` schema by that name."""
        return {
            p.name.removesuffix(".json"): orjson.loads(p.read_bytes())
            for p in sorted(self.events.glob("*.v*.json"))
        }

    def openapi_documents(self) -> dict[str, dict[str, Any]]:
        """Every OpenAPI document by service name."""
        return {p.stem: orjson.loads(p.read_bytes()) for p in sorted(self.openapi.glob("*.json"))}


CURRENT = Documents(DOCS / "events" / "schemas", DOCS / "openapi")
RELEASED_DOCS = Documents(RELEASED / "events", RELEASED / "openapi")


@dataclass
class Comparison:
    """Compares one released schema with its current version, collecting breaking changes."""

    old_root: dict[str, Any]
    new_root: dict[str, Any]
    is_event: bool
    problems: list[str] = field(default_factory=list)
    _seen: set[tuple[str, str, str]] = field(default_factory=set)

    def resolve(self, schema: Any, root: dict[str, Any]) -> dict[str, Any]:
        """Follows local $refs (#/$defs/..., #/components/schemas/...)."""
        hops = 0
        while isinstance(schema, dict) and "$ref" in schema and hops < 50:
            ref = str(schema["$ref"])
            if not ref.startswith("#/"):
                break
            node: Any = root
            for part in ref[2:].split("/"):
                node = node.get(part, {}) if isinstance(node, dict) else {}
            schema = node
            hops += 1
        return schema if isinstance(schema, dict) else {}

    def compare(self, old: Any, new: Any, where: str) -> None:
        """Records every change from old to new at `where` that breaks a consumer."""
        key = (where, _ref_of(old), _ref_of(new))
        if key[1] and key[2]:
            if key in self._seen:
                return
            self._seen.add(key)
        old = self.resolve(old, self.old_root)
        new = self.resolve(new, self.new_root)
        if not old:
            return  # the released schema promised nothing here
        if not new:
            self.problems.append(f"{where}: the schema no longer constrains the value (widened)")
            return
        self._compare_types(old, new, where)
        self._compare_values(old, new, where)
        self._compare_bounds(old, new, where)
        self._compare_branches(old, new, where)
        self._compare_properties(old, new, where)
        if "items" in old:
            self.compare(old["items"], new.get("items", {}), f"{where}[]")
        if isinstance(old.get("additionalProperties"), dict):
            extra = new.get("additionalProperties")
            if isinstance(extra, dict):
                self.compare(old["additionalProperties"], extra, f"{where}{{*}}")
            elif extra is False:
                self.problems.append(f"{where}: no longer allows other keys (narrowed)")

    def _types(self, schema: dict[str, Any], root: dict[str, Any]) -> set[str] | None:
        if "type" in schema:
            kinds = schema["type"]
            return {kinds} if isinstance(kinds, str) else set(kinds)
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            found: set[str] = set()
            for branch in branches:
                kinds = self._types(self.resolve(branch, root), root)
                if kinds is None:
                    return None
                found |= kinds
            return found
        if "const" in schema:
            return {_json_type(schema["const"])}
        if "enum" in schema:
            return {_json_type(v) for v in schema["enum"]}
        return None

    def _compare_types(self, old: dict[str, Any], new: dict[str, Any], where: str) -> None:
        old_types = self._types(old, self.old_root)
        new_types = self._types(new, self.new_root)
        if old_types is None or new_types is None:
            return
        lost = old_types - new_types
        gained = new_types - old_types
        if lost:
            self.problems.append(f"{where}: type narrowed, no longer {sorted(lost)}")
        if gained:
            self.problems.append(f"{where}: type changed, now also {sorted(gained)}")

    def _compare_values(self, old: dict[str, Any], new: dict[str, Any], where: str) -> None:
        if "const" in old and new.get("const", old["const"]) != old["const"]:
            self.problems.append(f"{where}: const changed {old['const']!r} -> {new['const']!r}")
        if "enum" in old:
            allowed = new.get("enum", [new["const"]] if "const" in new else None)
            if allowed is not None:
                removed = [v for v in old["enum"] if v not in allowed]
                if removed:
                    self.problems.append(f"{where}: enum values removed {removed}")
        elif "enum" in new and "const" not in old:
            self.problems.append(f"{where}: now restricted to {new['enum']} (narrowed)")
        if old.get("format") != new.get("format") and "format" in new:
            self.problems.append(
                f"{where}: format changed {old.get('format')!r} -> {new['format']!r}"
            )
        if old.get("pattern") != new.get("pattern") and "pattern" in new:
            self.problems.append(f"{where}: pattern changed to {new['pattern']!r} (narrowed)")

    def _compare_bounds(self, old: dict[str, Any], new: dict[str, Any], where: str) -> None:
        for name in ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"):
            if name in new and (name not in old or new[name] < old[name]):
                self.problems.append(f"{where}: {name} {old.get(name)} -> {new[name]} (narrowed)")
        for name in ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"):
            if name in new and (name not in old or new[name] > old[name]):
                self.problems.append(f"{where}: {name} {old.get(name)} -> {new[name]} (narrowed)")

    def _compare_branches(self, old: dict[str, Any], new: dict[str, Any], where: str) -> None:
        for keyword in ("oneOf", "anyOf"):
            old_branches = old.get(keyword)
            if not old_branches:
                continue
            new_branches = new.get(keyword) or new.get("oneOf" if keyword == "anyOf" else "anyOf")
            if not new_branches:
                if self._types(new, self.new_root) is None:
                    self.problems.append(f"{where}: {keyword} branches removed")
                continue
            new_by_name = {_branch_name(b, self.resolve(b, self.new_root)): b for b in new_branches}
            for branch in old_branches:
                name = _branch_name(branch, self.resolve(branch, self.old_root))
                if name not in new_by_name:
                    self.problems.append(f"{where}: {keyword} branch {name} removed (narrowed)")
                else:
                    self.compare(branch, new_by_name[name], f"{where}<{name}>")

    def _compare_properties(self, old: dict[str, Any], new: dict[str, Any], where: str) -> None:
        old_props: dict[str, Any] = old.get("properties", {})
        new_props: dict[str, Any] = new.get("properties", {})
        old_required = set(old.get("required", []))
        new_required = set(new.get("required", []))
        for name, schema in old_props.items():
            path = f"{where}.{name}" if where else name
            if name not in new_props:
                self.problems.append(f"{path}: field removed (or renamed)")
                continue
            if name in old_required and name not in new_required:
                self.problems.append(f"{path}: no longer required, consumers relied on it")
            self.compare(schema, new_props[name], path)
        if self.is_event:
            for name in sorted(new_required - old_required):
                path = f"{where}.{name}" if where else name
                self.problems.append(f"{path}: new required field, records already sent lack it")


def _ref_of(schema: Any) -> str:
    return str(schema.get("$ref", "")) if isinstance(schema, dict) else ""


def _branch_name(branch: Any, resolved: dict[str, Any]) -> str:
    ref = _ref_of(branch)
    if ref:
        return ref.rsplit("/", 1)[-1]
    if "type" in resolved:
        return str(resolved["type"])
    return str(resolved.get("title", "?"))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def compare_schemas(
    old: dict[str, Any], new: dict[str, Any], *, is_event: bool, where: str = ""
) -> list[str]:
    """Every change from the released schema `old` to `new` that breaks a consumer."""
    comparison = Comparison(old, new, is_event)
    comparison.compare(old, new, where)
    return comparison.problems


def responses(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(operation, status + media type, schema) of every response body a document declares."""
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in HTTP_METHODS:
                continue
            name = f"{method.upper()} {path}"
            for status, response in operation.get("responses", {}).items():
                for media, content in (response.get("content") or {}).items():
                    if "schema" in content:
                        yield name, f"{status} {media}", content["schema"]


def operations(document: dict[str, Any]) -> set[str]:
    """`METHOD /path` of every operation of a document."""
    return {
        f"{method.upper()} {path}"
        for path, ops in document.get("paths", {}).items()
        for method in ops
        if method in HTTP_METHODS
    }


def retired(name: str, manifest: dict[str, Any], today: datetime.date) -> bool:
    """True when `name` was deprecated in the manifest and its deprecation period is over."""
    entry = manifest.get("deprecated", {}).get(name)
    return bool(entry) and datetime.date.fromisoformat(entry["until"]) <= today


def check(
    released: Documents = RELEASED_DOCS,
    current: Documents = CURRENT,
    manifest: dict[str, Any] | None = None,
    today: datetime.date | None = None,
) -> list[str]:
    """Every breaking change of `current` against `released`; empty when compatible."""
    if manifest is None:
        path = released.events.parent / "manifest.json"
        manifest = orjson.loads(path.read_bytes()) if path.exists() else {}
    today = today or datetime.datetime.now(datetime.UTC).date()
    problems: list[str] = []
    now_events = current.event_schemas()
    for name, old in released.event_schemas().items():
        if name not in now_events:
            if not retired(name, manifest, today):
                problems.append(f"event {name}: removed before its deprecation period ended")
            continue
        problems += [
            f"event {name}: {p}" for p in compare_schemas(old, now_events[name], is_event=True)
        ]
    now_apis = current.openapi_documents()
    for service, old_doc in released.openapi_documents().items():
        new_doc = now_apis.get(service, {})
        new_responses = {(op, code): schema for op, code, schema in responses(new_doc)}
        for op in sorted(operations(old_doc) - operations(new_doc)):
            if not retired(f"{service} {op}", manifest, today):
                problems.append(f"{service} {op}: removed before its deprecation period ended")
        for op, code, schema in responses(old_doc):
            if op not in operations(new_doc):
                continue
            if (op, code) not in new_responses:
                problems.append(f"{service} {op} {code}: response no longer declared")
                continue
            comparison = Comparison(old_doc, new_doc, is_event=False)
            comparison.compare(schema, new_responses[(op, code)], "")
            problems += [f"{service} {op} {code}: {p}" for p in comparison.problems]
    return problems


def release(current: Documents = CURRENT, released: Documents = RELEASED_DOCS) -> None:
    """Copies the current contracts into released/: what consumers are now promised."""
    for source, target in ((current.events, released.events), (current.openapi, released.openapi)):
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.glob("*.json")):
            shutil.copyfile(path, target / path.name)


def main(argv: list[str] | None = None) -> int:
    """Checks (or, with --release, records) compatibility; exit 1 on a breaking change."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", action="store_true", help="record the current contracts")
    args = parser.parse_args(argv)
    if args.release:
        release()
        print(f"released contracts recorded under {RELEASED.relative_to(ROOT)}")
        return 0
    problems = check()
    for problem in problems:
        print(f"BREAKING {problem}", file=sys.stderr)
    if problems:
        print(
            f"{len(problems)} breaking change(s) against {RELEASED.relative_to(ROOT)}: publish a "
            "new event type version / API path side by side instead (docs/consuming.md)",
            file=sys.stderr,
        )
        return 1
    print(f"contracts compatible with {RELEASED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
