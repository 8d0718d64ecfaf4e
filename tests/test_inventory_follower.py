"""The follower LP (GLOP) against independent solves, explicit tie-breaking, the persistent model against the
from-scratch reference, graded infeasibility and the run's deadline."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest
from ortools.linear_solver import pywraplp

from bilevel_bench import limits
from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.lp import solve_lp
from bilevel_bench.problem import FOLLOWER_FAILURE_VIOLATION, UNBOUNDED
from bilevel_bench.problems.inventory.follower import (
    dual_vertices,
    follower_lp,
    leader_preference,
    solve_follower,
    value_by_dual_vertices,
)
from bilevel_bench.problems.inventory.instance import InventoryInstance, generate, joint_lp, seed_instance
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


# -- the persistent follower (one GLOP model per stage, kept between calls) against the reference path ---


def _capped(inst, inventory_cap: float, subcontract_cap: float):
    return inst.replace(inventory_cap=inventory_cap, subcontract_cap=subcontract_cap)


def _cases():
    """(instance, decisions) pairs: 1,000 decisions over instances with and without space limits, caps
    (infeasible followers included) and setup decisions, both tie rules (the uncapped pessimistic reading is
    unbounded, so it is checked on capped instances only)."""
    seed_inst = seed_instance()
    spaced = generate(2, 3, 3, 4).replace(y=np.zeros(3), Ibar=np.full(3, 150.0))
    capped = _capped(generate(2, 4, 3, 5), 40.0, 25.0)
    tight = _capped(generate(1, 3, 2, 6), 10.0, 5.0)
    decision = _capped(generate(2, 3, 2, 7, setup="decision"), 60.0, 30.0)
    return [
        (seed_inst, "optimistic", 250),
        (spaced, "optimistic", 150),
        (capped, "optimistic", 150),
        (capped, "pessimistic", 150),
        (tight, "pessimistic", 100),
        (tight, "optimistic", 50),
        (decision, "pessimistic", 150),
    ]


def _feasible_decisions(problem: InventoryProblem, rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Decisions with a feasible follower, most of them: convex combinations of vertices of the joint set
    {(x, v, d, I, S)} (random objectives), which is convex; every fifth one is a random decision instead
    (on capped instances usually infeasible)."""
    inst, nT = problem.instance, problem.instance.n * problem.instance.T
    vertices = []
    for _ in range(6):
        objective = np.concatenate([rng.normal(size=2 * nT), rng.uniform(0, 1, 3 * nT)])  # d, I, S >= 0 only
        solution = solve_lp(joint_lp(inst, objective))
        assert solution.status == "optimal"
        vertices.append(solution.y[: 2 * nT])
    out = []
    for k in range(count):
        if k % 5 == 4:
            out.append(_random_decision(problem, rng))
        else:
            weights = rng.dirichlet(np.ones(len(vertices)))
            out.append(np.clip(weights @ np.array(vertices), *problem.bounds()))
    return out


def test_persistent_follower_equals_the_reference_on_1000_decisions():
    """Status, follower value, leader value and graded infeasibility agree to 1e-9 (relative) on 1,000
    random decisions, each model solving its decisions in sequence (warm starts included)."""
    rng = np.random.default_rng(2024)
    total, statuses = 0, []
    for inst, tie_break, count in _cases():
        problem = InventoryProblem(inst, tie_break)
        for x in _feasible_decisions(problem, rng, count):
            X, V = problem.split(x)
            ours = problem.follower_response(x)
            ref = solve_follower(inst, X, V, tie_break)
            assert ours.status == ref.status, (inst.name, tie_break)
            statuses.append(ours.status)
            if ours.ok:
                assert _close(ours.value, ref.value)
                assert _close(problem.leader_objective(x, ours), problem.leader_objective(x, ref))
            else:
                assert _close(ours.infeasibility, ref.infeasibility)
            total += 1
    assert total == 1000
    assert statuses.count("optimal") >= 800 and statuses.count("infeasible") >= 50


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def test_values_do_not_depend_on_the_order_of_calls():
    """Warm starts may return another optimal vertex among ties, never another value: the same decisions
    evaluated in two orders by two problems give the same leader and follower values."""
    inst = _capped(generate(2, 3, 3, 8), 50.0, 30.0)
    rng = np.random.default_rng(1)
    for tie_break in ("optimistic", "pessimistic"):
        probe = InventoryProblem(inst, tie_break)
        decisions = [_random_decision(probe, rng) for _ in range(80)]
        forward = InventoryProblem(inst, tie_break)
        first = [forward.evaluate(x) for x in decisions]
        backward = InventoryProblem(inst, tie_break)
        second = [backward.evaluate(x) for x in reversed(decisions)][::-1]
        for a, b in zip(first, second, strict=True):
            assert a.follower.status == b.follower.status
            if a.feasible:
                assert _close(a.value, b.value) and _close(a.follower.value, b.follower.value)


