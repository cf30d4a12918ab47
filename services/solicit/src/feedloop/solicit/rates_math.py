"""The Wilson score interval, shared by response rates and survey scores."""

import math

Z_95 = 1.959963984540054


def wilson_bounds(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of successes/n (n > 0), inside 0..1."""
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
