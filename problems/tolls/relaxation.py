"""Relaxation starts for network pricing: the relaxation's paths, priced by inverse optimisation.

**Why not the plain high-point relaxation's leader part.** The high-point relaxation (HPR: max the revenue
``sum_k n_k T @ y^k`` over tolls in their box and flows y^k, without the users' optimality) is solved by
tolls at their upper bounds (the revenue grows with every toll when y >= 0), with every commodity routed
through as many toll arcs as it can. At those tolls every user takes its toll-free path: the HPR's leader
part earns nothing. Its useful part is the follower's: which paths the leader would like the users to take.

**The relaxation** (:func:`relaxation_paths`). The HPR strengthened by the cut that no user pays more than
its toll-free path, ``(c + T) @ y^k <= U_k`` (valid at every bilevel-feasible point: the toll-free path is
always available at cost U_k). Its revenue from commodity k on a path P is at most ``n_k (U_k - c(P))``, so
its optimum routes every commodity on a path of least base cost c(P): the shortest paths at T = 0 (the
stacked shortest-path LP at zero tolls, one LP; GLOP returns a vertex, i.e. one path per commodity).

**Pricing the paths** (:func:`inverse_tolls`, Labbé, Marcotte and Savard 1998, section 4, and Brotcorne,
Labbé, Marcotte and Savard 2001, "A bilevel model for toll optimization on a multicommodity transportation
network", Transportation Science 35(4): for fixed paths the leader's problem is an LP). With paths P_k
fixed, the tolls that make every P_k a shortest path and earn the most are the optimum of the LP over the
tolls T in [0, b] and node potentials pi^k (pi^k at the origin = 0)::

    max  sum_k n_k sum_{a in P_k, a tolled} T_a
    s.t. pi^k_j - pi^k_i <= c_a + T_a    for every arc a = (i, j) of commodity k's network (T_a = 0 untolled)
         pi^k_j - pi^k_i  = c_a + T_a    for every arc a of P_k

(the potentials certify, by LP duality, that P_k is a shortest path under c + T). Its T is bilevel
feasible: every P_k is a shortest path at T, so the optimistic users (who break ties by the revenue) earn
the leader at least the LP's value. The network of commodity k is the follower's (``follower.network_lp``:
arcs that can never be on its shortest path are left out, which leaves the argument intact, see there).

**The starts** (:func:`relaxation_starts`): the relaxation's paths priced first; then variants: the base
costs multiplied by exp(0.5 g) (g standard normal per arc) before the paths are chosen (odd variants), or a
random half of the commodities sent on their toll-free path (even variants); paths that no tolls can make
shortest (an infeasible pricing LP) are skipped. The variants are ordered by their LP value, best first.
Two LPs (GLOP) per start, counted in ``relaxation_lp_solves``; deterministic for a seed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from bilevel_bench.lp import LinearProgram, solve_lp_arrays
from bilevel_bench.problem import OPTIMAL

if TYPE_CHECKING:
    from bilevel_bench.problems.tolls.follower import Network
    from bilevel_bench.problems.tolls.instance import TollsInstance

#: Spread of the cost perturbation of the odd variants (log scale).
PERTURBATION = 0.5
#: Attempts per start asked for (variants whose pricing LP is infeasible are skipped).
ATTEMPTS = 3


def relaxation_paths(net: Network, cost: np.ndarray, closed: np.ndarray | None = None) -> np.ndarray | None:
    """The stacked shortest-path LP's optimum (flows on ``net``'s columns) under the costs ``cost`` (one per
    column), with the columns in ``closed`` held at 0; None if it has none."""
    ub = net.lp.ub.copy() if closed is None else np.where(closed, 0.0, net.lp.ub)
    lp = LinearProgram(cost, net.lp.A_ub, net.lp.b_ub, net.lp.A_eq, net.lp.b_eq, net.lp.lb, ub)
    result = solve_lp_arrays(lp)
    return result.y if result.status == OPTIMAL else None


def inverse_tolls(
    inst: TollsInstance, net: Network, upper: np.ndarray, on_path: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """The tolls that make the paths ``on_path`` (a mask over ``net``'s columns) shortest and earn the most,
    with the LP's revenue; None if no tolls in the box do it."""
    p = len(inst.toll_arcs)
    toll_index = np.full(inst.n_arcs, -1)
    toll_index[inst.toll_arcs] = np.arange(p)
    nodes: dict[tuple[int, int], int] = {}
    for k in range(inst.n_commodities):
        for v in [int(inst.origin[k]), int(inst.destination[k]), *net.row_node[net.row_commodity == k].tolist()]:
            nodes.setdefault((k, v), p + len(nodes))
    N = p + len(nodes)
    rows_ub: list[np.ndarray] = []
    rhs_ub: list[float] = []
    rows_eq: list[np.ndarray] = []
    rhs_eq: list[float] = []
    for col, (k, a) in enumerate(zip(net.commodity.tolist(), net.arc.tolist(), strict=True)):
        tail, head = (int(v) for v in inst.arcs[a])
        row = np.zeros(N)
        row[nodes[k, head]] += 1.0
        row[nodes[k, tail]] -= 1.0
        if toll_index[a] >= 0:
            row[toll_index[a]] -= 1.0
        (rows_eq if on_path[col] else rows_ub).append(row)
        (rhs_eq if on_path[col] else rhs_ub).append(float(inst.cost[a]))
    lb = np.concatenate([np.zeros(p), np.full(len(nodes), -math.inf)])
    ub = np.concatenate([upper, np.full(len(nodes), math.inf)])
    for k in range(inst.n_commodities):
        origin = nodes[k, int(inst.origin[k])]
        lb[origin] = ub[origin] = 0.0
    objective = np.zeros(N)
    for col in np.flatnonzero(on_path).tolist():
        toll = int(toll_index[net.arc[col]])
        if toll >= 0:
            objective[toll] += inst.demand[net.commodity[col]]
    lp = LinearProgram(
        objective,
        np.array(rows_ub).reshape(len(rows_ub), N),
        np.array(rhs_ub),
        np.array(rows_eq).reshape(len(rows_eq), N),
        np.array(rhs_eq),
        lb,
        ub,
    )
    result = solve_lp_arrays(lp, maximize=True)
    if result.status != OPTIMAL:
        return None
    return np.clip(result.y[:p], 0.0, upper), float(result.value)


def relaxation_starts(
    inst: TollsInstance, net: Network, upper: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, int]:
    """Up to n toll vectors (module docstring), the relaxation's first; and the number of LPs solved."""
    rng = np.random.default_rng(seed)
    tolled = np.zeros(inst.n_arcs, dtype=bool)
    tolled[inst.toll_arcs] = True
    base: list[np.ndarray] = []
    variants: list[tuple[float, np.ndarray]] = []
    solves = 0
    for attempt in range(ATTEMPTS * n):
        if len(base) + len(variants) >= n:
            break
        cost = inst.cost.astype(float).copy()
        closed = None
        if attempt % 2 == 1:
            cost *= np.exp(PERTURBATION * rng.standard_normal(inst.n_arcs))
        elif attempt > 0:  # a random half of the commodities on their toll-free path
            free = rng.random(inst.n_commodities) < 0.5
            closed = free[net.commodity] & tolled[net.arc]
        y = relaxation_paths(net, cost[net.arc], closed)
        solves += 1
        if y is None:
            continue
        priced = inverse_tolls(inst, net, upper, y > 0.5)
        solves += 1
        if priced is None:
            continue
        tolls, value = priced
        if attempt == 0:
            base.append(tolls)
        elif not any(np.array_equal(tolls, t) for _, t in variants) and not any(np.array_equal(tolls, t) for t in base):
            variants.append((value, tolls))
    variants.sort(key=lambda item: -item[0])
    found = base + [t for _, t in variants]
    return (np.array(found[:n]) if found else np.zeros((0, len(inst.toll_arcs)))), solves
