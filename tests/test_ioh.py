"""The IOHprofiler export, loaded back with iohinspector: evaluations and best-so-far of a handmade history."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.experiments.ioh import MARKER, export_ioh, improvement_rows

iohinspector = pytest.importorskip("iohinspector")

RUNS = """run_id,problem,instance,heuristic,algorithm,seed,status,best_value,n_evals,max_evals,sense,size_n_var,reference_value,reference_kind,gap_pct,param_pop_size
toy|A|ga|1,toy,A,ga,ga,1,ok,99,100,100,max,3,100,proven_optimal,1,20
toy|A|ga|2,toy,A,ga,ga,2,ok,98,100,100,max,3,100,proven_optimal,2,20
toy|B|ga|1,toy,B,ga,ga,1,ok,190,60,100,max,5,200,exact_incumbent,5,20
toy|A|ga|3,toy,A,ga,ga,3,timeout,99.5,30,100,max,3,100,proven_optimal,0.5,20
toy|A|de|1,toy,A,de,de,1,ok,,100,100,max,3,100,proven_optimal,,
toy|A|de|2,toy,A,de,de,2,failed,,,100,max,3,100,proven_optimal,,
"""
# Gaps (%) per checkpoint; ga|1 improves at 20, 40 (not at 60: same gap) and 100; ga|2 starts at evaluation 1
# (a batch of one); de|1 never finds a feasible value; ga|3 timed out (not exported)
HISTORY = """run_id,problem,instance,heuristic,seed,checkpoint,n_evals,n_follower_solves,elapsed_s,best_value,sense,reference_value,reference_kind,gap_pct
toy|A|ga|1,toy,A,ga,1,0,20,40,0.1,80,max,100,proven_optimal,20
toy|A|ga|1,toy,A,ga,1,1,40,80,0.2,95,max,100,proven_optimal,5
toy|A|ga|1,toy,A,ga,1,2,60,120,0.3,95,max,100,proven_optimal,5
toy|A|ga|1,toy,A,ga,1,3,100,200,0.5,99,max,100,proven_optimal,1
toy|A|ga|2,toy,A,ga,2,0,1,2,0.01,90,max,100,proven_optimal,10
toy|A|ga|2,toy,A,ga,2,1,50,100,0.2,98,max,100,proven_optimal,2
toy|A|ga|2,toy,A,ga,2,2,100,200,0.4,98,max,100,proven_optimal,2
toy|B|ga|1,toy,B,ga,1,0,30,60,0.1,,max,200,exact_incumbent,
toy|B|ga|1,toy,B,ga,1,1,60,120,0.2,190,max,200,exact_incumbent,5
toy|A|ga|3,toy,A,ga,3,0,30,60,9.0,99.5,max,100,proven_optimal,0.5
toy|A|de|1,toy,A,de,1,0,50,100,0.1,,max,100,proven_optimal,
toy|A|de|1,toy,A,de,1,1,100,200,0.2,,max,100,proven_optimal,
"""
INF = math.inf


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "results"
    directory.mkdir()
    (directory / "runs.csv").write_text(RUNS)
    (directory / "history.csv").write_text(HISTORY)
    return directory


def load(out: Path) -> tuple:
    manager = iohinspector.DataManager()
    manager.add_folder(str(out))
    data = manager.load(monotonic=False, include_meta_data=True).to_pandas()
    return manager.overview.to_pandas(), data


def test_export_loads_back_with_iohinspector(results_dir, tmp_path):
    export = export_ioh(results_dir, tmp_path / "ioh")
    assert export.runs == 4 and export.left_out == {"timeout": 1, "failed": 1}
    overview, data = load(tmp_path / "ioh")
    mapping = pd.read_csv(tmp_path / "ioh" / MARKER)
    assert set(mapping["run_id"]) == {"toy|A|ga|1", "toy|A|ga|2", "toy|B|ga|1", "toy|A|de|1"}
    # instances A, B are IOH instances 1, 2 of function 1 (toy); their dimensions are size_n_var
    ga = overview[overview["algorithm_name"] == "ga"].sort_values(["dimension", "run_id"])
    assert ga[["instance", "dimension", "evals"]].values.tolist() == [[1, 3, 100], [1, 3, 100], [2, 5, 60]]
    assert ga["best_y"].tolist() == [1.0, 2.0, 5.0] and (overview["function_name"] == "toy").all()

    def rows(algorithm: str, dimension: int, run: int) -> list[tuple[int, float]]:
        mine = data[(data["algorithm_name"] == algorithm) & (data["dimension"] == dimension) & (data["run_id"] == run)]
        return list(zip(mine["evaluations"].astype(int), mine["raw_y"], strict=True))

    # evaluation 1 first (nothing known before the first batch: Inf), then the improvements
    assert rows("ga", 3, 1) == [(1, INF), (20, 20.0), (40, 5.0), (100, 1.0)]
    assert rows("ga", 3, 2) == [(1, 10.0), (50, 2.0)]  # a checkpoint at evaluation 1 is its own first row
    assert rows("ga", 5, 1) == [(1, INF), (60, 5.0)]  # no feasible value at 30 evaluations: still Inf
    assert rows("de", 3, 1) == [(1, INF)]
    de = overview[overview["algorithm_name"] == "de"]
    assert de["evals"].tolist() == [100] and de["best_y"].isna().all()  # never feasible: best is null


def test_meta_data_and_the_leader_value_target(results_dir, tmp_path):
    export_ioh(results_dir, tmp_path / "ioh", target="value")
    meta = json.loads((tmp_path / "ioh" / "ga" / "IOHprofiler_f1_toy.json").read_text())
    assert meta["maximization"] is True and meta["function_name"] == "toy"
    assert meta["algorithm"]["info"] == 'ga {"pop_size": 20}'
    assert [s["dimension"] for s in meta["scenarios"]] == [3, 5]
    assert [run["best"]["y"] for run in meta["scenarios"][0]["runs"]] == [99, 98]
    _, data = load(tmp_path / "ioh")
    first = data[(data["algorithm_name"] == "ga") & (data["dimension"] == 3) & (data["run_id"] == 1)]
    assert list(zip(first["evaluations"].astype(int), first["raw_y"], strict=True)) == [
        (1, -INF),
        (20, 80.0),
        (40, 95.0),
        (100, 99.0),
    ]
    export_ioh(results_dir, tmp_path / "ioh")  # replaces the earlier export whole
    meta = json.loads((tmp_path / "ioh" / "ga" / "IOHprofiler_f1_toy.json").read_text())
    assert meta["maximization"] is False and [run["best"]["y"] for run in meta["scenarios"][0]["runs"]] == [1, 2]
    assert set(pd.read_csv(tmp_path / "ioh" / MARKER)["target"]) == {"gap"}
    assert not list(tmp_path.glob(".ioh-*"))


def test_out_must_be_new_empty_or_an_earlier_export(results_dir, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep")
    with pytest.raises(InputError, match="not empty and not an earlier export"):
        export_ioh(results_dir, busy)
    assert [p.name for p in busy.iterdir()] == ["mine.txt"]
    with pytest.raises(InputError, match="--target"):
        export_ioh(results_dir, tmp_path / "x", target="hypervolume")
    assert not (tmp_path / "x").exists()
    done = subprocess.run(
        [sys.executable, "-m", "bilevel_bench", "export-ioh", str(results_dir), str(busy)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    done = subprocess.run(
        [sys.executable, "-m", "bilevel_bench", "export-ioh", str(results_dir), str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "4 runs" in done.stdout and "1 timeout" in done.stdout


def test_improvement_rows():
    assert improvement_rows([], [], False) == [(1.0, INF)]
    assert improvement_rows([5, 10, 15], [math.nan, 3.0, 3.0], False) == [(1.0, INF), (10.0, 3.0)]
    assert improvement_rows([1, 2], [4.0, 5.0], True) == [(1.0, 4.0), (2.0, 5.0)]
