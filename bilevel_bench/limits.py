"""The run's hard wall-clock limit, seen by every solver call inside it.

A run with a hard ``time_limit`` sets a **deadline** (an absolute ``time.time()``, so that it means the same
in every worker process) around its evaluations and its exact solves. Every solver call a family makes
(follower LP/MILP, CP-SAT, routing, an exact baseline) asks :func:`time_left` and passes at most that to
its solver, so no single call can run past the run's limit; a call that is cut returns the follower
status ``limit`` (an infeasible candidate), and the evaluator then ends the run as ``timeout``.

Outside a run (tests, the Python API without a limit) there is no deadline and :func:`time_left` is
``inf``: families fall back to their own defaults.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

_deadline: float | None = None  # time.time() at which the current run must stop; None: no limit

#: Shortest time limit handed to a solver: some solvers treat 0 as "no limit".
MIN_SOLVER_SECONDS = 1e-3


@contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Within the block, solver calls stop by ``at`` (a ``time.time()`` value; None: no limit).

    Nested deadlines keep the earlier one.
    """
    global _deadline
    previous = _deadline
    if at is not None:
        _deadline = at if previous is None else min(previous, at)
    try:
        yield
    finally:
        _deadline = previous


def current() -> float | None:
    """The current deadline (``time.time()``), or None."""
    return _deadline


def time_left() -> float:
    """Seconds left before the deadline (0 once it has passed; ``inf`` without a deadline)."""
    if _deadline is None:
        return math.inf
    return max(0.0, _deadline - time.time())


def expired() -> bool:
    return _deadline is not None and time.time() >= _deadline


def solver_seconds(own_limit: float = math.inf) -> float:
    """The time limit to give a solver call: its own limit capped by the time left (never below
    :data:`MIN_SOLVER_SECONDS`; ``inf`` when neither limits it)."""
    return max(MIN_SOLVER_SECONDS, min(own_limit, time_left()))
