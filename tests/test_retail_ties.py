"""The tie rule on the leader's whole objective, against brute force over every combination of optimal choices."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from test_retail_follower import tie_prone

from bilevel_bench import limits
from bilevel_bench.problems.retail.instance import generate
from bilevel_bench.problems.retail.problem import RetailProblem
from bilevel_bench.problems.retail.routing import Parcels, route_exact, route_heuristic


def _cents(x: float) -> int:
    return round(x * 100)


def optimal_sets(inst, z: np.ndarray) -> list[list[tuple[int, ...]]]:
    """Every customer's optimal choices, by direct evaluation of (2a) over all choices (no ChoiceTable)."""
    sets = []
    for k in range(inst.K):
        values = {}
        for choice in itertools.product(range(inst.S + 1), repeat=inst.P):
            if any(o and not inst.cart[k, p] for p, o in enumerate(choice)):
                continue
            stores = {o - 1 for p, o in enumerate(choice) if o and inst.cart[k, p]}
            if any(not inst.avail[k, s] for s in stores):
                continue
            used = stores | ({-1} if any(o == 0 and inst.cart[k, p] for p, o in enumerate(choice)) else set())
            if any(kk == k and (a - 1) in used and (b - 1) in used for kk, a, b in inst.conflict_rows()):
                continue
            f = sum(_cents(inst.u[k, p]) - _cents(inst.z_base[p]) for p in range(inst.P) if inst.cart[k, p])
            f += sum(int(z[o - 1, p]) + _cents(inst.h[p]) for p, o in enumerate(choice) if o and inst.cart[k, p])
            f -= sum(_cents(inst.I[k, s]) for s in stores)
            values[choice] = f
        best = max(values.values())
        sets.append([c for c, v in values.items() if v == best])  # lexicographic order
    return sets


def parcels(inst, combo) -> Parcels:
    """Parcels by customer, then location (home first, stores ascending): the documented order."""
    nodes, loads = [], []
    for k, choice in enumerate(combo):
        for o in range(inst.S + 1):
            items = [p for p, oo in enumerate(choice) if oo == o and inst.cart[k, p]]
            if items:
                nodes.append(1 + k if o == 0 else inst.K + o)
                loads.append(float(sum(inst.w[k, p] for p in items)))
    return Parcels(np.array(nodes, dtype=np.int64), np.array(loads))


def brute_force(inst, z: np.ndarray, tie_break: str, mode: str) -> tuple[float, tuple]:
    """(value in cents or -inf, chosen combination) over ALL combinations of all customers' optimal choices."""
    costs: dict[bytes, float] = {}
    best: tuple[float, tuple] | None = None
    for combo in itertools.product(*optimal_sets(inst, z)):
        parcel_set = parcels(inst, combo)
        key = parcel_set.key()
        if key not in costs:
            routes = (route_heuristic if mode == "heuristic" else route_exact)(inst, parcel_set)
            costs[key] = routes.cost if routes.ok else math.nan
        revenue = sum(
            _cents(inst.z_base[p]) - (int(z[o - 1, p]) if o else 0)
            for k, choice in enumerate(combo)
            for p, o in enumerate(choice)
            if inst.cart[k, p]
        )
        value = revenue - 100 * costs[key] if not math.isnan(costs[key]) else -math.inf
        if best is None or (value > best[0] if tie_break == "optimistic" else value < best[0]):
            best = (value, combo)
    assert best is not None
    return best


def _tied_cases(seed: int, n: int, K: int = 6) -> tuple:
    """A tie-prone instance and decisions in whole units (many customers tied) with few combinations."""
    inst = tie_prone(seed, K=K)
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(50 * n):
        z = rng.integers(0, inst.zmax.astype(int) + 1, (inst.S, inst.P)) * 100
        sizes = [len(s) for s in optimal_sets(inst, z)]
        if 1 < math.prod(sizes) <= 64:
            cases.append(z)
        if len(cases) == n:
            break
    return inst, cases


@pytest.mark.parametrize("mode", ["heuristic", "exact"])
@pytest.mark.parametrize("tie_break", ["optimistic", "pessimistic"])
def test_tie_rule_equals_brute_force_over_all_combinations(mode, tie_break):
    compared = differ = 0
    seeds, n = (range(3), 4) if mode == "heuristic" else (range(3), 2)  # exact routing is slower
    for seed in seeds:
        inst, cases = _tied_cases(seed, n)
        problem = RetailProblem(inst, tie_break=tie_break, routing=mode, max_tie_combinations=1000)
        other = RetailProblem(
            inst,
            tie_break="pessimistic" if tie_break == "optimistic" else "optimistic",
            routing=mode,
            max_tie_combinations=1000,
        )
        for z in cases:
            value, combo = brute_force(inst, z, tie_break, mode)
            evaluation = problem.evaluate(z.ravel() / 100)
            assert evaluation.follower.ok
            option = evaluation.follower.solution["option"]
            assert [tuple(row) for row in option.tolist()] == [tuple(c) for c in combo], (seed, z)
            if value == -math.inf:
                assert evaluation.violation > 0
            else:
                assert evaluation.violation == 0
                assert evaluation.value == pytest.approx(value / 100, abs=1e-9)
            compared += 1
            differ += evaluation.value != other.evaluate(z.ravel() / 100).value
    assert compared == len(seeds) * n
    assert differ >= 2  # the rule matters on these cases


