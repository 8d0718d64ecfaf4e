"""The quickstart grid parses, and its GA budget reaches within 1% of the seed's proven optimum."""

from __future__ import annotations

from pathlib import Path

import pytest

from bilevel_bench.experiments.grid import load_grid
from bilevel_bench.heuristics.run import run_heuristic
from bilevel_bench.problems.inventory.problem import InventoryProblem

QUICKSTART = Path(__file__).parents[1] / "experiments" / "quickstart.toml"
SEED_OPTIMUM = 234652.3156


def test_quickstart_grid_is_valid():
    grid = load_grid(QUICKSTART)
    assert len(grid.runs()) == 9 and len(grid.exact_tasks()) == 3


@pytest.mark.slow
def test_ga_within_one_percent_of_the_seed_optimum_with_the_quickstart_budget(seed):
    grid = load_grid(QUICKSTART)
    entry = grid.heuristics[0]
    result = run_heuristic(InventoryProblem(seed), entry.name, entry.params, grid.seeds[0], grid.budget)
    assert result.verified
    assert result.best_value <= SEED_OPTIMUM + 1e-3  # never above a proven optimum
    assert result.best_value >= SEED_OPTIMUM * (1 - 0.01)
