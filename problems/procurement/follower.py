"""The market's response to posted prices (the follower), solved exactly, and its independent check.

The follower is the consumers' strictly convex QP of ``instance.py``, one per type profile::

    min_x  p @ x + 1/2 x' Q x + q @ x     s.t.  sum_i x_i = 1,  x >= 0

Strict convexity makes the response unique, so optimistic and pessimistic tie-breaking coincide (there is
no tie to break); the problem still accepts both readings.

- :func:`closed_form_demand` (utilities.jl ``assortmentHM``/``demandHM``/``demandLM``), vectorised over
  profiles. HM: in the breakpoints S_i (where supplier i's market ends) the cost separates into
  sum_i g_i(S_i) with equal curvature 2 delta, minimised over 0 <= S_1 <= ... <= S_{n-1} <= 1; the
  minimiser is the isotonic regression (pool-adjacent-violators) of the indifference points
  (p_{i+1} - p_i + delta (l_i + l_{i+1})) / (2 delta), clipped to [0, 1]. With two suppliers this is the
  source's assortment rule: supplier 1 gets clip((p_2 - p_1 + delta) / (2 delta), 0, 1). LDM with two
  suppliers: the source's ``demandLM`` formula, clipped to [0, 1]. LDM with n != 2 suppliers: the KKT
  system solved on every active set (exact, finite), the one with x >= 0 and u >= 0 kept.
- :func:`active_set_demand`: the same QP solved independently by enumerating its active sets and solving
  each KKT system (exact, finite). It is the closed form's exact check (tests), and the closed form itself
  for LDM with n != 2. :func:`kkt_residual` certifies any demand: the QP is convex, so zero KKT residual
  means optimal.
- :func:`qp_demand`: the QP handed to an OR-Tools solver. In ortools 9.15 MathOpt refuses quadratic
  objectives for HiGHS, OSQP and PDLP in this build, and pywraplp has no QP; SCIP (MathOpt GSCIP) accepts
  it but solves it by outer approximation, accurate to ~1e-3 in x (and slow with tight tolerances), so it
  is a coarse cross-check only.
- :func:`assortment_hm`: utilities.jl ``assortmentHM``: supplier i is in the assortment when
  p_i <= min_{j != i} (p_j + delta |l_j - l_i|) (no rival undercuts it at its own location).
"""

from __future__ import annotations

import datetime
import itertools
import time

import numpy as np
from ortools.math_opt.python import mathopt

from bilevel_bench.problem import INVALID, OPTIMAL, FollowerResponse
from bilevel_bench.problems.procurement.instance import ProcurementInstance

#: KKT residual accepted from a demand (prices are O(10), demands O(1)).
KKT_TOL = 1e-7


def closed_form_demand(inst: ProcurementInstance, prices: np.ndarray) -> np.ndarray:
    """Demands [profiles, n] for prices [profiles, n] (see the module docstring for the method per model)."""
    prices = np.atleast_2d(np.asarray(prices, dtype=float))
    if inst.n == 1:
        return np.ones_like(prices)
    if inst.model == "hm":
        return _hotelling(inst, prices)
    if inst.n == 2:
        return _affine_two(inst, prices)
    return np.array([active_set_demand(inst, p) for p in prices])


def _hotelling(inst: ProcurementInstance, prices: np.ndarray) -> np.ndarray:
    l, delta = inst.locations, inst.delta
    points = (prices[:, 1:] - prices[:, :-1] + delta * (l[:-1] + l[1:])[None, :]) / (2.0 * delta)
    breaks = np.clip(np.array([_isotonic(row) for row in points]), 0.0, 1.0)
    ones = np.ones((len(prices), 1))
    return np.diff(np.hstack([0.0 * ones, breaks, ones]), axis=1)


def _isotonic(y: np.ndarray) -> np.ndarray:
    """Pool-adjacent-violators: the non-decreasing sequence nearest to ``y`` in least squares (equal weights)."""
    means: list[float] = []
    sizes: list[int] = []
    for value in y:
        means.append(float(value))
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            size = sizes[-2] + sizes[-1]
            means[-2] = (means[-2] * sizes[-2] + means[-1] * sizes[-1]) / size
            sizes[-2] = size
            means.pop()
            sizes.pop()
    return np.repeat(means, sizes)


def _affine_two(inst: ProcurementInstance, prices: np.ndarray) -> np.ndarray:
    """utilities.jl ``demandLM``: x_1 = ((r2-g) a1 - (r1-g) a2 + r1 - g - (r1 r2 - g^2)(p1 - p2)) / (r1 + r2 - 2g)."""
    (a1, a2), (r1, r2), g = inst.a, inst.r, inst.gamma
    x1 = ((r2 - g) * a1 - (r1 - g) * a2 + r1 - g - (r1 * r2 - g * g) * (prices[:, 0] - prices[:, 1])) / (
        r1 + r2 - 2 * g
    )
    x1 = np.clip(x1, 0.0, 1.0)
    return np.column_stack([x1, 1.0 - x1])


