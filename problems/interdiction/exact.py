"""Exact baseline: combinatorial branch and bound with the online-game (2n-level) lower bound.

Problem (Caprara, Carvalho, Lodi and Woeginger 2016, "Bilevel knapsack with interdiction constraints", INFORMS J.
Comput. 28; written from the problem statement, the paper's equation numbers were not at hand)::

    min_x  phi(x)   s.t.  sum_i wL_i x_i <= CL,  x in {0, 1}^n
    phi(x) = max_y { sum_i p_i y_i : sum_i wF_i y_i <= CF,  y_i <= 1 - x_i,  y in {0, 1}^n }

Method: the combinatorial branch and bound of Weninger and Fukasawa ("A fast combinatorial algorithm for the
bilevel knapsack problem with interdiction constraints", IPCO 2023; Math. Program. 2024), written here in numpy.

1. **Order.** Items sorted by the follower's efficiency ``p_i / wF_i``, descending (ties: larger profit first).
2. **Lower bound: the online game** (their 2n-level relaxation). The items are played one by one in that
   order: the leader decides whether to interdict item i (seeing the follower's earlier choices), then the
   follower decides whether to pack it (without seeing later interdictions). With remaining capacities a
   (leader) and b (follower)::

       V_n(a, b) = 0
       V_i(a, b) = min( V_{i+1}(a - wL_i, b)                                 [interdict; wL_i <= a],
                        max(V_{i+1}(a, b), p_i + V_{i+1}(a, b - wF_i) [wF_i <= b]) )

   A bilevel leader is a non-adaptive online leader, and every online follower play is a feasible packing, so
   ``V_i(a, b)`` is at most the follower's best profit over items i.. against any interdiction of them that
   fits a (their Lemma; the proof is two lines). The table is one numpy operation per item over all (a, b).
   Two additions of this implementation, both exact: a state beyond the suffix's total weight is the same
   state as that total (saturation: every remaining item fits), and below the least capacity reachable after
   i items no state is ever asked for; so each layer is stored on that rectangle only (CCLW n55: at most 25M
   cells, 50 MB as int16, instead of 320M). If the rectangle still exceeds :data:`MAX_TABLE_BYTES`,
   capacities are scaled by an integer s: leader weights ``floor(wL / s)`` with state ``ceil(a / s)``,
   follower weights ``ceil(wF / s)`` with state ``floor(b / s)``. The scaled leader can do everything the true
   one can and the scaled follower nothing more, so the scaled table is still a lower bound (weaker; the
   search stays exact). ``notes`` says which scale was used (1 on every CCLW instance).
3. **Search.** Depth-first over the items in order; a node fixes x for the first i items, and the follower
   packs them greedily (an item not interdicted is packed if it fits), which is a feasible partial packing of
   profit ``pft``, leaving capacity b. So every completion has ``phi >= pft + V_i(a, b)``, and also
   ``>= pft - p_k + V_i(a, b + wF_k)`` for the last packed item k (their "lookback" test, depth 1). A node
   whose bound reaches the incumbent is pruned (profits are integers). Children: interdict first. At a leaf,
   only maximal interdictions are solved (a leaf where a non-interdicted item still fits the leader's
   capacity is dominated by the leaf with it interdicted: phi is monotone), with the exact follower DP.
   Nodes are processed in vectorised chunks (up to :data:`CHUNK` nodes of one depth at a time, depth first).
4. **Incumbent.** Their start: the leader interdicts a maximum-profit set within its capacity (a knapsack by
   DP), and the follower's response gives the first upper bound.

Status ``optimal`` when the search ends (bound = objective). At the time limit
(``bilevel_bench.limits.solver_seconds(time_limit)``): ``feasible`` with the incumbent, and as bound the least
lower bound of the open nodes (0 if the time ran out while the table was being built). Profits, weights and
capacities are integers (the instance guarantees it). Ties do not matter: the leader's value is the follower's
optimum, the same for every tie-breaking reading.

Published solvers take about a second or less on every CCLW instance (Della Croce and Scatamacchia 2020;
Weninger and Fukasawa 2023); ``benchmarks/interdiction_evaluation.py`` prints this one's times beside that.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from bilevel_bench import limits
from bilevel_bench.problem import ExactResult, ExactStatus
from bilevel_bench.problems.interdiction.follower import knapsack_dp
from bilevel_bench.problems.interdiction.instance import InterdictionInstance

#: Largest lower-bound table (bytes) before capacities are scaled.
MAX_TABLE_BYTES = 120_000_000
#: Nodes of one depth processed together.
CHUNK = 4096
METHOD = "combinatorial branch and bound with the online-game DP lower bound (Weninger and Fukasawa 2023)"


def follower_order(inst: InterdictionInstance) -> np.ndarray:
    """Items by the follower's efficiency p/wF, descending; ties by larger profit, then index."""
    p, w = inst.profit.astype(float), inst.follower_weight.astype(float)
    efficiency = np.divide(p, w, out=np.where(p > 0, np.inf, 0.0), where=w > 0)
    return np.lexsort((np.arange(inst.n), -p, -efficiency))


