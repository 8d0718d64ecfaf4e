"""Exact optimistic baseline: the KKT single-level MILP of :mod:`bilevel_bench.kkt`, revenue by strong duality.

The formulation is (K1)-(K7) of :mod:`bilevel_bench.kkt` applied to the stacked shortest-path LP of
``follower.network_lp`` (costs ``n_k (c + T)``, right-hand sides independent of T, so B = 0) with the leader
maximising ``(C T) @ y = sum_k n_k T @ y^k``, the toll revenue. That term is bilinear; at every KKT point the
follower's cost equals its dual objective, so ``(C T) @ y = -b_eq @ mu - c @ y`` (K7): the linearisation of
Labbé, Marcotte and Savard (1998), "A bilevel model of taxation and its application to optimal highway
pricing", Management Science 44(12), section 3, where the path-flow variables are integral at vertices and
the revenue is read off the dual (node potentials). Tolls are bounded by
:meth:`~bilevel_bench.problems.tolls.instance.TollsInstance.toll_upper_bounds`, which cut no optimum.

Big-Ms from the network (:func:`network_bounds`, supplied as proven; the generic LP derivations of
:mod:`bilevel_bench.kkt` then tighten them where they can):

- flows: every optimal flow is a convex combination of shortest paths (costs > 0: no cycle), so
  ``0 <= y^k_a <= 1`` per unit of demand;
- node potentials: ``mu_v = -n_k dist_{c+T}(v, d_k)`` is an optimal dual at every T (its reduced costs
  ``n_k (c_a + T_a - dist(i, d) + dist(j, d))`` are >= 0 by the triangle inequality and 0 on shortest
  paths), and the distances to d_k grow with T, so ``-n_k dist_{c+Tmax}(v, d_k) <= mu_v <=
  -n_k dist_c(v, d_k)``; the reduced costs' bounds follow from (K2) by interval arithmetic.

Optimistic by construction (the MILP chooses among shortest paths the one best for the leader). The
pessimistic reading has in general no optimum (its supremum is approached by tolls just below a tie,
which then breaks against the leader); it is ``unsupported`` here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from bilevel_bench import kkt
from bilevel_bench.problem import ExactResult, ExactStatus
from bilevel_bench.problems.tolls.follower import Network
from bilevel_bench.problems.tolls.instance import TollsInstance, shortest_distances

if TYPE_CHECKING:
    from bilevel_bench.problems.tolls.problem import TollsProblem


def network_bounds(inst: TollsInstance, net: Network) -> kkt.SuppliedBounds:
    """Flows <= 1 per unit of demand; node potentials between minus the demand times the distance to the
    destination with tolls at 0 and at their bounds (module docstring)."""
    high_cost = inst.cost.copy()
    high_cost[inst.toll_arcs] += inst.toll_upper_bounds()
    mu_lo, mu_hi = np.zeros(len(net.row_node)), np.zeros(len(net.row_node))
    for k in range(inst.n_commodities):
        rows = np.flatnonzero(net.row_commodity == k)
        to_d = shortest_distances(inst.n_nodes, inst.arcs[:, ::-1], inst.cost, int(inst.destination[k]))
        to_d_high = shortest_distances(inst.n_nodes, inst.arcs[:, ::-1], high_cost, int(inst.destination[k]))
        mu_lo[rows] = -inst.demand[k] * to_d_high[net.row_node[rows]]
        mu_hi[rows] = -inst.demand[k] * to_d[net.row_node[rows]]
    return kkt.SuppliedBounds(
        y_hi=np.ones(net.lp.n),
        mu_lo=mu_lo,
        mu_hi=mu_hi,
        argument="flows <= 1 per unit of demand, potentials = -demand x distance to the destination",
    )


def solve_exact(problem: TollsProblem, time_limit: float = 60.0) -> ExactResult:
    """The optimistic toll-setting optimum (module docstring); ``unsupported`` for the pessimistic reading."""
    if problem.tie_break == "pessimistic":
        why = "the pessimistic toll-setting problem has no optimum in general (a supremum); no exact baseline"
        return ExactResult(math.nan, math.nan, ExactStatus.UNSUPPORTED, 0.0, {}, "KKT big-M MILP", why)
    inst, net = problem.instance, problem.network
    leader = kkt.LeaderSpec(lb=np.zeros(len(inst.toll_arcs)), ub=problem.bounds()[1], revenue_weight=1.0)
    result = kkt.solve(net.lp, leader, network_bounds(inst, net), time_limit=time_limit)
    views = problem.decode(result.x) if result.x is not None else {}
    return result.as_exact(views, method="KKT big-M MILP, revenue by strong duality (bilevel_bench.kkt, SCIP)")
