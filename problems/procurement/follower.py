"""The market's response to posted prices (the follower), solved exactly, and its independent checks.

The follower is the consumers' strictly convex QP of ``instance.py``, one per type profile::

    min_x  p @ x + 1/2 x' Q x + q @ x     s.t.  sum_i x_i = 1 (inelastic only),  x >= 0

KKT (seed sections 2 and 3, HM.jl/LDM.jl): ``p + Q x + q - u + v 1 = 0, x . u = 0, u >= 0``; with elastic
demand the sum row and its multiplier v, tied across the profile's suppliers, are dropped.

Strict convexity makes the response unique, so optimistic and pessimistic tie-breaking coincide (there is
no tie to break); the problem still accepts both readings. The feasible set (simplex, or the nonnegative
orthant when elastic) is non-empty for every price, so the follower is never infeasible: its status is
``optimal``, or ``invalid`` when prices are not finite (``FollowerResponse.infeasibility`` stays 0, there is
no distance to feasibility to grade; the leader's IR/IC violation is graded, see ``problem.py``).

- :func:`closed_form_demand` (utilities.jl ``assortmentHM``/``demandHM``/``demandLM``), vectorised over
  profiles. HM: in the breakpoints S_i (where supplier i's market ends) the cost separates into
  sum_i g_i(S_i), g_i with curvature 2 delta and minimiser the indifference point
  y_i = (p_{i+1} - p_i + delta (l_i + l_{i+1})) / (2 delta) for i < n; the minimiser over
  0 <= S_1 <= ... <= S_{n-1} <= 1 (inelastic: S_n = 1) is the isotonic regression (pool-adjacent-violators) of
  the y_i, clipped to [0, 1]. With two suppliers this is the source's assortment rule: supplier 1 gets
  clip((p_2 - p_1 + delta) / (2 delta), 0, 1). Elastic HM: S_n is free too, with
  g_n(S) = p_n S + delta/2 (S - l_n)^2 (curvature delta, minimiser l_n - p_n / delta), so the weighted
  isotonic regression (weights 2 delta, ..., 2 delta, delta) clipped below at 0 (bounded isotonic regression
  on a chain is the clipped unbounded one). LDM, two suppliers, inelastic: the source's ``demandLM``
  formula, clipped to [0, 1]. Every other LDM case (n != 2, or elastic): the KKT system solved on every
  active set, vectorised over profiles (exact and finite, 2^n sets), the set with x >= 0 and u >= 0 kept.
- :func:`active_set_demand`: the same QP solved independently, one profile at a time, by enumerating its
  active sets and solving each KKT system with its own matrices (exact, finite). It is the closed form's
  exact check (tests). :func:`kkt_residual` certifies any demand: the QP is convex, so zero KKT residual
  means optimal.
- :func:`qp_demand`: the QP handed to an OR-Tools solver. In ortools 9.15 MathOpt refuses quadratic
  objectives for HiGHS, OSQP and PDLP in this build, and pywraplp has no QP; SCIP (MathOpt GSCIP) accepts
  it but solves it by outer approximation, accurate to ~1e-3 in x (and slow with tight tolerances), so it
  is a coarse cross-check only; the tests also use scipy's SLSQP (1e-5).
- :func:`assortment_hm`: utilities.jl ``assortmentHM``: supplier i is in the assortment when
  p_i <= min_{j != i} (p_j + delta |l_j - l_i|) (no rival undercuts it at its own location; inelastic).
"""

from __future__ import annotations

import datetime
import itertools
import time

import numpy as np
from ortools.math_opt.python import mathopt

from bilevel_bench.limits import solver_seconds
from bilevel_bench.problem import INVALID, OPTIMAL, FollowerResponse
from bilevel_bench.problems.procurement.instance import ProcurementInstance

#: KKT residual accepted from a demand (prices are O(10), demands O(1)).
KKT_TOL = 1e-7


def closed_form_demand(inst: ProcurementInstance, prices: np.ndarray) -> np.ndarray:
    """Demands [profiles, n] for prices [profiles, n] (see the module docstring for the method per model)."""
    prices = np.atleast_2d(np.asarray(prices, dtype=float))
    if inst.n == 1 and not inst.elastic:
        return np.ones_like(prices)
    if inst.model == "hm":
        return _hotelling(inst, prices)
    if inst.n == 2 and not inst.elastic:
        return _affine_two(inst, prices)
    return enumerate_demand(inst, prices)


