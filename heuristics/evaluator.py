"""Batched, cached, parallel evaluation of leader decisions, with the counters every run reports.

One :class:`BatchEvaluator` lives for one heuristic run. It owns one persistent joblib (loky) pool, created
when the run starts and closed when it ends (not once per generation). A batch (a pymoo population) is
first canonicalised (clipped to bounds, integer variables rounded, the problem's cheap repair applied),
then looked up in the cache of exact follower responses keyed by the leader vector; the misses are split
into one chunk per worker and evaluated there. Workers receive the problem object, which holds only plain
data: each worker builds its own OR-Tools models (CP-SAT with ``num_workers=1``).

Results do not depend on ``n_jobs``: chunks come back in order, and every evaluation is deterministic.

The evaluator also enforces the run's **budget**, the same for every heuristic: a batch that would go past
``max_evals`` is cut to the evaluations that remain, and once ``max_evals`` or ``max_seconds`` is reached
the next call raises :class:`BudgetExhausted` (the run then ends normally). So every run uses exactly
``max_evals`` leader evaluations whatever its population size, and every run records the same checkpoints:
one per evaluated batch (:attr:`BatchEvaluator.history`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from joblib import Parallel, delayed

from bilevel_bench.errors import RunTimeout
from bilevel_bench.problem import BilevelProblem, Evaluation


@dataclasses.dataclass
class Counters:
    n_evals: int = 0  # leader decisions asked for (cache hits included)
    n_unique: int = 0  # leader decisions whose followers were actually solved
    n_follower_solves: int = 0  # solver calls inside followers
    follower_s: float = 0.0  # seconds spent in follower solves (summed over workers)
    cache_hits: int = 0
    n_follower_failures: int = 0  # candidates whose follower was infeasible, unbounded, invalid or at a limit


class BudgetExhausted(Exception):
    """The run's budget of evaluations or seconds is used up: the normal end of a heuristic run."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "max_evals" or "max_seconds"


#: Called with every evaluated batch (canonical decisions and their evaluations), e.g. to keep a front.
BatchObserver = Callable[[np.ndarray, list[Evaluation]], None]


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    n_evals: int
    n_follower_solves: int
    elapsed_s: float
    best_value: float  # leader's sense; nan until a feasible decision is seen


def canonical(problem: BilevelProblem, X: np.ndarray) -> np.ndarray:
    """Clip to bounds, round integer variables, apply the problem's repair (row by row)."""
    lb, ub = problem.bounds()
    X = np.clip(np.atleast_2d(np.asarray(X, dtype=float)), lb, ub)
    mask = problem.integer_mask()
    if mask.any():
        X[:, mask] = np.round(X[:, mask])
    return np.array([problem.repair(x) for x in X])


def _evaluate_chunk(problem: BilevelProblem, X: np.ndarray) -> list[tuple[Evaluation, float]]:
    out = []
    for x in X:
        start = time.perf_counter()
        evaluation = problem.evaluate(x)
        out.append((evaluation, time.perf_counter() - start))
    return out


