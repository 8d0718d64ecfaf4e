"""The exact baseline of capped instances (pessimistic, and optimistic as a cross-check): hand-derived values,
brute force over the leader's decisions on a grid with the exact follower, the KKT baseline, the unbounded
and unsupported cases, and the refusal of caps that leave no leader decision a feasible follower."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.problem import ExactStatus
from bilevel_bench.problems.inventory.instance import generate, seed_instance
from bilevel_bench.problems.inventory.pessimistic import MAX_SUBSETS, solve_by_bases, solve_pessimistic
from bilevel_bench.problems.inventory.problem import InventoryProblem
from bilevel_bench.verify import verify_exact


def _verified(problem: InventoryProblem, reading: str):
    """The enumeration's result, re-verified by the core as ``problem.exact()`` would."""
    return verify_exact(problem, solve_by_bases(problem, reading))


def _grid_best(problem: InventoryProblem, points: int) -> tuple[float, np.ndarray]:
    """Brute force: the best leader value over a grid of the leader's box, each point evaluated (repaired)
    with the exact follower under the problem's tie rule."""
    lb, ub = problem.bounds()
    axes = [np.linspace(lo, hi, points) if hi > lo else np.array([lo]) for lo, hi in zip(lb, ub, strict=True)]
    best, arg = -np.inf, lb
    for point in itertools.product(*axes):
        x = problem.repair(np.array(point))
        evaluation = problem.evaluate(x)
        if evaluation.feasible and evaluation.value > best:
            best, arg = evaluation.value, x
    return best, arg


def test_hand_derived_optimistic_and_pessimistic_optima(tie_instance):
    """One period, p = 10, c = 2, h = 1, s = 3, d >= 5, I <= 8, S <= 6, x <= 12 (b = 12).

    For x <= 13 the customer buys d = 5 and I - S = x - 5. Optimistic (least h I + s S): S = max(0, 5 - x),
    I = max(0, x - 5), so F = 35 + x up to x = 5, then 55 - 3x: optimum 40 at x = 5. Pessimistic (most
    I + 3 S): S = min(6, 13 - x), I = S + x - 5, so F = 31 - 3x up to x = 7, then 3 + x: optimum 31 at x = 0.
    """
    inst = tie_instance.replace(b=np.array([[12.0]]))
    expected = {"optimistic": (40.0, 5.0), "pessimistic": (31.0, 0.0)}
    for reading, (value, x) in expected.items():
        problem = InventoryProblem(inst, reading)
        result = _verified(problem, reading)
        assert result.status == ExactStatus.OPTIMAL and result.verification == "agree"
        assert result.objective == pytest.approx(value, abs=1e-4)
        assert result.x[0] == pytest.approx(x, abs=1e-6)
        grid, _ = _grid_best(problem, 241)  # steps of 0.05
        assert grid == pytest.approx(value, abs=1e-4)


def test_both_readings_on_a_capped_instance_against_brute_force():
    """n = 1, T = 2, caps I <= 10, S <= 40: the readings differ, and each enumeration's optimum (a point of the
    grid: full production, no advertising) equals the grid's best; no grid point beats it."""
    inst = generate(1, 2, 1, 5, inventory_cap=10.0, subcontract_cap=40.0)
    values = {}
    for reading in ("pessimistic", "optimistic"):
        problem = InventoryProblem(inst, reading)
        result = _verified(problem, reading)
        assert result.status == ExactStatus.OPTIMAL and result.verification == "agree"
        grid, _ = _grid_best(problem, 7)
        assert grid <= result.objective + 1e-6 * abs(result.objective)
        assert grid == pytest.approx(result.objective, rel=1e-8)
        values[reading] = result.objective
    assert values["pessimistic"] == pytest.approx(220954.0, abs=1e-3)
    assert values["optimistic"] == pytest.approx(221144.0, abs=1e-3)
    # the family's exact baseline: the KKT MILP (optimistic) and this enumeration (pessimistic, dispatched)
    for reading in ("optimistic", "pessimistic"):
        baseline = InventoryProblem(inst, reading).exact(time_limit=60)
        assert baseline.status == ExactStatus.OPTIMAL
        assert baseline.objective == pytest.approx(values[reading], rel=1e-8)


@pytest.mark.slow
def test_setup_decisions_off_grid_optimum_is_never_beaten_by_the_grid():
    """With setup decisions (one MILP per region) and optima off the grid (the optimistic one produces
    769 - 20 in period 2): the results re-verify, the readings are ordered, no grid point beats either, and
    the grid comes within 5%."""
    inst = generate(1, 2, 1, 1, setup="decision", inventory_cap=10.0, subcontract_cap=40.0)
    values = {}
    for reading in ("pessimistic", "optimistic"):
        problem = InventoryProblem(inst, reading)
        result = _verified(problem, reading)
        assert result.status == ExactStatus.OPTIMAL and result.verification == "agree"
        grid, _ = _grid_best(problem, 9)
        assert grid <= result.objective + 1e-6 * abs(result.objective)
        assert grid >= result.objective - 0.05 * abs(result.objective)
        values[reading] = result.objective
    assert values["pessimistic"] == pytest.approx(52200.0, abs=1e-3)
    assert values["optimistic"] == pytest.approx(53615.0, abs=1e-3)


