"""Exact single-level baseline: the follower's KKT conditions with big-M complementarity (a MILP).

This is the Fortuny-Amat/McCarl reformulation that PAO's ``pao.pyomo.FA`` applies to the same model, with
every big-M **derived from the instance** (never a guessed 1e6: the spec reports a false optimum
234,889.53 at M = 1e7). The follower LP (``follower.py``) is written as

    min c'y   s.t.  G y >= g(x, v)   (lambda >= 0):  demand rows Dd d >= d0 + Dv v, space rows -B I_t >= -cap_t
                    E y  = x         (mu free):      material balance
                    y >= 0           (nu = c - G'lambda - E'mu >= 0, the reduced costs)

and its KKT conditions are primal feasibility, dual feasibility and complementarity
``lambda_i (G_i y - g_i) = 0`` and ``nu_k y_k = 0``, each made linear with one binary and two big-Ms.
Maximising the leader's F over all KKT points picks, among the follower's optimal responses, the one best
for the leader: the optimistic reading, by construction.

Derivation of the bounds (:func:`kkt_bounds`). Optimal duals are the (super)gradients of the follower's
value function phi, so every optimal dual component is bounded by a directional derivative of phi, which
a feasible repair of the follower's solution bounds from above:

- demand row i: raising g_i by e costs at most ``L_i e`` with ``L_i = min{p.delta : Dd delta >= e_i,
  delta >= 0}`` (buy delta more, subcontract it), so ``0 <= lambda_i <= L_i``;
- balance (j,t): taking e more production costs at most ``L+_jt e`` with ``L+_jt = min{p.delta :
  Dd delta >= 0, delta >= e_jt}``; taking e less costs nothing (subcontract it). So ``0 <= mu_jt <= L+_jt``;
- space row t: freeing e of space costs at most ``max_j L+_jt / B_j`` (buy more of a product held then).

Primal bounds: phi <= phi_max = phi(xmax, g_max), one LP, since phi is nondecreasing in both, so
``d <= phi_max / p``; in a leader-optimal response no unit is subcontracted beyond the remaining demand
(s > 0, h >= 0), so ``S[j,t] <= sum_{t' >= t} dmax[j,t']`` and ``I[j,t] <= sum_{t' <= t} (xmax + Smax)``.
Slacks and reduced costs are then bounded by interval arithmetic. Caps on I and S (the pessimistic
setting) are out of scope for this baseline, as the spec allows.

Every result is re-verified: the follower is solved again for the MILP's (x, v) and the reported
objective is that bilevel value; the MILP's own objective goes into the notes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
from ortools.linear_solver import pywraplp

from bilevel_bench.lp import LinearProgram, solve_lp
from bilevel_bench.problem import OPTIMAL, ExactResult
from bilevel_bench.problems.inventory.instance import InventoryInstance

MIP_SOLVERS = ("SCIP", "HIGHS")
MIP_GAP = 1e-9  # relative gap at which the MILP counts as solved
VERIFY_TOL = 1e-6  # relative agreement of MILP objective and re-verified bilevel value


@dataclasses.dataclass(frozen=True)
class KKTBounds:
    demand_dual: np.ndarray  # [m]  upper bounds of lambda (demand rows)
    balance_dual: np.ndarray  # [nT] upper bounds of mu (lower bounds are 0)
    space_dual: np.ndarray  # [T] upper bounds of the space duals (inf where no constraint)
    d: np.ndarray  # [nT]
    I: np.ndarray  # [nT]
    S: np.ndarray  # [nT]
    phi_max: float


def _min_cost_lift(inst: InventoryInstance, lower_rows: np.ndarray, lower_vars: np.ndarray) -> float:
    """min p.delta s.t. Dd delta >= lower_rows, delta >= lower_vars (inf if infeasible)."""
    nT = inst.n * inst.T
    lp = LinearProgram(
        c=inst.p.ravel(),
        A_ub=-inst.Dd,
        b_ub=-lower_rows,
        A_eq=np.zeros((0, nT)),
        b_eq=np.zeros(0),
        lb=lower_vars,
        ub=np.full(nT, np.inf),
    )
    result = solve_lp(lp)
    return result.value if result.status == OPTIMAL else math.inf


def _largest_follower_cost(inst: InventoryInstance, xmax: np.ndarray, g_max: np.ndarray) -> float:
    """phi at (xmax, g_max): an upper bound of phi over the leader's box, because phi is nondecreasing in
    the demand rows' right-hand sides (lambda >= 0) and in production (mu >= 0)."""
    from bilevel_bench.problems.inventory.follower import follower_lp

    lp = follower_lp(inst, xmax.reshape(inst.n, inst.T), np.zeros((inst.n, inst.T)))
    lp = dataclasses.replace(lp, b_ub=np.concatenate([lp.b_ub[: len(lp.b_ub) - len(g_max)], -g_max]))
    result = solve_lp(lp)
    if result.status != OPTIMAL:
        raise ValueError(f"the follower at the largest leader decision is {result.status}: no big-M bound")
    return result.value


