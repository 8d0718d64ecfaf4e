"""Prices and allocations: the prices that induce an allocation, the cheapest of them under IR/IC, and the
repair of a solver's decision onto the IR/IC polytope.

Notation of ``instance.py`` and ``mechanism.py``: allocation X [profiles, n], marginal values
w = -(Q x_s + q) per profile, IR/IC rows ``Gx x + Gt t >= 0``. On profile s with active set A (x_is > 0) the
market's KKT rows fix the active prices: p_A = w_A - v_s (inelastic: one free level v_s per profile;
elastic: v_s = 0, the prices are pinned by the allocation), and an inactive supplier stays out at any
price p_j >= w_j - v_s. Adding the same amount to every price of a profile leaves an inelastic market's
answer unchanged (the simplex QP's argmin is invariant) and adds that amount times x_is to each t_is.

**Repair of a solver's decision** (:func:`repair_decision`, the family's ``repair_solver_decision``). A
single-level solver meets t = x.p, the market's KKT rows and the IR/IC rows only to its tolerances (SCIP:
1e-6), so its prices, answered by the exact market, can break IR/IC by ~1e-6. The repair finds the
**minimum change** (L1 norm, in money units) of the leader's vector that makes every IR/IC row hold:

1. at the exact market's allocation X itself, by an LP (GLOP) whose rows are exact (no allocation change):
   decentralized, inelastic: one shift c_s per profile added to all its prices (an inactive supplier's price
   is kept, or moved by c_s within [0, cap] while it stays out); centralized: the payment shares rho
   (transfers t_is = x_is tau_i(theta_i), linear in rho at fixed X);
2. where step 1 has no solution (elastic demand pins the prices to the allocation; or the allocation breaks
   the monotonicity IC needs, by the solver's tolerance), by moving the allocation too: on the market's
   support at the decision the answer is affine in the prices (dx_A = -[Q_AA 1; 1' 0]^-1 dp_A, or
   -Q_AA^-1 dp_A when elastic), so the IR/IC rows are linearised in the price change (t = x.p gives
   dt = x dp + p dx, the neglected term dx dp is ~|dp|^2) and the LP is solved again from its answer, at most
   :data:`LINEAR_ROUNDS` times, until the rows hold exactly.

The problem only hands the repair decisions whose IR/IC shortfall is at most :data:`REPAIR_MAX_VIOLATION`
and accepts a repaired vector only when the exact market and rows certify it and its value is within
:data:`REPAIR_MAX_VALUE_CHANGE` of the decision's (solver tolerance, not a different decision).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from bilevel_bench.lp import LinearProgram, solve_lp
from bilevel_bench.problem import OPTIMAL
from bilevel_bench.problems.procurement.follower import closed_form_demand
from bilevel_bench.problems.procurement.instance import ProcurementInstance

if TYPE_CHECKING:
    from bilevel_bench.problems.procurement.problem import ProcurementProblem

#: Demand below this counts as zero when a solver's allocation is turned into prices.
ACTIVE_TOL = 1e-9
#: Decisions whose total IR/IC shortfall (money units, see ``mechanism.py``) exceeds this are not repaired:
#: SCIP's tolerances leave ~1e-6; a larger shortfall is a different decision, reported as infeasible.
REPAIR_MAX_VIOLATION = 1e-4
#: A repair may change the decision's value (the exact market's cost) by at most this, relative to max(1, |value|):
#: it fixes a solver's tolerance, it does not find another decision. (Its price changes can be larger, ~1e-3,
#: along directions that the rows see only to second order, e.g. prices varying across profiles around
#: the same interim average.)
REPAIR_MAX_VALUE_CHANGE = 1e-5
#: Linearised LP rounds of repair step 2.
LINEAR_ROUNDS = 6


def marginal_values(inst: ProcurementInstance, X: np.ndarray) -> np.ndarray:
    """w = -(Q x_s + q) per profile [profiles, n]: the active prices are w_A - v_s."""
    Q, q, _ = inst.quadratic()
    return np.asarray(-(np.asarray(X) @ Q.T + q[None, :]))


def inducing_prices(inst: ProcurementInstance, X: np.ndarray) -> np.ndarray:
    """Prices whose market answer is X (demands below :data:`ACTIVE_TOL` taken as 0; inelastic: X rescaled
    onto the simplex). Active: p_A = w_A - v_s with v_s = min_A w (inelastic: the cheapest active price is 0)
    or v_s = 0 (elastic); inactive: the price cap (out at any price >= w_j - v_s).

    Inelastic: every split of the unit is induced (within the cap when the cap exceeds the spread of w).
    Elastic: exactly the allocations with w_A >= 0 on their support; a negative w is clipped to 0 (the
    answer then differs from X)."""
    X = np.where(np.asarray(X, dtype=float) > ACTIVE_TOL, X, 0.0)
    if not inst.elastic:
        X = X / X.sum(axis=1, keepdims=True)
    w = marginal_values(inst, X)
    active = X > 0
    level = np.zeros(len(X)) if inst.elastic else np.where(active, w, np.inf).min(axis=1)
    cap = inst.price_bound()
    return np.asarray(np.where(active, np.clip(w - level[:, None], 0.0, cap), cap))


def cheapest_prices(inst: ProcurementInstance, X: np.ndarray, Gx: np.ndarray, Gt: np.ndarray) -> np.ndarray | None:
    """The prices inducing allocation X that minimise E[sum t] under the IR/IC rows, or None if none exist.

    Inelastic: the LP over the levels v_s (t_is = x_is (w_is - v_s), 0 <= p <= cap, inactive suppliers at the
    cap, which needs w_j - v_s <= cap). Elastic: the pinned prices p_A = w_A, if they lie in [0, cap] and pass
    the rows (there is nothing to choose)."""
    S, n, cap = len(X), inst.n, inst.price_bound()
    w = marginal_values(inst, X)
    active = X > 0
    if inst.elastic:
        prices = np.where(active, w, cap)
        if np.any(w[active] < 0) or np.any(w[active] > cap) or np.any(w[~active] > cap):
            return None
        slack = Gx @ X.ravel() + Gt @ (X * prices).ravel()
        return prices if slack.min() >= -1e-12 else None
    # t = t0 - B v with B[(s, i), s] = x_is on active suppliers
    t0 = np.where(active, X * w, 0.0).ravel()
    B = np.zeros((S * n, S))
    for s in range(S):
        B[s * n : (s + 1) * n, s] = np.where(active[s], X[s], 0.0)
    A_ub = Gt @ B  # IR/IC: Gx X + Gt (t0 - B v) >= 0  <=>  (Gt B) v <= Gx X + Gt t0
    b_ub = Gx @ X.ravel() + Gt @ t0
    lo = w.max(axis=1) - cap  # active prices <= cap, and inactive suppliers stay out at the cap
    hi = np.where(active, w, np.inf).min(axis=1)  # active prices >= 0
    if np.any(lo > hi + 1e-12):
        return None
    prob = inst.profile_probabilities()
    c = -(prob[:, None] * np.where(active, X, 0.0)).sum(axis=1)  # E[sum t] = const - sum_s f_s (sum_i x_is) v_s
    lo = np.minimum(lo, hi)
    solution = solve_lp(LinearProgram(c, A_ub, b_ub, np.zeros((0, S)), np.zeros(0), lo, hi))
    if solution.status != OPTIMAL:
        return None
    v = polish(A_ub, b_ub, lo, hi, solution.y)
    return np.asarray(np.where(active, np.clip(w - v[:, None], 0.0, cap), cap))


# -- the repair ------------------------------------------------------------------------------------------
def repair_decision(problem: ProcurementProblem, y: np.ndarray) -> np.ndarray | None:
    """A minimum-change repair of leader vector ``y`` onto the IR/IC polytope (module docstring), or None.

    The caller (``ProcurementProblem.repair_solver_decision``) checks the result with the exact market."""
    inst = problem.instance
    prices = problem.prices(y)
    X = closed_form_demand(inst, prices)
    fixed = _fixed_allocation(problem, y, X)
    if fixed is not None and problem.evaluate(fixed).violation == 0.0:
        return fixed
    current = np.asarray(y, dtype=float)
    for _ in range(LINEAR_ROUNDS):
        step = _linearised(problem, current)
        if step is None:
            return None
        current = step
        evaluation = problem.evaluate(current)
        if evaluation.follower.ok and evaluation.violation == 0.0:
            return current
    return None


def _lp_min_l1(A: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """min sum weights |z| s.t. A z <= b, lo <= z <= hi (z = z+ - z-, both >= 0), polished; or None."""
    k = len(weights)
    A = np.where(np.abs(A) > 1e-12 * max(1.0, float(np.abs(A).max(initial=0.0))), A, 0.0)  # GLOP fails on 1e-17 noise
    A2 = np.hstack([A, -A])
    lp = LinearProgram(
        np.concatenate([weights, weights]),
        A2,
        b,
        np.zeros((0, 2 * k)),
        np.zeros(0),
        np.zeros(2 * k),
        np.concatenate([np.maximum(hi, 0.0), np.maximum(-lo, 0.0)]),
    )
    solution = solve_lp(lp)
    if solution.status != OPTIMAL:
        return None
    return polish(A, b, lo, hi, np.asarray(solution.y[:k] - solution.y[k:]))


#: A row within this (relative) of its bound at an LP solution is taken as binding by :func:`polish`.
BINDING_TOL = 1e-7


def polish(A: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Make the rows that GLOP left binding (A z <= b within its feasibility tolerance, ~1e-9) hold exactly:
    the least-norm change of z that puts every binding row and every bound-touching coordinate exactly on its
    bound (a vertex's active set is consistent, so the change is of the size of GLOP's residuals). Returns z
    unchanged when the projection would break another row."""
    scale = 1.0 + np.abs(A) @ np.abs(z) + np.abs(b)
    binding = b - A @ z <= BINDING_TOL * scale
    at_lo, at_hi = z - lo <= BINDING_TOL * (1.0 + np.abs(lo)), hi - z <= BINDING_TOL * (1.0 + np.abs(hi))
    eye = np.eye(len(z))
    M = np.vstack([A[binding], eye[at_lo], eye[at_hi]])
    rhs = np.concatenate([b[binding] - A[binding] @ z, lo[at_lo] - z[at_lo], hi[at_hi] - z[at_hi]])
    if not len(rhs):
        return z
    dz = np.linalg.lstsq(M, rhs, rcond=None)[0]
    polished = z + dz
    ok = np.all(A @ polished <= b + 1e-13 * scale) and np.all(polished >= lo - 1e-13) and np.all(polished <= hi + 1e-13)
    return polished if ok else z


