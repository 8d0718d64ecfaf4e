"""Grids: bad configs refused before anything runs; serial = parallel; resume after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bilevel_bench.cli import main
from bilevel_bench.errors import InputError
from bilevel_bench.experiments.grid import load_grid
from bilevel_bench.experiments.runner import TIME_COLUMNS, read_rows, run_grid

GRID = """
name = "tiny"
seeds = [1, 2]
n_jobs = 1

[budget]
max_evals = 300

[exact]
enabled = true
time_limit_s = 30

[[problems]]
family = "inventory"
instances = ["generate:n=1,T=2,q=1,seed=3", "generate:n=2,T=2,q=2,seed=7"]

[[heuristics]]
name = "ga"
params = { pop_size = 20 }
"""


def write(tmp_path: Path, text: str, name: str = "grid.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def without_time(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in TIME_COLUMNS if c in frame.columns]).reset_index(drop=True)


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (('family = "inventory"', 'family = "nosuch"'), "problems[0].family", "unknown problem 'nosuch'"),
        (('name = "ga"', 'name = "hillclimb"'), "heuristics[0].name", "unknown heuristic 'hillclimb'"),
        (("max_evals = 300", "max_evals = -5"), "budget.max_evals", "must be positive"),
        (("max_evals = 300", 'max_evals = "many"'), "budget.max_evals", "expected int"),
        (("seeds = [1, 2]", "seeds = []"), "seeds", "at least one seed"),
        (("seeds = [1, 2]", "seeds = [1, 1]"), "seeds", "duplicates"),
        (("pop_size = 20", "pop_sise = 20"), "heuristics[0].params.pop_sise", "unknown parameter"),
        (("pop_size = 20", "pop_size = 0"), "heuristics[0].params.pop_size", "must be positive"),
        (("seed=3", "seed=-3"), "problems[0].instances[0]", "seed: must be a non-negative integer"),
        (('"generate:n=1,T=2,q=1,seed=3"', '"nothere.json"'), "problems[0].instances[0]", "does not exist"),
        (('name = "tiny"', 'name = "../escape"'), "name", "no paths"),
        (("n_jobs = 1", "n_jobs = 1\ncolour = 3"), "colour", "unknown key"),
        (("[budget]", "[budget]\nmax_walltime = 3"), "budget.max_walltime", "unknown key"),
        (("time_limit_s = 30", "time_limit_s = 0"), "exact.time_limit_s", "must be positive"),
        (("[exact]", "[exact"), "<toml>", "TOML syntax error"),
    ],
)
def test_bad_grids_name_file_key_and_problem(tmp_path, capsys, change, key, words):
    path = write(tmp_path, GRID.replace(*change))
    with pytest.raises(InputError) as info:
        load_grid(path)
    assert info.value.key == key and words in info.value.message and info.value.source == str(path)
    # the CLI turns it into one line and exit status 2, and no results directory appears
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}: {key}:")
    assert not (tmp_path / "out").exists()


def test_missing_grid_file(capsys):
    assert main(["run", "no/such/grid.toml"]) == 2
    assert "no such grid file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def serial_results(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("serial")
    grid = load_grid(write(tmp, GRID))
    return run_grid(grid, tmp / "out", n_jobs=1, progress=False)


def test_rows_have_the_promised_columns_and_values(serial_results):
    runs = read_rows(serial_results / "runs.csv")
    required = "run_id problem instance heuristic seed status best_value verified exact_value exact_status "
    required += "gap_pct reference_value reference_kind n_evals n_follower_solves wall_s cpu_s host_cpus load_avg_1m"
    first = runs.iloc[0]
    assert (first["size_n"], first["size_T"], first["size_q"], first["size_n_var"]) == (1, 2, 1, 4)
    assert first["param_pop_size"] == 20
    assert set(required.split()) <= set(runs.columns)
    assert set(runs["reference_kind"]) == {"proven_optimal"}
    assert np.allclose(runs["reference_value"], runs["exact_value"])
    assert len(runs) == 4 and set(runs["status"]) == {"ok"} and runs["verified"].all()
    assert (runs["gap_pct"] >= -1e-6).all()  # no heuristic beats the proven optimum
    # a profit is reported as a profit (not negated for pymoo), and the gap is measured against it
    assert (runs["exact_value"] > 0).all()
    expected_gap = 100 * (runs["exact_value"] - runs["best_value"]) / runs["exact_value"].abs()
    assert np.allclose(runs["gap_pct"], expected_gap)
    exact = read_rows(serial_results / "exact.csv")
    assert len(exact) == 2 and set(exact["status"]) == {"optimal"}
    history = read_rows(serial_results / "history.csv")
    assert set(history["run_id"]) == set(runs["run_id"])
    last = history.sort_values("checkpoint").groupby("run_id").tail(1).set_index("run_id")
    assert np.allclose(last.loc[runs["run_id"], "gap_pct"], runs["gap_pct"].to_numpy())  # the same gap in both files


def test_serial_and_parallel_give_identical_files(tmp_path, serial_results):
    grid = load_grid(write(tmp_path, GRID))
    parallel = run_grid(grid, tmp_path / "out", n_jobs=2, progress=False)
    for name in ("runs.csv", "history.csv", "exact.csv"):
        pd.testing.assert_frame_equal(
            without_time(read_rows(serial_results / name)), without_time(read_rows(parallel / name))
        )


def test_resume_after_sigkill_repeats_nothing(tmp_path, serial_results):
    grid_path = write(tmp_path, GRID.replace("max_evals = 300", "max_evals = 300\ntime_limit_s = 60"))
    grid_path.write_text(GRID)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "bilevel_bench.cli",
        "run",
        str(grid_path),
        "--out",
        str(out),
        "--jobs",
        "1",
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(read_rows(out / "runs.csv")) < 1:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = read_rows(out / "runs.csv")
    assert 1 <= len(partial) < 4, "the kill should land mid-grid"
    (out / ".lock").write_text("999999999")  # the killed process's lock is stale: it must be taken over
    assert main(["run", str(grid_path), "--out", str(out), "--quiet"]) == 0
    resumed = read_rows(out / "runs.csv")
    assert resumed["run_id"].is_unique and len(resumed) == 4
    pd.testing.assert_frame_equal(without_time(resumed), without_time(read_rows(serial_results / "runs.csv")))
    pd.testing.assert_frame_equal(
        without_time(read_rows(out / "history.csv")), without_time(read_rows(serial_results / "history.csv"))
    )


def test_a_partial_last_line_is_dropped(tmp_path, serial_results):
    text = (serial_results / "runs.csv").read_text()
    broken = tmp_path / "runs.csv"
    broken.write_text(text + "inventory|x|ga|9,tiny,abc")  # a write cut short by a kill
    assert len(read_rows(broken)) == len(read_rows(serial_results / "runs.csv"))


def test_a_second_grid_in_the_same_directory_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".lock").write_text(str(os.getpid()))  # a live process holds it
    with pytest.raises(InputError, match="another grid"):
        run_grid(load_grid(write(tmp_path, GRID)), out, progress=False)


def test_a_different_grid_does_not_mix_into_old_results(tmp_path, serial_results):
    out = tmp_path / "out"
    run_grid(load_grid(write(tmp_path, GRID.replace("seeds = [1, 2]", "seeds = [1]"))), out, progress=False)
    with pytest.raises(InputError, match="different grid"):
        run_grid(load_grid(write(tmp_path, GRID)), out, progress=False)


def test_failed_runs_become_rows_and_the_grid_goes_on(tmp_path, monkeypatch):
    import bilevel_bench.experiments.runner as runner

    def explode(*args, **kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(runner, "run_heuristic", explode)
    out = run_grid(load_grid(write(tmp_path, GRID)), tmp_path / "out", n_jobs=1, progress=False)
    runs = read_rows(out / "runs.csv")
    assert len(runs) == 4 and set(runs["status"]) == {"failed"}
    assert runs["error"].str.contains("solver exploded").all()


def test_a_run_past_its_wall_limit_is_a_timeout_row(tmp_path):
    text = GRID.replace("max_evals = 300", "max_evals = 100000\ntime_limit_s = 0.5").replace(
        "seeds = [1, 2]", "seeds = [1]"
    )
    out = run_grid(load_grid(write(tmp_path, text)), tmp_path / "out", n_jobs=1, progress=False)
    runs = read_rows(out / "runs.csv")
    assert set(runs["status"]) == {"timeout"} and runs["verified"].all()
    assert (runs["n_evals"] < 100000).all()


def test_a_problem_block_can_restrict_heuristics_and_override_the_budget(tmp_path):
    text = GRID + '\n[[heuristics]]\nname = "random_search"\n'
    text = text.replace(
        'instances = ["generate:n=1,T=2,q=1,seed=3", "generate:n=2,T=2,q=2,seed=7"]',
        'instances = ["generate:n=1,T=2,q=1,seed=3"]\nheuristics = ["random_search"]\nbudget = { max_evals = 50 }\n'
        '\n[[problems]]\nfamily = "inventory"\ninstances = ["generate:n=2,T=2,q=2,seed=7"]',
    )
    grid = load_grid(write(tmp_path, text))
    runs = grid.runs()
    first = [r for r in runs if r.instance_spec.endswith("seed=3")]
    second = [r for r in runs if r.instance_spec.endswith("seed=7")]
    assert {r.heuristic.label for r in first} == {"random_search"} and len(first) == 2
    assert {r.budget.max_evals for r in first} == {50}
    assert {r.heuristic.label for r in second} == {"ga", "random_search"} and len(second) == 4
    assert {r.budget.max_evals for r in second} == {300}


@pytest.mark.parametrize(
    ("addition", "key", "message"),
    [
        ('heuristics = ["gaa"]', "problems[0].heuristics[0]", "not a [[heuristics]] label"),
        ("budget = { max_evals = 0 }", "problems[0].budget.max_evals", "must be positive"),
        ("budget = { time_limit_s = 5 }", "problems[0].budget.time_limit_s", "unknown key"),
    ],
)
def test_bad_problem_block_filters_are_named(tmp_path, addition, key, message):
    text = GRID.replace('seed=7"]', 'seed=7"]\n' + addition)
    with pytest.raises(InputError) as err:
        load_grid(write(tmp_path, text))
    assert err.value.key == key and message in str(err.value)
