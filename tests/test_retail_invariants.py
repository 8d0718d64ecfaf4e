"""Invariants of heuristic runs: never above a proven optimum, and the best decision re-verifies."""

from __future__ import annotations

import pytest

from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problems.retail import FAMILY
from bilevel_bench.problems.retail.instance import RetailInstance, generate
from bilevel_bench.problems.retail.problem import RetailProblem


@pytest.mark.parametrize(("instance", "routing", "tie_break"), [
    ("small", "heuristic", "optimistic"),
    ("small", "exact", "optimistic"),
    ("gen", "heuristic", "pessimistic"),
])
def test_ga_never_beats_the_proven_optimum_and_reverifies(instance, routing, tie_break):
    inst = (RetailInstance.load(FAMILY.data_dir / "small.json") if instance == "small"
            else generate(K=5, S=2, P=2, R=2, seed=4))
    problem = RetailProblem(inst, tie_break=tie_break, routing=routing)
    exact = problem.exact(time_limit=30)
    assert exact.status == "optimal"
    result = run_heuristic(problem, "ga", {"pop_size": 20}, seed=1, budget=Budget(max_evals=300))
    assert result.verified and result.verify_value == pytest.approx(result.best_value, abs=1e-9)
    assert result.best_value <= exact.objective + 1e-6
    # the exact optimum's decision, evaluated by the problem, reproduces the reported value (exact routing)
    assert RetailProblem(inst, tie_break=tie_break, routing="exact").evaluate(exact.solution["x"]).value == pytest.approx(exact.objective)


def test_options_are_recorded_and_validated():
    problem = RetailProblem(generate(K=3, S=1, P=1, R=1, seed=0), routing="exact")
    assert problem.options() == {"routing": "exact", "routing_solutions": problem.routing_solutions}
    assert problem.warnings() == []
    assert "heuristic" in RetailProblem(problem.instance).warnings()[0]
    from bilevel_bench.errors import InputError

    with pytest.raises(InputError, match="routing"):
        RetailProblem(problem.instance, routing="fast")
