"""Any :class:`~bilevel_bench.problem.BilevelProblem` seen as a pymoo ``Problem``.

pymoo minimises, so a maximised leader value enters as ``F = -value``. The single inequality constraint
``G = violation <= 0`` carries the leader's constraint violation plus a large constant when a follower is
not optimal, so pymoo ranks such candidates last. The pymoo population is overwritten with the canonical
(clipped, rounded, repaired) decisions that were really evaluated, so what pymoo reports is what was solved.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair

from heuristics.evaluator import BatchEvaluator, canonical

#: Objective given to candidates with no leader value (follower not optimal). Finite, so that no pymoo
#: operator meets an inf; they are ranked by their violation anyway.
NO_VALUE = 1e30


class PymooProblem(Problem):
    def __init__(self, evaluator: BatchEvaluator) -> None:
        lb, ub = evaluator.problem.bounds()
        super().__init__(n_var=len(lb), n_obj=1, n_ieq_constr=1, xl=lb, xu=ub, vtype=float)
        self.evaluator = evaluator
        self.sign = -1.0 if evaluator.problem.sense == "max" else 1.0

    def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        _, evaluations = self.evaluator.evaluate(X)
        values = np.array([e.value for e in evaluations], dtype=float)
        out["F"] = np.where(np.isnan(values), NO_VALUE, self.sign * values)[:, None]
        out["G"] = np.array([e.violation for e in evaluations], dtype=float)[:, None]


class CanonicalRepair(Repair):
    """pymoo repair operator that applies the problem's canonical map (bounds, integers, repair)."""

    def _do(self, problem: PymooProblem, X: np.ndarray, **kwargs: Any) -> np.ndarray:
        return canonical(problem.evaluator.problem, X)
