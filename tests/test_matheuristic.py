"""The matheuristic (PADM on the strong-duality reformulation, heuristics/matheuristic.py) against proven optima.

What is asserted, and why it can fail:
- every value it reports is the exact follower's (re-verified, equal to a fresh evaluation of its decision)
  and never better than the proven optimum (beyond the follower's tie band);
- it reaches the optimum where the method is known to: on the tolls ``hand`` instance the first attempt,
  from the box's centre (3.5, 2), has both commodities on their tolled paths; its first U step raises each
  toll until that path ties with the commodity's toll-free path, (6, 3), and the exact optimistic follower
  then takes the tolled paths: revenue 18 at the second evaluation (computed by hand; the test pins it).
  On the tiny inventory instances the optimum (by the independent dual-vertex enumeration) is reached
  within 40 evaluations, a measured fact about these instances, not a guarantee of PADM;
- a family without ``linear_structure`` (and a follower with x in both its costs and its right-hand sides)
  is refused with one clear InputError.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from bilevel_bench import kkt
from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.matheuristic import MATHEURISTIC, Structure
from bilevel_bench.heuristics.registry import get_heuristic
from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.instance import Instance
from bilevel_bench.problem import OPTIMAL, BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.inventory.exact import solve_by_dual_vertices
from bilevel_bench.problems.inventory.instance import generate as generate_inventory
from bilevel_bench.problems.inventory.problem import InventoryProblem
from bilevel_bench.problems.tolls.instance import TollsInstance
from bilevel_bench.problems.tolls.problem import TollsProblem
from bilevel_bench.registry import get_family
from bilevel_bench.verify import agree

#: The tolls optimum sits at a tie broken for the leader: a re-evaluation may differ by the tie band.
TIE_BAND = 1e-4
HAND_OPTIMUM = 18.0  # tests/test_tolls_exact.py: computed by hand, tolls (6, 3)


def hand() -> TollsInstance:
    family = get_family("tolls")
    return family.instance_type.load(family.data_dir / "hand.json")


def assert_exact_values(problem: BilevelProblem, run: Any) -> None:
    """The run's best value is what a fresh problem's exact follower gives its decision."""
    assert run.status == "ok" and run.verified
    fresh = type(problem)(problem.instance, tie_break=problem.tie_break).evaluate(run.best_x)
    assert fresh.feasible and agree(fresh.value, run.best_value)


def test_registered_with_its_defaults():
    spec = get_heuristic("matheuristic")
    assert spec is MATHEURISTIC
    assert {"penalty", "penalty_factor", "max_penalty_updates", "max_inner", "gap_tol"} <= set(spec.defaults)
    with pytest.raises(InputError, match="penalty_factor"):
        spec.parameters({"penalty_factor": 1.0})  # nu would never grow


def test_tolls_hand_reaches_the_hand_computed_optimum_at_the_second_evaluation():
    problem = TollsProblem(hand())
    run = run_heuristic(problem, "matheuristic", None, seed=1, budget=Budget(max_evals=2))
    assert_exact_values(problem, run)
    assert run.restarts == 0  # the first attempt alone
    assert run.best_x == pytest.approx([6.0, 3.0], abs=1e-6)
    assert run.best_value == pytest.approx(HAND_OPTIMUM, abs=TIE_BAND)
    first = run.history[0].best_value  # the start, the box's centre: 3.5 on arc 2 is taken by commodity 0 only...
    assert first < HAND_OPTIMUM - 1.0  # ...so the optimum is the method's doing, not the start's


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tolls_hand_never_beats_the_optimum_and_repeats_for_a_seed(seed):
    problem = TollsProblem(hand())
    runs = [run_heuristic(problem, "matheuristic", None, seed=seed, budget=Budget(max_evals=25)) for _ in range(2)]
    for run in runs:
        assert_exact_values(problem, run)
        assert run.best_value <= HAND_OPTIMUM + TIE_BAND
        assert run.counters.n_evals == 25  # the evaluator's budget, as for every heuristic
        assert run.counters.work["matheuristic_gap_closed"] >= 1
        assert run.counters.work["matheuristic_block_solves"] > 0
    assert runs[0].best_value == runs[1].best_value and np.array_equal(runs[0].best_x, runs[1].best_x)
    assert [c.best_value for c in runs[0].history] == [c.best_value for c in runs[1].history]


def test_pessimistic_reading_is_evaluated_pessimistically():
    """At (6, 3) both commodities are indifferent and the pessimistic follower pays no toll: the run reports
    the pessimistic value of its decisions, below the optimistic optimum."""
    problem = TollsProblem(hand(), "pessimistic")
    run = run_heuristic(problem, "matheuristic", None, seed=1, budget=Budget(max_evals=30))
    assert_exact_values(problem, run)
    assert run.best_value < HAND_OPTIMUM - TIE_BAND
    assert problem.evaluate(np.array([6.0, 3.0])).value == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(("n", "T", "q", "s"), [(1, 2, 1, 3), (1, 3, 2, 5), (2, 2, 2, 7), (1, 4, 2, 9), (2, 3, 3, 4)])
def test_inventory_tiny_reaches_the_dual_vertex_optimum(n, T, q, s):
    problem = InventoryProblem(generate_inventory(n, T, q, s))
    optimum = solve_by_dual_vertices(problem).objective  # independent of the KKT model and of PADM
    run = run_heuristic(problem, "matheuristic", None, seed=1, budget=Budget(max_evals=40))
    assert_exact_values(problem, run)
    assert run.best_value <= optimum + 1e-7 * abs(optimum)
    assert problem.gap_pct(run.best_value, optimum) <= 1e-6


def test_inventory_setup_decisions_milp_blocks():
    """Setup binaries w make block U a MILP (SCIP); the value is still the exact follower's, below the KKT optimum."""
    inst = generate_inventory(2, 3, 3, 1, setup="decision").replace(y=np.array([0.0, 1.0, 0.0]), Mspace=50.0)
    problem = InventoryProblem(inst)
    exact = problem.exact(time_limit=60)
    assert exact.status == "optimal"
    run = run_heuristic(problem, "matheuristic", None, seed=2, budget=Budget(max_evals=30))
    assert_exact_values(problem, run)
    assert run.best_value <= exact.objective + 1e-7 * abs(exact.objective)