class BatchEvaluator:
    """Evaluate populations of leader decisions; track counters, the incumbent and its history."""

    def __init__(
        self,
        problem: BilevelProblem,
        n_jobs: int = 1,
        use_cache: bool = True,
        time_limit: float | None = None,
        backend: str = "loky",
        max_evals: int | None = None,
        max_seconds: float | None = None,
    ) -> None:
        self.problem = problem
        self.n_jobs = n_jobs
        self.use_cache = use_cache
        self.time_limit = time_limit
        self.backend = backend
        self.max_evals = max_evals
        self.max_seconds = max_seconds
        self.observers: list[BatchObserver] = []
        self.counters = Counters()
        self.history: list[Checkpoint] = []
        self.best_x: np.ndarray | None = None
        self.best_value = math.nan
        self.best_violation = math.inf
        self._cache: dict[bytes, Evaluation] = {}
        self._pool: Parallel | None = None
        self._start = time.perf_counter()

    # -- pool lifetime: one per run ------------------------------------------------------------------
    def __enter__(self) -> BatchEvaluator:
        self._start = time.perf_counter()
        if self.n_jobs != 1:
            self._pool = Parallel(n_jobs=self.n_jobs, backend=self.backend)
            self._pool.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.__exit__(*exc)
            self._pool = None

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    # -- evaluation ---------------------------------------------------------------------------------
    def evaluate(self, X: np.ndarray) -> tuple[np.ndarray, list[Evaluation]]:
        """Canonical decisions and their evaluations, in the order given."""
        if self.time_limit is not None and self.elapsed > self.time_limit:
            raise RunTimeout(f"wall-clock limit of {self.time_limit:g} s reached after {self.elapsed:.1f} s")
        exhausted = self.exhausted()
        if exhausted:
            raise BudgetExhausted(exhausted)
        X = canonical(self.problem, X)
        if self.max_evals is not None and self.counters.n_evals + len(X) > self.max_evals:
            X = X[: self.max_evals - self.counters.n_evals]  # the last batch is cut: same budget for all
        keys = [x.tobytes() for x in X]
        todo: dict[bytes, np.ndarray] = {}
        for key, x in zip(keys, X, strict=True):
            if key not in self._cache and key not in todo:
                todo[key] = x
        fresh = self._solve(np.array(list(todo.values())).reshape(len(todo), X.shape[1]))
        for key, evaluation in zip(todo, fresh, strict=True):
            self._cache[key] = evaluation
        evaluations = [self._cache[key] for key in keys]
        if not self.use_cache:
            self._cache.clear()
        self.counters.n_evals += len(X)
        self.counters.cache_hits += len(X) - len(todo)
        for x, evaluation in zip(X, evaluations, strict=True):
            self._consider(x, evaluation)
        self.history.append(
            Checkpoint(self.counters.n_evals, self.counters.n_follower_solves, self.elapsed, self.best_value)
        )
        for observer in self.observers:
            observer(X, evaluations)
        if self.max_evals is not None and self.counters.n_evals >= self.max_evals:
            raise BudgetExhausted("max_evals")  # the caller never sees a cut batch
        return X, evaluations

    def exhausted(self) -> str:
        """Which budget is used up ("max_evals", "max_seconds") or "" if neither."""
        if self.max_evals is not None and self.counters.n_evals >= self.max_evals:
            return "max_evals"
        if self.max_seconds is not None and self.elapsed >= self.max_seconds:
            return "max_seconds"
        return ""

    def _solve(self, X: np.ndarray) -> list[Evaluation]:
        if len(X) == 0:
            return []
        if self._pool is None or len(X) == 1:
            results = _evaluate_chunk(self.problem, X)
        else:
            chunks = np.array_split(X, min(len(X), abs(self.n_jobs) if self.n_jobs > 0 else len(X)))
            parts = self._pool(delayed(_evaluate_chunk)(self.problem, chunk) for chunk in chunks)
            results = [item for part in parts for item in part]
        self.counters.n_unique += len(results)
        for evaluation, seconds in results:
            self.counters.n_follower_solves += evaluation.follower.n_solves
            self.counters.follower_s += evaluation.follower.seconds or seconds
            self.counters.n_follower_failures += not evaluation.follower.ok
        return [evaluation for evaluation, _ in results]

    def _consider(self, x: np.ndarray, evaluation: Evaluation) -> None:
        """Keep the incumbent: feasible beats infeasible, then the better value, then lower violation."""
        if evaluation.feasible:
            if self.best_violation > 0 or self.problem.is_better(evaluation.value, self.best_value):
                self.best_x, self.best_value, self.best_violation = x.copy(), evaluation.value, 0.0
        elif self.best_violation > 0 and evaluation.violation < self.best_violation:
            self.best_x, self.best_violation = x.copy(), evaluation.violation
