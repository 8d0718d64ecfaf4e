"""The follower LP (GLOP) against independent solves, and explicit tie-breaking."""

from __future__ import annotations

import numpy as np
import pytest
from ortools.linear_solver import pywraplp

from bilevel_bench.problem import UNBOUNDED
from bilevel_bench.problems.inventory.follower import (
    dual_vertices,
    follower_lp,
    leader_preference,
    solve_follower,
    value_by_dual_vertices,
)
from bilevel_bench.problems.inventory.instance import generate
from bilevel_bench.problems.inventory.problem import InventoryProblem


def _random_decision(problem: InventoryProblem, rng: np.random.Generator) -> np.ndarray:
    lb, ub = problem.bounds()
    # advertising up to a tenth of its bound keeps forced demand in a realistic range
    scale = np.concatenate([np.ones(problem.n_var // 2), np.full(problem.n_var // 2, 0.1)])
    return problem.repair(lb + rng.uniform(0, 1, problem.n_var) * (ub - lb) * scale)


def _scip_value(lp, objective: np.ndarray, maximize: bool, cap=None) -> float:
    """The same LP built independently (no shared helper) and solved by SCIP instead of GLOP."""
    solver = pywraplp.Solver.CreateSolver("SCIP")
    y = [solver.NumVar(0, solver.infinity() if np.isinf(u) else u, "") for u in lp.ub]
    for row, rhs in zip(lp.A_ub, lp.b_ub, strict=True):
        solver.Add(sum(coef * y[j] for j, coef in enumerate(row) if coef) <= rhs)
    for row, rhs in zip(lp.A_eq, lp.b_eq, strict=True):
        solver.Add(sum(coef * y[j] for j, coef in enumerate(row) if coef) == rhs)
    if cap is not None:
        solver.Add(sum(coef * y[j] for j, coef in enumerate(lp.c) if coef) <= cap)
    expr = sum(coef * y[j] for j, coef in enumerate(objective) if coef)
    solver.Maximize(expr) if maximize else solver.Minimize(expr)
    assert solver.Solve() == pywraplp.Solver.OPTIMAL
    return solver.Objective().Value()


def test_follower_value_matches_dual_vertex_enumeration():
    """Without finite space constraints, phi(v) = max over dual vertices of lambda @ g(v)."""
    rng = np.random.default_rng(0)
    checked = 0
    for seed in range(4):
        inst = generate(1 + seed % 2, 2 + seed % 2, 2, seed)
        vertices = dual_vertices(inst)
        problem = InventoryProblem(inst)
        for _ in range(25):
            X, V = problem.split(_random_decision(problem, rng))
            response = solve_follower(inst, X, V, "optimistic")
            expected = value_by_dual_vertices(inst, V, vertices)
            assert response.value == pytest.approx(expected, rel=1e-7, abs=1e-6)
            checked += 1
    assert checked == 100


@pytest.mark.parametrize("seed", range(6))
def test_follower_matches_scip_on_both_stages_with_space_limits(seed):
    """With binding warehouse space (y = 0), both stages agree with SCIP on the same data."""
    inst = generate(2, 3, 3, seed)
    inst = inst.replace(y=np.zeros(3), Ibar=np.full(3, 150.0))
    problem = InventoryProblem(inst)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        X, V = problem.split(_random_decision(problem, rng))
        lp = follower_lp(inst, X, V)
        response = solve_follower(inst, X, V, "optimistic")
        assert response.ok
        first = _scip_value(lp, lp.c, maximize=False)
        assert response.value == pytest.approx(first, rel=1e-6, abs=1e-5)
        pref = leader_preference(inst)
        y = np.concatenate([response.solution[k].ravel() for k in ("d", "I", "S")])
        second = _scip_value(lp, pref, maximize=True, cap=first + 1e-6 + 1e-9 * abs(first))
        assert pref @ y == pytest.approx(second, rel=1e-6, abs=1e-4)


def test_optimistic_and_pessimistic_on_a_built_tie(tie_instance):
    x = np.array([10.0, 0.0])
    optimistic = InventoryProblem(tie_instance, "optimistic").evaluate(x)
    pessimistic = InventoryProblem(tie_instance, "pessimistic").evaluate(x)
    assert optimistic.value == pytest.approx(25.0)
    assert optimistic.follower.solution["S"][0, 0] == pytest.approx(0.0, abs=1e-9)
    assert pessimistic.value == pytest.approx(13.0)
    assert pessimistic.follower.solution["I"][0, 0] == pytest.approx(8.0)
    # both hold the follower's cost at its optimum 50 (within the stated tie tolerance)
    assert optimistic.follower.value == pytest.approx(50.0, abs=2e-6)
    assert pessimistic.follower.value == pytest.approx(50.0, abs=2e-6)


def test_pessimistic_seed_is_reported_unbounded_not_a_number(seed):
    problem = InventoryProblem(seed, "pessimistic")
    evaluation = problem.evaluate(problem.bounds()[1] * 0.1)
    assert evaluation.follower.status == UNBOUNDED
    assert not evaluation.feasible and np.isnan(evaluation.value) and evaluation.violation > 0


def test_evaluate_never_raises_on_garbage(seed):
    problem = InventoryProblem(seed)
    evaluation = problem.evaluate(np.full(problem.n_var, np.nan))
    assert not evaluation.feasible
