"""An image's build, reproduced without a Docker engine: the context, the build stage's commands.

`Dockerfile` reads the instructions of deploy/docker/Dockerfile; `DockerIgnore` applies
.dockerignore as Docker does (last matching rule wins; a rule on a directory covers what is under
it); `reproduce` copies into a temporary root exactly what the COPY lines send from the context
and runs the stages' RUN lines there, the image's absolute paths (/src, /app) moved under that
root. Only what needs a real image is left out: base images, `COPY --from=uv`, user creation.
"""

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
UV = shutil.which("uv") or str(ROOT / ".local" / "uv" / "bin" / "uv")
SKIPPED_PROGRAMS = {"groupadd"}  # the runtime user: needs root in a real image


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    args: str


def instructions(text: str) -> list[Instruction]:
    """Parses a Dockerfile: comments dropped, `\\` continuations joined."""
    result, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        result.append(Instruction(keyword.upper(), args.strip()))
    return result


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Expands $NAME and ${NAME} (unknown names expand to nothing, as in Docker)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), ""), text)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            parts.append("[" + pattern[i + 1 : end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts) + r"\Z")


@dataclass(frozen=True)
class DockerIgnore:
    """.dockerignore rules in order: (negated, pattern)."""

    rules: tuple[tuple[bool, re.Pattern[str]], ...]

    @classmethod
    def read(cls, path: Path) -> "DockerIgnore":
        """Reads the rules; patterns are cleaned as Docker does (no leading or trailing /)."""
        rules = []
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = os.path.normpath(line.removeprefix("!").strip()).strip("/")
            rules.append((negated, _glob_regex(pattern)))
        return cls(tuple(rules))

    def excludes(self, relative: str) -> bool:
        """Whether the context leaves out this path (relative to the context's root)."""
        parts = relative.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for negated, regex in self.rules:
            if any(regex.match(prefix) for prefix in prefixes):
                excluded = not negated
        return excluded


def context_files(source: str, ignore: DockerIgnore) -> Iterator[Path]:
    """Files under a COPY source (a file or a directory) that the build context holds."""
    start = ROOT / source
    candidates = [start] if start.is_file() else sorted(p for p in start.rglob("*") if p.is_file())
    for path in candidates:
        if not ignore.excludes(path.relative_to(ROOT).as_posix()):
            yield path


@dataclass
class Build:
    """The reproduced image: its root on this machine and what the stages ran."""

    root: Path
    args: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = "/"
    image_roots: set[str] = field(default_factory=set)
    ran: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)

    def host(self, path: str) -> Path:
        """Where an image path lies under the temporary root."""
        absolute = path if path.startswith("/") else f"{self.cwd.rstrip('/')}/{path}"
        return self.root / absolute.lstrip("/")

    def map_text(self, text: str) -> str:
        """Moves the image's own absolute paths (/src, /app) under the temporary root."""
        for top in sorted(self.image_roots):
            text = re.sub(rf"(?<![\w./]){re.escape(top)}(?=/|\b)", f"{self.root}{top}", text)
        return text


def _copy(build: Build, args: str, ignore: DockerIgnore) -> None:
    tokens = args.split()
    flags = [t for t in tokens if t.startswith("--")]
    *sources, dest = [t for t in tokens if not t.startswith("--")]
    stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
    if stage == "uv":
        return  # the uv binary: this machine's own uv runs instead
    if dest.startswith("/"):
        build.image_roots.add("/" + dest.strip("/").split("/")[0])
    target = build.host(dest)
    for source in sources:
        if stage is not None:  # from an earlier stage: its files are already under the root
            origin = build.host(source)
            if origin != target:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)
            continue
        base = ROOT / source
        for path in context_files(source, ignore):
            if base.is_file():
                out = target / path.name if dest.endswith("/") else target
            else:
                out = target / path.relative_to(base)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out)
            build.copied.append(path.relative_to(ROOT).as_posix())


def _run(build: Build, args: str, host_env: Mapping[str, str]) -> None:
    words = [w for w in shlex.split(args) if not w.startswith("--mount=")]
    if words and words[0] in SKIPPED_PROGRAMS:
        return
    if words and words[0] == "uv":
        words[0] = UV
    command = build.map_text(shlex.join(words))
    env = {**host_env, **{k: build.map_text(v) for k, v in build.env.items()}}
    env.update(_HOST_OVERRIDES)
    env.pop("VIRTUAL_ENV", None)
    cwd = build.host(build.cwd)
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True)
    build.ran.append(command)
    if done.returncode != 0:
        raise AssertionError(f"RUN {args}\n  (as {command})\n{done.stdout}{done.stderr}")


# Where this machine differs from the image: its interpreter, and no bytecode compilation (time).
_HOST_OVERRIDES = {
    "UV_PYTHON": shutil.which("python3.11") or "python3",
    "UV_COMPILE_BYTECODE": "0",
    "UV_LINK_MODE": "hardlink",
}


def _env_pairs(args: str) -> dict[str, str]:
    pairs = {}
    for word in shlex.split(args):
        key, _, value = word.partition("=")
        pairs[key] = value
    return pairs


def reproduce(root: Path, build_args: Mapping[str, str], *, run: bool = True) -> Build:
    """Builds every stage of the Dockerfile under `root` (COPY always, RUN when `run`)."""
    ignore = DockerIgnore.read(ROOT / ".dockerignore")
    build = Build(root=root, args=dict(build_args))
    host_env = dict(os.environ)
    stage_args: dict[str, str] = {}
    for ins in instructions(DOCKERFILE.read_text()):
        args = substitute(ins.args, {**stage_args, "PATH": host_env.get("PATH", "")})
        if ins.keyword == "FROM":
            stage_args = {}  # an ARG is declared again in each stage that uses it
            build.env = {}
        elif ins.keyword == "ARG":
            name, _, default = ins.args.partition("=")
            stage_args[name] = build.args.get(name, substitute(default, stage_args))
        elif ins.keyword == "ENV":
            known = {"PATH": host_env.get("PATH", ""), **stage_args, **build.env}
            pairs = _env_pairs(substitute(ins.args, known))
            build.env.update(pairs)
            venv = pairs.get("UV_PROJECT_ENVIRONMENT")
            if venv:
                build.image_roots.add("/" + venv.strip("/").split("/")[0])
        elif ins.keyword == "WORKDIR":
            build.cwd = args
            build.image_roots.add("/" + args.strip("/").split("/")[0])
        elif ins.keyword == "COPY":
            _copy(build, args, ignore)
        elif ins.keyword == "RUN" and run:
            _run(build, args, host_env)
    return build


def run_in(build: Build, command: str, *, cwd: str = "/src") -> None:
    """Runs one more command in an image directory, with the last stage's environment."""
    build.cwd = cwd
    _run(build, command, dict(os.environ))
