"""Assigning a complaint to an issue by theme and embedding similarity (pure)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]
OPEN = ("new", "acknowledged", "planned", "in_progress")
CLOSED = ("resolved", "wont_fix")


def to_vector(values: Sequence[float] | bytes | None, dim: int = 0) -> Vector:
    """Returns a float32 vector from a list or stored bytes (zeros when absent)."""
    if values is None or len(values) == 0:
        return np.zeros(dim, dtype=np.float32)
    if isinstance(values, bytes):
        return np.frombuffer(values, dtype=np.float32).copy()
    return np.asarray(values, dtype=np.float32)


def normalised(vector: Vector) -> Vector:
    """Returns the vector scaled to unit length (unchanged when zero)."""
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def similarity(a: Vector, b: Vector) -> float:
    """Cosine similarity of two vectors; 1.0 when either is missing (theme alone decides).

    Vectors of different sizes come from different embedding models and are not comparable: 0,
    so feedback embedded by a new model opens its own issues until history is re-analysed.
    """
    if a.size == 0 or b.size == 0:
        return 1.0
    if a.shape != b.shape:
        return 0.0
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return 1.0
    return float(a @ b) / (na * nb)


@dataclass
class Candidate:
    """An issue as the grouping sees it: its theme, centroid, window and members."""

    id: str
    theme: str
    status: str
    centroid: Vector
    members: int
    last_seen: datetime
    resolved_at: datetime | None = None
    merged_into: str | None = None
    row: Any = None
    new: bool = False
    customers: dict[str, Any] = field(default_factory=dict)
    norm: float = 0.0
    direction: str | None = None
    """The direction most members name (e.g. 'small'): a complaint of the opposite one stays out."""

    def absorb(self, vector: Vector) -> None:
        """Adds a member to the running sum of unit vectors; the centroid is its direction."""
        if vector.size == 0:
            return
        if self.centroid.size != vector.size:
            self.centroid, self.norm, self.members = vector.copy(), 0.0, 0
        total = self.centroid * self.norm + normalised(vector)
        self.norm = float(np.linalg.norm(total))
        self.centroid = normalised(total.astype(np.float32))
        self.members += 1


def cohesion(count: int, norm: float) -> float | None:
    """Mean pairwise cosine of `count` unit vectors whose sum has length `norm`.

    |sum|^2 = n + n(n-1) * mean pairwise similarity, so no member vectors are needed.
    """
    if count < 2:
        return None
    return (norm * norm - count) / (count * (count - 1))


def cross_similarity(
    a: Vector, a_count: int, a_norm: float, b: Vector, b_count: int, b_norm: float
) -> float:
    """Mean cosine between the members of two groups, from their centroids and sum lengths."""
    return similarity(a, b) * a_norm * b_norm / (a_count * b_count)


def eligible(
    c: Candidate, *, at: datetime, window: timedelta, regression_window: timedelta
) -> bool:
    """True when an issue may take a complaint from `at`: open and recent, or recently closed."""
    if c.merged_into:
        return False
    if c.status in CLOSED:
        closed_at = c.resolved_at or c.last_seen
        return at - closed_at <= regression_window
    return at - c.last_seen <= window


def best_match(
    vector: Vector,
    candidates: Sequence[Candidate],
    *,
    at: datetime,
    threshold: float,
    window: timedelta,
    regression_window: timedelta,
    direction: str | None = None,
) -> Candidate | None:
    """Returns the most similar eligible issue of the theme at or above the threshold.

    An issue whose members name the opposite direction of the theme ("runs large" for a "runs
    small" complaint) is not eligible however close: the two need opposite fixes.
    """
    best: Candidate | None = None
    best_sim = threshold
    for c in candidates:
        if not eligible(c, at=at, window=window, regression_window=regression_window):
            continue
        if direction is not None and c.direction is not None and c.direction != direction:
            continue
        sim = similarity(vector, c.centroid)
        # Prefer open issues over closed ones at equal similarity.
        if (
            sim > best_sim
            or (best is not None and sim == best_sim and best.status in CLOSED)
            or (best is None and sim >= threshold)
        ):
            best, best_sim = c, sim
    return best
