"""Faults inside a run: failed follower solves are counted, not fatal; exact time limits are reported."""

from __future__ import annotations

import numpy as np

from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problem import INVALID, LIMIT, FollowerResponse
from bilevel_bench.problems.inventory.instance import generate
from bilevel_bench.problems.inventory.problem import InventoryProblem


class FlakyFollower(InventoryProblem):
    """Every decision with much advertising on product 0 in period 0 gets a failed follower solve."""

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        _, V = self.split(x)
        if V[0, 0] > 0.5 * self.instance.vmax[0, 0]:
            return FollowerResponse(LIMIT, np.nan, {}, 1, 0.0, "iteration limit")
        if V[0, 0] > 0.4 * self.instance.vmax[0, 0]:
            raise ValueError("model invalid")  # a solver error inside the follower
        return super().follower_response(x)


def test_failed_follower_solves_are_counted_and_the_run_goes_on():
    problem = FlakyFollower(generate(1, 2, 1, 3))
    result = run_heuristic(problem, "ga", {"pop_size": 20}, seed=1, budget=Budget(max_evals=400))
    assert result.status == "ok" and result.counters.n_evals >= 400
    assert result.counters.n_follower_failures > 0
    assert result.verified and result.best_violation == 0


def test_an_invalid_model_is_an_infeasible_candidate():
    problem = FlakyFollower(generate(1, 2, 1, 3))
    x = problem.bounds()[1] * 0.45
    evaluation = problem.evaluate(x)
    assert evaluation.follower.status == INVALID and not evaluation.feasible and evaluation.violation > 0


def test_exact_time_limit_reports_incumbent_and_bound():
    problem = InventoryProblem(generate(5, 8, 10, 1))
    result = problem.exact(time_limit=1.0)
    assert result.status == "feasible"
    assert np.isfinite(result.objective) and result.bound >= result.objective
    assert result.gap_pct > 0
