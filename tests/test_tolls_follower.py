"""The tolls follower (both solvers) against brute-force path enumeration, ties included, and its tie rules."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from bilevel_bench.problem import FOLLOWER_FAILURE_VIOLATION, OPTIMAL
from bilevel_bench.problems.tolls.follower import (
    FollowerModel,
    brute_force_response,
    network_lp,
    revenue,
    simple_paths,
    solve_follower,
)
from bilevel_bench.problems.tolls.instance import TollsInstance, generate, random_network
from bilevel_bench.problems.tolls.problem import TollsProblem
from bilevel_bench.registry import get_family

#: Revenue agreement: integer costs and tolls make non-tied paths differ by >= 1 per unit, so the LP's tie
#: tolerance (1e-6 on the summed cost) moves the revenue by far less than this.
REVENUE_TOL = 1e-4


def hand() -> TollsInstance:
    family = get_family("tolls")
    return family.instance_type.load(family.data_dir / "hand.json")


def sample(seed: int) -> tuple[TollsInstance, list[np.ndarray]]:
    """A tiny random network and 12 integer toll vectors: equal-cost paths with different revenue are frequent."""
    inst = random_network(seed, n_nodes=5, n_extra=4 + seed % 3, n_toll=2 + seed % 2, commodities=1 + seed % 3)
    rng = np.random.default_rng(seed)
    return inst, [rng.integers(0, 5, len(inst.toll_arcs)).astype(float) for _ in range(12)]


def test_the_sample_has_ties_that_matter():
    ties = 0
    for seed in range(40):
        inst, points = sample(seed)
        for x in points:
            ties += brute_force_response(inst, x, "optimistic")[1] > brute_force_response(inst, x, "pessimistic")[1]
    assert ties >= 20


@pytest.mark.parametrize("seed", range(40))
def test_both_solvers_match_path_enumeration_with_ties(seed):
    inst, points = sample(seed)
    net = network_lp(inst)
    models = {rule: FollowerModel(net) for rule in ("optimistic", "pessimistic")}  # kept across calls (warm)
    for tolls in points:
        for rule in ("optimistic", "pessimistic"):
            cost, gain, _ = brute_force_response(inst, tolls, rule)
            for response in (models[rule].solve(tolls, rule), solve_follower(net, tolls, rule)):
                assert response.status == OPTIMAL
                assert response.value == pytest.approx(cost, abs=1e-6)
                assert revenue(inst, tolls, response.solution["flow"]) == pytest.approx(gain, abs=REVENUE_TOL)


def test_ties_on_the_hand_instance():
    """At tolls (6, 3) both commodities are indifferent between the toll path and the toll-free one."""
    inst = hand()
    for tolls, optimistic, pessimistic in (([6.0, 3.0], 18.0, 0.0), ([5.9, 2.9], 17.5, 17.5), ([7.0, 4.0], 0.0, 0.0)):
        values = {
            rule: TollsProblem(inst, rule).evaluate(np.array(tolls)).value for rule in ("optimistic", "pessimistic")
        }
        assert values["optimistic"] == pytest.approx(optimistic, abs=REVENUE_TOL)
        assert values["pessimistic"] == pytest.approx(pessimistic, abs=REVENUE_TOL)


@pytest.mark.parametrize("name", ["hand", "small", "medium"])
def test_pessimistic_never_beats_optimistic(name):
    family = get_family("tolls")
    inst = family.instance_type.load(family.data_dir / f"{name}.json")
    optimistic, pessimistic = TollsProblem(inst), TollsProblem(inst, "pessimistic")
    lb, ub = optimistic.bounds()
    rng = np.random.default_rng(0)
    points = [lb + rng.uniform(0, 1, len(lb)) * (ub - lb) for _ in range(15)]
    points += [np.round(p) for p in points]  # integer tolls: ties
    for x in points:
        assert optimistic.evaluate(x).value >= pessimistic.evaluate(x).value - REVENUE_TOL


def test_pruned_arcs_are_never_on_a_shortest_path():
    """The LP leaves out arcs dearer than the toll-free path at zero tolls; every path they lie on is dearer."""
    inst = generate(rows=3, cols=3, commodities=3, seed=5)
    net = network_lp(inst)
    free = inst.toll_free_costs()
    for k in range(inst.n_commodities):
        kept = set(net.arc[net.commodity == k].tolist())
        for a in set(range(inst.n_arcs)) - kept:
            assert inst.cost_through_arcs(k)[a] > free[k]
    assert len(net.arc) < inst.n_commodities * inst.n_arcs  # something was pruned


def test_flows_are_paths_and_conserve_demand():
    inst = generate(rows=3, cols=4, commodities=4, seed=1)
    problem = TollsProblem(inst)
    x = problem.bounds()[1] / 2
    flow = problem.evaluate(x).follower.solution["flow"]
    for k in range(inst.n_commodities):
        net_out = np.zeros(inst.n_nodes)
        np.add.at(net_out, inst.arcs[:, 0], flow[k])
        np.add.at(net_out, inst.arcs[:, 1], -flow[k])
        expected = np.zeros(inst.n_nodes)
        expected[inst.origin[k]], expected[inst.destination[k]] = 1.0, -1.0
        assert np.allclose(net_out, expected, atol=1e-7)
        assert flow[k].max() <= 1.0 + 1e-7


def test_a_negative_cycle_is_a_graded_infeasible_candidate():
    """Negative tolls (outside the bounds) on a two-way tolled edge that lies on walks from 0 to 2 make a
    negative cycle: the follower is unbounded, graded by the negative part of the costs."""
    inst = TollsInstance(
        name="cycle",
        seed=None,
        n_nodes=3,
        arcs=np.array([[0, 1], [1, 0], [0, 2], [1, 2]]),
        cost=np.array([1.0, 1.0, 5.0, 1.0]),
        toll_arcs=np.array([0, 1]),
        origin=np.array([0]),
        destination=np.array([2]),
        demand=np.array([2.0]),
    )
    problem = TollsProblem(inst)
    assert problem.evaluate(np.array([3.0, 3.0])).feasible
    evaluation = problem.evaluate(np.array([-5.0, -5.0]))
    assert not evaluation.feasible and evaluation.follower.status != OPTIMAL
    assert evaluation.follower.infeasibility == pytest.approx(2 * 4.0 * 2)  # two arcs at cost -4, demand 2
    assert evaluation.violation > FOLLOWER_FAILURE_VIOLATION + 10  # tolls below 0 break the leader's bounds too
    assert not problem.evaluate(np.array([math.nan, 1.0])).feasible


def test_the_problem_pickles_without_its_solver_model():
    problem = TollsProblem(hand())
    x = np.array([6.0, 3.0])
    before = problem.evaluate(x).value
    assert problem._model is not None
    clone = pickle.loads(pickle.dumps(problem))
    assert clone._model is None
    assert clone.evaluate(x).value == pytest.approx(before, abs=1e-9)


def test_path_enumeration_finds_every_simple_path():
    inst = hand()
    assert sorted(simple_paths(inst, 0)) == [[0, 2, 3], [4]]
    assert sorted(simple_paths(inst, 1)) == [[1, 2, 3], [5], [6, 3]]
