"""The customer's LP (the follower) for fixed production x and advertising v, solved exactly with GLOP.

Variables y = (d, I, S), each [n, T] flattened row-major. In the spec's notation::

    min  sum_jt p[j,t] d[j,t]
    s.t. d[j,t] + I[j,t] - I[j,t-1] - S[j,t] = x[j,t]        (material balance, I[j,-1] = 0)
         sum_j B[j] I[j,t] <= Ibar[t] + Mspace y[t]           (space; dropped where unbounded)
         Dd d >= d0 + Dv v                                    (the demand set D(v))
         0 <= I <= inventory_cap,  0 <= S <= subcontract_cap,  d >= 0

The follower's objective does not see I and S, so ties are the rule: the leader pays h I + s S. The
second stage (:func:`bilevel_bench.lp.solve_lexicographic`) optimises the leader's part
``p d - h I - s S`` over the follower's optimal face: maximised (optimistic) or minimised (pessimistic).
Without caps on I and S the pessimistic stage is unbounded (subcontract and hold without limit); it is
reported as ``unbounded``.

Independent check: without a finite space constraint and caps, the balance duals are zero and the value
function is ``phi(v) = max_k lambda_k @ (d0 + Dv v)`` over the vertices of ``{lambda >= 0 : Dd' lambda <= p}``,
which :func:`dual_vertices` enumerates with numpy.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np

from bilevel_bench.lp import LinearProgram, solve_lexicographic, solve_lp
from bilevel_bench.problem import OPTIMAL, FollowerResponse
from bilevel_bench.problems.inventory.instance import InventoryInstance


def follower_lp(inst: InventoryInstance, x: np.ndarray, v: np.ndarray) -> LinearProgram:
    """The follower LP as plain arrays, for leader decision (x, v), both [n, T]."""
    n, T = inst.n, inst.T
    nT = n * T
    eye = np.eye(nT)
    lag = np.zeros((nT, nT))  # I[j,t-1] within product j
    for j in range(n):
        for t in range(1, T):
            lag[j * T + t, j * T + t - 1] = 1.0
    A_eq = np.hstack([eye, eye - lag, -eye])
    cap = inst.space_capacity()
    finite = np.flatnonzero(np.isfinite(cap))
    space = np.zeros((len(finite), 3 * nT))
    for row, t in enumerate(finite):
        space[row, nT + np.arange(n) * T + t] = inst.B
    demand = np.hstack([-inst.Dd, np.zeros((len(inst.d0), 2 * nT))])
    ub_I = np.inf if inst.inventory_cap is None else inst.inventory_cap
    ub_S = np.inf if inst.subcontract_cap is None else inst.subcontract_cap
    return LinearProgram(
        c=np.concatenate([inst.p.ravel(), np.zeros(2 * nT)]),
        A_ub=np.vstack([space, demand]),
        b_ub=np.concatenate([cap[finite], -(inst.d0 + inst.Dv @ np.ravel(v))]),
        A_eq=A_eq,
        b_eq=np.ravel(x).astype(float),
        lb=np.zeros(3 * nT),
        ub=np.concatenate([np.full(nT, np.inf), np.full(nT, ub_I), np.full(nT, ub_S)]),
    )


def leader_preference(inst: InventoryInstance) -> np.ndarray:
    """What the leader gains from the follower's variables: p d - h I - s S."""
    return np.concatenate([inst.p.ravel(), -inst.h.ravel(), -inst.s.ravel()])


def solve_follower(inst: InventoryInstance, x: np.ndarray, v: np.ndarray, tie_break: str) -> FollowerResponse:
    start = time.perf_counter()
    solution, n_solves = solve_lexicographic(follower_lp(inst, x, v), leader_preference(inst), tie_break)
    seconds = time.perf_counter() - start
    if solution.status != OPTIMAL:
        return FollowerResponse(solution.status, math.nan, {}, n_solves, seconds, f"follower LP {solution.status}")
    d, I, S = np.split(solution.y, 3)
    shape = (inst.n, inst.T)
    return FollowerResponse(
        OPTIMAL,
        solution.value,
        {"d": d.reshape(shape), "I": I.reshape(shape), "S": S.reshape(shape)},
        n_solves,
        seconds,
    )


def demand_floor_cost(inst: InventoryInstance, v: np.ndarray) -> float:
    """min p.d over D(v) alone (the follower's value when space and caps do not bind); inf if empty."""
    nT = inst.n * inst.T
    lp = LinearProgram(
        c=inst.p.ravel(),
        A_ub=-inst.Dd,
        b_ub=-(inst.d0 + inst.Dv @ np.ravel(v)),
        A_eq=np.zeros((0, nT)),
        b_eq=np.zeros(0),
        lb=np.zeros(nT),
        ub=np.full(nT, np.inf),
    )
    result = solve_lp(lp)
    return result.value if result.status == OPTIMAL else math.inf


def dual_vertices(inst: InventoryInstance, batch: int = 20000) -> np.ndarray:
    """All vertices of ``{lambda >= 0 : Dd' lambda <= p}`` by brute force over active sets (numpy).

    A vertex has m linearly independent active constraints among the n*T rows ``Dd' lambda <= p`` and the m
    rows ``lambda >= 0``. Feasible only for small m (the seed: C(24, 16) = 735,471 active sets).
    """
    m, nT = inst.Dd.shape
    rows = np.vstack([inst.Dd.T, -np.eye(m)])  # rows @ lambda <= rhs
    rhs = np.concatenate([inst.p.ravel(), np.zeros(m)])
    found: list[np.ndarray] = []
    combos = itertools.combinations(range(nT + m), m)
    while True:
        chunk = np.array(list(itertools.islice(combos, batch)), dtype=np.int64)
        if len(chunk) == 0:
            break
        mats, vecs = rows[chunk], rhs[chunk]
        ok = np.abs(np.linalg.det(mats)) > 1e-9
        if not ok.any():
            continue
        lam = np.linalg.solve(mats[ok], vecs[ok][..., None])[..., 0]
        feasible = np.all(lam @ rows.T <= rhs + 1e-9, axis=1)
        found.extend(lam[feasible])
    if not found:
        return np.zeros((0, m))
    return np.unique(np.round(np.array(found), 9), axis=0)


def value_by_dual_vertices(inst: InventoryInstance, v: np.ndarray, vertices: np.ndarray) -> float:
    """phi(v) = max_k lambda_k @ (d0 + Dv v); valid without finite space constraints or caps."""
    return float(np.max(vertices @ (inst.d0 + inst.Dv @ np.ravel(v))))
