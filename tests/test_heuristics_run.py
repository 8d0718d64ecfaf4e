"""Every registered heuristic under the same rules: exact budget, checkpoints, re-verification, restarts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pymoo.algorithms.soo.nonconvex.g3pcx import G3PCX

from bilevel_bench.errors import InputError
from bilevel_bench.heuristics import registry
from bilevel_bench.heuristics.adapter import CanonicalRepair
from bilevel_bench.heuristics.front import hypervolume, non_dominated
from bilevel_bench.heuristics.registry import Heuristic, get_heuristic, heuristics
from bilevel_bench.heuristics.run import Budget, restart_seed, run_heuristic
from bilevel_bench.problems.inventory.instance import generate
from bilevel_bench.problems.inventory.problem import InventoryProblem

BUDGET = 150


@pytest.fixture(scope="module")
def tiny() -> tuple[InventoryProblem, float]:
    problem = InventoryProblem(generate(2, 2, 2, 1))
    exact = problem.exact(time_limit=60)
    assert exact.status == "optimal"
    return problem, exact.objective


def checkpoints(run) -> np.ndarray:
    return np.array([[c.n_evals, c.n_follower_solves, c.best_value] for c in run.history])


@pytest.mark.parametrize("name", sorted(heuristics()))
def test_every_heuristic_uses_exactly_its_budget_and_never_beats_the_optimum(tiny, name):
    problem, optimum = tiny
    run = run_heuristic(problem, name, None, seed=2, budget=Budget(max_evals=BUDGET))
    history = checkpoints(run)
    assert run.status == "ok" and run.stop_reason == "max_evals"
    assert run.counters.n_evals == BUDGET and history[-1, 0] == BUDGET
    assert np.all(np.diff(history[:, 0]) > 0) and np.all(np.diff(history[:, 1]) >= 0)
    best = history[~np.isnan(history[:, 2]), 2]
    assert np.all(np.diff(best) >= 0) and best[-1] == run.best_value  # the incumbent never gets worse
    assert run.verified and run.verify_status == "agree"
    assert run.best_value <= optimum + 1e-6 * abs(optimum)


def test_nsga2_reports_its_front_and_the_best_leader_value_on_it(tiny):
    problem, _ = tiny
    run = run_heuristic(problem, "nsga2", {"pop_size": 20}, seed=1, budget=Budget(max_evals=200))
    front = np.array(run.front)
    assert len(front) >= 2 and np.array_equal(non_dominated(front), front)
    assert front[:, 0].max() == run.best_value
    # against the run's nadir of everything it evaluated, which is no better than the front's own worst point
    assert run.hypervolume >= hypervolume(front, front.min(axis=0)) > 0


def test_the_last_batch_is_cut_so_the_budget_is_exact(tiny):
    problem, _ = tiny
    run = run_heuristic(problem, "ga", {"pop_size": 30}, seed=1, budget=Budget(max_evals=100))
    sizes = np.diff(checkpoints(run)[:, 0], prepend=0)
    assert sizes.tolist() == [30, 30, 30, 10]


def test_a_seed_fixes_the_run_and_another_seed_changes_it(tiny):
    problem, _ = tiny
    budget = Budget(max_evals=120)
    first, again, other = (run_heuristic(problem, "de", {"pop_size": 20}, s, budget) for s in (4, 4, 5))
    assert np.array_equal(checkpoints(first), checkpoints(again)) and first.decision == again.decision
    assert not np.array_equal(checkpoints(first), checkpoints(other))


@pytest.mark.parametrize("name", sorted(heuristics()))
def test_every_heuristic_repeats_itself_with_the_same_seed(tiny, name):
    problem, _ = tiny
    first, again = (run_heuristic(problem, name, None, 7, Budget(max_evals=100)) for _ in range(2))
    assert np.array_equal(checkpoints(first), checkpoints(again), equal_nan=True)


def test_a_converged_local_search_is_restarted_with_new_seeds(tiny):
    problem, _ = tiny
    run = run_heuristic(problem, "pattern_search", {"step_tol": 0.05}, seed=1, budget=Budget(max_evals=400))
    assert run.restarts >= 1 and run.counters.n_evals == 400
    assert len({restart_seed(1, k) for k in range(50)}) == 50 and restart_seed(1, 0) == 1


def test_a_clock_that_ends_a_run_before_its_budget_makes_it_a_timeout(tiny):
    problem, _ = tiny
    run = run_heuristic(problem, "random_search", None, seed=1, budget=Budget(max_evals=10**8, max_seconds=0.2))
    assert run.status == "timeout" and run.stop_reason == "max_seconds" and run.verified
    assert "max_seconds" in run.error and run.counters.n_evals < 10**8


def test_a_run_needs_an_evaluation_budget(tiny):
    problem, _ = tiny
    with pytest.raises(InputError, match="leader evaluations"):
        run_heuristic(problem, "random_search", None, seed=1, budget=Budget(max_seconds=0.2))


def test_the_memetic_search_evaluates_through_the_run_evaluator(tiny):
    problem, _ = tiny
    params = {"pop_size": 10, "ls_every": 1, "ls_iters": 2}
    run = run_heuristic(problem, "memetic_ga", params, seed=1, budget=Budget(max_evals=300))
    sizes = np.diff(checkpoints(run)[:, 0], prepend=0)[:-1]  # the last batch may be cut
    compass = sizes[(sizes != 10)]
    assert len(compass) >= 2 and np.all(compass <= 2 * problem.n_var)  # x +- step on each coordinate
    assert run.counters.n_evals == 300


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pop_sise": 10}, "unknown parameter"),
        ({"pop_size": 10.5}, "expected an integer"),
        ({"pop_size": "10"}, "expected a number"),
        ({"crossover_prob": 1.5}, r"must be in \[0, 1\]"),
        ({"mutation_eta": -1.0}, "must be positive"),
    ],
)
def test_bad_parameters_are_refused_with_the_key(params, message):
    with pytest.raises(InputError, match=message) as error:
        get_heuristic("ga").parameters(params, "grid.toml", "heuristics[0].params")
    assert error.value.source == "grid.toml" and error.value.key.startswith("heuristics[0].params.")


def test_a_boolean_parameter_takes_only_booleans():
    assert get_heuristic("pso").parameters({"adaptive": False})["adaptive"] is False
    with pytest.raises(InputError, match="true or false"):
        get_heuristic("pso").parameters({"adaptive": 0})


def test_one_registry_entry_adds_a_heuristic(tiny, monkeypatch):
    """The README's example, verbatim in substance: one entry and it runs under the common rules."""
    problem, optimum = tiny

    def build(p: dict, info: registry.ProblemInfo):
        return G3PCX(pop_size=p["pop_size"], repair=CanonicalRepair())

    entry = Heuristic("g3pcx", "generalised generation gap with parent-centric crossover", build, {"pop_size": 20})
    monkeypatch.setitem(heuristics(), "g3pcx", entry)
    run = run_heuristic(problem, "g3pcx", None, seed=1, budget=Budget(max_evals=100))
    assert run.counters.n_evals == 100 and run.verified and run.best_value <= optimum + 1e-6 * abs(optimum)
    assert dataclasses.asdict(run.counters)["n_unique"] <= 100
