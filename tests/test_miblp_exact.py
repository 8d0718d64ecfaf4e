"""The MIBLP exact baseline: enumeration of the HPR box against the published optima and against plain
enumeration without pruning; the published reference for large boxes; the problem's contract."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from bilevel_bench.problem import ExactStatus
from bilevel_bench.problems.miblp import FAMILY
from bilevel_bench.problems.miblp.exact import box_points, enumerate_box
from bilevel_bench.problems.miblp.instance import MiblpInstance
from bilevel_bench.problems.miblp.problem import MiblpProblem


def problem(name: str, **options: str) -> MiblpProblem:
    return MiblpProblem(MiblpInstance.load(FAMILY.data_dir / f"{name}.json"), **options)


@pytest.mark.parametrize(
    "name",
    [
        "moore90",
        "moore90_2",
        "knapsack",
        "linderoth",
        "stein27-0.900000",
        "miblp_20_15_50_0110_10_7",
        "miblp_20_15_50_0110_10_1",
        "miblp_20_15_50_0110_10_3",
    ],
)
def test_enumeration_proves_the_published_optimum(name):
    p = problem(name)
    assert box_points(p) <= 1500
    result = p.exact(time_limit=120)
    assert result.status is ExactStatus.OPTIMAL and result.verification == "agree", result.notes
    assert result.objective == pytest.approx(p.instance.published_objective)
    assert result.bound == result.objective and result.x is not None


def test_pruned_enumeration_equals_plain_enumeration_on_random_instances():
    """The lower-bound order and the pre-solve drops never lose the optimum (tiny random instances, both
    tie rules): the result equals the best of evaluating every point of the box."""
    from test_miblp_follower import leader_points, tiny

    compared = 0
    for seed in range(60):
        for tie_break in ("optimistic", "pessimistic"):
            p = MiblpProblem(tiny(seed), tie_break=tie_break)
            values = [e.value for e in map(p.evaluate, leader_points(p)) if e.feasible]
            result = enumerate_box(p, time_limit=60)
            if not values:
                assert result.status is ExactStatus.INFEASIBLE
                continue
            assert result.status is ExactStatus.OPTIMAL
            assert result.objective == pytest.approx(min(values)), (seed, tie_break)
            compared += 1
    assert compared > 60


def test_large_boxes_report_the_published_value_and_its_decision():
    p = problem("miblp_20_20_50_0110_5_1")
    assert box_points(p) > 1e5
    result = p.exact()
    assert result.status is ExactStatus.PUBLISHED and result.published_kind == "published_optimal"
    assert (
        result.objective == -548.0 and result.verification == "agree" and result.reference_kind == "published_optimal"
    )
    assert result.x is not None and len(result.x) == 15
    pessimistic = problem("miblp_20_20_50_0110_5_1", tie_break="pessimistic").exact()
    assert pessimistic.status is ExactStatus.UNSUPPORTED and "optimistic" in pessimistic.notes


def test_a_time_limit_cut_is_feasible_with_a_bound():
    p = problem("miblp_20_15_50_0110_10_9")  # 47,520 box points
    result = enumerate_box(p, time_limit=0.3)
    assert result.status in (ExactStatus.FEASIBLE, ExactStatus.UNSUPPORTED)
    assert "cut by the time limit" in result.notes
    if result.status is ExactStatus.FEASIBLE:
        assert result.bound <= result.objective


def test_problem_contract():
    p = problem("miblp_20_15_50_0110_10_1")
    assert p.options() == {"leader_bounds": "hpr", "follower_engine": "auto"} and set(p.options()) == set(
        FAMILY.problem_options
    )
    assert p.integer_mask().all() and p.n_var == 5 and p.sense == "min"
    x = p.instance.published_x
    before = p.evaluate(x)
    assert p._engine is not None
    clone = pickle.loads(pickle.dumps(p))
    assert not hasattr(clone, "_engine")  # the solver model stays in its process
    after = clone.evaluate(x)
    assert before.value == after.value == -388.0
    lo, hi = p.bounds()
    for corner in (lo, hi, (lo + hi) / 2):
        evaluation = p.evaluate(np.round(corner))
        assert math.isfinite(evaluation.value) or evaluation.violation > 0
    names = p.instance.names()
    assert list(p.decode(x)["leader"]) == [names[j] for j in p.sp.lc]
