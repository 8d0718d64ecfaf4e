"""Any :class:`~bilevel_bench.problem.BilevelProblem` seen as a pymoo ``Problem``.

pymoo minimises, so a maximised leader value enters as ``F = -value``. The single inequality constraint
``G = violation <= 0`` carries the leader's constraint violation plus a large constant when a follower is
not optimal, so pymoo ranks such candidates last. Every batch goes through the run's
:class:`~heuristics.evaluator.BatchEvaluator`, which evaluates the canonical (clipped, rounded, repaired)
decisions; algorithms whose operators carry :class:`CanonicalRepair` hold those canonical decisions in
their population, so what they report is what was solved.

:class:`BiObjectiveProblem` is the family's bi-objective view (``BilevelProblem.objectives``: the leader's
value against the follower's welfare, both maximised) for NSGA-II; it keeps the non-dominated front of
every feasible decision evaluated in the run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair

from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.evaluator import BatchEvaluator, canonical
from bilevel_bench.heuristics.front import ParetoArchive
from bilevel_bench.problem import BilevelProblem, Evaluation

#: Objective given to candidates with no leader value (follower not optimal). Finite, so that no pymoo
#: operator meets an inf; they are ranked by their violation anyway.
NO_VALUE = 1e30


class PymooProblem(Problem):
    def __init__(self, evaluator: BatchEvaluator, n_obj: int = 1) -> None:
        lb, ub = evaluator.problem.bounds()
        # A fixed variable (lb == ub) gets a sliver of width, so that no algorithm divides by a zero range
        # (pymoo's PSO and Nelder-Mead do); the canonical map clips it back before any evaluation.
        ub = np.where(ub > lb, ub, lb + 1e-9 * np.maximum(1.0, np.abs(lb)))
        super().__init__(n_var=len(lb), n_obj=n_obj, n_ieq_constr=1, xl=lb, xu=ub, vtype=float)
        self.evaluator = evaluator
        self.integer_mask = np.asarray(evaluator.problem.integer_mask(), dtype=bool)
        self.sign = -1.0 if evaluator.problem.sense == "max" else 1.0

    def __deepcopy__(self, memo: dict[int, Any]) -> PymooProblem:
        # pymoo copies the algorithm (and so this problem) for ``save_history``; the evaluator holds the run's
        # cache, counters and workers, which belong to the run, not to a snapshot: copies share it.
        return self

    def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        _, evaluations = self.evaluator.evaluate(X)
        values = np.array([e.value for e in evaluations], dtype=float)
        out["F"] = np.where(np.isnan(values), NO_VALUE, self.sign * values)[:, None]
        out["G"] = violations(evaluations)


def violations(evaluations: list[Evaluation]) -> np.ndarray:
    return np.array([e.violation for e in evaluations], dtype=float)[:, None]


def has_objectives(problem: BilevelProblem) -> bool:
    """Whether the family declares a bi-objective view (overrides ``BilevelProblem.objectives``)."""
    return type(problem).objectives is not BilevelProblem.objectives


class BiObjectiveProblem(PymooProblem):
    """(leader value, follower welfare), both maximised, as two pymoo objectives to minimise."""

    def __init__(self, evaluator: BatchEvaluator) -> None:
        problem = evaluator.problem
        if not has_objectives(problem):
            raise InputError(
                "<heuristic>",
                "objectives",
                f"family {problem.family!r} declares no bi-objective view (BilevelProblem.objectives)",
            )
        super().__init__(evaluator, n_obj=2)
        self.archive = ParetoArchive()
        evaluator.observers.append(self._observe)  # sees every batch, the last cut one too
        self._last: np.ndarray = np.zeros((0, 2))

    def objective_values(self, X: np.ndarray, evaluations: list[Evaluation]) -> np.ndarray:
        """Both objectives in the max sense; nan rows where the follower is not optimal."""
        out = np.full((len(X), 2), np.nan)
        for row, (x, evaluation) in enumerate(zip(X, evaluations, strict=True)):
            if evaluation.follower.ok:
                pair = self.evaluator.problem.objectives(x, evaluation.follower)
                if pair is not None:
                    out[row] = pair
        return out

    def _observe(self, X: np.ndarray, evaluations: list[Evaluation]) -> None:
        values = self.objective_values(X, evaluations)
        feasible = np.array([e.feasible for e in evaluations], dtype=bool) & ~np.isnan(values).any(axis=1)
        self.archive.add(values[feasible])
        self._last = values

    def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        _, evaluations = self.evaluator.evaluate(X)
        values = self._last
        out["F"] = np.where(np.isnan(values), NO_VALUE, -values)
        out["G"] = violations(evaluations)


class CanonicalRepair(Repair):
    """pymoo repair operator that applies the problem's canonical map (bounds, integers, repair)."""

    def _do(self, problem: PymooProblem, X: np.ndarray, **kwargs: Any) -> np.ndarray:
        return canonical(problem.evaluator.problem, X)
