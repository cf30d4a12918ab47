"""docs/architecture.md names every module and links only to paths that exist."""

import re

from scripts.module_map import ROOT, modules

DOC = ROOT / "docs" / "architecture.md"


def test_the_module_map_has_a_line_for_every_module() -> None:
    text = DOC.read_text()
    section = text.split("<!-- module-map:start -->")[1].split("<!-- module-map:end -->")[0]
    linked = set(re.findall(r"\]\(\.\./([^)#]+)\)", section))
    missing = [p.as_posix() for p in modules() if p.as_posix() not in linked]
    assert missing == [], "run `.venv/bin/python -m scripts.module_map` and paste its output"


def test_every_link_of_the_document_resolves() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", DOC.read_text())
    broken = [t for t in targets if "://" not in t and not (DOC.parent / t).exists()]
    assert broken == []


def test_the_readme_links_the_architecture_and_the_main_modules() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "docs/architecture.md" in readme
    for module in (
        "libs/common/src/feedloop/common/consumer.py",
        "services/prioritize/src/feedloop/prioritize/priority.py",
    ):
        assert module in readme, module
