"""Redaction and segmentation take time linear in the text, whatever the text.

A backtracking regex that rescans a run from each of its positions is quadratic: 12,000
characters of "Aa-" once took 9 s on the event loop. These tests compare the CPU time of an
input with that of one 8 times longer: linear work grows about 8-fold, quadratic 64-fold. The
bound (24) is generous, so a busy machine does not fail them; no absolute time is asserted.
"""

import time
from collections.abc import Callable

import pytest
from feedloop.enrich.pii import redact
from feedloop.enrich.segmentation import segment

GROWTH = 8
BOUND = 24
# Shapes that made one pattern or another rescan: hyphenated capitals (street names), long
# whitespace runs (sentence ends, contrasts), and the separators around them.
SHAPES = ["Aa-", " ", "\n", " \n", "Aa, ", "a but ", "1 ", "1-", "a.", "a@", ". ", " - ", "A1 "]


def cpu_seconds(work: Callable[[str], object], text: str, repeats: int = 3) -> float:
    """The least CPU time of a few runs (the least is the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.thread_time()
        work(text)
        best = min(best, time.thread_time() - started)
    return best


def growth(work: Callable[[str], object], shape: str, chars: int = 4000) -> float:
    """How much longer `work` takes on a text GROWTH times longer, made of `shape`."""
    n = max(1, chars // len(shape))
    small = cpu_seconds(work, "a" + shape * n + "a")
    large = cpu_seconds(work, "a" + shape * (n * GROWTH) + "a")
    # Below a millisecond the clock's resolution dominates; such a text is fast regardless.
    return large / max(small, 1e-3)


@pytest.mark.parametrize("shape", SHAPES)
def test_redaction_time_grows_linearly_with_the_text(shape: str) -> None:
    assert growth(redact, shape) < BOUND


@pytest.mark.parametrize("shape", SHAPES)
def test_segmentation_time_grows_linearly_with_the_text(shape: str) -> None:
    assert growth(segment, shape) < BOUND


def test_the_reported_regex_bombs_are_redacted_and_segmented_as_usual() -> None:
    assert redact("Aa-" * 4000).text == "Aa-" * 4000
    assert [s.split() for s in segment("a" + " " * 10000 + "a")] == [["a", "a"]]
    assert redact("Karl-Marx-Straße 5, Berlin").text == "[ADDRESS], Berlin"
    assert redact("Hauptstraße 12a").text == "[ADDRESS]"


def test_separators_split_as_before() -> None:
    text = "The fit is great.  The zip broke \n\n - it jammed on day one; sadly it was a gift"
    assert segment(text) == [
        "The fit is great.",
        "The zip broke",
        "- it jammed on day one;",
        "sadly it was a gift",
    ]
    contrast = "Lovely soft fabric  ,  but it runs small \u2014 and the zip broke"
    assert segment(contrast) == ["Lovely soft fabric", "but it runs small", "and the zip broke"]
