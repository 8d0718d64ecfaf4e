"""Invariants of the retail problem: heuristic runs never above a proven optimum, values independent of the
route cache and of pickling, options declared and recorded, routing failures graded."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from test_retail_follower import tie_prone

from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problems.retail import FAMILY, routing
from bilevel_bench.problems.retail.instance import RetailInstance, generate
from bilevel_bench.problems.retail.problem import ROUTING_FAILURE_VIOLATION, RetailProblem


def _small() -> RetailInstance:
    return RetailInstance.load(FAMILY.data_dir / "small.json")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("instance", "routing_mode", "tie_break"),
    [
        ("small", "heuristic", "optimistic"),
        ("small", "exact", "optimistic"),
        ("small", "exact", "pessimistic"),
        ("gen", "heuristic", "pessimistic"),
    ],
)
def test_ga_never_beats_the_proven_optimum_and_reverifies(instance, routing_mode, tie_break):
    inst = _small() if instance == "small" else generate(K=5, S=2, P=2, R=2, seed=4)
    problem = RetailProblem(inst, tie_break=tie_break, routing=routing_mode)
    exact = RetailProblem(inst, tie_break=tie_break, routing="exact").exact(time_limit=60)
    assert exact.status == "optimal" and exact.verification == "agree"
    result = run_heuristic(problem, "ga", {"pop_size": 20}, seed=1, budget=Budget(max_evals=300))
    assert result.verified and result.verify_value == pytest.approx(result.best_value, abs=1e-9)
    assert result.best_value <= exact.objective + 1e-6


def test_options_are_declared_recorded_and_validated():
    problem = RetailProblem(generate(K=3, S=1, P=1, R=1, seed=0), routing="exact")
    assert problem.options() == {"routing": "exact", "routing_solutions": 50, "max_tie_combinations": 256}
    assert set(problem.options()) == set(FAMILY.problem_options)
    assert {k: o.default for k, o in FAMILY.problem_options.items()} == RetailProblem(problem.instance).options()
    assert problem.warnings() == []
    assert "heuristic" in RetailProblem(problem.instance).warnings()[0]
    for key, value in (("routing", "fast"), ("routing_solutions", 0), ("max_tie_combinations", 1.5)):
        with pytest.raises(InputError, match=key):
            RetailProblem(problem.instance, **{key: value})


def _decisions(problem: RetailProblem, n: int, seed: int) -> list[np.ndarray]:
    """Random decisions, half of them in whole units (ties), a few repeated (cache hits)."""
    rng = np.random.default_rng(seed)
    lb, ub = problem.bounds()
    xs = [lb + rng.uniform(size=len(lb)) * (ub - lb) for _ in range(n)]
    xs = [np.round(x) if i % 2 else x for i, x in enumerate(xs)]
    return xs + xs[: n // 4]


@pytest.mark.parametrize(("instance", "mode"), [("small", "heuristic"), ("tie", "heuristic"), ("small", "exact")])
def test_values_do_not_depend_on_the_route_cache(instance, mode):
    """The speed-ups (route cache, tie reduction) change no value: a fresh problem per decision agrees."""
    inst = _small() if instance == "small" else tie_prone(5, K=6)
    cached = RetailProblem(inst, routing=mode)
    xs = _decisions(cached, 24 if instance == "small" else 8, seed=2)
    for x in xs:
        assert cached.evaluate(x).value == RetailProblem(inst, routing=mode).evaluate(x).value
    assert cached.work_counters()["route_cache_hits"] >= len(xs) // 5


def test_the_problem_pickles_with_its_cache_and_evaluates_identically():
    problem = RetailProblem(_small())
    xs = _decisions(problem, 10, seed=4)
    values = [problem.evaluate(x).value for x in xs]
    copy = pickle.loads(pickle.dumps(problem))
    calls = copy.work_counters()["routing_calls"]
    assert [copy.evaluate(x).value for x in xs] == values
    assert copy.work_counters()["routing_calls"] == calls  # every parcel set came from the pickled cache
    assert len(pickle.dumps(RetailProblem(_small()))) < 50_000  # nothing heavy travels to a worker


def test_routing_failure_is_a_graded_leader_violation(monkeypatch):
    """A parcel set the routing cannot place: violation 1 + the weight first-fit decreasing leaves out."""
    inst = _small()
    monkeypatch.setattr(routing, "route", lambda *a, **k: routing.Routes(routing.INFEASIBLE, np.nan, np.nan, ()))
    evaluation = RetailProblem(inst).evaluate(np.zeros(inst.S * inst.P))
    parcels = routing.all_home(inst)
    expected = ROUTING_FAILURE_VIOLATION + routing.shortfall(parcels.load, inst.q, inst.R)
    assert evaluation.follower.ok and evaluation.violation == pytest.approx(expected)
    # first-fit decreasing by hand: loads 5, 4, 4, 3 in bins of 8 -> [5, 3], [4, 4]; one vehicle leaves 8 = 1 load
    assert routing.shortfall(np.array([4.0, 5.0, 3.0, 4.0]), 8.0, 1) == pytest.approx(1.0)
    assert routing.shortfall(np.array([4.0, 5.0, 3.0, 4.0]), 8.0, 2) == 0.0