def kkt_bounds(inst: InventoryInstance) -> KKTBounds:
    """Valid bounds on the follower's optimal duals and on the leader-optimal primal response."""
    m, nT = inst.Dd.shape
    n, T = inst.n, inst.T
    eye_m, eye_nT = np.eye(m), np.eye(nT)
    demand_dual = np.array([_min_cost_lift(inst, eye_m[i], np.zeros(nT)) for i in range(m)])
    balance_dual = np.array([_min_cost_lift(inst, np.zeros(m), eye_nT[k]) for k in range(nT)])
    if not (np.isfinite(demand_dual).all() and np.isfinite(balance_dual).all()):
        raise ValueError("a demand row cannot be met by any demand: the KKT big-Ms are not derivable")
    cap = inst.space_capacity()
    lift = balance_dual.reshape(n, T) / inst.B[:, None]
    space_dual = np.where(np.isfinite(cap), lift.max(axis=0), np.inf)
    g_max = inst.d0 + np.maximum(inst.Dv, 0.0) @ inst.vmax.ravel()
    xmax = inst.production_bound().ravel()
    phi_max = _largest_follower_cost(inst, xmax, g_max)
    d = (phi_max / inst.p).ravel()
    d_rows = d.reshape(n, T)
    S = np.cumsum(d_rows[:, ::-1], axis=1)[:, ::-1]  # demand still to come, from t on
    I = np.cumsum(xmax.reshape(n, T) + S, axis=1)
    I = np.minimum(I, cap[None, :] / inst.B[:, None])
    return KKTBounds(demand_dual, balance_dual, space_dual, d, I.ravel(), S.ravel(), phi_max)


def build_kkt_model(problem, solver_name: str = "SCIP") -> tuple[pywraplp.Solver, dict]:
    """The KKT single-level MILP as an OR-Tools model, with handles to its leader variables."""
    inst: InventoryInstance = problem.instance
    if solver_name not in MIP_SOLVERS:
        raise ValueError(f"solver {solver_name!r} is not one of {MIP_SOLVERS}")
    n, T = inst.n, inst.T
    nT, m = n * T, len(inst.d0)
    bounds = kkt_bounds(inst)
    solver = pywraplp.Solver.CreateSolver(solver_name)
    xmax, vmax = problem.bounds()[1][:nT], inst.vmax.ravel()
    x = [solver.NumVar(0.0, float(xmax[k]), f"x_{k}") for k in range(nT)]
    v = [solver.NumVar(0.0, float(vmax[k]), f"v_{k}") for k in range(nT)]
    if inst.setup == "decision":
        z = [solver.BoolVar(f"z_{k}") for k in range(nT)]
        for k in range(nT):
            solver.Add(x[k] <= float(xmax[k]) * z[k])
    else:
        z = [1.0] * nT
    for i in range(inst.q):  # leader resources
        for t in range(T):
            terms = [inst.a[i, j, t] * x[j * T + t] for j in range(n) if inst.a[i, j, t] > 0]
            if terms:
                solver.Add(solver.Sum(terms) <= float(inst.b[i, t]))
    y_ub = np.concatenate([bounds.d, bounds.I, bounds.S])
    y = [solver.NumVar(0.0, float(y_ub[k]), f"y_{k}") for k in range(3 * nT)]
    d, I, S = y[:nT], y[nT : 2 * nT], y[2 * nT :]

    # G y >= g(v): demand rows then finite space rows, with their dual bounds and g's range
    cap = inst.space_capacity()
    space_t = np.flatnonzero(np.isfinite(cap))
    G = np.zeros((m + len(space_t), 3 * nT))
    G[:m, :nT] = inst.Dd
    for row, t in enumerate(space_t):
        G[m + row, nT + np.arange(n) * T + t] = -inst.B
    dual_ub = np.concatenate([bounds.demand_dual, bounds.space_dual[space_t]])

    def g_expr(i: int):
        if i < m:
            return float(inst.d0[i]) + solver.Sum([inst.Dv[i, k] * v[k] for k in np.flatnonzero(inst.Dv[i])])
        return -float(cap[space_t[i - m]])

    g_min = np.concatenate([inst.d0 + np.minimum(inst.Dv, 0.0) @ vmax, -cap[space_t]])
    lam = [solver.NumVar(0.0, float(dual_ub[i]), f"lam_{i}") for i in range(len(dual_ub))]
    mu = [solver.NumVar(0.0, float(bounds.balance_dual[k]), f"mu_{k}") for k in range(nT)]
    for i, row in enumerate(G):
        active = solver.BoolVar(f"u_{i}")  # 1: the row may bind (lambda free), 0: lambda = 0
        lhs = solver.Sum([row[k] * y[k] for k in np.flatnonzero(row)])
        slack_ub = float(np.maximum(row, 0.0) @ y_ub - g_min[i])
        solver.Add(lhs >= g_expr(i))
        solver.Add(lam[i] <= float(dual_ub[i]) * active)
        solver.Add(lhs - g_expr(i) <= slack_ub * (1 - active))

    # E y = x (material balance) and the reduced costs nu = c - G'lambda - E'mu >= 0
    E = np.hstack([np.eye(nT), np.eye(nT), -np.eye(nT)])
    for j in range(n):
        for t in range(1, T):
            E[j * T + t, nT + j * T + t - 1] = -1.0
    for k in range(nT):
        solver.Add(solver.Sum([E[k, c] * y[c] for c in np.flatnonzero(E[k])]) == x[k])
    cost = np.concatenate([inst.p.ravel(), np.zeros(2 * nT)])
    lam_ub, mu_ub = dual_ub, bounds.balance_dual
    for c_idx in range(3 * nT):
        g_col, e_col = G[:, c_idx], E[:, c_idx]
        nu = (
            cost[c_idx]
            - solver.Sum([g_col[i] * lam[i] for i in np.flatnonzero(g_col)])
            - solver.Sum([e_col[k] * mu[k] for k in np.flatnonzero(e_col)])
        )
        nu_ub = float(cost[c_idx] + np.maximum(-g_col, 0.0) @ lam_ub + np.maximum(-e_col, 0.0) @ mu_ub)
        at_zero = solver.BoolVar(f"w_{c_idx}")  # 1: y_k = 0 (nu free), 0: nu = 0
        solver.Add(nu >= 0)
        solver.Add(nu <= nu_ub * at_zero)
        solver.Add(y[c_idx] <= float(y_ub[c_idx]) * (1 - at_zero))

    p, c, h, s, f = (arr.ravel() for arr in (inst.p, inst.c, inst.h, inst.s, inst.f))
    objective = solver.Sum(
        [p[k] * d[k] - c[k] * x[k] - h[k] * I[k] - s[k] * S[k] - v[k] - f[k] * z[k] for k in range(nT)]
    ) - float(inst.r @ inst.y)
    solver.Maximize(objective)
    return solver, {"x": x, "v": v, "bounds": bounds}


