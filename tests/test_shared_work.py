"""Work a family shares between evaluations is done once whatever the number of workers: retail routes each
parcel set of a run once with two workers, as serially, and the run is the same."""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench.api import load_problem
from bilevel_bench.heuristics.run import Budget, run_heuristic


@pytest.mark.slow
@pytest.mark.parametrize("routing", ["heuristic", "exact"])
def test_two_workers_route_as_often_as_one_and_find_the_same(routing):
    runs = {}
    for n_jobs in (1, 2):
        problem = load_problem("retail", "small", routing=routing)
        runs[n_jobs] = run_heuristic(problem, "ga", {"pop_size": 40}, 1, Budget(max_evals=400), n_jobs=n_jobs)
    serial, parallel = runs[1], runs[2]
    assert serial.counters.work["routing_calls"] == parallel.counters.work["routing_calls"] > 0
    assert serial.best_value == parallel.best_value and np.array_equal(serial.best_x, parallel.best_x)
    assert [c.best_value for c in serial.history] == [c.best_value for c in parallel.history]
