"""The generic KKT baseline (bilevel_bench.kkt) against brute force over integer leader grids, a hand-solved
toll, the dual-vertex method, and its own big-M checks."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from ortools.linear_solver import pywraplp

from bilevel_bench import kkt
from bilevel_bench.lp import LinearProgram, solve_lexicographic
from bilevel_bench.problem import OPTIMAL, ExactStatus


def parallel_toll(n: float = 3.0, toll_cost: float = 4.0, free_cost: float = 10.0) -> kkt.AffineLP:
    """One unit of demand (weight n) from o to d over a tolled arc (cost 4 + T) or a toll-free one (cost 10);
    the destination's conservation row is dropped (it is implied)."""
    return kkt.AffineLP(
        c=n * np.array([toll_cost, free_cost]),
        C=n * np.array([[1.0], [0.0]]),
        A_ub=np.zeros((0, 2)),
        b_ub=np.zeros(0),
        B_ub=np.zeros((0, 1)),
        A_eq=np.array([[1.0, 1.0]]),
        b_eq=np.array([1.0]),
        B_eq=np.zeros((1, 1)),
        lb=np.zeros(2),
        ub=np.full(2, np.inf),
    )


def test_parallel_toll_is_set_at_the_alternative_cost():
    leader = kkt.LeaderSpec(lb=np.zeros(1), ub=np.array([50.0]), revenue_weight=1.0)
    result = kkt.solve(parallel_toll(n=3.0), leader)
    assert result.status is ExactStatus.OPTIMAL
    assert result.x is not None and result.x[0] == pytest.approx(6.0, abs=1e-6)
    assert result.objective == pytest.approx(18.0, abs=1e-6)  # toll 6 on 3 units
    assert result.big_ms is not None and result.big_ms.n_assumed() == 0


def random_follower(rng: np.random.Generator, p: int, n: int, m: int, with_C: bool, with_B: bool) -> kkt.AffineLP:
    """A boxed follower, min (c + C x) y s.t. A y <= b + B x, 0 <= y <= u, feasible at y = 0 for every x >= 0."""
    A = rng.integers(-3, 4, (m, n)).astype(float)
    B = rng.integers(-2, 3, (m, p)).astype(float) if with_B else np.zeros((m, p))
    b = rng.integers(1, 6, m).astype(float) + np.abs(B) @ np.full(p, 3.0)
    return kkt.AffineLP(
        c=rng.integers(-5, 6, n).astype(float),
        C=rng.integers(-2, 3, (n, p)).astype(float) if with_C else np.zeros((n, p)),
        A_ub=A,
        b_ub=b,
        B_ub=B,
        A_eq=np.zeros((0, n)),
        b_eq=np.zeros(0),
        B_eq=np.zeros((0, p)),
        lb=np.zeros(n),
        ub=rng.integers(1, 5, n).astype(float),
    )


def brute_force(plp: kkt.AffineLP, leader: kkt.LeaderSpec) -> float:
    """The optimistic optimum over every integer leader decision in the box (exact follower per point)."""
    best = -math.inf
    obj_x = np.zeros(plp.p) if leader.obj_x is None else leader.obj_x
    obj_y = np.zeros(plp.n) if leader.obj_y is None else leader.obj_y
    for point in itertools.product(*(range(int(lo), int(hi) + 1) for lo, hi in zip(leader.lb, leader.ub, strict=True))):
        x = np.array(point, dtype=float)
        preference = obj_y + leader.revenue_weight * (plp.C @ x)
        solution, _ = solve_lexicographic(plp.at(x), preference, "optimistic")
        if solution.status != OPTIMAL:
            continue
        best = max(best, float(obj_x @ x + preference @ solution.y + leader.constant))
    return best


def integer_leader(rng: np.random.Generator, p: int, n: int, revenue: float = 0.0) -> kkt.LeaderSpec:
    return kkt.LeaderSpec(
        lb=np.zeros(p),
        ub=np.full(p, 3.0),
        integer=np.ones(p, dtype=bool),
        obj_x=rng.integers(-3, 4, p).astype(float),
        obj_y=rng.integers(-4, 5, n).astype(float),
        constant=1.5,
        revenue_weight=revenue,
    )


