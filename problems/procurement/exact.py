"""Exact baselines of the procurement family: the closed form, the centralized QP, the decentralized MINLP.

Notation of ``instance.py``: profiles s with probability f_s, allocation x_s, transfers t_s, consumers' cost
1/2 x'Qx + q@x + k beyond prices; IR/IC rows ``Gx x + Gt t >= 0`` from ``mechanism.py`` (HM.jl bGx, bGt).

Section numbers below are the seed's (``procurement_mechanism_hm_ldm.md``: section 2 HM.jl, 3 LDM.jl,
4 utilities.jl, 5 examples.jl); the seed numbers no equations.

1. **Closed form** (section 5 examples.jl, section 4 ``virtualcost``; spec "Closed forms"): virtual costs phi_i(theta_i) (utilities.jl
   ``virtualcost``) put in place of prices give the allocation d_s = argmin phi_s@x + 1/2 x'Qx + q@x and
   the value E[phi@d + 1/2 d'Qd + q@d + k]. The prices p = phi are not feasible with t = x.p (hm_example:
   IR/IC violation 2.0), so :func:`closed_form` then finds prices that induce d and attain the value: on
   profile s the follower's KKT conditions fix every active supplier's price up to one level v_s,
   p_is = w_is - v_s with w_s = -(Q d_s + q), and t_is = d_is p_is is linear in v. An LP over v (GLOP)
   minimises E[sum t] under IR/IC, 0 <= p <= price cap. When it reaches E[phi@d] the closed form is
   attained by feasible prices; the notes say whether it was. E[phi@x] <= E[sum t] for every IR/IC
   mechanism (Myerson), so the value is a lower bound for both versions even when it is not attained
   (e.g. generate:model=hm,n=3,m=2,seed=1: the LP at d reaches 11.14403 against 11.14108, while SCIP's
   decentralized prices, whose allocation is within 4e-4 of d, reach 11.1410826 with an IR/IC shortfall
   of 4e-7: the bound is approached, not attained at d itself).
   Conditions reported with it: virtual costs increasing (``checkvcincreasing``), the interim allocation
   non-increasing in the own type (Myerson's monotonicity, which the theorems' conditions guarantee), and,
   for LDM, the d* statistic of ``checkconditionsLM`` (the threshold it is compared with in Theorem 5.2
   is not in the source text we have, so d* is reported, not judged).
2. **Centralized QP** (HM.jl/LDM.jl ``SolveOptimization``, version centralized): min E[sum t + 1/2 x'Qx +
   q@x + k] s.t. sum_i x_is = 1, x, t >= 0, IR/IC. Convex; solved by SCIP (OR-Tools MathOpt, gap 1e-7;
   no other solver in ortools 9.15 takes a QP here, see ``follower.py``). SCIP closes it in < 0.1 s for two
   suppliers but not within 60 s on the 3-supplier generated instances (status time_limit, bound reported).
3. **Decentralized** (version decentralized; the KKT rows of sections 2 and 3): the centralized model plus prices 0 <= p <= P and the
   follower's KKT rows ``p + Q x + q - u + v = 0, x.u = 0, u >= 0`` and ``t = x.p`` (HM.jl, LDM.jl).
   Complementarity by binaries z: x_i <= z_i, u_i <= U (1 - z_i), with bounds derived from the instance:
   for x on the simplex (Qx + q)_i lies in [g_lo_i, g_hi_i] = [min_j, max_j] of (Q_ij + q_i); an active
   supplier a has u_a = 0, so v = -p_a - (Qx+q)_a lies in [-P - max g_hi, -min g_lo]; then
   u_i = p_i + (Qx+q)_i + v <= P + g_hi_i - min g_lo = U_i. The bilinear t = x.p makes the model
   non-convex; SCIP solves it to global optimality (spatial branch and bound) within the time limit.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from ortools.math_opt.python import mathopt

from bilevel_bench.lp import LinearProgram, solve_lp
from bilevel_bench.problem import OPTIMAL, ExactResult
from bilevel_bench.problems.procurement.follower import closed_form_demand, scip_parameters
from bilevel_bench.problems.procurement.instance import ProcurementInstance
from bilevel_bench.problems.procurement.mechanism import constraint_matrices, expected_cost, interim_weights

#: Relative tolerance for "the LP prices attain the closed-form value".
ATTAIN_TOL = 1e-7


# -- 1. the closed form ---------------------------------------------------------------------------------
def virtual_cost_profiles(inst: ProcurementInstance) -> np.ndarray:
    return inst.virtual_costs()[np.arange(inst.n)[None, :], inst.profiles()]


def closed_form(inst: ProcurementInstance) -> dict[str, Any]:
    """Value, allocation, attaining prices (or None) and the theorem-condition checks."""
    phi = virtual_cost_profiles(inst)
    d = closed_form_demand(inst, phi)
    value = expected_cost(inst, d, d * phi)
    prices = attaining_prices(inst, d)
    attained = prices is not None and abs(expected_cost(inst, d, d * prices) - value) <= ATTAIN_TOL * max(1, value)
    return {
        "value": value,
        "allocation": d,
        "prices": prices,
        "attained": bool(attained),
        "conditions": conditions(inst, d),
    }


def attaining_prices(inst: ProcurementInstance, d: np.ndarray) -> np.ndarray | None:
    """Cheapest prices (in E[sum t]) that induce allocation ``d`` and satisfy IR/IC; None if none exist."""
    Q, q, _ = inst.quadratic()
    S, n, cap = len(d), inst.n, inst.price_bound()
    w = -(d @ Q.T + q[None, :])
    active = d > 1e-12
    # t_is = d_is (w_is - v_s) on active suppliers: t = t0 - B v with B[(s,i), s] = d_is
    t0 = np.where(active, d * w, 0.0).ravel()
    B = np.zeros((S * n, S))
    for s in range(S):
        B[s * n : (s + 1) * n, s] = np.where(active[s], d[s], 0.0)
    Gx, Gt, _ = constraint_matrices(inst)
    # IR/IC: Gx d + Gt (t0 - B v) >= 0  <=>  (Gt B) v <= Gx d + Gt t0
    A_ub = Gt @ B
    b_ub = Gx @ d.ravel() + Gt @ t0
    # 0 <= p_is = w_is - v_s <= cap on active suppliers
    lo = np.array([np.max(w[s][active[s]] - cap) for s in range(S)])
    hi = np.array([np.min(w[s][active[s]]) for s in range(S)])
    if np.any(lo > hi + 1e-12):
        return None
    prob = inst.profile_probabilities()
    c = -(prob[:, None] * np.where(active, d, 0.0)).sum(axis=1)  # E[sum t] = const - sum_s f_s (sum_i d_is) v_s
    lp = LinearProgram(c, A_ub, b_ub, np.zeros((0, S)), np.zeros(0), lo, hi)
    solution = solve_lp(lp)
    if solution.status != OPTIMAL:
        return None
    v = solution.y
    inactive_price = np.clip(w - v[:, None], 0.0, cap)  # any p >= w - v keeps an inactive supplier out
    return np.where(active, w - v[:, None], inactive_price)


def inducing_prices(inst: ProcurementInstance, X: np.ndarray) -> np.ndarray:
    """Prices whose market response is X: the KKT rows give p_s = w_s - v_s (u = 0) with w_s = -(Q x_s + q);
    v_s = min_i w_is makes the cheapest price 0. Any allocation on the simplex is induced this way."""
    Q, q, _ = inst.quadratic()
    X = np.clip(np.asarray(X, dtype=float), 0.0, None)
    X = X / X.sum(axis=1, keepdims=True)
    w = -(X @ Q.T + q[None, :])
    return w - w.min(axis=1, keepdims=True)


def conditions(inst: ProcurementInstance, d: np.ndarray) -> dict[str, Any]:
    W = interim_weights(inst)
    interim = np.einsum("iks,si->ik", W, d)  # expected allocation of supplier i with type k
    out: dict[str, Any] = {
        "virtual_costs_increasing": inst.virtual_costs_increasing(),
        "allocation_monotone": bool(np.all(np.diff(interim, axis=1) <= 1e-12)),
    }
    if inst.model == "ldm":
        out["d_star"] = d_star(inst, d)
    return out


def d_star(inst: ProcurementInstance, d: np.ndarray) -> float:
    """``checkconditionsLM``'s heuristic: profiles split by whether every supplier is served (Theta^S) or not
    (Theta^N); d(theta) = max |phi_i(theta) - phi_i(theta')| over theta' in Theta^N and i; d* = min over Theta^S."""
    phi = virtual_cost_profiles(inst)
    served = np.all(d > 1e-12, axis=1)
    if not served.any() or served.all():
        return math.nan
    gaps = np.abs(phi[served][:, None, :] - phi[~served][None, :, :]).max(axis=(1, 2))
    return float(gaps.min())


# -- 2 and 3: the single-level models (SCIP through MathOpt) -------------------------------------------------
def solve_single_level(inst: ProcurementInstance, version: str, time_limit: float) -> ExactResult:
    start = time.perf_counter()
    Q, q, k = inst.quadratic()
    S, n, cap = len(inst.profiles()), inst.n, inst.price_bound()
    prob = inst.profile_probabilities()
    model = mathopt.Model(name=f"procurement-{version}")
    x = [[model.add_variable(lb=0.0, ub=1.0, name=f"x[{s},{i}]") for i in range(n)] for s in range(S)]
    t = [[model.add_variable(lb=0.0, ub=cap, name=f"t[{s},{i}]") for i in range(n)] for s in range(S)]
    for s in range(S):
        model.add_linear_constraint(sum(x[s]) == 1.0)
    Gx, Gt, _ = constraint_matrices(inst)
    flat_x = [v for row in x for v in row]
    flat_t = [v for row in t for v in row]
    for gx, gt in zip(Gx, Gt, strict=True):
        model.add_linear_constraint(
            sum(float(a) * v for a, v in zip(gx, flat_x, strict=True) if a)
            + sum(float(a) * v for a, v in zip(gt, flat_t, strict=True) if a)
            >= 0.0
        )
    p = _add_market(model, x, t, Q, q, cap) if version == "decentralized" else None
    objective = sum(float(prob[s]) * (sum(t[s]) + sum(float(q[i]) * x[s][i] for i in range(n))) for s in range(S))
    objective += sum(
        0.5 * float(prob[s] * Q[i, j]) * x[s][i] * x[s][j] for s in range(S) for i in range(n) for j in range(n)
    )
    model.minimize(objective + float(k))
    result = mathopt.solve(model, mathopt.SolverType.GSCIP, params=scip_parameters(time_limit))
    return _result(inst, result, x, t, p, version, time.perf_counter() - start)


def _add_market(model: mathopt.Model, x: list, t: list, Q: np.ndarray, q: np.ndarray, cap: float) -> list:
    """Prices, the follower's KKT conditions by big-M (bounds derived in the module docstring) and t = x.p."""
    n = len(q)
    g = Q + q[:, None]  # (Qx + q)_i = sum_j g[i, j] x_j on the simplex
    g_lo, g_hi = g.min(axis=1), g.max(axis=1)
    v_lo, v_hi = -cap - float(g_hi.max()), -float(g_lo.min())
    u_max = cap + g_hi + v_hi
    prices = []
    for s, (xs, ts) in enumerate(zip(x, t, strict=True)):
        p = [model.add_variable(lb=0.0, ub=cap, name=f"p[{s},{i}]") for i in range(n)]
        u = [model.add_variable(lb=0.0, ub=float(u_max[i]), name=f"u[{s},{i}]") for i in range(n)]
        z = [model.add_binary_variable(name=f"z[{s},{i}]") for i in range(n)]
        v = model.add_variable(lb=v_lo, ub=v_hi, name=f"v[{s}]")
        for i in range(n):
            Qx = sum(float(Q[i, j]) * xs[j] for j in range(n))
            model.add_linear_constraint(p[i] + Qx + float(q[i]) - u[i] + v == 0.0)
            model.add_linear_constraint(xs[i] <= z[i])
            model.add_linear_constraint(u[i] <= float(u_max[i]) * (1 - z[i]))
            model.add_quadratic_constraint(expr=ts[i] - xs[i] * p[i], lb=0.0, ub=0.0)
        prices.append(p)
    return prices


def _result(inst: ProcurementInstance, result: Any, x: list, t: list, p: list | None, version: str,
            seconds: float) -> ExactResult:  # fmt: skip
    reason = result.termination.reason
    method = f"{version} single-level model, SCIP (OR-Tools MathOpt)"
    if version == "decentralized":
        method += ": follower KKT by big-M binaries with derived bounds, t = x.p bilinear (spatial B&B)"
    if not result.has_primal_feasible_solution():
        status = "infeasible" if reason == mathopt.TerminationReason.INFEASIBLE else "feasible"
        return ExactResult(math.nan, math.nan, status, seconds, {}, method, reason.name)
    values = result.variable_values()
    X = np.array([[values[v] for v in row] for row in x])
    T = np.array([[values[v] for v in row] for row in t])
    solution: dict[str, Any] = {"x_alloc": X.round(9).tolist(), "t": T.round(9).tolist()}
    if p is not None:
        P = np.array([[values[v] for v in row] for row in p])
        solution.update({"p": P.round(9).tolist(), "x": P.ravel().tolist()})
    status = OPTIMAL if reason == mathopt.TerminationReason.OPTIMAL else "feasible"
    bound = float(result.termination.objective_bounds.dual_bound)
    return ExactResult(float(result.objective_value()), bound, status, seconds, solution, method)
