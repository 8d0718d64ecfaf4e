"""Instances: generator, JSON round trip, CVRPLIB builder and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.problems.retail import FAMILY
from bilevel_bench.problems.retail.instance import CVRPLIB_DIR, RetailInstance, build_cvrplib, generate
from bilevel_bench.registry import resolve_instance


def test_generate_spec_is_reproducible_and_round_trips(tmp_path):
    inst = resolve_instance(FAMILY, "generate:K=6,S=2,P=2,R=2,seed=1")
    assert inst.size() == {"K": 6, "S": 2, "P": 2, "R": 2}
    assert inst == generate(K=6, S=2, P=2, R=2, seed=1)
    assert RetailInstance.load(inst.save(tmp_path / "x.json")) == inst
    assert inst != generate(K=6, S=2, P=2, R=2, seed=2)


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ("K=0,S=2,P=2,R=2,seed=1", "K"),
        ("K=6,S=2,P=9,R=2,seed=1", "P"),
        ("K=6,S=2,P=2,R=0,seed=1", "R"),
        ("K=6,S=2,P=2,R=2,seed=-1", "seed"),
    ],
)
def test_generate_out_of_range_is_an_input_error(spec, key):
    with pytest.raises(InputError, match=f"parameter {key}"):
        resolve_instance(FAMILY, f"generate:{spec}")


def test_shipped_instances_load():
    sizes = {name: resolve_instance(FAMILY, name).size() for name in ("small", "medium", "large")}
    assert sizes["small"]["K"] <= 8 and sizes["medium"]["K"] == 15 and sizes["large"]["K"] == 50


def test_a_cvrplib_path_names_an_instance_in_grids():
    inst = resolve_instance(FAMILY, str(CVRPLIB_DIR / "E-n13-k4.vrp"))
    assert inst == build_cvrplib(CVRPLIB_DIR / "E-n13-k4.vrp")
    assert inst.K == 12 and inst.R == 4 and inst.best_known_routing == 247


def test_cvrplib_builder_splits_demand_into_item_weights():
    import vrplib

    inst = build_cvrplib(CVRPLIB_DIR / "E-n22-k4.vrp", S=3, P=3, seed=0)
    demand = vrplib.read_instance(str(CVRPLIB_DIR / "E-n22-k4.vrp"))["demand"][1:]
    assert np.array_equal(inst.w.sum(axis=1), demand)
    assert (inst.q, inst.R, inst.K, inst.S) == (6000.0, 4, 21, 3)
    assert bool(np.all(inst.w[inst.cart] > 0))


def _broken(tmp_path, name: str, edit) -> str:
    text = (CVRPLIB_DIR / "E-n22-k4.vrp").read_text()
    path = tmp_path / f"{name}-k4.vrp"
    path.write_text(edit(text))
    return str(path)


@pytest.mark.parametrize(
    ("edit", "key", "value"),
    [
        (lambda t: t[: t.index("DEMAND_SECTION") - 40], "DEMAND_SECTION", "missing"),  # truncated in coordinates
        (lambda t: t[: t.index("DEMAND_SECTION") + 60], "DEMAND_SECTION", "rows, DIMENSION is 22"),  # truncated demands
        (lambda t: t.replace("NODE_COORD_SECTION", "COMMENT2 : x"), "NODE_COORD_SECTION", "missing"),
        (lambda t: t.replace("\n5 1400", "\n5 0"), "DEMAND_SECTION", "has demand 0"),
        (lambda t: t.replace("DIMENSION : 22", "DIMENSION : many"), "DIMENSION", "'many'"),
    ],
)
def test_broken_cvrplib_files_raise_one_clear_input_error(tmp_path, edit, key, value):
    path = _broken(tmp_path, "bad", edit)
    with pytest.raises(InputError) as err:
        build_cvrplib(path)
    assert err.value.source == path and err.value.key == key and value in err.value.message


def test_customer_without_delivery_option_is_an_input_error():
    inst = generate(K=3, S=1, P=2, R=1, seed=0)
    empty = inst.replace(cart=np.zeros_like(inst.cart), w=np.zeros_like(inst.w))
    with pytest.raises(InputError, match="customer 0 has an empty cart"):
        empty.validate("f.json")


@pytest.mark.parametrize(
    ("change", "key", "value"),
    [
        ({"zmax": [50.0, 1.0]}, "zmax", "need 0 <= zmax <= z_base"),
        ({"u": "cart-shaped?"}, "u", "expected a (nested) list"),
        ({"h": [0.001, 0.0]}, "h", "not in whole cents"),
        ({"conflicts": [[0, 1, 1]]}, "conflicts", "distinct"),
        ({"q": 1.0}, "q", "below customer"),
    ],
)
def test_bad_json_instances_raise_one_clear_input_error(tmp_path, change, key, value):
    import json

    raw = json.loads((FAMILY.data_dir / "small.json").read_text())
    raw.update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError) as err:
        resolve_instance(FAMILY, str(path))
    assert err.value.source == str(path) and err.value.key == key and value in err.value.message


def test_a_huge_vrp_is_refused_on_its_dimension_before_vrplib_reads_it(tmp_path, monkeypatch):
    import vrplib

    def never(*args, **kwargs):
        raise AssertionError("vrplib must not be called")

    monkeypatch.setattr(vrplib, "read_instance", never)
    text = (CVRPLIB_DIR / "E-n22-k4.vrp").read_text().replace("DIMENSION : 22", "DIMENSION : 20000")
    path = tmp_path / "huge-k4.vrp"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        build_cvrplib(path)
    assert (err.value.source, err.value.key) == (str(path), "DIMENSION") and "20000" in err.value.message


@pytest.mark.parametrize(
    ("change", "key", "value"),
    [
        ({"R": 10**12}, "R", "must be in 1..10000"),
        ({"q": 1e300}, "q", "capacity must be in"),
        ({"z_base": [1e12, 50.0]}, "z_base", "exceeds"),
        ({"c": "huge"}, "c", "exceeds"),
    ],
)
def test_absurd_magnitudes_are_refused_before_any_solver(tmp_path, change, key, value):
    import json

    raw = json.loads((FAMILY.data_dir / "small.json").read_text())
    if change.get("c") == "huge":
        raw["c"][0][1] = 10**15
        change = {}
    raw.update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError) as err:
        resolve_instance(FAMILY, str(path))
    assert err.value.key == key and value in err.value.message


def test_vehicle_count_from_a_vrp_name_is_checked(tmp_path):
    path = tmp_path / "fleet-k1000000000000.vrp"
    path.write_text((CVRPLIB_DIR / "E-n13-k4.vrp").read_text())
    with pytest.raises(InputError) as err:
        build_cvrplib(path)
    assert err.value.key == "R" and "1000000000000" in err.value.message
