"""Precision and recall of a text detector per language, on a labelled set in tests/data."""

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

DATA = Path(__file__).parent / "data"


def figures(
    name: str, detect: Callable[[str, str], bool], label: str
) -> dict[str, tuple[float, float]]:
    """(precision, recall) per language of `detect(text, lang)` against each item's `label`."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    for item in json.loads((DATA / name).read_text())["items"]:
        said, truth = detect(item["text"], item["lang"]), bool(item[label])
        c = counts[item["lang"]]
        c[0] += said and truth
        c[1] += said and not truth
        c[2] += truth and not said
    return {
        lang: (tp / max(1, tp + fp), tp / max(1, tp + fn)) for lang, (tp, fp, fn) in counts.items()
    }
