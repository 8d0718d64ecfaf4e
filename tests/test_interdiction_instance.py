"""The .ki/.ans readers, the shipped copies, the CCLW-style generator, and the problem's leader side."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.instance import Instance
from bilevel_bench.problems.interdiction.follower import knapsack_dp
from bilevel_bench.problems.interdiction.instance import (
    DATA_DIR,
    InterdictionInstance,
    generate,
    read_ans,
    read_ans_instance,
    read_ki,
    write_ki,
)
from bilevel_bench.problems.interdiction.problem import InterdictionProblem, drop_order
from bilevel_bench.registry import get_family, resolve_instance

SHIPPED = sorted(p.stem for p in DATA_DIR.glob("*.ki"))


def test_all_thirty_cclw_instances_are_shipped_with_answers():
    assert len(SHIPPED) == 30
    assert sorted(get_family("interdiction").shipped()) == SHIPPED
    for name in SHIPPED:
        assert (DATA_DIR / f"{name}.ans").is_file()
    assert (DATA_DIR / "SOURCES.md").is_file()


@pytest.mark.parametrize("name", SHIPPED)
def test_the_ki_file_round_trips_through_json(name):
    from_ki = read_ki(DATA_DIR / f"{name}.ki")
    assert InterdictionInstance.from_dict(from_ki.to_dict()) == from_ki
    assert from_ki.published_optimum == read_ans(DATA_DIR / f"{name}.ans")
    assert resolve_instance(get_family("interdiction"), name) == from_ki


def test_cclw_n35_m0_as_published():
    inst = read_ki(DATA_DIR / "CCLW_n35_m0.ki")
    assert inst.name == "CCLW_n35_m0" and inst.seed is None and inst.n == 35
    assert (inst.follower_capacity, inst.leader_capacity, inst.published_optimum) == (162, 152, 279.0)
    assert inst.follower_weight[:4].tolist() == [1, 96, 67, 90]
    assert inst.leader_weight[:4].tolist() == [14, 85, 77, 26]
    assert inst.profit[:4].tolist() == [19, 87, 97, 22]
    assert inst.size() == {"n": 35}


def test_write_read_round_trip_and_missing_answer(tmp_path: Path):
    inst = generate(n=7, seed=4, ins=3)
    path = write_ki(inst, tmp_path / "mine.ki")
    back = read_ki(path)  # no .ans: no reference
    assert back.published_optimum is None
    assert back == inst.replace(name="mine", seed=None)
    with_answer = inst.replace(published_optimum=42.0)
    write_ki(with_answer, tmp_path / "other.ki")
    assert read_ki(tmp_path / "other.ki").published_optimum == 42.0
    assert read_ans_instance(tmp_path / "other.ans") == read_ki(tmp_path / "other.ki")


def test_cli_paths_resolve(tmp_path: Path):
    family = get_family("interdiction")
    ki = write_ki(generate(n=5, seed=1), tmp_path / "a.ki")
    assert resolve_instance(family, str(ki)).name == "a"
    lone = tmp_path / "b.ans"
    lone.write_text("12\n")
    with pytest.raises(InputError) as err:
        resolve_instance(family, str(lone))
    assert err.value.source == str(lone) and "no instance file b.ki beside it" in err.value.message


def test_metadata_lines_are_ignored(tmp_path: Path):
    path = tmp_path / "m.ki"
    path.write_text("2\n5\n3\n2 4\n1 2\n3 4\ngroup X\nins 1\nwhatever 1 2 3\n")
    inst = read_ki(path)
    assert inst.profit.tolist() == [3, 4] and inst.leader_capacity == 3


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("3\n5\n3\n2 4 1\n1 2\n3 4 5\n", "leader_weight", "line 5 has 2 numbers, expected n = 3"),
        ("3\n5\n3\n2 4 1\n1 2 1\n3 4 5 6\n", "profit", "line 6 has 4 numbers, expected n = 3"),
        ("3\n5 6\n3\n2 4 1\n1 2 1\n3 4 5\n", "follower_capacity", "must hold one integer"),
        ("3\n5\n3\n2 4 1.5\n1 2 1\n3 4 5\n", "follower_weight", "'1.5' is not an integer"),
        ("3\n5\n3\n2 -4 1\n1 2 1\n3 4 5\n", "follower_weight", "must be non-negative"),
        ("3\n5\n-3\n2 4 1\n1 2 1\n3 4 5\n", "leader_capacity", "must be non-negative"),
        ("0\n5\n3\n\n\n\n", "n", "must be at least 1"),
        ("3\n5\n3\n2 4 1\n", "leader_weight", "the file has 4 lines"),
    ],
)
def test_malformed_ki_files_name_file_and_field(tmp_path: Path, text: str, key: str, words: str):
    path = tmp_path / "bad.ki"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_ki(path)
    assert err.value.source == str(path) and err.value.key == key and words in err.value.message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("abc\n", "'abc' is not a number"),
        ("1 2\n", "expected one number"),
        ("", "found 0 tokens"),
        ("inf\n", "not a finite number"),
    ],
)
def test_malformed_ans_names_the_ans_file(tmp_path: Path, text: str, words: str):
    (tmp_path / "x.ki").write_text("1\n5\n3\n2\n1\n3\n")
    (tmp_path / "x.ans").write_text(text)
    for path in (tmp_path / "x.ki", tmp_path / "x.ans"):
        with pytest.raises(InputError) as err:
            read_ki(path) if path.suffix == ".ki" else read_ans_instance(path)
        assert err.value.source == str(tmp_path / "x.ans") and err.value.key == "published_optimum"
        assert words in err.value.message


def test_generator_is_deterministic_and_follows_the_cclw_rules():
    a, b = generate(n=40, seed=9, ins=7), generate(n=40, seed=9, ins=7)
    assert a == b and a != generate(n=40, seed=10, ins=7)
    assert a.seed == 9 and a.name == "gen-n40-ins7-r100-s9"
    for inst in (a, *(generate(n=35, seed=s, ins=ins) for s in range(3) for ins in (1, 5, 10))):
        for arr in (inst.profit, inst.follower_weight, inst.leader_weight):
            assert arr.min() >= 1 and arr.max() <= 100
        ins = int(inst.name.split("-ins")[1].split("-")[0])
        assert inst.follower_capacity == ins * int(inst.follower_weight.sum()) // 11
        assert abs(inst.leader_capacity - inst.follower_capacity) <= 10
    # the same seed keeps the items and changes the capacities with ins (as the CCLW files of one n do)
    c, d = generate(n=35, seed=1, ins=1), generate(n=35, seed=1, ins=9)
    assert np.array_equal(c.profit, d.profit) and np.array_equal(c.follower_weight, d.follower_weight)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"n": 0, "seed": 1}, "n"),
        ({"n": 5, "seed": -1}, "seed"),
        ({"n": 5, "seed": 1, "ins": 11}, "ins"),
        ({"n": 5, "seed": 1, "r": 0}, "r"),
        ({"n": 5.0, "seed": 1}, "n"),
    ],
)
def test_generator_refuses_bad_parameters(kwargs: dict, key: str):
    with pytest.raises(InputError) as err:
        generate(**kwargs)
    assert err.value.key == key


def test_generator_spec_through_the_registry():
    family = get_family("interdiction")
    inst = resolve_instance(family, "generate:n=12,seed=3,ins=2")
    assert inst == generate(n=12, seed=3, ins=2)
    with pytest.raises(InputError):
        resolve_instance(family, "generate:n=12,seed=3,capacity=2")


def test_instance_validation():
    base = generate(n=4, seed=0)
    with pytest.raises(InputError, match="expected 4 values"):
        base.replace(leader_weight=np.array([1, 2, 3])).validate()
    with pytest.raises(InputError, match="profit: must be non-negative"):
        base.replace(profit=np.array([1, -2, 3, 4])).validate()
    with pytest.raises(InputError, match="dynamic-programming table"):
        base.replace(follower_capacity=10**9, follower_weight=np.full(4, 10**8)).validate()
    assert isinstance(base, Instance)


def test_repair_drops_interdictions_in_the_fixed_order_and_keeps_feasible_decisions():
    inst = InterdictionInstance(
        name="r",
        seed=None,
        follower_capacity=10,
        leader_capacity=5,
        profit=np.array([10, 1, 6, 3, 5]),
        follower_weight=np.ones(5, dtype=np.int64),
        leader_weight=np.array([4, 1, 3, 3, 0]),
    )
    problem = InterdictionProblem(inst)
    # p / wL: 2.5, 1, 2, 1, inf (weightless, never dropped): order 1, 3 (tie: larger wL first -> 3, 1), 2, 0
    assert drop_order(inst).tolist() == [3, 1, 2, 0]
    assert problem.repair(np.ones(5)).tolist() == [1, 0, 0, 0, 1]  # drops 3, 1, 2 (load 4 + 0 <= 5)
    assert problem.repair(np.array([0, 1, 1, 1, 1.0])).tolist() == [0, 1, 1, 0, 1]  # drops 3 only
    rng = np.random.default_rng(0)
    for _ in range(200):
        x = rng.random(5)
        repaired = problem.repair(x)
        assert set(np.unique(repaired)) <= {0.0, 1.0}
        assert problem.leader_violation(repaired, None) == 0.0
        assert np.all(repaired <= (x > 0.5))  # only removes interdictions
        assert np.array_equal(problem.repair(repaired), repaired)  # feasible decisions unchanged


def test_problem_leader_side():
    inst = read_ki(DATA_DIR / "CCLW_n35_m0.ki")
    problem = InterdictionProblem(inst)
    lb, ub = problem.bounds()
    assert lb.tolist() == [0.0] * 35 and ub.tolist() == [1.0] * 35
    assert problem.integer_mask().all() and problem.sense == "min" and problem.n_var == 35
    everything = problem.evaluate(ub)
    assert everything.value == 0.0  # every item interdicted: nothing left to pack
    assert everything.violation == pytest.approx((inst.leader_weight.sum() - 152) / 152)
    nothing = problem.evaluate(lb)
    assert nothing.feasible
    assert nothing.value == knapsack_dp(inst.profit, inst.follower_weight, 162, np.ones(35, dtype=bool))[0]
    x = np.zeros(35)
    x[[8, 11, 16, 19, 20, 28, 31]] = 1.0  # the optimal interdiction the exact baseline reports
    assert problem.evaluate(x).value == 279.0 and problem.evaluate(x).feasible
    assert problem.decode(x) == {"interdicted": [8, 11, 16, 19, 20, 28, 31]}
    copy = pickle.loads(pickle.dumps(problem))
    assert copy.evaluate(x).value == 279.0
    assert problem.options() == {} and get_family("interdiction").problem_options == {}