def _fixed_allocation(problem: ProcurementProblem, y: np.ndarray, X: np.ndarray) -> np.ndarray | None:
    """Step 1: an exact LP at the market's allocation X (profile shifts, or payment shares)."""
    inst = problem.instance
    Gx, Gt = problem.rows()
    base = Gx @ X.ravel()
    S, n, cap = len(X), inst.n, inst.price_bound()
    y = np.asarray(y, dtype=float)
    if problem.version == "centralized":
        own = inst.profiles()
        theta = inst.types[None, :]
        span = (theta[:, -1:] - theta) * np.ones((n, 1))  # [n, m]
        rho0 = y[problem.n_prices :].reshape(n, inst.m)
        tau0 = theta + rho0 * span
        # t_is = x_is (tau0 + span drho)_i,k(s): d t / d rho[i, k] = x_is span[i, k] on profiles where i has type k
        E = np.zeros((S * n, n * inst.m))
        for s in range(S):
            for i in range(n):
                E[s * n + i, i * inst.m + own[s, i]] = X[s, i] * span[i, own[s, i]]
        t0 = (X * tau0[np.arange(n)[None, :], own]).ravel()
        step = _lp_min_l1(-Gt @ E, base + Gt @ t0, -rho0.ravel(), 1.0 - rho0.ravel(), span.ravel() + 1e-9)
        if step is None:
            return None
        rho = np.clip(rho0.ravel() + step, 0.0, 1.0)
        return np.concatenate([y[: problem.n_prices], rho])
    if inst.elastic:
        return None
    prices = problem.prices(y)
    active = X > 0
    w = marginal_values(inst, X)
    level = np.where(active, w - prices, 0.0).sum(axis=1) / active.sum(axis=1)  # the market's v_s
    u = prices - w + level[:, None]  # inactive suppliers' reduced costs (>= 0)
    B = np.zeros((S * n, S))
    for s in range(S):
        B[s * n : (s + 1) * n, s] = np.where(active[s], X[s], 0.0)
    t0 = (X * prices).ravel()
    lo = -np.where(active, prices, np.inf).min(axis=1)
    hi = np.minimum(
        np.where(active, cap - prices, np.inf).min(axis=1), np.where(active, np.inf, cap - prices + u).min(axis=1)
    )
    step = _lp_min_l1(-Gt @ B, base + Gt @ t0, lo, hi, active.sum(axis=1).astype(float))
    if step is None:
        return None
    shifted = np.where(active, prices + step[:, None], np.clip(prices + step[:, None], 0.0, cap))
    return np.concatenate([shifted.ravel(), y[problem.n_prices :]])


