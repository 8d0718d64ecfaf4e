"""MIBLP instances: the MPS + aux reader (both aux formats), published results, the shipped conversions, JSON
round trips, the high-point-relaxation box and the generator."""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.problems.miblp import FAMILY
from bilevel_bench.problems.miblp.instance import MiblpInstance, generate
from bilevel_bench.problems.miblp.problem import MiblpProblem
from bilevel_bench.problems.miblp.reader import LIBRARY_DIR, model_stem, read_aux, read_mps, shipped_sources
from bilevel_bench.registry import resolve_instance

MOORE = LIBRARY_DIR / "instances" / "misc" / "moore90.mps.gz"


def load(name: str) -> MiblpInstance:
    return MiblpInstance.load(FAMILY.data_dir / f"{name}.json")


def test_shipped_json_is_the_reader_output_of_the_shipped_library_files():
    sources = shipped_sources()
    assert len(sources) == 50 and sorted(model_stem(p) for p in sources) == FAMILY.shipped()
    for path in sources:
        assert read_mps(path) == load(model_stem(path)), path.name


def test_moore90_is_read_as_published():
    """Moore and Bard (1990): min -x - 10y s.t. y in argmin {y : -25x + 20y <= 30, x + 2y <= 10, 2x - y <= 15,
    2x + 10y >= 15}, x, y integer in [0, 10] x [0, 5]; optimum x = 2, y = 2, F = -22 (BOBILib)."""
    inst = read_mps(MOORE)
    assert inst.names() == ["C0001", "C0002"]
    assert inst.follower_cols.tolist() == [1] and inst.follower_obj.tolist() == [1.0]
    assert inst.obj.tolist() == [-1.0, -10.0] and inst.obj_offset == 0.0
    assert inst.follower_rows.tolist() == [0, 1, 2, 3]
    assert inst.dense().tolist() == [[-25, 20], [1, 2], [2, -1], [-2, -10]]
    assert inst.row_upper.tolist() == [30, 10, 15, -15] and np.all(inst.row_lower <= -1e20)
    assert inst.col_upper.tolist() == [10, 5] and inst.integer.all()
    assert (inst.published_status, inst.published_objective, inst.published_x.tolist()) == ("optimal", -22.0, [2.0])
    # the HPR box: x <= 8 (from 2x - y <= 15, y >= 0 ... and -2x - 10y <= -15 with y <= 5), x >= 0
    assert (inst.leader_lower.tolist(), inst.leader_upper.tolist()) == ([0.0], [8.0])


def test_every_entry_point_gives_the_same_instance(tmp_path):
    """.mps.gz, plain .mps, .aux (naming the model), the legacy index-based aux, and the registry's dispatch."""
    reference = read_mps(MOORE)
    plain = tmp_path / "moore90.mps"
    plain.write_bytes(gzip.decompress(MOORE.read_bytes()))
    shutil.copy(MOORE.with_name("moore90.aux"), tmp_path / "moore90.aux")
    no_result = reference.replace(
        published_status="", published_objective=None, published_x=np.zeros(0), published_source=""
    )
    assert read_mps(plain) == no_result
    assert read_aux(tmp_path / "moore90.aux") == no_result
    (tmp_path / "moore90.aux").write_text("N 1\nM 4\nLC 1\nLR 0\nLR 1\nLR 2\nLR 3\nLO 1\nOS 1\n")  # MibS legacy format
    assert read_mps(plain) == no_result
    assert resolve_instance(FAMILY, str(MOORE)) == reference  # ".gz" dispatches to the reader
    assert resolve_instance(FAMILY, str(plain)) == no_result
    assert resolve_instance(FAMILY, "moore90") == reference  # the shipped conversion


def test_result_files_are_found_beside_or_in_a_solutions_folder(tmp_path):
    folder = tmp_path / "instances" / "set"
    folder.mkdir(parents=True)
    for name in ("moore90.mps.gz", "moore90.aux"):
        shutil.copy(MOORE.with_name(name), folder / name)
    assert read_mps(folder / "moore90.mps.gz").published_status == ""
    result = json.loads((LIBRARY_DIR / "solutions" / "moore90.res.json").read_text())
    for where in (tmp_path / "instances" / "solutions", folder):  # ../solutions, then beside
        where.mkdir(exist_ok=True)
        (where / "moore90.res.json").write_text(json.dumps(result))
        assert read_mps(folder / "moore90.mps.gz").published_objective == -22.0
    result.update(status="open with feasible point", objective_value=-20.0)
    (folder / "moore90.res.json").write_text(json.dumps(result))
    assert (
        read_mps(folder / "moore90.mps.gz").published_status,
        read_mps(folder / "moore90.mps.gz").published_objective,
    ) == ("best_known", -20.0)
    result.update(status="open", objective_value=None)
    (folder / "moore90.res.json").write_text(json.dumps(result))
    assert read_mps(folder / "moore90.mps.gz").published_objective is None


def test_follower_objective_sense_max_is_negated(tmp_path):
    for name in ("moore90.mps.gz", "moore90.aux"):
        shutil.copy(MOORE.with_name(name), tmp_path / name)
    aux = tmp_path / "moore90.aux"
    aux.write_text(aux.read_text().replace("@VARSBEGIN", "@OBJSENSE\nMAX\n@VARSBEGIN"))
    assert read_mps(tmp_path / "moore90.mps.gz").follower_obj.tolist() == [-1.0]


