"""The customer's LP (the follower) for fixed production x and advertising v, solved exactly with GLOP.

Variables y = (d, I, S), each [n, T] flattened row-major. In the spec's notation::

    min  sum_jt p[j,t] d[j,t]
    s.t. d[j,t] + I[j,t] - I[j,t-1] - S[j,t] = x[j,t]        (material balance, I[j,-1] = 0)
         sum_j B[j] I[j,t] <= Ibar[t] + Mspace y[t]           (space; dropped where unbounded)
         Dd d >= d0 + Dv v                                    (the demand set D(v))
         0 <= I <= inventory_cap,  0 <= S <= subcontract_cap,  d >= 0

The follower's objective does not see I and S, so ties are the rule: the leader pays h I + s S. The
second stage (:mod:`bilevel_bench.lp`, lexicographic tie-breaking) optimises the leader's part
``p d - h I - s S`` over the follower's optimal face: maximised (optimistic) or minimised (pessimistic).
Without caps on I and S (and without a finite warehouse in the last period) the pessimistic stage is
unbounded (subcontract and hold without limit); it is reported as ``unbounded``. The reported follower
value is the stage-1 optimum phi(x, v) (unique; the returned response costs at most the tie tolerance more).

Two solvers with the same answers (a test compares them on 1,000 random decisions):

- :class:`FollowerModel`, used by :class:`~bilevel_bench.problems.inventory.problem.InventoryProblem`: one
  :class:`bilevel_bench.lp.ParametricLP` per instance and process, built once; a call sets only the
  leader-dependent right-hand sides (the supply rows get x, the demand rows get d0 + Dv v). It solves the
  same LP with S substituted out (see the class);
- :func:`solve_follower`, the reference: both stages built from scratch in every call.

Graded infeasibility. The LP is infeasible only when caps bind (without caps, subcontracting covers any
demand and buying absorbs any production). Then ``FollowerResponse.infeasibility`` is the phase-one measure
``min sum_jt (t+[j,t] + t-[j,t])`` over responses y within their bounds, D(v) and the space rows, with the
balance rows relaxed to ``d + I - I_prev - S + t+ - t- = x``: the least total quantity of product (units,
summed over products and periods) that would have to be added to or taken from the customer's supply for a
feasible plan to exist. It is 0 exactly when the follower is feasible, and nan when D(v) itself is empty.

Independent check: without a finite space constraint and caps, the balance duals are zero and the value
function is ``phi(v) = max_k lambda_k @ (d0 + Dv v)`` over the vertices of ``{lambda >= 0 : Dd' lambda <= p}``,
which :func:`dual_vertices` enumerates with numpy.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np

from bilevel_bench.lp import LinearProgram, LPSolution, ParametricLP, least_violation, solve_lexicographic, solve_lp
from bilevel_bench.problem import INFEASIBLE, INVALID, OPTIMAL, FollowerResponse
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
    for row, period in enumerate(finite.tolist()):
        space[row, nT + np.arange(n) * T + period] = inst.B
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


def balance_rows(lp: LinearProgram) -> np.ndarray:
    """Mask over the rows (``A_ub`` then ``A_eq``) of :func:`follower_lp` that the phase one relaxes."""
    return np.concatenate([np.zeros(len(lp.b_ub), dtype=bool), np.ones(len(lp.b_eq), dtype=bool)])


def _response(
    inst: InventoryInstance, solution: LPSolution, n_solves: int, start: float, infeasibility: float = 0.0
) -> FollowerResponse:
    seconds = time.perf_counter() - start
    if solution.status != OPTIMAL:
        return FollowerResponse(
            solution.status, math.nan, {}, n_solves, seconds, f"follower LP {solution.status}", infeasibility
        )
    y, nT, shape = solution.y, inst.n * inst.T, (inst.n, inst.T)
    return FollowerResponse(
        OPTIMAL,
        solution.value,
        {"d": y[:nT].reshape(shape), "I": y[nT : 2 * nT].reshape(shape), "S": y[2 * nT :].reshape(shape)},
        n_solves,
        seconds,
    )


def _not_finite(x: np.ndarray, v: np.ndarray) -> bool:
    """Whether the decision holds nan or inf (or values so large that their sum overflows)."""
    return not math.isfinite(float(x.sum()) + float(v.sum()))


def solve_follower(inst: InventoryInstance, x: np.ndarray, v: np.ndarray, tie_break: str) -> FollowerResponse:
    """The reference solver: both stages (and the phase one when infeasible) built from scratch."""
    start = time.perf_counter()
    if _not_finite(x, v):
        return _response(inst, LPSolution(INVALID, np.empty(0), math.nan), 0, start)
    lp = follower_lp(inst, x, v)
    solution, n_solves = solve_lexicographic(lp, leader_preference(inst), tie_break)
    if solution.status == INFEASIBLE:
        return _response(inst, solution, n_solves + 1, start, least_violation(lp, balance_rows(lp)))
    return _response(inst, solution, n_solves, start)


class FollowerModel:
    """The follower of one instance as a persistent :class:`~bilevel_bench.lp.ParametricLP` (one per
    process; not picklable: the problem keeps it in a ``transient`` attribute).

    It solves the same LP as :func:`follower_lp` with S substituted out (the balance row defines it,
    ``S = d + I - I_prev - x``): variables y = (d, I), and the balance rows become the supply rows
    ``x <= d + I - I_prev <= x + subcontract_cap`` (S >= 0 and S <= cap; the second only with a cap). The
    optimal faces correspond one to one, the follower's cost p d is unchanged and the leader's part becomes
    ``(p - s) d + (-h - s + s_next) I + s x``, the constant s x not moving the tie-break; so both stages and
    the phase one (the supply rows relaxed: the same least total shortage or excess) give the reference's
    numbers (a test checks 1,000 decisions). A third fewer columns: about 1/6 less time per call.
    """

    def __init__(self, inst: InventoryInstance) -> None:
        self.inst = inst
        n, T = inst.n, inst.T
        nT = n * T
        self.nT, self.shape = nT, (n, T)
        lag = np.zeros((nT, nT))  # I[j,t-1] within product j
        for j in range(n):
            for t in range(1, T):
                lag[j * T + t, j * T + t - 1] = 1.0
        supply = np.hstack([np.eye(nT), np.eye(nT) - lag])  # d + I - I_prev, = x + S
        self._supply = supply
        cap = inst.space_capacity()
        finite = np.flatnonzero(np.isfinite(cap))
        space = np.zeros((len(finite), 2 * nT))
        for row, period in enumerate(finite.tolist()):
            space[row, nT + np.arange(n) * T + period] = inst.B
        demand = np.hstack([-inst.Dd, np.zeros((len(inst.d0), nT))])
        self.s_cap = inst.subcontract_cap
        rows = [space, demand, -supply] + ([supply] if self.s_cap is not None else [])
        A_ub = np.vstack(rows)
        self.n_space, self.m = len(finite), len(inst.d0)
        self._b_ub = np.concatenate([cap[finite], np.zeros(len(A_ub) - len(finite))])
        self._minus_d0 = -np.asarray(inst.d0, dtype=float)
        self._Dv = np.asarray(inst.Dv, dtype=float)
        s_flat, h_flat = inst.s.ravel(), inst.h.ravel()
        self._s = s_flat
        preference = np.concatenate([inst.p.ravel() - s_flat, -h_flat - s_flat + lag.T @ s_flat])
        ub_I = np.inf if inst.inventory_cap is None else inst.inventory_cap
        lp = LinearProgram(
            c=np.concatenate([inst.p.ravel(), np.zeros(nT)]),
            A_ub=A_ub,
            b_ub=self._b_ub.copy(),
            A_eq=np.zeros((0, 2 * nT)),
            b_eq=np.zeros(0),
            lb=np.zeros(2 * nT),
            ub=np.concatenate([np.full(nT, np.inf), np.full(nT, ub_I)]),
        )
        elastic = np.zeros(len(A_ub), dtype=bool)
        elastic[self.n_space + self.m :] = True  # the supply rows (the reference relaxes the balance rows)
        self.lp = ParametricLP(lp, preference, elastic=elastic)

    def rhs(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """b_ub of the reduced LP at (x, v): space capacities, -(d0 + Dv v), -x, then x + cap."""
        b_ub = self._b_ub.copy()
        start = self.n_space + self.m
        np.subtract(self._minus_d0, self._Dv @ v.ravel(), out=b_ub[self.n_space : start])
        flat = np.asarray(x, dtype=float).ravel()
        np.negative(flat, out=b_ub[start : start + self.nT])
        if self.s_cap is not None:
            np.add(flat, self.s_cap, out=b_ub[start + self.nT :])
        return b_ub

    def solve(self, x: np.ndarray, v: np.ndarray, tie_break: str) -> FollowerResponse:
        start = time.perf_counter()
        if _not_finite(x, v):
            return _response(self.inst, LPSolution(INVALID, np.empty(0), math.nan), 0, start)
        solution, n_solves = self.lp.solve_lexicographic(tie_break, b_ub=self.rhs(x, v))
        if solution.status == INFEASIBLE:
            return _response(self.inst, solution, n_solves + 1, start, self.lp.least_violation())
        if solution.status != OPTIMAL:
            return _response(self.inst, solution, n_solves, start)
        y, nT = solution.y, self.nT
        S = self._supply @ y - np.asarray(x, dtype=float).ravel()
        np.clip(S, 0.0, math.inf if self.s_cap is None else self.s_cap, out=S)  # round-off only
        return FollowerResponse(
            OPTIMAL,
            solution.value,
            {"d": y[:nT].reshape(self.shape), "I": y[nT:].reshape(self.shape), "S": S.reshape(self.shape)},
            n_solves,
            time.perf_counter() - start,
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