def _hotelling(inst: ProcurementInstance, prices: np.ndarray) -> np.ndarray:
    l, delta, n = inst.locations, inst.delta, inst.n
    points = (prices[:, 1:] - prices[:, :-1] + delta * (l[:-1] + l[1:])[None, :]) / (2.0 * delta)
    zeros = np.zeros((len(prices), 1))
    if not inst.elastic:
        breaks = np.clip(np.array([_isotonic(row) for row in points]).reshape(points.shape), 0.0, 1.0)
        return np.asarray(np.diff(np.hstack([zeros, breaks, zeros + 1.0]), axis=1))
    y = np.hstack([points, (l[-1] - prices[:, -1] / delta)[:, None]])
    weights = np.append(np.full(n - 1, 2.0 * delta), delta)
    breaks = np.maximum(np.array([_isotonic(row, weights) for row in y]), 0.0)
    return np.asarray(np.diff(np.hstack([zeros, breaks]), axis=1))


def _isotonic(y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Pool-adjacent-violators: the non-decreasing sequence nearest to ``y`` in weighted least squares."""
    w = np.ones(len(y)) if weights is None else weights
    means: list[float] = []
    mass: list[float] = []
    sizes: list[int] = []
    for value, weight in zip(y, w, strict=True):
        means.append(float(value))
        mass.append(float(weight))
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            total = mass[-2] + mass[-1]
            means[-2] = (means[-2] * mass[-2] + means[-1] * mass[-1]) / total
            mass[-2] = total
            sizes[-2] += sizes[-1]
            means.pop()
            mass.pop()
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


def enumerate_demand(inst: ProcurementInstance, prices: np.ndarray) -> np.ndarray:
    """The KKT system on every active set A, vectorised over profiles: inelastic
    [Q_AA 1; 1' 0] [x_A; v] = [-(p + q)_A; 1], elastic Q_AA x_A = -(p + q)_A (A may be empty); the first set,
    largest first, with x >= 0 and u = p + Qx + q (+ v) >= 0 off A gives the answer (unique up to degenerate
    ties, which give the same x)."""
    Q, q, _ = inst.quadratic()
    prices = np.atleast_2d(np.asarray(prices, dtype=float))
    count, n = prices.shape
    X = np.full((count, n), np.nan)
    pending = np.ones(count, dtype=bool)
    smallest = 0 if inst.elastic else 1
    for size in range(n, smallest - 1, -1):
        for A in itertools.combinations(range(n), size):
            if not pending.any():
                break
            rows = np.flatnonzero(pending)
            g = prices[rows] + q[None, :]
            x = np.zeros((len(rows), n))
            v = np.zeros(len(rows))
            idx = list(A)
            if size:
                if inst.elastic:
                    x[:, idx] = np.linalg.solve(Q[np.ix_(idx, idx)], -g[:, idx].T).T
                else:
                    K = np.zeros((size + 1, size + 1))
                    K[:size, :size] = Q[np.ix_(idx, idx)]
                    K[:size, size] = K[size, :size] = 1.0
                    rhs = np.hstack([-g[:, idx], np.ones((len(rows), 1))])
                    sol = np.linalg.solve(K, rhs.T).T
                    x[:, idx], v = sol[:, :size], sol[:, size]
            u = g + x @ Q.T + v[:, None]
            ok = (x.min(axis=1) >= -KKT_TOL) & (u.min(axis=1) >= -KKT_TOL)
            X[rows[ok]] = x[ok]
            pending[rows[ok]] = False
    if pending.any():  # impossible for a strictly convex QP
        raise ArithmeticError("no active set satisfies the KKT conditions")
    X = np.clip(X, 0.0, None)
    if not inst.elastic:
        X = X / X.sum(axis=1, keepdims=True)
    return X


def active_set_demand(inst: ProcurementInstance, price: np.ndarray) -> np.ndarray:
    """Solve the KKT system on each active set A, one profile: inelastic [Q_AA 1; 1' 0] [x_A; v] =
    [-(p + q)_A; 1], elastic Q_AA x_A = -(p + q)_A; keep the one with x_A >= 0 and u = p + Qx + q (+ v) >= 0
    off A. Exact and finite (2^n sets); the QP is strictly convex, so exactly one set passes (up to degenerate
    ties, which give the same x)."""
    Q, q, _ = inst.quadratic()
    n = inst.n
    price = np.asarray(price, dtype=float)
    sets: list[tuple[int, ...]] = [A for size in range(n, 0, -1) for A in itertools.combinations(range(n), size)]
    if inst.elastic:
        sets.append(())
    for A in sets:
        idx, size = list(A), len(A)
        x = np.zeros(n)
        v = 0.0
        if inst.elastic:
            if size:
                x[idx] = np.linalg.solve(Q[np.ix_(idx, idx)], -(price + q)[idx])
        else:
            K = np.zeros((size + 1, size + 1))
            K[:size, :size] = Q[np.ix_(idx, idx)]
            K[:size, size] = K[size, :size] = 1.0
            sol = np.linalg.solve(K, np.append(-(price + q)[idx], 1.0))
            x[idx], v = sol[:size], float(sol[size])
        u = price + Q @ x + q + v
        if x.min() >= -KKT_TOL and u.min() >= -KKT_TOL:
            x = np.clip(x, 0.0, None)
            return x if inst.elastic else x / x.sum()
    raise ArithmeticError("no active set satisfies the KKT conditions")  # impossible for a strictly convex QP


def assortment_hm(inst: ProcurementInstance, prices: np.ndarray) -> np.ndarray:
    """utilities.jl ``assortmentHM``: [profiles, n] booleans, p_i <= min_{j != i} (p_j + delta |l_j - l_i|)."""
    prices = np.atleast_2d(np.asarray(prices, dtype=float))
    reach = prices[:, None, :] + inst.delta * np.abs(inst.locations[None, :] - inst.locations[:, None])[None]
    idx = np.arange(inst.n)
    reach[:, idx, idx] = np.inf  # [s, i, j] = p_j + delta |l_j - l_i|, j != i
    return np.asarray(prices <= reach.min(axis=2) + 1e-12)


def qp_demand(inst: ProcurementInstance, price: np.ndarray, time_limit: float = 10.0) -> np.ndarray:
    """The consumers' QP for one profile solved by SCIP (OR-Tools MathOpt): a coarse (~1e-3) cross-check."""
    Q, q, _ = inst.quadratic()
    upper = inst.demand_norm_bound()
    model = mathopt.Model(name="consumers")
    x = [model.add_variable(lb=0.0, ub=upper, name=f"x{i}") for i in range(inst.n)]
    if not inst.elastic:
        model.add_linear_constraint(sum(x) == 1.0)
    objective = sum((float(price[i]) + float(q[i])) * x[i] for i in range(inst.n))
    objective += sum(0.5 * float(Q[i, j]) * x[i] * x[j] for i in range(inst.n) for j in range(inst.n))
    model.minimize(objective)
    seconds = solver_seconds(time_limit)
    params = mathopt.SolveParameters(threads=1, time_limit=datetime.timedelta(seconds=seconds))
    result = mathopt.solve(model, mathopt.SolverType.GSCIP, params=params)
    if result.termination.reason != mathopt.TerminationReason.OPTIMAL:
        raise ArithmeticError(f"SCIP: {result.termination.reason.name}")
    values = result.variable_values()
    return np.array([values[v] for v in x])


def scip_parameters(time_limit: float | None = None) -> mathopt.SolveParameters:
    """One thread, gap 1e-7 (tighter gaps stall SCIP's outer approximation of the quadratic terms); the time
    limit is capped by the run's deadline (``bilevel_bench.limits``)."""
    params = mathopt.SolveParameters(threads=1, relative_gap_tolerance=1e-7, absolute_gap_tolerance=1e-7)
    seconds = solver_seconds(time_limit if time_limit is not None else float("inf"))
    if np.isfinite(seconds):
        params.time_limit = datetime.timedelta(seconds=seconds)
    return params


def kkt_residual(inst: ProcurementInstance, price: np.ndarray, x: np.ndarray) -> float:
    """Largest violation of the KKT conditions by demand ``x`` at ``price`` (0 for the exact response)."""
    Q, q, _ = inst.quadratic()
    g = price + Q @ x + q
    support = x > 1e-9
    v = -float(np.mean(g[support])) if support.any() and not inst.elastic else 0.0  # stationarity fixes v
    u = g + v
    primal = max(0.0, -float(x.min())) if inst.elastic else max(abs(float(x.sum()) - 1.0), -float(x.min()), 0.0)
    stationarity = float(np.abs(u[support]).max()) if support.any() else 0.0
    return float(max(stationarity, max(0.0, -float(u.min())), primal))


def solve_follower(inst: ProcurementInstance, prices: np.ndarray) -> FollowerResponse:
    """Every profile's market response at once; ``value`` is the expected consumers' cost."""
    start = time.perf_counter()
    X = closed_form_demand(inst, prices)
    Q, q, k = inst.quadratic()
    cost = np.einsum("si,si->s", prices, X) + 0.5 * np.einsum("si,ij,sj->s", X, Q, X) + X @ q + k
    status = OPTIMAL if np.isfinite(X).all() and np.isfinite(cost).all() else INVALID
    value = float(inst.profile_probabilities() @ cost) if status == OPTIMAL else float("nan")
    return FollowerResponse(status, value, {"x": X}, len(prices), time.perf_counter() - start)