def test_uncapped_pessimistic_reading_is_unbounded_with_the_reason(seed):
    result = solve_pessimistic(InventoryProblem(seed, "pessimistic"))
    assert result.status == ExactStatus.UNBOUNDED and math.isnan(result.objective)  # never a number
    assert "without limit" in result.notes and "no caps" in result.notes


def test_beyond_the_enumeration_limit_is_unsupported_with_the_count():
    inst = seed_instance().replace(inventory_cap=100.0, subcontract_cap=50.0)
    result = solve_pessimistic(InventoryProblem(inst, "pessimistic"))
    assert result.status == ExactStatus.UNSUPPORTED
    assert "C(40, 24)" in result.notes and f"{MAX_SUBSETS:,}" in result.notes


def test_the_optimistic_enumeration_agrees_with_the_kkt_baseline_on_a_capped_instance():
    inst = generate(1, 3, 2, 1, inventory_cap=40.0, subcontract_cap=30.0)
    problem = InventoryProblem(inst, "optimistic")
    enumeration = _verified(problem, "optimistic")
    kkt = problem.exact(time_limit=60)
    assert enumeration.status == ExactStatus.OPTIMAL
    assert kkt.objective == pytest.approx(enumeration.objective, rel=1e-8)
    pessimistic = _verified(InventoryProblem(inst, "pessimistic"), "pessimistic")
    assert pessimistic.objective <= enumeration.objective + 1e-6


# -- caps that leave no leader decision a feasible follower are refused ---------------------------------


def test_caps_infeasible_for_every_decision_are_refused_naming_key_and_value(seed):
    """Demand of at least 1e6 units of product 1 over the horizon cannot be met by production (at most about
    3,700 units) and subcontracting capped at 1 per period: refused, naming subcontract_cap and its value."""
    d0 = seed.d0.copy()
    d0[0] = 1e6
    with pytest.raises(InputError) as info:
        seed.replace(d0=d0, subcontract_cap=1.0).validate("bad.json")
    assert info.value.key == "subcontract_cap"
    assert str(info.value).startswith("bad.json: subcontract_cap: 1.0")
    assert "infeasible for every leader decision" in str(info.value)


def test_an_inventory_cap_that_blocks_every_plan_is_named(tie_instance):
    """Two periods, production only in the first (b = 0 in the second), a need of 5 in the second and no
    subcontracting (S <= 0): the plan must store 5, so I <= 1 leaves no feasible decision."""
    one = np.ones((1, 2))
    inst = tie_instance.replace(
        p=10 * one,
        c=2 * one,
        h=one,
        s=3 * one,
        f=0 * one,
        r=np.zeros(2),
        y=np.ones(2),
        Ibar=np.full(2, 100.0),
        a=np.ones((1, 1, 2)),
        b=np.array([[20.0, 0.0]]),
        Dd=np.array([[0.0, 1.0]]),
        Dv=np.zeros((1, 2)),
        d0=np.array([5.0]),
        vmax=np.zeros((1, 2)),
        inventory_cap=1.0,
        subcontract_cap=0.0,
    )
    with pytest.raises(InputError) as info:
        inst.validate("bad.json")
    assert info.value.key == "inventory_cap" and "1.0 (with subcontract_cap = 0.0)" in str(info.value)
    inst.replace(inventory_cap=5.0).validate("ok.json")  # storing 5 is allowed: accepted


def test_caps_feasible_for_some_decision_are_accepted(seed):
    """Subcontracting capped at 1 cannot cover the demand alone (x = 0 is infeasible), but production can:
    the instance is valid, and the leader's decision x = 0 is an infeasible candidate with a graded measure."""
    inst = seed.replace(subcontract_cap=1.0)
    inst.validate("ok.json")
    evaluation = InventoryProblem(inst).evaluate(np.zeros(16))
    assert evaluation.follower.status == "infeasible" and evaluation.follower.infeasibility > 0


def test_the_generator_takes_caps_and_refuses_bad_ones():
    inst = generate(1, 2, 1, 5, inventory_cap=10, subcontract_cap=40)
    assert inst.inventory_cap == 10.0 and inst.subcontract_cap == 40.0
    assert generate(1, 2, 1, 5).p.tolist() == inst.p.tolist()  # the caps do not change the draw
    with pytest.raises(InputError, match="inventory_cap"):
        generate(1, 2, 1, 5, inventory_cap=-1.0)
    with pytest.raises(InputError, match="subcontract_cap"):
        generate(1, 2, 1, 5, subcontract_cap="many")  # type: ignore[arg-type]
