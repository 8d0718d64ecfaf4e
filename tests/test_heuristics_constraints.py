"""Constraint handling of the heuristics: feasibility-first, Lamarckian repair by the family's projection, and
the epsilon-constrained method (heuristics/adapter.py), on toys whose answers are known by hand.

The toy: x in [0, 10]^2, the follower copies x (y = x, unique), the leader maximises x1 + 2 x2 subject to its
own row x1 + x2 <= 5 (violation: the excess). The optimum is x = (0, 5), value 10. Its projection is the
Euclidean projection onto the half-plane (then the box): for a point above the row, x - (x1 + x2 - 5)/2 (1, 1),
clipped; the projected point satisfies the row exactly when no clipping is needed, and always within the row.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymoo.core.individual import Individual
from pymoo.core.population import Population
from pymoo.core.replacement import is_better

from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.adapter import EpsilonLevel, PymooProblem, refresh, resolve_constraints
from bilevel_bench.heuristics.evaluator import BatchEvaluator
from bilevel_bench.heuristics.operators import FeasibilityFirstCMAES
from bilevel_bench.heuristics.registry import get_heuristic, heuristics
from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.instance import Instance
from bilevel_bench.problem import INFEASIBLE, OPTIMAL, BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.inventory.instance import generate
from bilevel_bench.problems.inventory.problem import InventoryProblem
from bilevel_bench.registry import get_family, resolve_instance


class RowToy(BilevelProblem):
    family = "toy"
    sense = "max"

    def __init__(self, instance: Instance | None = None, tie_break: str = "optimistic") -> None:
        super().__init__(instance or Instance(name="row", seed=None), tie_break)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(2), np.full(2, 10.0)

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        return FollowerResponse(OPTIMAL, 0.0, {"y": np.array(x, dtype=float)}, 1)

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        y = response.solution["y"]
        return float(y[0] + 2.0 * y[1])

    def leader_violation(self, x: np.ndarray, response: FollowerResponse | None) -> float:
        return max(0.0, float(x[0] + x[1]) - 5.0)

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        return ExactResult(10.0, 10.0, OPTIMAL, 0.0, {"x": [0.0, 5.0]})


class ProjectedToy(RowToy):
    def project(self, x: np.ndarray, response: FollowerResponse) -> np.ndarray | None:
        excess = float(x[0] + x[1]) - 5.0
        if excess <= 0:
            return None
        return np.clip(np.asarray(x, dtype=float) - excess / 2.0, 0.0, 10.0)


def test_auto_is_repair_where_the_family_declares_a_projection_else_feasibility_first():
    assert resolve_constraints("auto", ProjectedToy()) == "repair"
    assert resolve_constraints("auto", RowToy()) == "feasibility_first"
    assert resolve_constraints(None, ProjectedToy()) == "feasibility_first"  # a plugin without the parameter
    assert resolve_constraints("epsilon", ProjectedToy()) == "epsilon"
    assert resolve_constraints("auto", InventoryProblem(generate(2, 2, 2, 1))) == "repair"


def test_the_registry_offers_exactly_the_modes_the_adapter_knows():
    from bilevel_bench.heuristics import adapter, registry

    assert registry.CONSTRAINTS == adapter.CONSTRAINTS


@pytest.mark.parametrize("name", sorted(set(heuristics()) - {"matheuristic"}))
def test_every_shipped_heuristic_takes_the_constraint_modes_and_refuses_others(name):
    spec = get_heuristic(name)
    assert spec.defaults["constraints"] == "auto"
    for mode in ("auto", "feasibility_first", "repair", "epsilon"):
        assert spec.parameters({"constraints": mode})["constraints"] == mode
    with pytest.raises(InputError, match="is not one of auto, feasibility_first, repair, epsilon"):
        spec.parameters({"constraints": "penalty"}, "grid.toml", "heuristics[0].params")


def test_a_projection_is_evaluated_counted_and_held_by_the_population():
    problem = ProjectedToy()
    evaluator = BatchEvaluator(problem)
    pymoo_problem = PymooProblem(evaluator, constraints="repair")
    X = np.array([[4.0, 4.0], [1.0, 1.0], [10.0, 0.0]])
    pop = Population.new("X", X)
    from pymoo.core.evaluator import Evaluator

    Evaluator().eval(pymoo_problem, pop)
    # rows 0 and 2 break the row by 3 and 5: projected to (2.5, 2.5), feasible, and (7.5, -2.5) -> clipped
    # (7.5, 0), which still breaks it by 2.5 (less than 5: kept) and is projected again: (6.25, 0), breaking
    # it by 1.25, then (5.625, 0) by 0.625 in the third and last round (PROJECTION_ROUNDS = 3)
    held = pop.get("X")
    assert np.allclose(held[0], [2.5, 2.5]) and np.allclose(held[1], [1.0, 1.0])
    assert np.allclose(held[2], [5.625, 0.0])
    assert evaluator.counters.n_evals == 3 + 2 + 1 + 1 and evaluator.counters.work["projections"] == 4
    assert np.allclose(pop.get("F")[:, 0], [-7.5, -3.0, -5.625]) and np.allclose(pop.get("G")[:, 0], [0, 0, 0.625])


def test_a_projection_worse_by_the_feasibility_first_rules_does_not_replace_its_candidate():
    class BadProjection(RowToy):
        def project(self, x: np.ndarray, response: FollowerResponse) -> np.ndarray | None:
            return np.array([10.0, 10.0])  # breaks the row by 15: worse than any candidate here

    evaluator = BatchEvaluator(BadProjection())
    pymoo_problem = PymooProblem(evaluator, constraints="repair")
    held, _, evaluations = pymoo_problem.evaluate_batch(np.array([[4.0, 4.0]]))
    assert np.array_equal(held, [[4.0, 4.0]]) and evaluations[0].violation == 3.0
    assert evaluator.counters.n_evals == 2  # the projection was evaluated (and counted) all the same


@pytest.mark.parametrize("mode", ["feasibility_first", "repair", "epsilon"])
@pytest.mark.parametrize("name", ["ga", "de", "pso", "cmaes", "nelder_mead"])
def test_each_mode_finds_the_toy_optimum_and_is_recorded(name, mode):
    run = run_heuristic(ProjectedToy(), name, {"constraints": mode}, seed=1, budget=Budget(max_evals=1500))
    assert run.constraints == mode and run.counters.n_evals == 1500 and run.verified
    assert run.best_violation == 0.0 and 9.9 <= run.best_value <= 10.0 + 1e-9
    assert (run.counters.work.get("projections", 0) > 0) == (mode == "repair")


def test_epsilon_level_follows_the_schedule():
    level = EpsilonLevel(max_evals=100)
    assert level.level(0) == math.inf  # before the first batch
    level.start(np.arange(10.0)[::-1])  # theta = 0.2 of 10: the third smallest violation, 2
    assert level.eps0 == 2.0
    assert level.level(0) == 2.0
    assert level.level(25) == pytest.approx(2.0 * 0.5**5)  # t = 0.25 = T_c / 2
    assert level.level(10) == pytest.approx(2.0 * 0.8**5)
    assert level.level(50) == 0.0 and level.level(99) == 0.0


def _individual(f: float, phi: float, level: float) -> Individual:
    ind = Individual(X=np.zeros(1), F=np.array([f]), G=np.array([max(phi - level, 0.0)]))
    ind.data["PHI"] = np.array([phi])
    return ind


@pytest.mark.parametrize(
    ("a", "b", "level", "a_wins"),
    [
        ((1.0, 0.5), (2.0, 0.0), 1.0, True),  # both within eps: by F
        ((1.0, 0.5), (2.0, 0.0), 0.0, False),  # eps = 0: feasibility first
        ((1.0, 3.0), (5.0, 2.0), 1.0, False),  # both beyond eps: by violation
        ((9.0, 0.9), (1.0, 1.5), 1.0, True),  # one within, one beyond
    ],
)
def test_g_as_violation_minus_epsilon_gives_the_epsilon_comparison(a, b, level, a_wins):
    first, second = _individual(*a, level), _individual(*b, level)
    assert is_better(first, second) == a_wins


def test_a_new_level_is_applied_to_every_individual_the_algorithm_holds():
    class Holder:
        pass

    algorithm = Holder()
    algorithm.pop = Population.create(_individual(1.0, 3.0, 5.0), _individual(2.0, 0.0, 5.0))
    algorithm.opt = Population.create(algorithm.pop[0])
    algorithm.center = _individual(0.0, 1.0, 5.0)
    assert algorithm.pop[0].CV[0] == 0.0  # eps = 5: everyone counts as feasible
    refresh(algorithm, 1.0)
    assert algorithm.pop.get("CV")[:, 0].tolist() == [2.0, 0.0] and algorithm.opt[0].CV[0] == 2.0
    assert algorithm.center.CV[0] == 0.0
    refresh(algorithm, 0.0)
    assert algorithm.center.CV[0] == 1.0


def test_cma_es_ranks_a_generation_feasibility_first():
    sent: list = []

    class FakeES:
        def send(self, values):
            sent.append(values)
            return [[0.0]]

    algorithm = FeasibilityFirstCMAES()
    algorithm.es, algorithm.send_array_to_yield = FakeES(), True
    F = np.array([[5.0], [-3.0], [1e30], [2.0], [0.0]])
    CV = np.array([[0.0], [4.0], [1e6 + 1.0], [0.0], [1.0]])
    infills = Population.new("X", np.zeros((5, 1)), "F", F, "G", CV)
    algorithm._advance(infills)
    ranked = np.array(sent[0])
    # feasible 2.0 < 5.0, then the infeasible by violation: 1.0 < 4.0 < 1e6 + 1
    assert np.argsort(ranked).tolist() == [3, 0, 4, 1, 2]
    assert ranked[3] == 2.0 and ranked[0] == 5.0


def test_inventory_projection_makes_an_infeasible_follower_feasible():
    problem = InventoryProblem(generate(2, 3, 2, 4, inventory_cap=5.0, subcontract_cap=5.0))
    lb, ub = problem.bounds()
    rng = np.random.default_rng(0)
    found = 0
    for _ in range(60):
        x = lb + (ub - lb) * rng.random(len(lb))
        evaluation = problem.evaluate(x)
        if evaluation.follower.status != INFEASIBLE:
            assert problem.project(x, evaluation.follower) is None
            continue
        found += 1
        projected = problem.project(x, evaluation.follower)
        assert projected is not None and np.all((projected >= lb) & (projected <= ub))
        after = problem.evaluate(projected)
        assert after.follower.ok and after.violation <= 1e-9  # provably follower-feasible (the LP's y)
    assert found >= 5
    assert problem.work_counters()["relaxation_lp_solves"] == found


def test_procurement_projection_keeps_the_allocation_and_meets_ir_ic():
    from bilevel_bench.problems.procurement.prices import _fixed_allocation

    family = get_family("procurement")
    problem = family.make_problem(resolve_instance(family, "hm_example"), version="decentralized")
    lb, ub = problem.bounds()
    rng = np.random.default_rng(1)
    exact_steps = 0
    for _ in range(40):
        x = lb + (ub - lb) * rng.random(len(lb))
        evaluation = problem.evaluate(x)
        if evaluation.feasible:
            assert problem.project(x, evaluation.follower) is None
            continue
        allocation = evaluation.follower.solution["x"]
        step = _fixed_allocation(problem, x, allocation)
        projected = problem.project(x, evaluation.follower)
        if step is None:
            continue  # the linearised step instead: no guarantee, the run keeps it only if not worse
        exact_steps += 1
        assert projected is not None and np.allclose(projected, np.clip(step, lb, ub))
        after = problem.evaluate(projected)
        assert after.feasible  # IR/IC hold at the same allocation: the market's answer did not move
        assert np.allclose(after.follower.solution["x"], allocation, atol=1e-9)
    assert exact_steps >= 5
