"""Floors on our labelled feedback: a drop in sentiment, theme or language quality fails here.

The floors sit a little below the figures measured for docs/enrich-quality.md.
"""

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from feedloop.enrich.service import Enricher

pytestmark = pytest.mark.slow  # labelled sets through the models: not in make test-fast

EVALUATE = Path(__file__).resolve().parents[1] / "quality" / "evaluate.py"


def load_evaluate() -> ModuleType:
    """Imports services/enrich/quality/evaluate.py (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("enrich_quality_evaluate", EVALUATE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures(enricher: Enricher) -> dict[str, Any]:
    evaluate = load_evaluate()
    items = evaluate.load_items()
    assert len(items) >= 150
    result: dict[str, Any] = evaluate.evaluate(enricher, items)
    return result


def test_sentiment_on_labelled_feedback_stays_above_its_floors(figures: dict[str, Any]) -> None:
    every, test = figures["all"], figures["test"]
    assert every["sentiment_accuracy"] >= 0.78
    assert every["sentiment_macro_f1"] >= 0.76
    assert every["sentiment_accuracy_en"] >= 0.78
    # The test half is never trained on (measured 0.758; each language 0.66-0.83).
    assert test["sentiment_accuracy"] >= 0.72
    for lang in ("en", "fr", "de", "es", "it", "pt", "nl"):
        assert test["languages"][lang]["sentiment_accuracy"] >= 0.6, lang
    assert test["sarcasm_accuracy"] >= 0.5


def test_themes_on_labelled_feedback_stay_above_their_floors(figures: dict[str, Any]) -> None:
    assert figures["all"]["theme_micro"]["f1"] >= 0.84
    assert figures["test"]["theme_micro"]["f1"] >= 0.83
    assert figures["all"]["primary_theme_accuracy"] >= 0.88
    for theme, scores in figures["all"]["themes"].items():
        assert scores["f1"] >= 0.75, theme
    for lang in ("en", "fr", "de", "es", "it", "pt", "nl"):
        assert figures["test"]["languages"][lang]["theme_micro"]["f1"] >= 0.78, lang


def test_language_on_labelled_feedback_stays_above_its_floor(figures: dict[str, Any]) -> None:
    assert figures["all"]["language_accuracy"] >= 0.97
