"""The follower's knapsack DP against CP-SAT and against enumeration, on random cases with many ties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bilevel_bench.problems.interdiction.follower import knapsack_dp, solve_cpsat, solve_follower
from bilevel_bench.problems.interdiction.instance import InterdictionInstance, generate
from bilevel_bench.problems.interdiction.problem import InterdictionProblem


def _random_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Small integer data: profits and weights in 0..4 make many optimal packings tie."""
    n = int(rng.integers(1, 13))
    profit = rng.integers(0, 5, n)
    weight = rng.integers(0, 5, n)
    capacity = int(rng.integers(0, max(1, int(weight.sum())) + 2))
    x = (rng.random(n) < rng.uniform(0.0, 0.6)).astype(float)
    return profit, weight, capacity, x


def _check_solution(profit: np.ndarray, weight: np.ndarray, capacity: int, x: np.ndarray, value: int, y: np.ndarray):
    assert int(profit[y].sum()) == value
    assert int(weight[y].sum()) <= capacity
    assert not (y & (x > 0.5)).any(), "an interdicted item was packed"


def test_dp_equals_cpsat_on_1200_random_cases_with_ties():
    rng = np.random.default_rng(20240601)
    tied = 0
    for _ in range(1200):
        profit, weight, capacity, x = _random_case(rng)
        value, y = knapsack_dp(profit, weight, capacity, x <= 0.5)
        reference = solve_cpsat(profit, weight, capacity, x)
        assert reference.ok
        assert value == reference.value, (profit, weight, capacity, x)
        _check_solution(profit, weight, capacity, x, value, y)
        cpsat_y = reference.solution["y"] > 0.5
        tied += not np.array_equal(cpsat_y, y)
    assert tied >= 50, f"too few cases where the two exact solvers chose different optimal packings ({tied})"


def test_dp_equals_enumeration():
    rng = np.random.default_rng(7)
    for _ in range(300):
        profit, weight, capacity, x = _random_case(rng)
        n = len(profit)
        best = 0
        for bits in itertools.product((False, True), repeat=n):
            y = np.array(bits, dtype=bool)
            if weight[y].sum() <= capacity and not (y & (x > 0.5)).any():
                best = max(best, int(profit[y].sum()))
        value, y = knapsack_dp(profit, weight, capacity, x <= 0.5)
        assert value == best
        _check_solution(profit, weight, capacity, x, value, y)


def test_dp_on_cclw_sized_cases_equals_cpsat():
    inst = generate(n=55, seed=3, ins=6)
    rng = np.random.default_rng(1)
    for _ in range(20):
        x = (rng.random(inst.n) < 0.3).astype(float)
        ours = solve_follower(inst.profit, inst.follower_weight, inst.follower_capacity, x)
        reference = solve_cpsat(inst.profit, inst.follower_weight, inst.follower_capacity, x)
        assert ours.value == reference.value


def test_edge_cases():
    profit, weight = np.array([3, 0, 5, 2]), np.array([0, 1, 2, 9])
    # everything fits: every positive-profit item that fits is packed, zero profit never
    value, y = knapsack_dp(profit, weight, 20, np.ones(4, dtype=bool))
    assert value == 10 and y.tolist() == [True, False, True, True]
    # capacity 0: only the weightless item
    value, y = knapsack_dp(profit, weight, 0, np.ones(4, dtype=bool))
    assert value == 3 and y.tolist() == [True, False, False, False]
    # all interdicted
    value, y = knapsack_dp(profit, weight, 20, np.zeros(4, dtype=bool))
    assert value == 0 and not y.any()


@pytest.mark.parametrize("seed", range(3))
def test_optimistic_and_pessimistic_responses_coincide(seed):
    inst = generate(n=12, seed=seed, ins=4, r=3)  # profits and weights in 1..3: ties everywhere
    optimistic, pessimistic = InterdictionProblem(inst), InterdictionProblem(inst, tie_break="pessimistic")
    rng = np.random.default_rng(seed)
    for _ in range(30):
        x = optimistic.repair(rng.integers(0, 2, inst.n).astype(float))
        a, b = optimistic.evaluate(x), pessimistic.evaluate(x)
        assert a.feasible and b.feasible
        assert a.value == b.value
        assert np.array_equal(a.follower.solution["y"], b.follower.solution["y"])


def test_fractional_leader_values_read_as_binary():
    inst = InterdictionInstance(
        name="t",
        seed=None,
        follower_capacity=5,
        leader_capacity=5,
        profit=np.array([4, 3]),
        follower_weight=np.array([5, 5]),
        leader_weight=np.array([1, 1]),
    )
    problem = InterdictionProblem(inst)
    assert problem.evaluate(np.array([0.6, 0.0])).value == 3.0  # item 0 interdicted
    assert problem.evaluate(np.array([0.4, 0.0])).value == 4.0
