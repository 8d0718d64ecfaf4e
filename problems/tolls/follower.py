"""The network users (followers): each commodity takes a shortest path under costs c + T, ties broken exactly.

Commodity k's follower is the shortest-path LP (Labbé, Marcotte and Savard 1998, problem (2); flows per unit
of demand, its cost weighted by the demand n_k)::

    min_y  n_k (c + T) @ y^k   s.t.  sum_{a out of v} y^k_a - sum_{a into v} y^k_a = [v = o_k]   (v != d_k)
                                     y^k >= 0

(the destination's row is implied and dropped). Its vertices are paths; its optimal face is the set of
shortest paths (costs are positive, so no cycle is ever optimal). The K commodities are independent, so
they are solved as one LP with K blocks (:func:`network_lp`, an affine map of the tolls,
:class:`bilevel_bench.kkt.AffineLP`): its optimal face is the product of theirs, and the leader's revenue
``sum_k n_k T @ y^k`` is separable, so the lexicographic optimum of the stacked LP is every commodity's own
(the tie tolerance of :mod:`bilevel_bench.lp` then applies to the summed cost).

Ties (:mod:`bilevel_bench.lp`, exactly): among the shortest paths, the optimistic follower takes the one with
the most toll revenue, the pessimistic one the least: stage 2 optimises ``(C T) @ y`` (the revenue) over the
follower's optimal face.

Arcs that can never lie on a shortest path of commodity k are left out of its block: arc a when even with
zero tolls the cheapest o_k -> d_k path through it, L_ka, is dearer than the toll-free path U_k (tolls are
>= 0, so that stays so). This does not change any optimal face, and it keeps the node potentials of the KKT
baseline bounded (every node kept lies on an o_k -> d_k path).

Two solvers, same answers: :class:`FollowerModel` (persistent GLOP models through
:class:`bilevel_bench.lp.ParametricLP`, per call only the costs and the preference change; what the problem
uses) and :func:`solve_follower` (the reference, :func:`bilevel_bench.lp.solve_lexicographic`, built from
scratch). Independent check: :func:`brute_force_response` enumerates every simple path.

Graded infeasibility: the follower is always feasible (every commodity has a toll-free path, validated) and
bounded for tolls >= -c. Only a toll below -c_a (outside the leader's bounds) can make it unbounded (a
negative cycle); ``FollowerResponse.infeasibility`` is then the negative part of the LP's costs,
``sum_k sum_{a in its block} n_k max(0, -(c_a + T_a))`` (0 exactly when no cost is negative).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from bilevel_bench.kkt import AffineLP
from bilevel_bench.lp import LPSolution, ParametricLP, solve_lexicographic
from bilevel_bench.problem import INVALID, OPTIMAL, FollowerResponse
from bilevel_bench.problems.tolls.instance import TollsInstance

#: An arc is kept for commodity k when L_ka <= U_k + PRUNE_TOL * (1 + U_k).
PRUNE_TOL = 1e-9


@dataclasses.dataclass(frozen=True)
class Network:
    """The stacked follower LP and what its columns and rows are (plain arrays: picklable)."""

    lp: AffineLP  # min (c + C T) @ y over the K blocks
    commodity: np.ndarray  # [n] commodity of each column
    arc: np.ndarray  # [n] arc of each column
    row_commodity: np.ndarray  # [m] commodity of each conservation row
    row_node: np.ndarray  # [m] node of each conservation row
    n_commodities: int
    n_arcs: int

    def flows(self, y: np.ndarray) -> np.ndarray:
        """The stacked solution as flows per unit of demand, [K, A]."""
        flow = np.zeros((self.n_commodities, self.n_arcs))
        np.add.at(flow, (self.commodity, self.arc), y)
        return flow


def network_lp(inst: TollsInstance) -> Network:
    """The K shortest-path LPs as one affine map of the tolls (module docstring)."""
    toll_index = np.full(inst.n_arcs, -1)
    toll_index[inst.toll_arcs] = np.arange(len(inst.toll_arcs))
    free_cost = inst.toll_free_costs()
    columns: list[tuple[int, int]] = []
    rows: list[tuple[int, int]] = []
    for k in range(inst.n_commodities):
        through = inst.cost_through_arcs(k)
        keep = np.flatnonzero(through <= free_cost[k] + PRUNE_TOL * (1.0 + free_cost[k]))
        nodes = set(inst.arcs[keep].ravel().tolist()) | {int(inst.origin[k])}
        nodes.discard(int(inst.destination[k]))
        columns += [(k, int(a)) for a in keep]
        rows += [(k, v) for v in sorted(nodes)]
    n, m, p = len(columns), len(rows), len(inst.toll_arcs)
    row_of = {key: i for i, key in enumerate(rows)}
    A_eq, b_eq = np.zeros((m, n)), np.zeros(m)
    c, C = np.zeros(n), np.zeros((n, p))
    for col, (k, a) in enumerate(columns):
        tail, head = (int(v) for v in inst.arcs[a])
        if (k, tail) in row_of:
            A_eq[row_of[k, tail], col] = 1.0
        if (k, head) in row_of:
            A_eq[row_of[k, head], col] = -1.0
        c[col] = inst.demand[k] * inst.cost[a]
        if toll_index[a] >= 0:
            C[col, toll_index[a]] = inst.demand[k]
    for k in range(inst.n_commodities):
        b_eq[row_of[k, int(inst.origin[k])]] = 1.0
    no_rows = {"A_ub": np.zeros((0, n)), "b_ub": np.zeros(0), "B_ub": np.zeros((0, p))}  # only equalities
    lp = AffineLP(
        c=c, C=C, A_eq=A_eq, b_eq=b_eq, B_eq=np.zeros((m, p)), lb=np.zeros(n), ub=np.full(n, np.inf), **no_rows
    )
    commodity, arc = (np.array([col[i] for col in columns], dtype=np.int64) for i in range(2))
    row_commodity, row_node = (np.array([row[i] for row in rows], dtype=np.int64) for i in range(2))
    return Network(lp, commodity, arc, row_commodity, row_node, inst.n_commodities, inst.n_arcs)


def _response(net: Network, tolls: np.ndarray, solution: LPSolution, n_solves: int, start: float) -> FollowerResponse:
    seconds = time.perf_counter() - start
    if solution.status != OPTIMAL:
        negative = float(np.sum(np.maximum(0.0, -(net.lp.c + net.lp.C @ np.nan_to_num(tolls)))))
        return FollowerResponse(
            solution.status, math.nan, {}, n_solves, seconds, f"follower LP {solution.status}", negative
        )
    return FollowerResponse(OPTIMAL, solution.value, {"flow": net.flows(solution.y)}, n_solves, seconds)


def solve_follower(net: Network, tolls: np.ndarray, tie_break: str) -> FollowerResponse:
    """The reference solver: :func:`bilevel_bench.lp.solve_lexicographic`, both stages built from scratch."""
    start = time.perf_counter()
    tolls = np.asarray(tolls, dtype=float)
    if not np.all(np.isfinite(tolls)):
        return _response(net, tolls, LPSolution(INVALID, np.empty(0), math.nan), 0, start)
    solution, n_solves = solve_lexicographic(net.lp.at(tolls), net.lp.C @ tolls, tie_break)
    return _response(net, tolls, solution, n_solves, start)


class FollowerModel:
    """The stacked LP as persistent GLOP models (:class:`bilevel_bench.lp.ParametricLP`), one per process:
    a call sets the costs ``c + C T`` and the revenue preference ``C T``. Not picklable (a ``transient``)."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.lp = ParametricLP(net.lp.at(np.zeros(net.lp.p)), np.zeros(net.lp.n))

    def solve(self, tolls: np.ndarray, tie_break: str) -> FollowerResponse:
        start = time.perf_counter()
        tolls = np.asarray(tolls, dtype=float)
        if not np.all(np.isfinite(tolls)):
            return _response(self.net, tolls, LPSolution(INVALID, np.empty(0), math.nan), 0, start)
        revenue = self.net.lp.C @ tolls
        solution, n_solves = self.lp.solve_lexicographic(tie_break, c=self.net.lp.c + revenue, preference=revenue)
        return _response(self.net, tolls, solution, n_solves, start)


