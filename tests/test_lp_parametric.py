"""The persistent ParametricLP against the from-scratch reference path (same answers), its determinism, the
phase-one measure, and the run's deadline as GLOP's time limit."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from bilevel_bench import limits
from bilevel_bench.lp import (
    LinearProgram,
    ParametricLP,
    least_violation,
    solve_lexicographic,
    solve_lp,
    solve_lp_arrays,
)
from bilevel_bench.problem import INFEASIBLE, LIMIT, OPTIMAL, UNBOUNDED


def _transport(rng: np.random.Generator, m: int, k: int) -> LinearProgram:
    """A transportation LP (m sources, k sinks) with integer costs drawn from a few values: many ties.

    y[i, j] >= 0 shipped; supply rows sum_j y[i, j] <= s_i; demand rows sum_i y[i, j] = d_j.
    """
    n = m * k
    A_ub = np.zeros((m, n))
    for i in range(m):
        A_ub[i, i * k : (i + 1) * k] = 1.0
    A_eq = np.zeros((k, n))
    for j in range(k):
        A_eq[j, j::k] = 1.0
    return LinearProgram(
        c=rng.integers(1, 3, n).astype(float),
        A_ub=A_ub,
        b_ub=rng.integers(5, 15, m).astype(float),
        A_eq=A_eq,
        b_eq=rng.integers(1, 6, k).astype(float),
        lb=np.zeros(n),
        ub=np.full(n, np.inf),
    )


def _agree(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


@pytest.mark.parametrize("tie_break", ["optimistic", "pessimistic"])
def test_parametric_matches_reference_on_random_updates(tie_break):
    """Random right-hand sides, bounds, costs and preferences, in sequence on one model: every answer equals
    the from-scratch path's (status, follower value, preference value) to 1e-9."""
    rng = np.random.default_rng(7)
    base = _transport(rng, 4, 5)
    pref = rng.integers(-3, 4, base.n).astype(float)
    model = ParametricLP(base, pref)
    statuses = set()
    for step in range(200):
        lp = LinearProgram(
            c=base.c if step % 3 else rng.integers(1, 3, base.n).astype(float),
            A_ub=base.A_ub,
            b_ub=rng.integers(3, 15, len(base.b_ub)).astype(float),
            A_eq=base.A_eq,
            b_eq=rng.integers(0, 8, len(base.b_eq)).astype(float),
            lb=base.lb,
            ub=np.where(rng.uniform(size=base.n) < 0.2, 2.0, np.inf),  # some capped: unbounded stage 2 or not
        )
        preference = pref if step % 4 else rng.integers(-3, 4, base.n).astype(float)
        ours, n_ours = model.solve_lexicographic(
            tie_break, b_ub=lp.b_ub, b_eq=lp.b_eq, ub=lp.ub, c=lp.c, preference=preference
        )
        ref, n_ref = solve_lexicographic(lp, preference, tie_break)
        assert ours.status == ref.status and n_ours == n_ref
        statuses.add(ours.status)
        if ours.status == OPTIMAL:
            assert _agree(ours.value, ref.value)
            assert _agree(float(preference @ ours.y), float(preference @ ref.y))
            assert lp.residual(ours.y) <= 1e-6
    assert statuses == {OPTIMAL, INFEASIBLE}  # total supply is sometimes short; capped shipments never unbounded


def test_answers_do_not_depend_on_previous_calls():
    """The same right-hand sides solved after different histories (shuffled orders) give the same values."""
    rng = np.random.default_rng(3)
    base = _transport(rng, 3, 4)
    pref = rng.integers(-2, 3, base.n).astype(float)
    data = [(rng.integers(8, 15, 3).astype(float), rng.integers(0, 6, 4).astype(float)) for _ in range(60)]
    results = []
    for order in (np.arange(60), rng.permutation(60), rng.permutation(60)):
        model = ParametricLP(base, pref, parameters="use_preprocessing: false")
        answers = {}
        for i in order:
            solution, _ = model.solve_lexicographic("optimistic", b_ub=data[i][0], b_eq=data[i][1])
            answers[i] = (solution.value, float(pref @ solution.y))
        results.append(answers)
    for i in range(60):
        for other in results[1:]:
            assert _agree(other[i][0], results[0][i][0]) and _agree(other[i][1], results[0][i][1])


