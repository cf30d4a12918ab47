"""Prints the module map of docs/architecture.md: one line per module, from its docstring.

    .venv/bin/python -m scripts.module_map    # paste between the module-map markers

tests/test_architecture_doc.py checks that the document lists every module and no missing one.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [
    ("libs/common", "feedloop/common"),
    ("services/ingest", "feedloop/ingest"),
    ("services/enrich", "feedloop/enrich"),
    ("services/prioritize", "feedloop/prioritize"),
    ("services/notify", "feedloop/notify"),
    ("services/console", "feedloop/console"),
    ("services/solicit", "feedloop/solicit"),
    ("tools/cli", "feedloop/cli"),
]


def modules() -> list[Path]:
    """Every module worth a line: empty __init__ files and migration versions left out."""
    found = []
    for member, package in PACKAGES:
        for path in sorted((ROOT / member / "src" / package).rglob("*.py")):
            if "versions" in path.parts or "__pycache__" in path.parts:
                continue
            if path.name == "__init__.py" and not ast.get_docstring(ast.parse(path.read_text())):
                continue
            found.append(path.relative_to(ROOT))
    return found


def summary(path: Path) -> str:
    """The first sentence of a module's docstring (or its first line)."""
    doc = ast.get_docstring(ast.parse((ROOT / path).read_text())) or "(no docstring)"
    first = " ".join(doc.split("\n\n")[0].split())
    return first if len(first) <= 160 else first[:157].rsplit(" ", 1)[0] + "..."


def module_map() -> str:
    """Markdown: a heading per package, a line per module with a link to it."""
    lines = []
    for member, package in PACKAGES:
        lines.append(f"\n**{member}** (`{package.replace('/', '.')}`)\n")
        for path in modules():
            if path.is_relative_to(Path(member)):
                shown = path.relative_to(Path(member) / "src" / package).as_posix()
                lines.append(f"- [`{shown}`](../{path.as_posix()}): {summary(path)}")
    return "\n".join(lines).lstrip("\n") + "\n"


if __name__ == "__main__":
    print(module_map(), end="")
