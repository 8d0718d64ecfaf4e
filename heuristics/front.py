"""Two-objective fronts, both objectives maximised: non-dominated filtering and the exact hypervolume.

The hypervolume of a front with respect to a reference point ``r`` (worse than every point in both
objectives) is the area dominated by the front and dominating ``r``. In two dimensions it is exact: sort
the front by the first objective, descending, and add up the rectangles.
"""

from __future__ import annotations

import numpy as np


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Non-dominated rows of ``points`` (maximisation), unique, sorted by the first objective descending."""
    points = np.unique(np.asarray(points, dtype=float).reshape(-1, 2), axis=0)
    if len(points) == 0:
        return points
    order = np.lexsort((-points[:, 1], -points[:, 0]))  # first objective desc, then second desc
    front, best_second = [], -np.inf
    for row in points[order]:
        if row[1] > best_second:  # strictly better second objective than every point with a larger first
            front.append(row)
            best_second = row[1]
    return np.array(front)


def hypervolume(front: np.ndarray, reference: np.ndarray) -> float:
    """Area dominated by ``front`` (maximisation) above ``reference``; points not above it add nothing."""
    front = non_dominated(front)
    reference = np.asarray(reference, dtype=float)
    if len(front) == 0:
        return 0.0
    front = front[(front[:, 0] > reference[0]) & (front[:, 1] > reference[1])]
    area, previous = 0.0, reference[1]
    for first, second in front:  # first descending, second ascending
        area += (first - reference[0]) * (second - previous)
        previous = second
    return float(area)


class ParetoArchive:
    """The non-dominated set of every point added so far, and the worst value seen per objective."""

    def __init__(self) -> None:
        self.front = np.zeros((0, 2))
        self.nadir = np.full(2, np.inf)  # componentwise worst of all points added

    def add(self, points: np.ndarray) -> None:
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        if len(points) == 0:
            return
        self.nadir = np.minimum(self.nadir, points.min(axis=0))
        self.front = non_dominated(np.vstack([self.front, points]))

    def hypervolume(self, reference: np.ndarray | None = None) -> float:
        """Hypervolume against ``reference``, by default the worst values seen in the run (see README)."""
        if len(self.front) == 0:
            return float("nan")
        return hypervolume(self.front, self.nadir if reference is None else reference)