def _response_jacobians(inst: ProcurementInstance, X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per profile (dx/dp [n, n], dv/dp [n]) on the market's support at X (affine there)."""
    Q, _, _ = inst.quadratic()
    out = []
    for x in X:
        idx = np.flatnonzero(x > 0)
        size = len(idx)
        J, dv = np.zeros((inst.n, inst.n)), np.zeros(inst.n)
        if size and inst.elastic:
            J[np.ix_(idx, idx)] = -np.linalg.inv(Q[np.ix_(idx, idx)])
        elif size:
            K = np.zeros((size + 1, size + 1))
            K[:size, :size] = Q[np.ix_(idx, idx)]
            K[:size, size] = K[size, :size] = 1.0
            Kinv = np.linalg.inv(K)
            J[np.ix_(idx, idx)] = -Kinv[:size, :size]
            dv[idx] = -Kinv[size, :size]
        out.append((J, dv))
    return out


def _linearised(problem: ProcurementProblem, y: np.ndarray) -> np.ndarray | None:
    """Step 2: one LP in the change of the whole leader vector, the market's answer moving with the prices."""
    inst = problem.instance
    Gx, Gt = problem.rows()
    Q, q, _ = inst.quadratic()
    S, n, m, cap = len(inst.profiles()), inst.n, inst.m, inst.price_bound()
    prices = problem.prices(y)
    X = closed_form_demand(inst, prices)
    own = inst.profiles()
    centralized = problem.version == "centralized"
    rate = problem.rates(y)[np.arange(n)[None, :], own] if centralized else prices  # t = x * rate
    T = X * rate
    jac = _response_jacobians(inst, X)
    N = S * n
    extra = n * m if centralized else 0
    # dX = Jbig dp (block diagonal), dt = rate dX + X drate
    dX = np.zeros((N, N + extra))
    dT = np.zeros((N, N + extra))
    rows_out: list[np.ndarray] = []  # inactive suppliers stay out: du_j = dp_j + Q_j dx + dv >= -u_j
    rhs_out: list[float] = []
    g = X @ Q.T + q[None, :] + prices  # p + Qx + q
    for s, (J, dv) in enumerate(jac):
        block = slice(s * n, (s + 1) * n)
        dX[block, block] = J
        active = X[s] > 0
        v = 0.0 if inst.elastic or not active.any() else -float(np.mean(g[s][active]))
        for j in np.flatnonzero(~active):
            row = np.zeros(N + extra)
            row[block] = (Q[j] @ J) + dv
            row[s * n + j] += 1.0
            rows_out.append(-row)
            rhs_out.append(float(g[s, j] + v))  # -du_j <= u_j
    dT[:, :N] = rate.ravel()[:, None] * dX[:, :N]
    if centralized:
        theta = inst.types[None, :]
        span = (theta[:, -1:] - theta) * np.ones((n, 1))
        for s in range(S):
            for i in range(n):
                dT[s * n + i, N + i * m + own[s, i]] += X[s, i] * span[i, own[s, i]]
    else:
        dT[:, :N] += np.diag(X.ravel())
    slack = Gx @ X.ravel() + Gt @ T.ravel()
    A = [-(Gx @ dX + Gt @ dT)]  # slack + d slack >= 0
    b = [slack]
    active_flat = X.ravel() > 0
    if active_flat.any():  # active demands stay >= 0
        A.append(-dX[active_flat])
        b.append(X.ravel()[active_flat])
    if rows_out:
        A.append(np.array(rows_out))
        b.append(np.array(rhs_out))
    lo, hi = -prices.ravel(), cap - prices.ravel()
    weights = np.ones(N)
    if centralized:
        rho = np.asarray(y, dtype=float)[problem.n_prices :]
        lo, hi = np.concatenate([lo, -rho]), np.concatenate([hi, 1.0 - rho])
        theta = inst.types[None, :]
        weights = np.concatenate([weights, ((theta[:, -1:] - theta) * np.ones((n, 1))).ravel() + 1e-9])
    step = _lp_min_l1(np.vstack(A), np.concatenate(b), lo, hi, weights)
    if step is None:
        return None
    return np.asarray(np.clip(np.asarray(y, dtype=float) + step, *problem.bounds()))


def support_sets(n: int) -> list[tuple[int, ...]]:
    """Non-empty subsets of range(n), largest first."""
    return [A for size in range(n, 0, -1) for A in itertools.combinations(range(n), size)]
