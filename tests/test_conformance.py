"""One conformance suite, run against every registered family, shipped and plugin alike (as benchopt's suite
runs against every benchmark). A new family gets all of these checks for free:

- shipped instances round-trip through JSON unchanged; the generator is deterministic for a seed and
  refuses unknown keys;
- the problem pickles and evaluates identically after a round trip;
- evaluation at the bounds' corners and at random points gives a finite value or a positive violation,
  never an exception;
- at every decision tried, the optimistic reading is at least as good for the leader as the pessimistic
  one;
- ``exact()`` on the smallest shipped instance returns a status from the enum and a flat ``x`` that
  re-evaluates to its objective;
- the family has at least one case in the bad-input corpus (shipped families);
- names and options agree across the ``Family``, the instance and the problem.
"""

from __future__ import annotations

import json
import math
import pickle
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.instance import Instance
from bilevel_bench.problem import BilevelProblem, ExactStatus, tie_tolerance
from bilevel_bench.registry import Family, families, resolve_instance
from bilevel_bench.verify import reevaluate

NAMES = sorted(families())
BAD = Path(__file__).parent / "data" / "bad"
RANDOM_POINTS = 12


def family(name: str) -> Family:
    return families()[name]


@cache
def example(name: str) -> Instance:
    fam = family(name)
    return resolve_instance(fam, fam.example_spec(), "<test>", "example")


@cache
def smallest_shipped(name: str) -> str | None:
    fam = family(name)
    shipped = fam.shipped()
    if not shipped:
        return None
    sizes = {spec: fam.make_problem(resolve_instance(fam, spec)).n_var for spec in shipped}
    return min(shipped, key=lambda spec: (sizes[spec], spec))


def points(problem: BilevelProblem, seed: int = 0) -> np.ndarray:
    """Both corners, a few random corners, and random interior points of the leader's box."""
    lb, ub = problem.bounds()
    rng = np.random.default_rng(seed)
    corners = np.where(rng.random((4, len(lb))) < 0.5, lb, ub)
    inside = lb + rng.random((RANDOM_POINTS, len(lb))) * (ub - lb)
    return np.vstack([lb, ub, corners, inside])


@pytest.mark.parametrize("name", NAMES)
def test_names_and_options_agree(name):
    fam = family(name)
    assert fam.instance_type.family == fam.name == fam.problem_type.family
    problem = fam.make_problem(example(name))
    assert set(problem.options()) == set(fam.problem_options)
    assert fam.check_options(problem.options()) == problem.options()  # the defaults pass the declaration


@pytest.mark.parametrize("name", NAMES)
def test_shipped_instances_round_trip_through_json(name):
    fam = family(name)
    for spec in fam.shipped():
        instance = resolve_instance(fam, spec)
        text = json.dumps(instance.to_dict(), allow_nan=False)
        assert type(instance).from_dict(json.loads(text), spec) == instance


@pytest.mark.parametrize("name", NAMES)
def test_the_generator_is_deterministic_and_refuses_unknown_keys(name):
    fam = family(name)
    spec = fam.example_spec()
    first, again = resolve_instance(fam, spec), resolve_instance(fam, spec)
    assert first == again and first.seed is not None
    assert type(first).from_dict(json.loads(json.dumps(first.to_dict())), spec) == first
    with pytest.raises(InputError, match="not a generator parameter"):
        resolve_instance(fam, spec + ",no_such_key=1")


@pytest.mark.parametrize("name", NAMES)
def test_the_problem_pickles_and_evaluates_identically(name):
    problem = family(name).make_problem(example(name))
    problem.evaluate(points(problem, seed=3)[-1])  # solver models kept between calls exist now (transient)
    copy = pickle.loads(pickle.dumps(problem))
    for x in points(problem, seed=1)[:6]:
        a, b = problem.evaluate(x), copy.evaluate(x)
        assert (a.value == b.value or (math.isnan(a.value) and math.isnan(b.value))) and a.violation == b.violation


@pytest.mark.parametrize("name", NAMES)
def test_evaluation_never_raises_and_is_finite_or_infeasible(name):
    problem = family(name).make_problem(example(name))
    for x in points(problem):
        evaluation = problem.evaluate(x)
        assert evaluation.violation >= 0
        assert math.isfinite(evaluation.value) if evaluation.feasible else evaluation.violation > 0


@pytest.mark.parametrize("name", NAMES)
def test_optimistic_is_never_worse_for_the_leader_than_pessimistic(name):
    fam = family(name)
    optimistic = fam.make_problem(example(name), "optimistic")
    pessimistic = fam.make_problem(example(name), "pessimistic")
    for x in points(optimistic, seed=2):
        good, bad = optimistic.evaluate(x), pessimistic.evaluate(x)
        if not bad.feasible:
            continue
        assert good.feasible, f"pessimistic feasible but optimistic not at {x}"
        band = 2 * tie_tolerance(good.value)
        if optimistic.sense == "max":
            assert good.value >= bad.value - band
        else:
            assert good.value <= bad.value + band


@pytest.mark.parametrize("name", NAMES)
def test_exact_on_the_smallest_shipped_instance_reevaluates_to_its_objective(name):
    spec = smallest_shipped(name)
    if spec is None:
        pytest.skip(f"{name} ships no instance")
    fam = family(name)
    problem = fam.make_problem(resolve_instance(fam, spec))
    result = problem.exact(time_limit=60)
    assert isinstance(result.status, ExactStatus)
    assert result.status in (ExactStatus.OPTIMAL, ExactStatus.FEASIBLE, ExactStatus.PUBLISHED), result.notes
    x = result.x
    assert x is not None and x.shape == (problem.n_var,)
    evaluation = reevaluate(problem, x)
    assert evaluation.feasible and result.verification == "agree"
    assert evaluation.value == pytest.approx(result.objective, rel=1e-6, abs=2 * tie_tolerance(result.objective))


@pytest.mark.parametrize("name", NAMES)
def test_a_shipped_family_has_bad_input_cases(name):
    if not family(name).problem_type.__module__.startswith("bilevel_bench.problems."):
        pytest.skip("a plugin family keeps its own bad-input corpus")
    assert any(BAD.glob(f"{name}_*")), f"no tests/data/bad/{name}_* case"