def test_unbounded_second_stage_is_reported_not_a_number():
    """min y0 s.t. y0 + y1 - y2 = 1, y >= 0: y1 and y2 can grow together at no cost; a pessimistic leader
    gaining y1 - 3 y2 sees an unbounded worst case."""
    lp = LinearProgram(
        c=np.array([1.0, 0.0, 0.0]),
        A_ub=np.zeros((0, 3)),
        b_ub=np.zeros(0),
        A_eq=np.array([[1.0, 1.0, -1.0]]),
        b_eq=np.array([1.0]),
        lb=np.zeros(3),
        ub=np.full(3, np.inf),
    )
    pref = np.array([0.0, 1.0, -3.0])
    model = ParametricLP(lp, pref)
    for b in (1.0, 2.0, 1.0):
        ours, _ = model.solve_lexicographic("pessimistic", b_eq=np.array([b]))
        ref, _ = solve_lexicographic(lp, pref, "pessimistic")
        assert ours.status == ref.status == UNBOUNDED
    optimistic, _ = model.solve_lexicographic("optimistic", b_eq=np.array([1.0]))
    assert optimistic.status == OPTIMAL and optimistic.y == pytest.approx([0.0, 1.0, 0.0], abs=1e-9)
    assert optimistic.value == pytest.approx(0.0, abs=1e-12)  # the follower's own optimum, stage 1


def test_least_violation_is_the_phase_one_optimum():
    """y0 + y1 <= 2 (elastic), y0 = 5, y1 = 1 (elastic rows): the plan must violate by 4 in total."""
    lp = LinearProgram(
        c=np.zeros(2),
        A_ub=np.array([[1.0, 1.0]]),
        b_ub=np.array([2.0]),
        A_eq=np.eye(2),
        b_eq=np.array([5.0, 1.0]),
        lb=np.zeros(2),
        ub=np.full(2, np.inf),
    )
    assert least_violation(lp) == pytest.approx(4.0)
    model = ParametricLP(lp, elastic=np.array([False, True, True]))  # only the equalities may give
    assert model.solve_lexicographic("optimistic")[0].status == INFEASIBLE
    assert model.least_violation() == pytest.approx(4.0)  # e.g. y = (2, 0): 3 + 1
    assert model.least_violation(b_ub=np.array([10.0])) == pytest.approx(0.0)
    assert least_violation(lp, np.array([False, True, True])) == pytest.approx(4.0)


def test_arrays_path_matches_the_loop_path():
    rng = np.random.default_rng(11)
    for _ in range(20):
        lp = _transport(rng, 3, 3)
        a, b = solve_lp(lp), solve_lp_arrays(lp)
        assert a.status == b.status
        if a.status == OPTIMAL:
            assert _agree(a.value, b.value)


def _large_lp(n: int = 200) -> LinearProgram:
    rng = np.random.default_rng(0)
    return LinearProgram(
        c=-rng.uniform(1, 2, n),
        A_ub=rng.uniform(0, 1, (n, n)),
        b_ub=rng.uniform(50, 100, n),
        A_eq=np.zeros((0, n)),
        b_eq=np.zeros(0),
        lb=np.zeros(n),
        ub=np.full(n, np.inf),
    )


def test_a_passed_deadline_cuts_every_solve_to_limit():
    """Past the run's deadline a solve gets GLOP's shortest time limit (1 ms) and comes back as ``limit``;
    after it, the same persistent model solves to optimality again (the limit does not stick)."""
    lp = _large_lp()
    model = ParametricLP(lp, np.ones(lp.n))
    with limits.deadline(time.time() - 1.0):
        assert solve_lp(lp).status == LIMIT
        assert solve_lp_arrays(lp).status == LIMIT
        assert model.solve_lexicographic("optimistic")[0].status == LIMIT
    assert model.solve().status == OPTIMAL
    assert math.isfinite(model.solve_lexicographic("optimistic")[0].value)
