"""Bad command-line input and hostile file-system states: one line, exit status 2, nothing written; results of
two different grids never mix; a stale lock is taken over and a live one explained."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bilevel_bench.cli import main

GRID = """
name = "tiny"
seeds = [1]
[budget]
max_evals = 40
[exact]
enabled = false
[[problems]]
family = "inventory"
instances = ["inst.json"]
[[heuristics]]
name = "ga"
params = { pop_size = 10 }
"""


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    main(["list"])  # families load
    from bilevel_bench.problems.inventory.instance import generate

    generate(1, 2, 1, 3).save(tmp_path / "inst.json")
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    return path


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    err = [line for line in err if not line.startswith("note:")]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["exact", "inventory", "seed", "--time-limit", "1e300"], "--time-limit: must be a positive number of seconds"),
        (["exact", "inventory", "seed", "--time-limit", "nan"], "--time-limit: must be a positive number of seconds"),
        (["exact", "retail", "small", "--option", "routing=exactt"], "--option routing: 'exactt' is not one of"),
        (["exact", "retail", "small", "--option", "colour=blue"], "--option colour: unknown option of family 'retail'"),
        (["exact", "retail", "small", "--option", "routing"], "--option: expected NAME=VALUE"),
        (["exact", "retail", "small", "--option", "routing_solutions=many"], "cannot read 'many' as int"),
        (["exact", "inventory", "generate:n=1,T=2,q=1,seed=3,seed=4"], "parameter 'seed' is given twice"),
        (["exact", "inventory", "generate:n=1,T=2,q=1,seed=nan"], "parameter 'seed' must be finite"),
    ],
)
def test_bad_arguments_are_one_line(argv, words, capsys):
    assert main(argv) == 2
    line = one_line(capsys)
    assert line.startswith("error: <cli>: ") and words in line, line


def test_out_that_is_a_file_or_below_one(grid, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (blocker, blocker / "below"):
        assert main(["run", str(grid), "--out", str(out), "--quiet"]) == 2
        line = one_line(capsys)
        assert f"{blocker} is a file, not a directory; choose another --out" in line
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_output_directory(grid, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert main(["run", str(grid), "--out", str(out), "--quiet"]) == 2
        assert "is not writable" in one_line(capsys)
    finally:
        out.chmod(0o755)


def test_an_edited_instance_is_detected_on_resume(grid, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(grid), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    from bilevel_bench.problems.inventory.instance import InventoryInstance

    instance = InventoryInstance.load(tmp_path / "inst.json")
    instance.replace(c=instance.c * 2).save(tmp_path / "inst.json")  # the data changes, the name does not
    before = (out / "runs.csv").read_bytes()
    assert main(["run", str(grid), "--out", str(out), "--quiet"]) == 2
    line = one_line(capsys)
    assert "holds results of a different grid: instance inventory:inst.json changed" in line and "--fresh" in line
    assert (out / "runs.csv").read_bytes() == before
    assert main(["run", str(grid), "--out", str(out), "--quiet", "--fresh"]) == 0


def test_a_live_lock_is_explained_and_a_stale_one_taken_over(grid, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    lock = out / ".lock"
    lock.write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename, "started": 0}))  # alive
    assert main(["run", str(grid), "--out", str(out), "--quiet"]) == 2
    line = one_line(capsys)
    assert "another grid is writing here" in line and f"delete {lock}" in line
    lock.write_text("")  # a kill between creating the lock and writing it
    assert main(["run", str(grid), "--out", str(out), "--quiet"]) == 0
    assert "taking over a stale lock" in capsys.readouterr().err and not lock.exists()
    lock.write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename, "started": 0}))  # dead pid
    assert main(["run", str(grid), "--out", str(out), "--quiet"]) == 0


def test_dry_run_prints_the_expansion_and_writes_nothing(grid, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(grid), "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "total: 1 runs, 40 leader evaluations" in text and "exact baselines: 0" in text
    assert not out.exists()


def test_a_huge_grid_asks_for_yes(grid, tmp_path, capsys):
    big = tmp_path / "big.toml"
    big.write_text(GRID.replace("max_evals = 40", "max_evals = 100000000"))
    assert main(["run", str(big), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "confirm with --yes" in one_line(capsys)
    assert not (tmp_path / "out").exists()


def test_an_internal_error_is_one_line_with_a_log(monkeypatch, capsys):
    from bilevel_bench import cli

    def boom(args: object) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "_cmd_list", boom)  # the parser binds the handler when main() builds it
    assert main(["list"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("internal error: ZeroDivisionError: a bug (traceback in ") and "\n" not in err
    log = Path(err.split("traceback in ")[1].split(";")[0])
    assert "ZeroDivisionError" in log.read_text()
    log.unlink()
