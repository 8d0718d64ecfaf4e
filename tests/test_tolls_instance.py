"""Tolls instances: the generator, validation, the derived toll bounds, and the family contract (what the
conformance suite asks of every family, checked here for this one)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.problem import TIE_BREAKS
from bilevel_bench.problems.tolls.instance import TOLL_MARGIN, TollsInstance, generate
from bilevel_bench.problems.tolls.problem import TollsProblem
from bilevel_bench.registry import get_family, resolve_instance


def family_instances() -> dict[str, TollsInstance]:
    family = get_family("tolls")
    return {name: family.instance_type.load(family.data_dir / f"{name}.json") for name in family.shipped()}


def test_shipped_instances_round_trip_and_names_agree(tmp_path):
    family = get_family("tolls")
    assert family.shipped() == ["hand", "medium", "small"]
    for name, inst in family_instances().items():
        assert inst.name == name and inst.family == family.name == TollsProblem.family
        again = TollsInstance.load(inst.save(tmp_path / f"{name}.json"))
        assert again == inst and TollsInstance.from_dict(inst.to_dict()) == inst
    assert family.problem_options == {} and TollsProblem(family_instances()["hand"]).options() == {}


def test_the_generator_is_deterministic_and_guarantees_toll_free_paths():
    a, b = generate(rows=4, cols=5, commodities=8, seed=3), generate(rows=4, cols=5, commodities=8, seed=3)
    assert a == b and a != generate(rows=4, cols=5, commodities=8, seed=4)
    assert a.size() == {"nodes": 20, "arcs": 62, "toll_arcs": round(0.3 * 31) * 2, "commodities": 8}
    assert np.all(np.isfinite(a.toll_free_costs()))
    assert len({(int(o), int(d)) for o, d in zip(a.origin, a.destination, strict=True)}) == 8
    assert generate(rows=3, cols=4, commodities=4, seed=1).replace(name="small") == family_instances()["small"]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("generate:rows=0,cols=3,commodities=2,seed=1", "rows"),
        ("generate:rows=2,cols=3,commodities=2,seed=1,toll_fraction=0", "toll_fraction"),
        ("generate:rows=1,cols=2,commodities=5,seed=1", "commodities"),
        ("generate:rows=2,cols=3,commodities=2,seed=-1", "seed"),
        ("generate:rows=2,cols=3,commodities=2,seed=1,size=4", "not a generator parameter"),
        ("generate:rows=1,cols=3,commodities=2,seed=1", "no edge outside its spanning tree"),
    ],
)
def test_the_generator_refuses_bad_parameters(spec, words):
    with pytest.raises(InputError, match=words):
        resolve_instance(get_family("tolls"), spec)


def test_toll_bounds_of_the_hand_instance():
    """Arc 2 (u -> v): commodity 0 saves 10 - 4 = 6 by it, commodity 1 6 - 4 = 2; arc 6 (o2 -> v): 6 - 3 = 3."""
    assert family_instances()["hand"].toll_upper_bounds() == pytest.approx([6.0 + TOLL_MARGIN, 3.0 + TOLL_MARGIN])


def test_a_toll_beyond_its_bound_changes_nothing():
    """Above b_a no commodity uses arc a, so clipping a toll to its bound leaves every response as it was."""
    inst = family_instances()["small"]
    problem = TollsProblem(inst)
    upper = problem.bounds()[1]
    rng = np.random.default_rng(3)
    for _ in range(10):
        x = rng.uniform(0, 1, len(upper)) * upper
        wild = x.copy()
        beyond = rng.uniform(0, 1, len(upper)) < 0.5
        wild[beyond] = upper[beyond] * rng.uniform(1.0, 5.0, int(beyond.sum()))
        at_bound = np.where(beyond, upper, x)
        for rule in TIE_BREAKS:
            p = TollsProblem(inst, rule)
            # equal up to the LP's tie tolerance: stage 2 may mix in a fraction ~1e-6 / (cost difference) of a
            # dearer path, whose revenue differs at the bound and beyond it (follower tests' REVENUE_TOL)
            assert p.evaluate(wild).value == pytest.approx(p.evaluate(at_bound).value, abs=1e-4)


def test_the_problem_pickles_and_evaluates_alike_at_corners_and_random_points():
    for inst in family_instances().values():
        for rule in TIE_BREAKS:
            problem = TollsProblem(inst, rule)
            clone = pickle.loads(pickle.dumps(problem))
            lb, ub = problem.bounds()
            rng = np.random.default_rng(0)
            for x in [lb, ub, *(lb + rng.uniform(0, 1, len(lb)) * (ub - lb) for _ in range(5))]:
                a, b = problem.evaluate(x), clone.evaluate(x)
                assert a.feasible and np.isfinite(a.value) and a.value >= 0
                assert a.value == pytest.approx(b.value, abs=1e-9)


def test_validation_names_the_key():
    base = family_instances()["hand"]
    cases = [
        ({"arcs": np.array([[0, 2], [1, 2], [2, 3], [3, 4], [0, 4], [1, 4], [1, 1]])}, "arcs", "is a loop"),
        ({"cost": np.ones(6)}, "cost", "expected 7 costs"),
        ({"toll_arcs": np.array([2, 7])}, "toll_arcs", "not in 0..6"),
        ({"toll_arcs": np.zeros(0, dtype=np.int64)}, "toll_arcs", "non-empty"),
        ({"origin": np.array([0, 7])}, "origin", "unknown node 7"),
        ({"demand": np.array([1.0])}, "demand", "expected 2 entries"),
        ({"n_nodes": 1}, "n_nodes", ">= 2"),
    ]
    for change, key, words in cases:
        with pytest.raises(InputError, match=words) as info:
            base.replace(**change).validate("test")
        assert info.value.key == key