@dataclasses.dataclass
class BoundTable:
    """``V_i`` of the online game on each layer's rectangle of (scaled) states; see the module docstring."""

    scale: int
    lo_a: np.ndarray  # [n + 1] least stored scaled leader state of layer i
    hi_a: np.ndarray
    lo_b: np.ndarray
    hi_b: np.ndarray
    layers: list[np.ndarray]

    def lookup(self, i: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Lower bounds at layer i for true remaining capacities ``a`` (leader) and ``b`` (follower)."""
        s = self.scale
        sa, sb = -(-np.asarray(a) // s), np.asarray(b) // s  # ceil for the leader, floor for the follower
        ia = np.clip(sa, self.lo_a[i], self.hi_a[i]) - self.lo_a[i]
        ib = np.clip(sb, self.lo_b[i], self.hi_b[i]) - self.lo_b[i]
        return np.asarray(self.layers[i][ia, ib])


def _ranges(
    wF: np.ndarray, wL: np.ndarray, CF: int, CL: int, s: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scaled weights and each layer's stored state range (see :class:`BoundTable`)."""
    sL, sF = wL // s, -(-wF // s)
    top_a, top_b = -(-CL // s), CF // s
    pre_a = np.concatenate([[0], np.cumsum(sL)])
    pre_b = np.concatenate([[0], np.cumsum(sF)])
    hi_a = np.minimum(top_a, pre_a[-1] - pre_a)
    hi_b = np.minimum(top_b, pre_b[-1] - pre_b)
    lo_a = np.minimum(np.maximum(0, top_a - pre_a), hi_a)
    lo_b = np.minimum(np.maximum(0, top_b - pre_b), hi_b)
    return sF, sL, lo_a, hi_a, lo_b, hi_b


def table_cells(wF: np.ndarray, wL: np.ndarray, CF: int, CL: int, s: int) -> int:
    _, _, lo_a, hi_a, lo_b, hi_b = _ranges(wF, wL, CF, CL, s)
    return int(((hi_a - lo_a + 1) * (hi_b - lo_b + 1)).sum())


def bound_table(
    p: np.ndarray, wF: np.ndarray, wL: np.ndarray, CF: int, CL: int, deadline: float = math.inf
) -> BoundTable | None:
    """The online game's table for items in the given order (None if ``deadline`` passes first)."""
    dtype = np.int16 if int(p.sum()) < np.iinfo(np.int16).max else np.int32
    itemsize = np.dtype(dtype).itemsize
    s = 1
    while table_cells(wF, wL, CF, CL, s) * itemsize > MAX_TABLE_BYTES:
        s += 1
    sF, sL, lo_a, hi_a, lo_b, hi_b = _ranges(wF, wL, CF, CL, s)
    n = len(p)
    layers: list[np.ndarray] = [np.zeros(0, dtype=dtype)] * (n + 1)
    layers[n] = np.zeros((hi_a[n] - lo_a[n] + 1, hi_b[n] - lo_b[n] + 1), dtype=dtype)
    for i in range(n - 1, -1, -1):
        if time.perf_counter() > deadline:
            return None
        nxt = layers[i + 1]
        A = np.arange(lo_a[i], hi_a[i] + 1)
        B = np.arange(lo_b[i], hi_b[i] + 1)

        def rows(values: np.ndarray, k: int = i + 1) -> np.ndarray:
            return np.asarray(np.clip(values, lo_a[k], hi_a[k]) - lo_a[k])

        def cols(values: np.ndarray, k: int = i + 1) -> np.ndarray:
            return np.asarray(np.clip(values, lo_b[k], hi_b[k]) - lo_b[k])

        here = nxt[rows(A)]
        value = here[:, cols(B)]  # the follower leaves item i
        kb = int(np.searchsorted(B, sF[i]))
        if kb < len(B) and p[i] > 0:  # ... or packs it where it fits
            np.maximum(value[:, kb:], here[:, cols(B[kb:] - sF[i])] + dtype(p[i]), out=value[:, kb:])
        ka = int(np.searchsorted(A, sL[i]))
        if ka < len(A):  # the leader interdicts it where it fits
            np.minimum(value[ka:], nxt[rows(A[ka:] - sL[i])][:, cols(B)], out=value[ka:])
        layers[i] = value
    return BoundTable(s, lo_a, hi_a, lo_b, hi_b, layers)


def greedy_interdiction(inst: InterdictionInstance) -> np.ndarray:
    """Weninger and Fukasawa's start: interdict a maximum-profit set within the leader's capacity."""
    _, x = knapsack_dp(inst.profit, inst.leader_weight, inst.leader_capacity, np.ones(inst.n, dtype=bool))
    return x


@dataclasses.dataclass
class _Chunk:
    depth: int
    a: np.ndarray  # leader capacity left
    b: np.ndarray  # follower capacity left after its greedy packing of the fixed items
    pft: np.ndarray  # profit of that greedy packing
    last: np.ndarray  # last item the greedy packed (-1: none)
    X: np.ndarray  # [k, n] interdictions so far (sorted order)


def solve_exact(problem: Any, time_limit: float = 60.0) -> ExactResult:
    start = time.perf_counter()
    deadline = start + limits.solver_seconds(time_limit)
    inst: InterdictionInstance = problem.instance
    n = inst.n
    order = follower_order(inst)
    p = inst.profit[order].astype(np.int64)
    wF = inst.follower_weight[order].astype(np.int64)
    wL = inst.leader_weight[order].astype(np.int64)
    CF, CL = inst.follower_capacity, inst.leader_capacity

    x0 = greedy_interdiction(inst)[order]
    ub, _ = knapsack_dp(p, wF, CF, ~x0)
    best = x0.copy()
    stats = {"nodes": 0, "leaves": 0, "follower_solves": 1}

    def result(status: ExactStatus, bound: float, notes: str) -> ExactResult:
        x = np.zeros(n, dtype=bool)
        x[order] = best
        published = inst.published_optimum
        if published is not None:
            agrees = "equals" if float(ub) == published else "DIFFERS FROM"
            notes += f"; value {ub} {agrees} the published optimum {published:g}"
        return ExactResult(
            objective=float(ub),
            bound=float(bound),
            status=status,
            time_s=time.perf_counter() - start,
            solution={"x": x.astype(float).tolist(), "interdicted": np.flatnonzero(x).tolist()},
            method=METHOD,
            notes=notes,
        )

    table = bound_table(p, wF, wL, CF, CL, deadline)
    if table is None:
        return result(ExactStatus.FEASIBLE, 0.0, "time limit while building the lower-bound table")
    table_s = time.perf_counter() - start
    root_bound = int(table.lookup(0, np.array([CL]), np.array([CF]))[0])
    stack = [_Chunk(0, np.array([CL]), np.array([CF]), np.array([0]), np.array([-1]), np.zeros((1, n), dtype=bool))]
    while stack:
        if time.perf_counter() > deadline:
            open_bound = min(int((c.pft + table.lookup(c.depth, c.a, c.b)).min()) for c in stack)
            return result(
                ExactStatus.FEASIBLE,
                min(ub, open_bound),
                f"time limit in the search: {stats['nodes']} nodes, {len(stack)} open chunks; scale {table.scale}",
            )
        c = stack.pop()
        i = c.depth
        stats["nodes"] += len(c.a)
        if i == n:
            ub, best = _leaves(c, p, wF, wL, CF, ub, best, stats)
            continue
        bound = c.pft + table.lookup(i, c.a, c.b)
        alive = bound < ub
        packed = c.last >= 0
        k = np.where(packed, c.last, 0)
        alive &= ~(packed & (c.pft - p[k] + table.lookup(i, c.a, c.b + wF[k]) >= ub))
        if not alive.any():
            continue
        a, b, pft, last, X = c.a[alive], c.b[alive], c.pft[alive], c.last[alive], c.X[alive]
        fits = (b >= wF[i]) & (p[i] > 0)  # not interdicted: the greedy follower packs it if it fits
        leave = _Chunk(
            i + 1, a, np.where(fits, b - wF[i], b), np.where(fits, pft + p[i], pft), np.where(fits, i, last), X
        )
        can = a >= wL[i]
        X1 = X[can].copy()
        X1[:, i] = True
        interdict = _Chunk(i + 1, a[can] - wL[i], b[can], pft[can], last[can], X1)
        for child in (leave, interdict):  # the last pushed (interdict) is explored first
            for s in range(0, len(child.a), CHUNK):
                cut = slice(s, s + CHUNK)
                stack.append(_Chunk(i + 1, child.a[cut], child.b[cut], child.pft[cut], child.last[cut], child.X[cut]))
    return result(
        ExactStatus.OPTIMAL,
        ub,
        f"root bound {root_bound}, table {table_s:.2f} s (scale {table.scale}), {stats['nodes']} nodes, "
        f"{stats['leaves']} maximal leaves, {stats['follower_solves']} follower solves",
    )


def _leaves(
    c: _Chunk, p: np.ndarray, wF: np.ndarray, wL: np.ndarray, CF: int, ub: int, best: np.ndarray, stats: dict
) -> tuple[int, np.ndarray]:
    """Solve the follower at the maximal leaves that may beat the incumbent ``ub``."""
    lightest_free = np.where(c.X, np.iinfo(np.int64).max, wL[None, :]).min(axis=1)
    for k in np.flatnonzero(lightest_free > c.a).tolist():  # maximal: no free item fits the leader
        stats["leaves"] += 1
        if c.pft[k] >= ub:
            continue
        stats["follower_solves"] += 1
        value, _ = knapsack_dp(p, wF, CF, ~c.X[k])
        if value < ub:
            ub, best = value, c.X[k].copy()
    return ub, best