def write_model(problem, path: str | Path, solver_name: str = "SCIP") -> Path:
    """Write the KKT MILP as ``.lp`` or ``.mps`` (by the file's suffix)."""
    path = Path(path)
    solver, _ = build_kkt_model(problem, solver_name)
    if path.suffix == ".lp":
        text = solver.ExportModelAsLpFormat(False)
    elif path.suffix == ".mps":
        text = solver.ExportModelAsMpsFormat(True, False)
    else:
        raise ValueError(f"{path}: the model can be written as .lp or .mps, not {path.suffix!r}")
    path.write_text(text)
    return path


def solve_kkt(problem, time_limit: float = 60.0, solver_name: str = "SCIP") -> ExactResult:
    start = time.perf_counter()
    inst: InventoryInstance = problem.instance
    if problem.tie_break != "optimistic":
        return _unsupported(start, "the KKT baseline is optimistic by construction; pessimistic is out of scope")
    if inst.inventory_cap is not None or inst.subcontract_cap is not None:
        return _unsupported(start, "the KKT baseline does not support caps on I or S")
    solver, handles = build_kkt_model(problem, solver_name)
    solver.SetTimeLimit(int(max(1.0, time_limit) * 1000))
    solver.SetNumThreads(1)
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, MIP_GAP)  # default gaps (1e-4) stop short of the optimum
    if solver_name == "SCIP":
        # SCIP's presolve, on big-M rows, was seen to cut off the seed optimum and report a false
        # 229,258.92 as optimal; without presolve it proves 234,652.3156 at every vmax tried.
        solver.SetSolverSpecificParametersAsString("presolving/maxrounds = 0\n")
    status = solver.Solve(params)
    elapsed = time.perf_counter() - start
    if status == pywraplp.Solver.INFEASIBLE:
        return ExactResult(math.nan, math.nan, "infeasible", elapsed, {}, f"KKT big-M MILP ({solver_name})")
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return ExactResult(math.nan, math.nan, "feasible", elapsed, {}, f"KKT big-M MILP ({solver_name})")
    x = np.array([var.solution_value() for var in handles["x"] + handles["v"]])
    x = problem.repair(np.clip(x, *problem.bounds()))  # solver noise (x = 1e-11 with z = 0) is no production
    milp_value = solver.Objective().Value()
    bound = solver.Objective().BestBound()
    evaluation = problem.evaluate(x)
    verified = evaluation.feasible and abs(evaluation.value - milp_value) <= VERIFY_TOL * max(1.0, abs(milp_value))
    notes = f"MILP objective {milp_value:.6f}; re-verified bilevel value {evaluation.value:.6f}"
    if not verified:
        notes += " (MISMATCH: the MILP point is not bilevel optimal as solved; check tolerances)"
    return ExactResult(
        objective=evaluation.value,
        bound=bound if status == pywraplp.Solver.FEASIBLE else max(bound, milp_value),
        status="optimal" if status == pywraplp.Solver.OPTIMAL else "feasible",
        time_s=time.perf_counter() - start,
        solution={**problem.decode(x), "x": x.tolist()},
        method=f"KKT big-M MILP ({solver_name}), big-Ms derived from instance bounds",
        notes=notes,
    )


