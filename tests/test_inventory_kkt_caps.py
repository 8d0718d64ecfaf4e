"""Inventory's optimistic KKT baseline (through bilevel_bench.kkt) on instances with caps on I and S, against a
hand-computed optimum and the generic dual-vertex method (no big-M)."""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench import kkt
from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problem import ExactStatus
from bilevel_bench.problems.inventory.exact import kkt_bounds, kkt_inputs
from bilevel_bench.problems.inventory.instance import generate
from bilevel_bench.problems.inventory.problem import InventoryProblem


def test_capped_tie_instance_optimum_computed_by_hand(tie_instance):
    """One product, one period, x in [0, 20], d >= 5, p = 10, c = 2, h = 1, s = 3, I <= 8, S <= 6.
    x <= 5: d = 5, S = 5 - x, F = 35 + x; 5 <= x <= 13: d = 5, I = x - 5, F = 55 - 3x; x >= 13: I = 8 (its cap
    binds), d = x - 8, F = 8x - 88, so F* = 72 at x = 20."""
    result = InventoryProblem(tie_instance).exact(time_limit=30)
    assert result.status is ExactStatus.OPTIMAL and result.verification == "agree"
    assert result.objective == pytest.approx(72.0, abs=1e-5)
    assert result.solution["x"][0] == pytest.approx(20.0, abs=1e-6)


@pytest.mark.parametrize(("n", "T", "q", "s"), [(1, 2, 1, 3), (1, 3, 2, 5)])
@pytest.mark.parametrize(
    "caps", [{"inventory_cap": 40.0}, {"subcontract_cap": 150.0}, {"inventory_cap": 150.0, "subcontract_cap": 400.0}]
)
def test_capped_kkt_equals_the_dual_vertex_method(n, T, q, s, caps):
    problem = InventoryProblem(generate(n, T, q, s).replace(**caps))
    plp, leader, _ = kkt_inputs(problem)
    independent = kkt.solve_by_vertices(plp, leader)
    result = problem.exact(time_limit=60)
    assert result.status is ExactStatus.OPTIMAL and result.verification == "agree"
    assert result.objective == pytest.approx(independent.objective, rel=1e-6)  # the core's agreement tolerance


def test_an_inventory_cap_alone_keeps_the_family_bounds_proven():
    problem = InventoryProblem(generate(2, 3, 3, 4).replace(inventory_cap=40.0))
    result = problem.exact(time_limit=60)
    assert result.status is ExactStatus.OPTIMAL
    assert "kkt_bounds" in result.notes and "assumed" not in result.notes


def test_capped_subcontracting_beyond_enumeration_is_an_uncertified_incumbent():
    """Too many dual bases to enumerate within the limit: the dual bounds are assumed, the result is a verified
    incumbent (``feasible``, no bound). Its value equals the dual-vertex method's, 247807.6745, computed once
    with ``kkt.solve_by_vertices(..., limit=5_000_000)`` (360 vertices, 42 s; too slow for the suite)."""
    problem = InventoryProblem(generate(2, 2, 2, 7).replace(inventory_cap=400.0, subcontract_cap=400.0))
    result = problem.exact(time_limit=60)
    assert result.status is ExactStatus.FEASIBLE and np.isnan(result.bound)
    assert result.verification == "agree" and "assumed" in result.notes
    assert result.objective == pytest.approx(247807.6745, abs=1e-3)
    run = run_heuristic(problem, "ga", {"pop_size": 20}, seed=1, budget=Budget(max_evals=400))
    assert run.best_value <= result.objective + 1e-6 * abs(result.objective)


def test_the_generic_dual_derivation_reproduces_the_family_bounds(seed):
    """Without the family's dual bounds, kkt.py's LPs over the dual relaxation find the same lift costs for the
    demand rows, and balance duals of 0 (tighter than the family's L+: without caps or finite space, extra
    production is held for free and missing production subcontracted for free, follower.py's docstring)."""
    problem = InventoryProblem(seed)
    plp, leader, supplied = kkt_inputs(problem)
    assert supplied is not None
    generic = kkt.derive_big_ms(plp, leader, kkt.SuppliedBounds(y_hi=supplied.y_hi))
    family = kkt_bounds(seed)
    assert generic.n_assumed() == 0
    demand = generic.lam_hi[len(generic.lam_hi) - len(family.demand_dual) :]
    assert demand == pytest.approx(family.demand_dual, rel=1e-5, abs=1e-5)
    assert np.all(generic.mu_lo >= -1e-6) and np.all(generic.mu_hi <= 1e-6)
    assert np.all(family.balance_dual > 0)
