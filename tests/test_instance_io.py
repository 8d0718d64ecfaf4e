"""Instances are plain data: JSON round trips are exact, and bad files get one clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.problems.inventory.instance import InventoryInstance, generate
from bilevel_bench.registry import get_family, resolve_instance


@pytest.mark.parametrize("spec", ["seed", "generate:n=3,T=6,q=8,seed=11", "generate:n=1,T=2,q=1,seed=0"])
def test_json_round_trip_is_exact(tmp_path, spec):
    instance = resolve_instance(get_family("inventory"), spec)
    path = instance.save(tmp_path / "inst.json")
    assert InventoryInstance.load(path) == instance
    assert resolve_instance(get_family("inventory"), str(path)) == instance


def test_shipped_seed_equals_the_builder(seed):
    assert resolve_instance(get_family("inventory"), "seed") == seed


def test_generator_is_seeded():
    assert generate(2, 4, 4, 7) == generate(2, 4, 4, 7)
    assert generate(2, 4, 4, 7) != generate(2, 4, 4, 8)


def test_equality_sees_array_changes(seed):
    changed = seed.replace(p=seed.p + np.eye(2, 4))
    assert changed != seed


def _write(tmp_path, data):
    path = tmp_path / "bad.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "key", "words"),
    [
        (lambda d: d.pop("p"), "p", "missing key"),
        (lambda d: d.update(zz=1), "zz", "unknown key"),
        (lambda d: d.update(c=[[1, 2], [3, 4]]), "c", "expected shape"),
        (lambda d: d.update(b=[[-1] * 4] * 6), "b", "non-negative"),
        (lambda d: d.update(setup="maybe"), "setup", "not one of"),
        (lambda d: d.update(p="cheap"), "p", "list of numbers"),
        (lambda d: d.update(family="retail"), "family", "expected 'inventory'"),
        (lambda d: d.update(Mspace="big"), "Mspace", "expected"),
    ],
)
def test_bad_instance_files_name_file_and_key(tmp_path, seed, mutate, key, words):
    data = seed.to_dict()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(InputError) as info:
        InventoryInstance.load(path)
    assert info.value.key == key and words in info.value.message and str(path) in str(info.value)


def test_nan_and_broken_json_are_refused(tmp_path, seed):
    text = json.dumps(seed.to_dict()).replace("75.0", "NaN", 1)
    with pytest.raises(InputError, match="NaN"):
        InventoryInstance.load(_write(tmp_path, text))
    with pytest.raises(InputError, match="not valid JSON"):
        InventoryInstance.load(_write(tmp_path, "{ truncated"))


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("generate:n=0,T=4,q=4,seed=1", "n: must be an integer in 1..50"),
        ("generate:n=2,T=4,seed=1", "missing generator parameter 'q'"),
        ("generate:n=2,T=4,q=4,seed=1,colour=3", "'colour' is not a generator parameter"),
        ("nosuch", "not a shipped inventory instance"),
        ("missing.json", "does not exist"),
    ],
)
def test_bad_instance_specs(spec, words):
    with pytest.raises(InputError, match=words):
        resolve_instance(get_family("inventory"), spec)
