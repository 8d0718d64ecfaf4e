"""Parallel efficiency of a grid: ``--jobs 2`` against ``--jobs 1`` on the same grid, side by side in one run.

Run: python benchmarks/grid_parallel.py [--seeds 4] [--evals 3000] [--repeats 2]

The grid: GA and DE on two inventory instances and two tolls instances, ``--seeds`` seeds each (32 runs with
the defaults), no exact baseline (it is solved once per instance and would be a serial tail). Each side runs
the whole grid into a fresh temporary directory, through the same entry point as ``bilevel-bench run``
(``bilevel_bench.run_grid``), in interleaved rounds; the best wall time of each side is kept. The two sides'
results must be identical (same seeds, same values): the script checks it. The target on an idle 2-core
machine is at least 1.8x; on a loaded machine ``--jobs 2`` has no idle core to use, so quote the load average.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from common import footer, header

import bilevel_bench as bb


def grid(seeds: int, evals: int) -> dict[str, Any]:
    return {
        "name": "grid-parallel-benchmark",
        "seeds": list(range(1, seeds + 1)),
        "budget": {"max_evals": evals, "time_limit_s": 600},
        "exact": {"enabled": False},
        "problems": [
            {"family": "inventory", "instances": ["generate:n=2,T=4,q=4,seed=1", "generate:n=2,T=3,q=3,seed=2"]},
            {
                "family": "tolls",
                "instances": [
                    "generate:rows=3,cols=4,commodities=5,seed=1",
                    "generate:rows=4,cols=4,commodities=6,seed=2",
                ],
            },
        ],
        "heuristics": [{"name": "ga"}, {"name": "de"}],
    }


def one_side(spec: dict[str, Any], jobs: int) -> tuple[float, list[tuple[Any, ...]]]:
    """Wall seconds of the whole grid with ``jobs`` workers, and its (run, best value) rows."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        results = bb.run_grid(spec, out=Path(tmp) / "out", jobs=jobs, resume=False)
        wall = time.perf_counter() - start
        runs = results.runs.sort_values(["problem", "instance", "heuristic", "seed"])
        rows = list(
            runs[["problem", "instance", "heuristic", "seed", "status", "best_value", "n_evals"]].itertuples(
                index=False
            )
        )
    return wall, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--evals", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    spec = grid(args.seeds, args.evals)
    n_runs = 4 * 2 * args.seeds  # instances x heuristics x seeds
    header(f"grid_parallel: {n_runs} runs of {args.evals} evaluations, --jobs 2 vs --jobs 1")
    best = {1: float("inf"), 2: float("inf")}
    rows: dict[int, list[tuple[Any, ...]]] = {}
    for _ in range(args.repeats):
        for jobs in (1, 2):
            wall, rows[jobs] = one_side(spec, jobs)
            best[jobs] = min(best[jobs], wall)
            print(f"  --jobs {jobs}: {wall:.1f} s")
    same = [tuple(map(str, r)) for r in rows[1]] == [tuple(map(str, r)) for r in rows[2]]
    print(f"results identical with 1 and 2 jobs: {same}")
    print(f"--jobs 2 vs --jobs 1: {best[2]:.1f} s vs {best[1]:.1f} s -> {best[1] / best[2]:.2f}x (target >= 1.8x idle)")
    footer()
    if not same:
        raise SystemExit("results differ between --jobs 1 and --jobs 2")


if __name__ == "__main__":
    main()
