"""Integer leader variables: the mixed GA's operators, and heuristics on a toy problem with a known optimum.

The toy: k1, k2 integer in [0, hi], r real in [0, 1]. The follower copies k1 (y = argmin (y - k1)^2, unique).
The leader maximises -(y - 3)^2 - (k2 - 7)^2 - (r - 0.5)^2: the optimum is 0 at (3, 7, 0.5), known without
any solver.
"""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.adapter import PymooProblem
from bilevel_bench.heuristics.evaluator import BatchEvaluator
from bilevel_bench.heuristics.operators import IntegerStepMutation, MixedIntegerSampling
from bilevel_bench.heuristics.registry import heuristics
from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.instance import Instance
from bilevel_bench.problem import OPTIMAL, BilevelProblem, ExactResult, FollowerResponse


class ToyProblem(BilevelProblem):
    family = "toy"
    sense = "max"

    def __init__(self, instance: Instance | None = None, tie_break: str = "optimistic", hi: int = 10) -> None:
        super().__init__(instance or Instance(name="toy", seed=None), tie_break)
        self.hi = hi

    def options(self) -> dict[str, int]:
        return {"hi": self.hi}

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(3), np.array([self.hi, self.hi, 1.0])

    def integer_mask(self) -> np.ndarray:
        return np.array([True, True, False])

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        return FollowerResponse(OPTIMAL, 0.0, {"y": np.array([x[0]])}, 1)

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        y = float(response.solution["y"][0])
        return -((y - 3) ** 2) - (x[1] - 7) ** 2 - (x[2] - 0.5) ** 2

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        return ExactResult(0.0, 0.0, OPTIMAL, 0.0, {"x": [3.0, 7.0, 0.5]})


class FourPointProblem(ToyProblem):
    """Two integer variables in {1, 2} and a fixed real one: four distinct decisions in all."""

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([1.0, 1.0, 0.0]), np.array([2.0, 2.0, 0.0])


class BinaryProblem(ToyProblem):
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(3), np.array([1.0, 1.0, 1.0])


def pymoo_toy(hi: int = 3) -> PymooProblem:
    return PymooProblem(BatchEvaluator(ToyProblem(hi=hi)))


def test_integer_sampling_is_uniform_over_the_integer_values_bounds_included():
    X = MixedIntegerSampling().do(pymoo_toy(hi=3), 8000, random_state=np.random.default_rng(0)).get("X")
    counts = np.array([np.mean(X[:, 0] == v) for v in range(4)])
    assert set(np.unique(X[:, :2])) == {0.0, 1.0, 2.0, 3.0}
    # rounding uniform floats would give the bounds 1/6 each; uniform integers give 1/4 each
    assert np.all(np.abs(counts - 0.25) < 0.02)
    assert np.all((X[:, 2] >= 0) & (X[:, 2] <= 1)) and len(np.unique(X[:, 2])) == 8000


def test_a_mutated_integer_variable_moves_by_at_least_one_unit_within_its_bounds():
    problem = pymoo_toy(hi=10)
    X = np.tile([5.0, 10.0, 0.5], (500, 1))  # k2 at its upper bound: it must step down
    mutation = IntegerStepMutation(eta=20.0, prob=1.0, prob_var=1.0)
    Xp = mutation._do(problem, X.copy(), random_state=np.random.default_rng(1))
    assert np.all(np.round(Xp[:, 0]) != 5.0) and np.all(np.round(Xp[:, 1]) <= 9.0)
    assert np.all((Xp[:, :2] >= 0) & (Xp[:, :2] <= 10))


@pytest.mark.parametrize("heuristic", ["mixed_ga", "memetic_ga", "de"])
def test_heuristics_find_the_toy_optimum_with_exact_integers(heuristic):
    run = run_heuristic(ToyProblem(), heuristic, {"pop_size": 20}, seed=3, budget=Budget(max_evals=1500))
    assert run.verified and run.counters.n_evals == 1500
    assert run.best_x[0] == 3.0 and run.best_x[1] == 7.0  # canonical decisions: integers exact
    assert run.best_value > -1e-3


def test_a_ga_on_four_points_restarts_and_still_ends_on_its_budget():
    run = run_heuristic(FourPointProblem(), "ga", {"pop_size": 4}, seed=1, budget=Budget(max_evals=60))
    assert run.counters.n_unique == 4 and run.counters.n_evals == 60
    assert run.restarts >= 1 and run.stop_reason == "max_evals"
    assert run.best_value == -(1**2) - 5**2 - 0.25  # best of the four: y = 2, k2 = 2, r = 0


# the GAs are covered above (each of their restarts tries 100 matings in vain: slow, so only once)
# the matheuristic needs an LP follower, which the toy does not declare (tests/test_matheuristic.py)
@pytest.mark.parametrize("name", sorted(set(heuristics()) - {"nsga2", "ga", "mixed_ga", "memetic_ga", "matheuristic"}))
def test_every_heuristic_copes_with_a_fixed_variable_and_a_tiny_space(name):
    params = {"pop_size": 4} if "pop_size" in heuristics()[name].defaults else None  # 4 distinct points in all
    run = run_heuristic(FourPointProblem(), name, params, seed=2, budget=Budget(max_evals=120))
    assert run.counters.n_evals == 120 and run.counters.n_unique <= 4
    assert run.best_value == -(1**2) - 5**2 - 0.25


@pytest.mark.parametrize("name", sorted(set(heuristics()) - {"matheuristic"}))
def test_binary_leader_variables_are_refused_by_real_coded_heuristics(name):
    binary = "binary" in heuristics()[name].variables
    if name == "nsga2":
        return  # needs a bi-objective view the toy does not declare (tested above)
    if binary:
        run = run_heuristic(BinaryProblem(), name, None, seed=1, budget=Budget(max_evals=40))
        assert run.best_x is not None and list(run.best_x[:2]) == [1.0, 1.0]  # y = k1 = 1, k2 = 1: -4 - 36
        assert -40.25 <= run.best_value <= -40.0  # and -(r - 0.5)^2 for the real r in [0, 1]
    else:
        with pytest.raises(InputError, match=f"'{name}' does not handle binary leader variables"):
            run_heuristic(BinaryProblem(), name, None, seed=1, budget=Budget(max_evals=40))


def test_nsga2_refuses_a_family_without_a_bi_objective_view():
    with pytest.raises(InputError, match="'nsga2' needs a bi-objective view; family 'toy' declares none"):
        run_heuristic(ToyProblem(), "nsga2", None, seed=1, budget=Budget(max_evals=50))