def active_set_demand(inst: ProcurementInstance, price: np.ndarray) -> np.ndarray:
    """Solve the KKT system on each active set A: [Q_AA 1; 1' 0] [x_A; v] = [-(p + q)_A; 1]; keep the one with
    x_A >= 0 and u = p + Qx + q + v >= 0 off A. Exact and finite (2^n - 1 sets); the QP is strictly convex,
    so exactly one set passes (up to degenerate ties, which give the same x)."""
    Q, q, _ = inst.quadratic()
    n = inst.n
    for size in range(n, 0, -1):
        for A in itertools.combinations(range(n), size):
            idx = list(A)
            K = np.zeros((size + 1, size + 1))
            K[:size, :size] = Q[np.ix_(idx, idx)]
            K[:size, size] = K[size, :size] = 1.0
            rhs = np.append(-(price + q)[idx], 1.0)
            sol = np.linalg.solve(K, rhs)
            x = np.zeros(n)
            x[idx] = sol[:size]
            u = price + Q @ x + q + sol[size]
            if x.min() >= -KKT_TOL and u.min() >= -KKT_TOL:
                return np.clip(x, 0.0, None) / np.clip(x, 0.0, None).sum()
    raise ArithmeticError("no active set satisfies the KKT conditions")  # impossible for a strictly convex QP


def assortment_hm(inst: ProcurementInstance, prices: np.ndarray) -> np.ndarray:
    """utilities.jl ``assortmentHM``: [profiles, n] booleans, p_i <= min_{j != i} (p_j + delta |l_j - l_i|)."""
    prices = np.atleast_2d(np.asarray(prices, dtype=float))
    reach = prices[:, None, :] + inst.delta * np.abs(inst.locations[None, :] - inst.locations[:, None])[None]
    idx = np.arange(inst.n)
    reach[:, idx, idx] = np.inf  # [s, i, j] = p_j + delta |l_j - l_i|, j != i
    return prices <= reach.min(axis=2) + 1e-12


def qp_demand(inst: ProcurementInstance, price: np.ndarray, time_limit: float = 10.0) -> np.ndarray:
    """The consumers' QP for one profile solved by SCIP (OR-Tools MathOpt): a coarse (~1e-3) cross-check."""
    Q, q, _ = inst.quadratic()
    model = mathopt.Model(name="consumers")
    x = [model.add_variable(lb=0.0, ub=1.0, name=f"x{i}") for i in range(inst.n)]
    model.add_linear_constraint(sum(x) == 1.0)
    objective = sum((float(price[i]) + float(q[i])) * x[i] for i in range(inst.n))
    objective += sum(0.5 * float(Q[i, j]) * x[i] * x[j] for i in range(inst.n) for j in range(inst.n))
    model.minimize(objective)
    params = mathopt.SolveParameters(threads=1, time_limit=datetime.timedelta(seconds=time_limit))
    result = mathopt.solve(model, mathopt.SolverType.GSCIP, params=params)
    if result.termination.reason != mathopt.TerminationReason.OPTIMAL:
        raise ArithmeticError(f"SCIP: {result.termination.reason.name}")
    values = result.variable_values()
    return np.array([values[v] for v in x])


def scip_parameters(time_limit: float | None = None) -> mathopt.SolveParameters:
    """One thread, gap 1e-7 (tighter gaps stall SCIP's outer approximation of the quadratic terms)."""
    params = mathopt.SolveParameters(threads=1, relative_gap_tolerance=1e-7, absolute_gap_tolerance=1e-7)
    if time_limit is not None:
        params.time_limit = datetime.timedelta(seconds=time_limit)
    return params


def kkt_residual(inst: ProcurementInstance, price: np.ndarray, x: np.ndarray) -> float:
    """Largest violation of the KKT conditions by demand ``x`` at ``price`` (0 for the exact response)."""
    Q, q, _ = inst.quadratic()
    g = price + Q @ x + q
    support = x > 1e-9
    v = -float(np.mean(g[support]))  # stationarity on the support fixes v
    u = g + v
    return float(max(np.abs(u[support]).max(), max(0.0, -u.min()), abs(x.sum() - 1.0), max(0.0, -x.min())))


def solve_follower(inst: ProcurementInstance, prices: np.ndarray) -> FollowerResponse:
    """Every profile's market response at once; ``value`` is the expected consumers' cost."""
    start = time.perf_counter()
    X = closed_form_demand(inst, prices)
    Q, q, k = inst.quadratic()
    cost = np.einsum("si,si->s", prices, X) + 0.5 * np.einsum("si,ij,sj->s", X, Q, X) + X @ q + k
    status = OPTIMAL if np.isfinite(X).all() else INVALID
    value = float(inst.profile_probabilities() @ cost)
    return FollowerResponse(status, value, {"x": X}, len(prices), time.perf_counter() - start)
