"""The 95 % intervals of NPS and shares with very few answers (kpis.stats)."""

import math
from collections.abc import Callable
from itertools import product

import pytest
from feedloop.prioritize.kpis import stats

Method = Callable[[int, int, int], tuple[float, float] | None]


@pytest.mark.parametrize(
    ("promoters", "detractors", "n", "expected"),
    [
        # Worked by hand: p~ = (P + 3/4) / (n + 3), d~ = (D + 3/4) / (n + 3),
        # half = 1.96 * sqrt((p~ + d~ - (p~ - d~)^2) / (n + 3)).
        (1, 0, 1, (-48.50, 98.50)),  # p~ .4375, d~ .1875, sd .375
        (0, 1, 1, (-98.50, 48.50)),
        (2, 0, 2, (-24.41, 100.0)),  # p~ .55, d~ .15, sd .3286; the top clipped at 100
        (1, 1, 2, (-73.34, 73.34)),  # p~ = d~ = .35, sd .3742
        (3, 1, 5, (-29.78, 79.78)),  # p~ .46875, d~ .21875, sd .2795
        (5, 0, 5, (17.49, 100.0)),  # p~ .71875, d~ .09375, sd .2296
    ],
)
def test_nps_interval_matches_hand_worked_values(
    promoters: int, detractors: int, n: int, expected: tuple[float, float]
) -> None:
    assert stats.nps_interval(promoters, detractors, n) == pytest.approx(expected, abs=0.01)


def test_nps_interval_never_collapses_and_needs_an_answer() -> None:
    assert stats.nps_interval(0, 0, 0) is None
    for n in (1, 2, 5):
        for promoters in range(n + 1):
            for detractors in range(n + 1 - promoters):
                low, high = stats.nps_interval(promoters, detractors, n) or (0.0, 0.0)
                assert high - low > 40, (promoters, detractors, n)
                assert -100 <= low < high <= 100


def _normal_interval(promoters: int, detractors: int, n: int) -> tuple[float, float]:
    """The plain normal approximation the console drew before: a point when all agree."""
    p, d = promoters / n, detractors / n
    half = stats.Z95 * math.sqrt(max(0.0, p + d - (p - d) ** 2) / n)
    return 100 * (p - d - half), 100 * (p - d + half)


def _coverage(n: int, p: float, d: float, method: Method = stats.nps_interval) -> float:
    """The exact probability that the interval of a trinomial sample of n covers the NPS."""
    truth = 100 * (p - d)
    covered = 0.0
    for promoters, detractors in product(range(n + 1), repeat=2):
        passives = n - promoters - detractors
        if passives < 0:
            continue
        chance = (
            math.factorial(n)
            / (math.factorial(promoters) * math.factorial(detractors) * math.factorial(passives))
            * p**promoters
            * d**detractors
            * (1 - p - d) ** passives
        )
        low, high = method(promoters, detractors, n) or (0.0, 0.0)
        covered += chance if low <= truth <= high else 0.0
    return covered


def test_nps_interval_covers_the_true_score_about_95_percent_at_small_n() -> None:
    grid = [(p / 10, d / 10) for p in range(1, 9) for d in range(1, 9) if p + d <= 9]
    for n in (2, 5, 10):
        mean = sum(_coverage(n, p, d) for p, d in grid) / len(grid)
        normal = sum(_coverage(n, p, d, _normal_interval) for p, d in grid) / len(grid)
        assert mean >= 0.93, (n, mean)
        assert normal < 0.90, (n, normal)  # what the normal approximation gave instead


def test_wilson_interval_of_a_share() -> None:
    assert stats.wilson(8, 10) == pytest.approx((49.02, 94.33), abs=0.01)  # Wilson (1927)
    assert stats.wilson(1, 1) == pytest.approx((20.65, 100.0), abs=0.01)
    assert stats.wilson(0, 2) == pytest.approx((0.0, 65.76), abs=0.01)
    assert stats.wilson(0, 0) is None


def test_scores_carry_their_intervals() -> None:
    score = stats.nps([10])
    assert score is not None and score["interval"] == pytest.approx((-48.5, 98.5), abs=0.01)
    csat = stats.csat(
        [{"method": "top_2_box", "score": 5, "scale_max": 5, "normalised": 1.0}]  # type: ignore[typeddict-item]
    )
    assert csat["top_2_box"]["interval"] == pytest.approx((20.65, 100.0), abs=0.01)