@pytest.mark.parametrize(
    ("aux", "key", "words"),
    [
        ("@NUMVARS\n1\n@VARSBEGIN\nC0009 1.\n@VARSEND\n", "@VARSBEGIN", "'C0009' is not in the MPS"),
        ("@NUMVARS\n1\n@VARSBEGIN\nC0002 1.\n@VARSEND\n@CONSTRSBEGIN\nR9\n@CONSTRSEND\n", "@CONSTRSBEGIN", "'R9'"),
        ("@NUMVARS\n2\n@VARSBEGIN\nC0002 1.\n@VARSEND\n", "@NUMVARS", "says 2"),
        ("@NUMVARS\n1\n@VARSBEGIN\nC0002 one\n@VARSEND\n", "@VARSBEGIN", "not a number"),
        ("@NUMVARS\n1\n@VARSBEGIN\nC0002 1.\n", "@VARSBEGIN", "no @VARSEND"),
        ("@NUMVARS\n2\n@VARSBEGIN\nC0001 1.\nC0002 1.\n@VARSEND\n", "@VARSBEGIN", "lists every column"),
        ("N 1\nLC 7\nLO 1\n", "LC", "index 7"),
        ("N 1\nLC 1\n", "LO", "0 LO coefficients"),
        ("N 1\nXX 1\n", "aux", "unknown type indicator"),
        ("", "aux", "empty"),
    ],
)
def test_malformed_aux_files_name_the_section(tmp_path, aux, key, words):
    shutil.copy(MOORE, tmp_path / "m.mps.gz")
    (tmp_path / "m.aux").write_text(aux)
    with pytest.raises(InputError) as info:
        read_mps(tmp_path / "m.mps.gz")
    assert info.value.source == str(tmp_path / "m.mps.gz") and info.value.key == key and words in info.value.message


def test_instances_round_trip_through_json():
    for inst in (read_mps(MOORE), load("lseu-0.900000"), generate(seed=3)):
        assert MiblpInstance.from_dict(json.loads(json.dumps(inst.to_dict()))) == inst


def test_the_hpr_box_contains_every_bilevel_feasible_decision():
    """On tiny random instances: enumerating the MPS box, every bilevel-feasible x lies in the HPR box."""
    from test_miblp_follower import tiny

    inside = outside_infeasible = 0
    for seed in range(40):
        inst = tiny(seed)
        problem = MiblpProblem(inst, leader_bounds="mps")
        lo, hi = problem.bounds()
        for point in itertools.product(*[range(int(a), int(b) + 1) for a, b in zip(lo, hi, strict=True)]):
            x = np.array(point, dtype=float)
            in_box = bool(np.all(x >= problem.hpr_lower) and np.all(x <= problem.hpr_upper))
            if problem.evaluate(x).feasible:
                assert in_box, (seed, x)
                inside += 1
            elif not in_box:
                outside_infeasible += 1
    assert inside > 100 and outside_infeasible > 10


def test_hpr_tightens_the_denegre_box_and_keeps_the_published_optimum():
    for name in FAMILY.shipped():
        inst = load(name)
        problem = MiblpProblem(inst)
        lo, hi = problem.bounds()
        assert np.all(lo <= inst.published_x) and np.all(inst.published_x <= hi), name
        if name.startswith("miblp_"):
            raw = MiblpProblem(inst, leader_bounds="mps").bounds()
            assert raw[0].max() == 0 and raw[1].min() == 1500
            assert hi.max() <= 25 and "tightened" in problem.warnings()[0]


def test_generator_is_deterministic_and_checks_its_parameters():
    a, b = generate(n_leader=3, n_follower=4, m=6, seed=5), generate(n_leader=3, n_follower=4, m=6, seed=5)
    assert a == b and a != generate(n_leader=3, n_follower=4, m=6, seed=6)
    assert a.size() == {"n_leader": 3, "n_follower": 4, "m_leader": 0, "m_follower": 6, "nnz": len(a.a_val)}
    assert np.all(a.leader_upper < 1500)  # the relaxation tightened the raw [0, 1500]
    for bad in ({"n_leader": 0}, {"density": 0.0}, {"seed": -1}, {"upper": 2.5}):
        with pytest.raises(InputError):
            generate(**bad)
    with pytest.raises(InputError):
        resolve_instance(FAMILY, "generate:n_leader=2,colour=3")


def test_validation_names_the_key():
    inst = read_mps(MOORE)
    for changes, key in (
        ({"follower_cols": np.array([5])}, "follower_cols"),
        ({"a_col": inst.a_col[:-1]}, "a_col"),
        ({"published_status": "solved"}, "published_status"),
        ({"leader_lower": np.zeros(3)}, "leader_lower"),
    ):
        raw = {**inst.to_dict(), **{k: v if isinstance(v, str) else v.tolist() for k, v in changes.items()}}
        with pytest.raises(InputError) as info:
            MiblpInstance.from_dict(raw)
        assert info.value.key == key


def test_truncated_gzip_and_rejected_mps(tmp_path):
    (tmp_path / "t.mps.gz").write_bytes(MOORE.read_bytes()[:60])
    with pytest.raises(InputError, match="not a complete gzip"):
        read_mps(tmp_path / "t.mps.gz")
    (tmp_path / "r.mps").write_text("this is not an MPS file\n")
    with pytest.raises(InputError, match="OR-Tools could not read"):
        read_mps(tmp_path / "r.mps")
    assert Path(tmp_path / "r.mps").is_file()
