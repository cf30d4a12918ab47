"""Floors on our labelled feedback: a drop in sentiment, theme or language quality fails here.

The floors sit a little below the figures measured for docs/enrich-quality.md.
"""

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from feedloop.enrich.service import Enricher

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
    every = figures["all"]
    assert every["sentiment_accuracy"] >= 0.69
    assert every["sentiment_macro_f1"] >= 0.64
    assert every["sentiment_accuracy_en"] >= 0.76


def test_themes_on_labelled_feedback_stay_above_their_floors(figures: dict[str, Any]) -> None:
    assert figures["all"]["theme_micro"]["f1"] >= 0.74
    assert figures["test"]["theme_micro"]["f1"] >= 0.72
    assert figures["all"]["primary_theme_accuracy"] >= 0.74
    for theme, scores in figures["all"]["themes"].items():
        assert scores["f1"] >= 0.6, theme


def test_language_on_labelled_feedback_stays_above_its_floor(figures: dict[str, Any]) -> None:
    assert figures["all"]["language_accuracy"] >= 0.97