def revenue(inst: TollsInstance, tolls: np.ndarray, flow: np.ndarray) -> float:
    """The leader's revenue sum_k n_k sum_{a in A1} T_a flow[k, a]."""
    return float(inst.demand @ flow[:, inst.toll_arcs] @ np.asarray(tolls, dtype=float))


# -- the independent check ---------------------------------------------------------------------------


def simple_paths(inst: TollsInstance, k: int) -> list[list[int]]:
    """Every simple path (as arc lists) from commodity k's origin to its destination (tiny networks only)."""
    out: list[list[int]] = [[] for _ in range(inst.n_nodes)]
    for a, (tail, _) in enumerate(inst.arcs.tolist()):
        out[tail].append(a)
    target, paths = int(inst.destination[k]), []
    stack: list[tuple[int, list[int], frozenset[int]]] = [(int(inst.origin[k]), [], frozenset([int(inst.origin[k])]))]
    while stack:
        node, path, seen = stack.pop()
        if node == target:
            paths.append(path)
            continue
        for a in out[node]:
            head = int(inst.arcs[a, 1])
            if head not in seen:
                stack.append((head, [*path, a], seen | {head}))
    return paths


def brute_force_response(
    inst: TollsInstance, tolls: np.ndarray, tie_break: str, tol: float = 1e-9
) -> tuple[float, float, list[list[int]]]:
    """(follower cost, leader revenue, chosen path per commodity) by enumerating every simple path: each
    commodity's cheapest paths (within ``tol``), the most (optimistic) or least (pessimistic) revenue among them."""
    cost = inst.cost.copy()
    cost[inst.toll_arcs] += tolls
    toll = np.zeros(inst.n_arcs)
    toll[inst.toll_arcs] = tolls
    total_cost, total_revenue, chosen = 0.0, 0.0, []
    for k in range(inst.n_commodities):
        paths = simple_paths(inst, k)
        costs = np.array([cost[p].sum() for p in paths])
        gains = np.array([toll[p].sum() for p in paths])
        tied = np.flatnonzero(costs <= costs.min() + tol)
        pick = tied[np.argmax(gains[tied])] if tie_break == "optimistic" else tied[np.argmin(gains[tied])]
        total_cost += inst.demand[k] * costs.min()
        total_revenue += inst.demand[k] * gains[pick]
        chosen.append(paths[pick])
    return total_cost, total_revenue, chosen
