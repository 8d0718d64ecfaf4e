"""The same grid on a Dask LocalCluster (loopback) gives the same results as the local loky backend."""

from __future__ import annotations

import pandas as pd
import pytest

from bilevel_bench.experiments.grid import load_grid
from bilevel_bench.experiments.runner import TIME_COLUMNS, read_rows, run_grid

pytest.importorskip("distributed")

GRID = """
name = "dask-tiny"
seeds = [1, 2]
n_jobs = 2

[budget]
max_evals = 200

[exact]
enabled = true
time_limit_s = 30

[[problems]]
family = "inventory"
instances = ["generate:n=1,T=2,q=1,seed=3"]

[[heuristics]]
name = "ga"
params = { pop_size = 20 }
"""


def test_dask_local_cluster_equals_loky(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(GRID)
    grid = load_grid(path)
    local = run_grid(grid, tmp_path / "loky", progress=False)
    dask = run_grid(grid, tmp_path / "dask", backend="dask", progress=False)
    for name in ("runs.csv", "history.csv", "exact.csv"):
        a, b = read_rows(local / name), read_rows(dask / name)
        drop = [c for c in TIME_COLUMNS if c in a.columns]
        pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop))
    runs = read_rows(dask / "runs.csv")
    assert len(runs) == 2 and set(runs["status"]) == {"ok"}
    assert {"bilevel_bench_version", "pymoo_version", "ortools_version", "numpy_version", "grid_hash"} <= set(
        runs.columns
    )
