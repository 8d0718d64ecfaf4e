"""The exact CP-SAT baseline against independent enumerations on tiny instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bilevel_bench.problems.retail.follower import choice_table, solve_all
from bilevel_bench.problems.retail.instance import generate
from bilevel_bench.problems.retail.problem import RetailProblem


def _tsp(inst, nodes: frozenset) -> float:
    """One vehicle (the tests' instances have R = 1 and room for everything): brute-force tour."""
    best = 0.0 if not nodes else np.inf
    for order in itertools.permutations(sorted(nodes)):
        path = [0, *order, 0]
        best = min(best, float(sum(inst.c[a, b] for a, b in itertools.pairwise(path))))
    return best


def _visited(inst, option: np.ndarray) -> frozenset:
    return frozenset(inst.node_of(k, int(o)) for k in range(inst.K) for o in option[k][inst.cart[k]])


@pytest.mark.parametrize("seed", range(5))
def test_exact_equals_enumeration_of_indifference_thresholds(seed):
    """One store, one product: customer k picks the store iff z >= I_k - h + 1 cent (optimistic ties go
    home), so the leader's value is piecewise decreasing and its maximum is at 0 or at a threshold."""
    inst = generate(K=5, S=1, P=1, R=1, seed=seed)
    zmax, h, zb = inst.zmax[0], inst.h[0], inst.z_base[0]
    thresholds = np.round(inst.I[:, 0] - h + 0.01, 2)
    candidates = sorted({0.0, *np.clip(thresholds, 0.0, zmax).tolist()})
    values = []
    for z in candidates:
        store = inst.avail[:, 0] & (z >= thresholds - 1e-9)
        option = store.astype(np.int64)[:, None]
        values.append(inst.K * zb - z * store.sum() - _tsp(inst, _visited(inst, option)))
    result = RetailProblem(inst).exact(time_limit=30)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(max(values), abs=1e-6)
    assert result.bound == pytest.approx(max(values), abs=1e-6)


def _tiny_grid_instance(seed: int):
    """K = 4, one store, two products, discounts up to 60 cents and inconvenience below it."""
    inst = generate(K=4, S=1, P=2, R=1, seed=seed)
    rng = np.random.default_rng(seed)
    return inst.replace(
        zmax=np.full(2, 0.6),
        h=np.zeros(2),
        I=np.round(rng.integers(0, 61, (4, 1)) / 100, 2) * inst.avail,
    )


@pytest.mark.parametrize(("seed", "tie_break"), [(0, "optimistic"), (1, "optimistic"), (2, "pessimistic"), (3, "pessimistic")])
def test_exact_equals_enumeration_of_the_cent_grid(seed, tie_break):
    inst = _tiny_grid_instance(seed)
    inst.validate("test")
    table = choice_table(inst)
    tours: dict[frozenset, float] = {}
    best = -np.inf
    for z1, z2 in itertools.product(range(61), range(61)):
        choice = solve_all(table, np.array([[z1, z2]]), tie_break)
        nodes = _visited(inst, choice.option)
        if nodes not in tours:
            tours[nodes] = _tsp(inst, nodes)
        best = max(best, choice.revenue.sum() / 100 - tours[nodes])
    result = RetailProblem(inst, tie_break=tie_break).exact(time_limit=30)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(best, abs=1e-6)
