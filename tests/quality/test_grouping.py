"""Complaints about one problem group into one issue across wording and languages (floors)."""

import pytest

from tests.quality.grouping import analyse, direction_figures, evaluate, load

pytestmark = pytest.mark.slow  # the grouping set through enrich: not in make test-fast

# Measured 2026-12-07 (docs/enrich-quality.md): v2 pairwise F1 0.39, ARI 0.35, precision 0.29,
# recall 0.59, against v1's 0.03 / 0.02. The floors guard against regressions; the aim of
# issue 10 (F1 >= 0.8) is not met.
FLOOR_F1 = 0.33
FLOOR_ARI = 0.3
FLOOR_PRECISION = 0.25
# Opposite problems (runs small / runs large, too expensive / price dropped) sharing an issue,
# counted in pairs: 51 with the taxonomy's sizing cues read first (116 with the pole examples
# alone, 258 without directions), 2026-12-07.
CEILING_OPPOSITE_PAIRS = 70


def test_the_grouping_set_forms_issues_of_one_problem_in_several_languages() -> None:
    items = load()
    enrichments = analyse(items)
    figures = evaluate(items, enrichments)
    assert figures.f1 >= FLOOR_F1, figures
    assert figures.ari >= FLOOR_ARI, figures
    assert figures.precision >= FLOOR_PRECISION, figures
    assert figures.multilingual_issues >= 5, figures
    assert figures.opposite_pairs <= CEILING_OPPOSITE_PAIRS, figures
    directions = direction_figures(items, enrichments)
    sizing = directions["sizing_runs_small"] + directions["sizing_runs_large"]
    # Held out (never trained on, cues written without reading it): 27 of 41 sizing complaints
    # named right, 1 wrong (the pole examples alone: 13 and 1); late deliveries 18 of 27 by the
    # trained delivery head (3 with the pole examples).
    assert sizing["right"] >= 22, directions
    assert sizing["wrong"] <= 3, directions
    assert directions["delivery_late"]["right"] >= 14, directions
