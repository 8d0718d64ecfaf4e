"""Routing: published CVRPLIB optima in exact mode, brute force on tiny cases, determinism."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bilevel_bench.problems.retail.instance import CVRPLIB_DIR, build_cvrplib, generate
from bilevel_bench.problems.retail.routing import Parcels, all_home, route_exact, route_heuristic


@pytest.mark.parametrize(("name", "optimum"), [("E-n13-k4", 247.0), ("E-n22-k4", 375.0)])
def test_exact_routing_reaches_published_optimum_with_everyone_at_home(name, optimum):
    inst = build_cvrplib(CVRPLIB_DIR / f"{name}.vrp")
    assert inst.best_known_routing == optimum  # read from the .sol file
    result = route_exact(inst, all_home(inst))
    assert result.status == "optimal"
    assert result.cost == optimum
    served = sorted(node for tour in result.routes for node in tour)
    assert served == list(range(1, inst.K + 1))
    assert len(result.routes) <= inst.R


def test_heuristic_routing_is_deterministic_and_not_below_the_optimum():
    inst = build_cvrplib(CVRPLIB_DIR / "E-n22-k4.vrp")
    first, second = route_heuristic(inst, all_home(inst)), route_heuristic(inst, all_home(inst))
    assert (first.cost, first.routes) == (second.cost, second.routes)
    assert first.cost >= 375.0


@pytest.mark.parametrize("name", ["E-n51-k5", "E-n101-k8"])
def test_heuristic_routing_on_large_files_is_feasible_and_not_below_best_known(name):
    inst = build_cvrplib(CVRPLIB_DIR / f"{name}.vrp", S=4)
    result = route_heuristic(inst, all_home(inst))
    assert inst.best_known_routing in (521.0, 815.0)
    assert inst.best_known_routing <= result.cost <= 1.3 * inst.best_known_routing
    assert sorted(node for tour in result.routes for node in tour) == list(range(1, inst.K + 1))
    loads = [sum(inst.w[node - 1].sum() for node in tour) for tour in result.routes]
    assert max(loads) <= inst.q and len(result.routes) <= inst.R


def _brute_force(inst, parcels: Parcels) -> float:
    """Every order of the parcels, cut optimally into <= R capacity-feasible tours (split DP)."""
    n, best = len(parcels.node), np.inf
    for order in itertools.permutations(range(n)):
        nodes, loads = parcels.node[list(order)], parcels.load[list(order)]
        cost = np.full((n + 1, inst.R + 1), np.inf)  # cost[i, r]: first i parcels in r tours
        cost[0, 0] = 0.0
        for i in range(n):
            for j in range(i + 1, n + 1):
                if loads[i:j].sum() > inst.q:
                    break
                path = [0, *nodes[i:j].tolist(), 0]
                leg = sum(inst.c[a, b] for a, b in itertools.pairwise(path))
                cost[j, 1:] = np.minimum(cost[j, 1:], cost[i, :-1] + leg)
        best = min(best, cost[n].min())
    return float(best)


@pytest.mark.parametrize("seed", range(6))
def test_exact_routing_matches_brute_force_on_tiny_parcel_sets(seed):
    inst = generate(K=5, S=2, P=2, R=2, seed=seed)
    rng = np.random.default_rng(seed)
    option = np.where(inst.cart, rng.integers(0, 3, (inst.K, inst.P)), 0)
    option = np.where(inst.avail[np.arange(inst.K)[:, None], np.maximum(option - 1, 0)] | (option == 0), option, 0)
    from bilevel_bench.problems.retail.routing import parcels_of

    parcels = parcels_of(inst, option)
    exact = route_exact(inst, parcels)
    assert exact.status == "optimal"
    assert exact.cost == pytest.approx(_brute_force(inst, parcels))
    assert route_heuristic(inst, parcels).cost >= exact.cost


def _loop_parcels(inst, option: np.ndarray) -> tuple[list[int], list[float]]:
    """The parcels by a plain loop: customer by customer, used locations in increasing option order."""
    nodes, loads = [], []
    for k in range(inst.K):
        for o in sorted(set(option[k][inst.cart[k]].tolist())):
            nodes.append(inst.node_of(k, int(o)))
            loads.append(float(inst.w[k][inst.cart[k] & (option[k] == o)].sum()))
    return nodes, loads


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_parcels_equal_a_plain_loop(seed):
    from bilevel_bench.problems.retail.routing import parcels_of

    inst = generate(K=12, S=3, P=3, R=3, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        option = np.where(inst.cart, rng.integers(0, inst.S + 1, (inst.K, inst.P)), 0)
        parcels = parcels_of(inst, option)
        nodes, loads = _loop_parcels(inst, option)
        assert parcels.node.tolist() == nodes and parcels.load.tolist() == loads


@pytest.mark.parametrize("mode", ["heuristic", "exact"])
def test_routing_cut_by_the_run_deadline_reports_limit(mode):
    import time

    from bilevel_bench import limits
    from bilevel_bench.problems.retail.routing import route

    inst = build_cvrplib(CVRPLIB_DIR / "E-n51-k5.vrp", S=4)
    with limits.deadline(time.time() + 0.05):
        start = time.perf_counter()
        result = route(inst, all_home(inst), mode)
        elapsed = time.perf_counter() - start
    assert result.status == "limit" and np.isnan(result.cost)
    assert elapsed < 5.0  # cut near the deadline, not after the search


def test_more_vehicles_than_parcels_are_not_handed_to_the_solver():
    inst = generate(K=4, S=1, P=1, R=2, seed=0)
    many = inst.replace(R=10_000)
    many.validate("test")
    assert route_exact(many, all_home(many)).cost <= route_exact(inst, all_home(inst)).cost
    assert route_heuristic(many, all_home(many)).status == "feasible"


def test_a_generous_deadline_changes_no_heuristic_route():
    import time

    from bilevel_bench import limits

    inst = build_cvrplib(CVRPLIB_DIR / "E-n22-k4.vrp", S=3)
    free = route_heuristic(inst, all_home(inst))
    with limits.deadline(time.time() + 600):
        bounded = route_heuristic(inst, all_home(inst))
    assert (bounded.status, bounded.cost, bounded.routes) == (free.status, free.cost, free.routes)