@pytest.mark.parametrize("seed", range(8))
def test_rhs_in_x_matches_brute_force_and_is_certified(seed):
    """C = 0, B != 0 (inventory's form): dual bounds from the enumerated dual vertices (proven)."""
    rng = np.random.default_rng(seed)
    plp = random_follower(rng, p=2, n=3, m=2, with_C=False, with_B=True)
    leader = integer_leader(rng, 2, 3)
    result = kkt.solve(plp, leader)
    assert result.status is ExactStatus.OPTIMAL
    assert result.objective == pytest.approx(brute_force(plp, leader), abs=1e-4)


@pytest.mark.parametrize("seed", range(8))
def test_costs_in_x_with_revenue_match_brute_force(seed):
    """B = 0, C != 0 and the leader earning (C x) @ y (network pricing's form): duals bounded by the value rows."""
    rng = np.random.default_rng(100 + seed)
    plp = random_follower(rng, p=2, n=3, m=2, with_C=True, with_B=False)
    leader = integer_leader(rng, 2, 3, revenue=1.0)
    result = kkt.solve(plp, leader)
    assert result.status is ExactStatus.OPTIMAL
    assert result.objective == pytest.approx(brute_force(plp, leader), abs=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_general_form_needs_assumed_bounds_and_is_never_certified(seed):
    rng = np.random.default_rng(200 + seed)
    plp = random_follower(rng, p=2, n=3, m=2, with_C=True, with_B=True)
    leader = integer_leader(rng, 2, 3)
    with pytest.raises(ValueError, match="no bound for dual"):
        kkt.solve(plp, leader)
    result = kkt.solve(plp, leader, fallback=1e3)
    assert result.status is ExactStatus.FEASIBLE and math.isnan(result.bound)
    assert "assumed" in result.notes
    assert result.objective == pytest.approx(brute_force(plp, leader), abs=1e-4)


@pytest.mark.parametrize("seed", range(6))
def test_dual_vertex_method_agrees_with_the_kkt_milp(seed):
    rng = np.random.default_rng(300 + seed)
    plp = random_follower(rng, p=2, n=3, m=3, with_C=False, with_B=True)
    leader = dataclasses.replace(integer_leader(rng, 2, 3), integer=None)
    by_kkt, by_vertices = kkt.solve(plp, leader), kkt.solve_by_vertices(plp, leader)
    assert by_kkt.status is ExactStatus.OPTIMAL
    assert by_kkt.objective == pytest.approx(by_vertices.objective, abs=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_optimal_duals_lie_within_the_derived_bounds(seed):
    """GLOP's optimal duals at random x (a vertex each) lie within the LP-derived bounds."""
    rng = np.random.default_rng(400 + seed)
    plp = random_follower(rng, p=2, n=4, m=3, with_C=True, with_B=False)
    leader = kkt.LeaderSpec(lb=np.zeros(2), ub=np.full(2, 3.0))
    big_ms = kkt.derive_big_ms(plp, leader)
    for x in rng.uniform(0, 3, (20, 2)):
        lp = plp.at(x)
        solver = pywraplp.Solver.CreateSolver("GLOP")
        y = [solver.NumVar(float(lo), float(hi), "") for lo, hi in zip(lp.lb, lp.ub, strict=True)]
        rows = []
        for i, row in enumerate(lp.A_ub):
            ct = solver.Constraint(-solver.infinity(), float(lp.b_ub[i]), "")
            for j in np.flatnonzero(row):
                ct.SetCoefficient(y[j], float(row[j]))
            rows.append(ct)
        for j, coef in enumerate(lp.c):
            solver.Objective().SetCoefficient(y[j], float(coef))
        assert solver.Solve() == pywraplp.Solver.OPTIMAL
        lam = -np.array([ct.dual_value() for ct in rows])  # d phi / d b = -lam
        assert np.all(lam >= -1e-9) and np.all(lam <= big_ms.lam_hi + 1e-9)


def test_a_tight_supplied_bound_is_enlarged_the_optimum_recovered_and_not_certified():
    """The optimal dual is mu = -n min(4 + T, 10) (minus the follower's cost): a supplied (wrong) bound -20 admits
    only T <= 8/3 (revenue 8); it is tight there, enlarged, and the optimum (T = 6, revenue 18) recovered."""
    leader = kkt.LeaderSpec(lb=np.zeros(1), ub=np.array([50.0]), revenue_weight=1.0)
    wrong = kkt.SuppliedBounds(y_hi=np.ones(2), mu_lo=np.array([-20.0]), mu_hi=np.array([0.0]))
    result = kkt.solve(parallel_toll(n=3.0), leader, wrong)
    assert result.rounds >= 2 and "enlarged" in result.notes
    assert result.objective == pytest.approx(18.0, abs=1e-6)
    # the enlargement improved the optimum: the supplied bounds are refuted, so nothing is certified
    assert result.status is ExactStatus.FEASIBLE and "wrong" in result.notes and math.isnan(result.bound)


def test_a_bound_still_tight_after_the_last_round_is_not_certified():
    leader = kkt.LeaderSpec(lb=np.zeros(1), ub=np.array([50.0]), revenue_weight=1.0)
    wrong = kkt.SuppliedBounds(mu_lo=np.array([-20.0]))
    result = kkt.solve(parallel_toll(n=3.0), leader, wrong, max_rounds=0)
    assert result.status is ExactStatus.FEASIBLE and math.isnan(result.bound)
    assert "still tight" in result.notes
    assert result.objective == pytest.approx(8.02, abs=1e-5)  # cut by the wrong bound (widened by 0.1%: -20.02)


def test_supplied_bounds_that_contradict_the_value_rows_are_dropped():
    leader = kkt.LeaderSpec(lb=np.zeros(1), ub=np.array([50.0]), revenue_weight=1.0)
    impossible = kkt.SuppliedBounds(mu_lo=np.array([-5.0]))  # the follower's cost is at least 3 * 4 = 12
    result = kkt.solve(parallel_toll(n=3.0), leader, impossible)
    assert "dropped" in result.notes
    assert result.status is ExactStatus.OPTIMAL and result.objective == pytest.approx(18.0, abs=1e-6)


def test_revenue_with_x_in_the_right_hand_side_is_refused():
    rng = np.random.default_rng(0)
    plp = random_follower(rng, p=2, n=3, m=2, with_C=True, with_B=True)
    leader = kkt.LeaderSpec(lb=np.zeros(2), ub=np.ones(2), revenue_weight=1.0)
    big_ms = kkt.derive_big_ms(plp, leader, fallback=10.0)
    with pytest.raises(ValueError, match="bilinear"):
        kkt.build_model(plp, leader, big_ms)


def test_an_empty_high_point_relaxation_is_infeasible():
    plp = dataclasses.replace(parallel_toll(), b_eq=np.array([-1.0]))  # y >= 0 cannot sum to -1
    result = kkt.solve(plp, kkt.LeaderSpec(lb=np.zeros(1), ub=np.ones(1)))
    assert result.status is ExactStatus.INFEASIBLE and result.x is None


def test_affine_map_is_read_off_a_builder_and_checked():
    plp = parallel_toll(n=2.0)
    read = kkt.AffineLP.from_function(plp.at, 1)
    for name in ("c", "C", "A_eq", "b_eq", "B_eq", "lb", "ub"):
        assert np.array_equal(getattr(read, name), getattr(plp, name))

    def squared(x: np.ndarray) -> LinearProgram:
        return dataclasses.replace(plp.at(x), c=plp.c + np.array([x[0] ** 2, 0.0]))

    with pytest.raises(ValueError, match="not affine"):
        kkt.AffineLP.from_function(squared, 1)

    def moving(x: np.ndarray) -> LinearProgram:
        return dataclasses.replace(plp.at(x), A_eq=np.array([[1.0 + x[0], 1.0]]))

    with pytest.raises(ValueError, match="depends on x"):
        kkt.AffineLP.from_function(moving, 1)


def test_malformed_data_is_refused():
    plp = parallel_toll()
    with pytest.raises(ValueError, match="shape"):
        dataclasses.replace(plp, c=np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        dataclasses.replace(plp, lb=np.array([-np.inf, 0.0]))
    with pytest.raises(ValueError, match="box"):
        kkt.solve(plp, kkt.LeaderSpec(lb=np.zeros(1), ub=np.array([np.inf])))
