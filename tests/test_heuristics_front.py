"""Fronts and hypervolumes (checked against hand computation and pymoo's HV), and the inventory view."""

from __future__ import annotations

import numpy as np
import pytest
from pymoo.indicators.hv import HV

from bilevel_bench.heuristics.front import ParetoArchive, hypervolume, non_dominated
from bilevel_bench.problem import canonical_value
from bilevel_bench.problems.inventory.instance import generate
from bilevel_bench.problems.inventory.problem import InventoryProblem


def test_non_dominated_keeps_the_front_sorted_and_drops_duplicates_and_ties():
    points = np.array([[1, 3], [2, 2], [3, 1], [2, 1], [1, 3], [3, 0.5], [0, 0]])
    assert non_dominated(points).tolist() == [[3, 1], [2, 2], [1, 3]]


def test_hypervolume_by_hand():
    front = np.array([[3.0, 1.0], [2.0, 2.0], [1.0, 3.0]])
    assert hypervolume(front, np.zeros(2)) == 6.0  # 3*1 + 2*1 + 1*1
    assert hypervolume(front, np.array([2.0, 0.0])) == 1.0  # only (3, 1) is above the reference
    assert hypervolume(np.zeros((0, 2)), np.zeros(2)) == 0.0


@pytest.mark.parametrize("seed", range(10))
def test_hypervolume_agrees_with_pymoo(seed):
    rng = np.random.default_rng(seed)
    points = rng.random((30, 2)) * [10, 3]
    reference = np.array([-0.5, -0.2])
    expected = HV(ref_point=-reference)(-points)  # pymoo minimises
    assert hypervolume(points, reference) == pytest.approx(expected, rel=1e-12)


def test_the_archive_keeps_the_front_of_everything_added_and_the_worst_values():
    archive = ParetoArchive()
    archive.add(np.array([[1.0, 1.0], [0.0, 5.0]]))
    archive.add(np.array([[2.0, 2.0], [-1.0, 0.0]]))
    assert archive.front.tolist() == [[2.0, 2.0], [0.0, 5.0]]
    assert archive.nadir.tolist() == [-1.0, 0.0]
    assert archive.hypervolume() == pytest.approx(3 * 2 + 1 * 3)


def test_inventory_view_is_profit_against_minus_the_customers_cost():
    problem = InventoryProblem(generate(2, 3, 2, 4))
    lb, ub = problem.bounds()
    x = problem.repair(lb + 0.3 * (ub - lb))
    evaluation = problem.evaluate(x)
    leader, welfare = problem.objectives(x, evaluation.follower)
    d = evaluation.follower.solution["d"]
    assert canonical_value(leader) == evaluation.value  # values are kept to 10 significant digits
    assert welfare == pytest.approx(-float(np.sum(problem.instance.p * d)), rel=1e-9)
