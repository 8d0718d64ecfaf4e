"""The exact branch and bound against enumeration of every leader vector, its lower-bound table against the online
game computed by plain recursion, and against the published CCLW optima."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest

import bilevel_bench.problems.interdiction.exact as exact
from bilevel_bench.problems.interdiction.follower import knapsack_dp
from bilevel_bench.problems.interdiction.instance import DATA_DIR, InterdictionInstance, generate, read_ki
from bilevel_bench.problems.interdiction.problem import InterdictionProblem


def _brute_force(inst: InterdictionInstance) -> float:
    best = math.inf
    for bits in itertools.product((False, True), repeat=inst.n):
        x = np.array(bits, dtype=bool)
        if inst.leader_weight[x].sum() <= inst.leader_capacity:
            value, _ = knapsack_dp(inst.profit, inst.follower_weight, inst.follower_capacity, ~x)
            best = min(best, value)
    return float(best)


def _tiny(seed: int) -> InterdictionInstance:
    """n <= 10 with small ranges (ties, zero weights and profits); CCLW-style capacities or random ones."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 11))
    if seed % 3 == 0:
        return generate(n=n, seed=seed, ins=int(rng.integers(1, 11)), r=int(rng.integers(2, 20)))
    wF, wL = rng.integers(0, 8, n), rng.integers(0, 8, n)
    return InterdictionInstance(
        name=f"tiny{seed}",
        seed=seed,
        follower_capacity=int(rng.integers(0, int(wF.sum()) + 3)),
        leader_capacity=int(rng.integers(0, int(wL.sum()) + 3)),
        profit=rng.integers(0, 8, n),
        follower_weight=wF,
        leader_weight=wL,
    )


@pytest.mark.parametrize("seed", range(60))
def test_exact_equals_enumeration_of_all_leader_vectors(seed):
    inst = _tiny(seed)
    result = InterdictionProblem(inst).exact(time_limit=30)
    assert result.status == "optimal" and result.verification == "agree"
    assert result.objective == _brute_force(inst)
    assert result.bound == result.objective
    x = np.asarray(result.solution["x"])
    assert set(np.unique(x)) <= {0.0, 1.0}
    assert inst.leader_weight[x > 0.5].sum() <= inst.leader_capacity


def test_exact_with_scaled_table_equals_enumeration(monkeypatch):
    monkeypatch.setattr(exact, "MAX_TABLE_BYTES", 200)  # forces capacity scaling: a weaker bound, same optimum
    for seed in range(12):
        inst = generate(n=10, seed=seed, ins=1 + seed % 10)
        result = InterdictionProblem(inst).exact(time_limit=30)
        assert "scale 1)" not in result.notes
        assert result.status == "optimal" and result.objective == _brute_force(inst)


def _online_game(p, wF, wL):
    """V_i(a, b) of the module docstring by plain memoised recursion (items in the given order)."""
    n = len(p)

    @functools.cache
    def V(i: int, a: int, b: int) -> int:
        if i == n:
            return 0
        follower = V(i + 1, a, b)
        if wF[i] <= b:
            follower = max(follower, int(p[i]) + V(i + 1, a, b - wF[i]))
        if wL[i] <= a:
            return min(follower, V(i + 1, a - wL[i], b))
        return follower

    return V


@pytest.mark.parametrize("seed", range(8))
def test_bound_table_is_the_online_game_on_every_state_the_search_asks(seed):
    inst = generate(n=9, seed=seed, ins=1 + seed, r=12)
    order = exact.follower_order(inst)
    p, wF, wL = inst.profit[order], inst.follower_weight[order], inst.leader_weight[order]
    CF, CL = inst.follower_capacity, inst.leader_capacity
    table = exact.bound_table(p, wF, wL, CF, CL)
    assert table is not None and table.scale == 1
    V = _online_game(p.tolist(), wF.tolist(), wL.tolist())
    for i in range(inst.n + 1):
        # the states a node at depth i can have: capacities down to what the first i items can use
        for a in range(max(0, CL - int(wL[:i].sum())), CL + 1):
            for b in range(max(0, CF - int(wF[:i].sum())), CF + 1):
                assert table.lookup(i, np.array([a]), np.array([b]))[0] == V(i, a, b)
    assert V(0, CL, CF) <= _brute_force(inst)  # the relaxation is a lower bound


def test_scaled_table_stays_below_the_online_game(monkeypatch):
    monkeypatch.setattr(exact, "MAX_TABLE_BYTES", 300)
    inst = generate(n=9, seed=5, ins=5, r=30)
    order = exact.follower_order(inst)
    p, wF, wL = inst.profit[order], inst.follower_weight[order], inst.leader_weight[order]
    CF, CL = inst.follower_capacity, inst.leader_capacity
    table = exact.bound_table(p, wF, wL, CF, CL)
    assert table is not None and table.scale > 1
    V = _online_game(p.tolist(), wF.tolist(), wL.tolist())
    for i in range(inst.n + 1):
        for a in range(max(0, CL - int(wL[:i].sum())), CL + 1):
            for b in range(max(0, CF - int(wF[:i].sum())), CF + 1):
                assert table.lookup(i, np.array([a]), np.array([b]))[0] <= V(i, a, b)


def test_pessimistic_reading_has_the_same_optimum():
    inst = generate(n=10, seed=2, ins=3, r=4)
    a = InterdictionProblem(inst).exact(time_limit=30)
    b = InterdictionProblem(inst, tie_break="pessimistic").exact(time_limit=30)
    assert a.objective == b.objective == _brute_force(inst)


def test_time_limit_gives_incumbent_and_valid_bound(monkeypatch):
    monkeypatch.setattr(exact, "MAX_TABLE_BYTES", 2_000)  # a weak bound: the search is long
    inst = generate(n=60, seed=1, ins=5)
    result = InterdictionProblem(inst).exact(time_limit=0.5)
    assert result.status == "feasible" and result.verification == "agree"
    assert 0.0 <= result.bound <= result.objective
    assert "time limit in the search" in result.notes


def test_time_limit_while_the_table_is_built():
    inst = generate(n=60, seed=1, ins=5)  # its table takes far longer than a millisecond
    result = InterdictionProblem(inst).exact(time_limit=0.001)
    assert result.status == "feasible" and result.verification == "agree"
    assert result.bound == 0.0 and result.objective > 0
    assert "time limit while building" in result.notes


def _shipped(name: str) -> InterdictionInstance:
    return read_ki(DATA_DIR / f"{name}.ki")


@pytest.mark.parametrize("name", [f"CCLW_n35_m{m}" for m in range(10)] + ["CCLW_n55_m0", "CCLW_n55_m2"])
def test_exact_equals_published_optimum(name):
    inst = _shipped(name)
    result = InterdictionProblem(inst).exact(time_limit=120)
    assert result.status == "optimal" and result.verification == "agree"
    assert result.objective == inst.published_optimum == result.bound
    assert "equals the published optimum" in result.notes


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", [f"CCLW_n{n}_m{m}" for n in (45, 55) for m in range(10) if (n, m) not in ((55, 0), (55, 2))]
)
def test_exact_equals_published_optimum_on_the_rest_of_cclw(name):
    test_exact_equals_published_optimum(name)
