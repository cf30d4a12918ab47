"""Checks an image's virtual environment, in the build stage and as the runtime user.

    python check_image.py --sources libs/common services/enrich
        every data file under each member's src/ (models, templates, migrations) is installed
    python check_image.py --package feedloop-notify --command feedloop-notify
        every installed distribution's files are in place (third-party model weights included);
        each console script of the package exists on PATH and its function imports

Exit status 1 with one line per problem. tests/images runs it against the venvs it builds.
"""

import argparse
import importlib.metadata
import shutil
import sys
import sysconfig
from pathlib import Path


def missing_data_files(sources: list[str]) -> list[str]:
    """Non-Python files of the members' src/ trees that the installed wheels lack."""
    site = Path(sysconfig.get_paths()["purelib"])
    problems = []
    for source in sources:
        src = Path(source) / "src"
        for path in sorted(src.rglob("*")):
            if not path.is_file() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
                continue
            if not (site / path.relative_to(src)).is_file():
                problems.append(f"{path} is not installed (missing from the wheel?)")
    return problems


def broken_installation(package: str, command: str) -> list[str]:
    """Files of installed distributions that are gone; console scripts that do not load."""
    problems = []
    for dist in importlib.metadata.distributions():
        for file in dist.files or []:
            if file.suffix != ".pyc" and not Path(str(dist.locate_file(file))).exists():
                problems.append(f"{dist.metadata['Name']}: {file} is missing")
    scripts = importlib.metadata.distribution(package).entry_points.select(group="console_scripts")
    if command not in scripts.names:
        problems.append(f"{package} declares no console script {command!r}: {scripts.names}")
    for script in scripts:
        if shutil.which(script.name) is None:
            problems.append(f"console script {script.name} is not on PATH")
        try:
            script.load()
        except Exception as exc:  # every failure is reported, not only the first
            problems.append(f"console script {script.name} ({script.value}) does not load: {exc!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Runs the checks asked for; prints each problem."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", default=[])
    parser.add_argument("--package")
    parser.add_argument("--command")
    args = parser.parse_args(argv)
    problems = missing_data_files(args.sources)
    if args.package:
        problems += broken_installation(args.package, args.command or args.package)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
