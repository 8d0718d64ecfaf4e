"""The follower: a 0-1 knapsack over the items the leader has not interdicted, solved exactly.

Formulation: the follower's level of the bilevel knapsack problem with interdiction constraints (Caprara,
Carvalho, Lodi and Woeginger, "Bilevel knapsack with interdiction constraints", INFORMS J. Comput. 28, 2016;
written from the problem statement, the paper's equation numbers were not at hand)::

    phi(x) = max  sum_i p_i y_i
             s.t. sum_i wF_i y_i <= CF
                  y_i <= 1 - x_i          (an interdicted item is not available)
                  y_i in {0, 1}

**Exact method: dynamic programming over capacity** (Bellman's recursion, vectorised in numpy). With the items
available in index order, ``f_j[c]`` is the best profit of the first j available items within capacity c::

    f_j[c] = max(f_{j-1}[c], f_{j-1}[c - w_j] + p_j)   (c >= w_j)

one numpy operation over all capacities per item, each stage kept in a table ``F[j, c]`` (int32), and the
solution is read back from ``c = CF``: item j is packed where ``F[j + 1, c] > F[j, c]``. Items of zero profit or
heavier than CF are left out first; when the remaining items all fit, they are all packed without a table.
Cost: O(n * CF) elementary steps, about 0.1-0.6 ms for the CCLW sizes (n <= 55, CF <= 2405; see
``benchmarks/interdiction_evaluation.py``); no time limit, so responses are deterministic.

**Ties.** The leader's objective is the follower's optimal profit itself, so every optimal response gives the
leader the same value: the optimistic and the pessimistic readings coincide in value. Both return the same,
deterministic response: the DP's (an item is taken only where that is strictly better, scanning the items in
reverse index order). ``tie_break`` is accepted and has no effect.

**Feasibility.** y = 0 is always feasible, so the follower is never infeasible (``infeasibility`` stays 0).

**Independent check** (:func:`solve_cpsat`, used by the tests on random cases with many ties): the same knapsack
in CP-SAT (snake_case API, one worker), from the plain arrays.

A leader vector is read as binary: item i is interdicted when ``x_i > 0.5`` (the evaluator rounds the leader's
integer variables before any evaluation; the threshold only makes stray fractional inputs well defined).
"""

from __future__ import annotations

import math
import time

import numpy as np

from bilevel_bench import limits
from bilevel_bench.problem import LIMIT, OPTIMAL, FollowerResponse


def interdicted(x: np.ndarray) -> np.ndarray:
    """The boolean mask of interdicted items of a leader vector (``x_i > 0.5``)."""
    return np.asarray(x, dtype=float) > 0.5


def knapsack_dp(profit: np.ndarray, weight: np.ndarray, capacity: int, available: np.ndarray) -> tuple[int, np.ndarray]:
    """Optimal value and a 0/1 solution of the knapsack over the ``available`` items (exact, deterministic).

    Items of zero profit, or heavier than the capacity, are never packed. ``F[j, c]`` is the best profit of the
    first j candidate items within capacity c (one vectorised step per item); item j is packed in the solution
    read back from ``c = capacity`` only where that is strictly better than leaving it.
    """
    n = len(profit)
    y = np.zeros(n, dtype=bool)
    items = np.flatnonzero(available & (weight <= capacity) & (profit > 0))
    if len(items) == 0:
        return 0, y
    weights = weight[items].tolist()
    profits = profit[items].tolist()
    if sum(weights) <= capacity:  # everything fits
        y[items] = True
        return int(sum(profits)), y
    dtype = np.int32 if sum(profits) < np.iinfo(np.int32).max else np.int64
    F = np.empty((len(items) + 1, capacity + 1), dtype=dtype)
    F[0] = 0
    for j, (w, p) in enumerate(zip(weights, profits, strict=True)):
        before, after = F[j], F[j + 1]
        after[:w] = before[:w]
        np.maximum(before[w:], before[: capacity + 1 - w] + p, out=after[w:])
    c = capacity
    for j in range(len(items) - 1, -1, -1):
        if F[j + 1, c] != F[j, c]:
            y[items[j]] = True
            c -= weights[j]
    return int(F[-1, capacity]), y


def solve_follower(profit: np.ndarray, weight: np.ndarray, capacity: int, x: np.ndarray) -> FollowerResponse:
    """The follower's exact response to the leader vector ``x`` (dynamic programming)."""
    start = time.perf_counter()
    value, y = knapsack_dp(profit, weight, capacity, ~interdicted(x))
    return FollowerResponse(OPTIMAL, float(value), {"y": y.astype(float)}, 1, time.perf_counter() - start)


def solve_cpsat(
    profit: np.ndarray, weight: np.ndarray, capacity: int, x: np.ndarray, time_limit: float = 60.0
) -> FollowerResponse:
    """The same knapsack by CP-SAT (one worker): the independent check of :func:`knapsack_dp`."""
    from ortools.sat.python import cp_model

    start = time.perf_counter()
    available = ~interdicted(x)
    model = cp_model.CpModel()
    y = [model.new_bool_var(f"y{i}") for i in range(len(profit))]
    for i in np.flatnonzero(~available):
        model.add(y[i] == 0)
    model.add(sum(int(weight[i]) * y[i] for i in range(len(y))) <= int(capacity))
    model.maximize(sum(int(profit[i]) * y[i] for i in range(len(y))))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = limits.solver_seconds(time_limit)
    status = solver.solve(model)
    seconds = time.perf_counter() - start
    if status != cp_model.OPTIMAL:
        return FollowerResponse(LIMIT, math.nan, {}, 1, seconds, solver.status_name(status))
    solution = np.array([solver.value(v) for v in y], dtype=float)
    value = int(np.asarray(profit, dtype=np.int64) @ solution.astype(np.int64))  # exact (objective_value is a float)
    return FollowerResponse(OPTIMAL, float(value), {"y": solution}, 1, seconds)