def _unsupported(start: float, why: str) -> ExactResult:
    return ExactResult(math.nan, math.nan, "unsupported", time.perf_counter() - start, {}, "KKT big-M MILP", why)


def solve_by_dual_vertices(problem, vertices: np.ndarray | None = None) -> ExactResult:
    """Independent exact method (no big-M, no KKT): enumerate the follower's dual vertices.

    Valid without finite space constraints, caps, or setup decisions. Then the follower's value is
    ``phi(v) = max_k lambda_k @ g(v)`` (``follower.dual_vertices``), so ``p.d <= phi(v)`` is the union over
    k of the linear constraints ``p.d <= lambda_k @ g(v)``: one LP per vertex (GLOP), the best of which is the
    optimistic bilevel optimum.
    """
    from bilevel_bench.problems.inventory.follower import dual_vertices

    start = time.perf_counter()
    inst: InventoryInstance = problem.instance
    if np.isfinite(inst.space_capacity()).any() or inst.setup != "fixed":
        raise ValueError("dual-vertex enumeration needs no finite space constraint and fixed setups")
    if inst.inventory_cap is not None or inst.subcontract_cap is not None:
        raise ValueError("dual-vertex enumeration does not support caps on I or S")
    vertices = dual_vertices(inst) if vertices is None else vertices
    best_value, best_x = -math.inf, None
    for lam in vertices:
        lp = _vertex_lp(problem, lam)
        result = solve_lp(lp, maximize=False)
        if result.status == OPTIMAL and -result.value > best_value:
            best_value, best_x = -result.value, result.y[: 2 * inst.n * inst.T]
    constant = float(inst.r @ inst.y + inst.f.sum())
    return ExactResult(
        objective=best_value - constant,
        bound=best_value - constant,
        status="optimal",
        time_s=time.perf_counter() - start,
        solution={**problem.decode(best_x), "x": best_x.tolist()},
        method=f"dual-vertex enumeration ({len(vertices)} vertices, one LP each)",
    )


def _vertex_lp(problem, lam: np.ndarray) -> LinearProgram:
    """Over z = (x, v, d, I, S): min -F' s.t. resources, balance, D(v), p.d <= lam @ g(v)."""
    inst: InventoryInstance = problem.instance
    n, T, nT, m = inst.n, inst.T, inst.n * inst.T, len(inst.d0)
    Z = np.zeros((nT, nT))
    lag = np.zeros((nT, nT))
    for j in range(n):
        for t in range(1, T):
            lag[j * T + t, j * T + t - 1] = 1.0
    eye = np.eye(nT)
    resources = np.zeros((inst.q * T, 5 * nT))
    for i in range(inst.q):
        for t in range(T):
            resources[i * T + t, np.arange(n) * T + t] = inst.a[i, :, t]
    Zm = np.zeros((m, nT))
    demand = np.hstack([Zm, inst.Dv, -inst.Dd, Zm, Zm])  # Dv v - Dd d <= -d0
    value_cut = np.concatenate([np.zeros(nT), -(lam @ inst.Dv), inst.p.ravel(), np.zeros(2 * nT)])
    xmax, vmax = problem.bounds()[1][:nT], inst.vmax.ravel()
    objective = -np.concatenate([-inst.c.ravel(), -np.ones(nT), inst.p.ravel(), -inst.h.ravel(), -inst.s.ravel()])
    return LinearProgram(
        c=objective,
        A_ub=np.vstack([resources, demand, value_cut[None, :]]),
        b_ub=np.concatenate([inst.b.ravel(), -inst.d0, [lam @ inst.d0]]),
        A_eq=np.hstack([-eye, Z, eye, eye - lag, -eye]),
        b_eq=np.zeros(nT),
        lb=np.zeros(5 * nT),
        ub=np.concatenate([xmax, vmax, np.full(3 * nT, np.inf)]),
    )