class ToyInstance(Instance):
    family = "toy"


class ToyProblem(BilevelProblem):
    """A one-variable problem whose follower is not declared linear (no linear_structure)."""

    family = "toy"

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(1), np.ones(1)

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        return FollowerResponse(OPTIMAL, float(x[0]), {}, 1)

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        return float(x[0])

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        return ExactResult(1.0, 1.0, "optimal", 0.0, {"x": [1.0]})


def test_a_family_without_linear_structure_is_refused():
    problem = ToyProblem(ToyInstance(name="toy", seed=None))
    with pytest.raises(InputError) as info:
        run_heuristic(problem, "matheuristic", None, seed=1, budget=Budget(max_evals=5))
    assert "'matheuristic' needs an LP follower; family 'toy' declares no linear_structure" in str(info.value)


def test_a_follower_with_x_in_costs_and_right_hand_sides_is_refused():
    one = np.ones((1, 1))
    plp = kkt.AffineLP(
        c=np.ones(1),
        C=one,
        A_ub=one,
        b_ub=np.ones(1),
        B_ub=one,
        A_eq=np.zeros((0, 1)),
        b_eq=np.zeros(0),
        B_eq=np.zeros((0, 1)),
        lb=np.zeros(1),
        ub=np.full(1, math.inf),
    )
    with pytest.raises(InputError, match="both its costs and its right-hand sides"):
        Structure(plp, kkt.LeaderSpec(lb=np.zeros(1), ub=np.ones(1)), "toy")