def test_the_model_is_transient_and_rebuilt_after_pickling(seed):
    problem = InventoryProblem(seed)
    x = problem.bounds()[1] * 0.3
    before = problem.evaluate(x)
    assert problem._follower_model is not None
    clone = pickle.loads(pickle.dumps(problem))
    assert "_follower_model" not in clone.__dict__
    after = clone.evaluate(x)
    assert clone._follower_model is not None and clone._follower_model is not problem._follower_model
    assert after.value == pytest.approx(before.value, rel=1e-12)


def _one_period(subcontract_cap: float, inventory_cap: float = 8.0) -> InventoryInstance:
    """One product, one period, the customer needs d >= 5 and may subcontract at most ``subcontract_cap``."""
    one = np.ones((1, 1))
    return InventoryInstance(
        name="one-period",
        seed=None,
        p=10 * one,
        c=2 * one,
        h=1 * one,
        s=3 * one,
        f=0 * one,
        r=np.zeros(1),
        y=np.ones(1),
        B=np.ones(1),
        Ibar=np.array([100.0]),
        a=np.ones((1, 1, 1)),
        b=np.array([[20.0]]),
        Dd=np.ones((1, 1)),
        Dv=np.zeros((1, 1)),
        d0=np.array([5.0]),
        vmax=np.zeros((1, 1)),
        inventory_cap=inventory_cap,
        subcontract_cap=subcontract_cap,
    )


@pytest.mark.parametrize(("x", "expected"), [(0.0, 4.0), (2.0, 2.0), (3.5, 0.5), (4.0, 0.0), (12.0, 0.0)])
def test_graded_infeasibility_is_the_missing_supply(x, expected):
    """d >= 5 with S <= 1: the plan is short of max(0, 4 - x) units (the phase one's least total violation of
    the balance row); the core adds it to the flat penalty, so less shortage ranks better."""
    inst = _one_period(subcontract_cap=1.0)
    for tie_break in ("optimistic", "pessimistic"):
        evaluation = InventoryProblem(inst, tie_break).evaluate(np.array([x, 0.0]))
        reference = solve_follower(inst, np.array([[x]]), np.zeros((1, 1)), tie_break)
        if expected > 0:
            assert evaluation.follower.status == reference.status == "infeasible"
            assert evaluation.follower.infeasibility == pytest.approx(expected, abs=1e-9)
            assert reference.infeasibility == pytest.approx(expected, abs=1e-9)
            assert evaluation.violation == pytest.approx(FOLLOWER_FAILURE_VIOLATION + expected)
        else:
            assert evaluation.feasible and evaluation.follower.infeasibility == 0.0


def test_a_passed_deadline_makes_the_follower_return_limit():
    """Every follower solve is capped by the run's deadline (GLOP's time limit): past it, ``limit``."""
    problem = InventoryProblem(generate(12, 20, 14, 1))  # a cold solve takes milliseconds, the limit 1 ms
    x = problem.bounds()[1] * 0.2
    with limits.deadline(time.time() - 1.0):
        assert problem.evaluate(x).follower.status == "limit"
    assert problem.evaluate(x).follower.status == "optimal"


@pytest.mark.slow
def test_one_follower_model_per_worker_for_the_whole_run(seed):
    """With two worker processes the run builds at most one follower model per process that evaluates (the
    two workers, and the parent for single-decision batches), not one per batch or per evaluation, and the
    result is the serial run's."""
    budget = Budget(max_evals=400)
    parallel = run_heuristic(InventoryProblem(seed), "ga", {"pop_size": 40}, 3, budget, n_jobs=2)
    serial = run_heuristic(InventoryProblem(seed), "ga", {"pop_size": 40}, 3, budget)
    assert 1 <= parallel.counters.work["follower_models_built"] <= 3
    assert serial.counters.work["follower_models_built"] == 1
    assert parallel.counters.work["follower_lp_solves"] == serial.counters.work["follower_lp_solves"] >= 2 * 390
    assert parallel.best_value == serial.best_value