def test_joint_cpsat_choice_beyond_the_enumeration_limit_equals_brute_force():
    """Exact routing, optimistic: with max_tie_combinations = 1 every tie goes through the joint model."""
    for seed in range(2):
        inst, cases = _tied_cases(seed, 2)
        joint = RetailProblem(inst, routing="exact", max_tie_combinations=1)
        for z in cases:
            value, _ = brute_force(inst, z, "optimistic", "exact")
            evaluation = joint.evaluate(z.ravel() / 100)
            assert evaluation.follower.ok and "one CP-SAT routing model" in evaluation.follower.detail
            assert evaluation.value == pytest.approx(value / 100, abs=1e-9)


@pytest.mark.parametrize(("mode", "tie_break"), [("heuristic", "optimistic"), ("exact", "pessimistic")])
def test_too_many_combinations_is_a_limit_not_a_guess(mode, tie_break):
    inst, cases = _tied_cases(0, 1)
    problem = RetailProblem(inst, tie_break=tie_break, routing=mode, max_tie_combinations=1)
    evaluation = problem.evaluate(cases[0].ravel() / 100)
    assert evaluation.follower.status == "limit" and "exceed max_tie_combinations" in evaluation.follower.detail
    assert math.isnan(evaluation.value) and evaluation.violation >= 1e6


ISSUE_SPEC = {"K": 5, "S": 2, "P": 1, "R": 2, "seed": 1}


@pytest.mark.parametrize("mode", ["heuristic", "exact"])
def test_issue_example_optimistic_is_no_longer_below_pessimistic(mode):
    """Issue 13.4: at z = (0, 17.67) the revenue rule gave -90.07 optimistic against -58.74 pessimistic."""
    inst = generate(**ISSUE_SPEC)
    z = np.array([0.0, 17.67])
    optimistic = RetailProblem(inst, routing=mode).evaluate(z)
    pessimistic = RetailProblem(inst, tie_break="pessimistic", routing=mode).evaluate(z)
    assert optimistic.value == pytest.approx(-58.74, abs=1e-9)
    assert pessimistic.value == pytest.approx(-90.07, abs=1e-9)
    assert optimistic.follower.solution["tied_customers"] == 1


def test_issue_example_exact_baselines_are_ordered():
    inst = generate(**ISSUE_SPEC)
    optimistic = RetailProblem(inst, routing="exact").exact(time_limit=60)
    pessimistic = RetailProblem(inst, tie_break="pessimistic", routing="exact").exact(time_limit=60)
    assert optimistic.status == "optimal" and pessimistic.status == "optimal"
    assert optimistic.objective == pytest.approx(-58.74, abs=1e-9)
    assert pessimistic.objective == pytest.approx(-58.76, abs=1e-9)


@pytest.mark.parametrize("mode", ["heuristic", "exact"])
def test_optimistic_is_never_below_pessimistic_at_random_decisions(mode):
    rng = np.random.default_rng(3)
    checked = tied = 0
    instances = [generate(**ISSUE_SPEC), tie_prone(11, K=6), tie_prone(12, K=7)]
    for inst in instances:
        optimistic = RetailProblem(inst, routing=mode, max_tie_combinations=1000)
        pessimistic = RetailProblem(inst, tie_break="pessimistic", routing=mode, max_tie_combinations=1000)
        lb, ub = optimistic.bounds()
        for draw in range(30):
            x = lb + rng.uniform(size=len(lb)) * (ub - lb)
            if draw % 2:  # whole units: ties
                x = np.round(x)
            a, b = optimistic.evaluate(x), pessimistic.evaluate(x)
            assert a.follower.ok and b.follower.ok
            if b.violation == 0:
                assert a.violation == 0 and a.value >= b.value - 1e-9, (x, a.value, b.value)
            checked += 1
            tied += int(a.follower.solution["tied_customers"]) > 0
    assert checked == 90 and tied >= 12


def test_a_routing_cut_by_the_deadline_is_status_limit_and_not_cached():
    inst = generate(**ISSUE_SPEC)
    problem = RetailProblem(inst)
    with limits.deadline(time.time() - 1.0):  # already passed
        cut = problem.evaluate(np.array([0.0, 17.67]))
    assert cut.follower.status == "limit" and math.isnan(cut.value)
    assert problem.evaluate(np.array([0.0, 17.67])).value == pytest.approx(-58.74, abs=1e-9)
