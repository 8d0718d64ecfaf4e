"""SIGTERM (``kill``, a scheduler's stop) ends a grid as Ctrl-C does: workers stopped, lock released, runs kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRID = """
name = "sigterm"
seeds = [1, 2, 3, 4]
n_jobs = 2

[budget]
max_evals = 200000

[[problems]]
family = "inventory"
instances = ["seed"]

[[heuristics]]
name = "ga"
"""


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_stops_the_workers_and_releases_the_lock(tmp_path: Path) -> None:
    grid, out = tmp_path / "grid.toml", tmp_path / "out"
    grid.write_text(GRID)
    process = subprocess.Popen(
        [sys.executable, "-m", "bilevel_bench", "run", str(grid), "--out", str(out), "--quiet", "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the workers are found through it afterwards
    )
    try:
        deadline = time.monotonic() + 120
        while not _children(process.pid) or not (out / ".lock").exists():  # the pool is up, runs are going
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the grid's workers never started"
            time.sleep(0.2)
        time.sleep(2.0)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 128 + signal.SIGTERM, stderr
        assert "interrupted: finished runs are saved" in stderr
        assert not (out / ".lock").exists()
        deadline = time.monotonic() + 30
        while _group_alive(process.pid):  # every worker of the pool has exited too
            assert time.monotonic() < deadline, "workers outlived the grid"
            time.sleep(0.2)
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
