"""Exact optimistic baseline: the follower's KKT conditions with big-M complementarity, by :mod:`bilevel_bench.kkt`.

This is the Fortuny-Amat/McCarl reformulation that PAO's ``pao.pyomo.FA`` applies to the same model, built
by the core's generic KKT builder (:mod:`bilevel_bench.kkt`, equations (K1)-(K7) there) from the follower LP
of ``follower.follower_lp``: y = (d, I, S), ``A_ub y <= b_ub + B_ub (x, v)`` (space rows, then the demand set
``-Dd d <= -(d0 + Dv v)``), ``A_eq y = (x, v)``'s production part (material balance), ``0 <= y <= ub``
(ub = the caps on I and S, or inf). The leader's part (:func:`kkt_inputs`): the box of (x, v), resources,
setup binaries ``x <= xmax z`` (``setup = "decision"``) and F = p d - c x - h I - s S - v - f z - r y.
Maximising F over all KKT points picks the follower's optimal response best for the leader: the optimistic
reading, by construction.

Big-Ms (every one derived, never a guessed 1e6: the spec reports a false optimum 234,889.53 at M = 1e7).
The generic builder derives the primal and slack bounds from LPs over the high-point relaxation; the dual
bounds come from this family's structure (:func:`kkt_bounds`, supplied as proven). Optimal duals are the
(super)gradients of the follower's value function phi, so every optimal dual component is bounded by a
directional derivative of phi, which a feasible repair of the follower's solution bounds from above:

- demand row i: raising g_i by e costs at most ``L_i e`` with ``L_i = min{p.delta : Dd delta >= e_i,
  delta >= 0}`` (buy delta more, subcontract it), so ``0 <= lambda_i <= L_i``;
- balance (j,t): taking e more production costs at most ``L+_jt e`` with ``L+_jt = min{p.delta :
  Dd delta >= 0, delta >= e_jt}`` (buy it at once); taking e less costs nothing (subcontract it). So
  ``0 <= mu_jt <= L+_jt`` (``-L+_jt <= mu_jt <= 0`` in :mod:`bilevel_bench.kkt`'s sign convention);
- space row t: freeing e of space costs at most ``max_j L+_jt / B_j`` (buy more of a product held then).

Primal bounds: phi <= phi_max = phi(xmax, g_max), one LP, since phi is nondecreasing in both, so
``d <= phi_max / p``; in a leader-optimal response no unit is subcontracted beyond the remaining demand
(s > 0, h >= 0), so ``S[j,t] <= sum_{t' >= t} dmax[j,t']`` and ``I[j,t] <= sum_{t' <= t} (xmax + Smax)``.

Caps (optimistic reading). Every repair above subcontracts or buys, never stores, so a cap on inventory I
leaves the argument intact: with ``inventory_cap`` alone the bounds stay proven and the result certified.
A cap on subcontracting S breaks the two repairs that subcontract; then the dual bounds are the largest
components over the enumerated vertices of the (x-independent) dual polyhedron when that is small
(:func:`bilevel_bench.kkt.vertex_dual_bounds`: proven), and otherwise the uncapped values widened tenfold,
*assumed*: the MILP's answer is then reported ``feasible`` (a verified incumbent, optimality not certified),
never ``optimal``.

The pessimistic reading is another formulation: :func:`solve_exact` (and :func:`solve_kkt`) dispatch it to
:func:`_solve_pessimistic`, the one place where ``pessimistic.py`` is wired in.

The core re-verifies every result (:func:`bilevel_bench.verify.verified_exact`); this module does not.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import ortools.linear_solver.pywraplp as pywraplp

from bilevel_bench import kkt
from bilevel_bench.lp import LinearProgram, solve_lp
from bilevel_bench.problem import OPTIMAL, ExactResult, ExactStatus
from bilevel_bench.problems.inventory.follower import follower_lp
from bilevel_bench.problems.inventory.instance import InventoryInstance

if TYPE_CHECKING:
    from bilevel_bench.problems.inventory.problem import InventoryProblem

MIP_SOLVERS = kkt.MIP_SOLVERS
MIP_GAP = kkt.MIP_GAP
#: With subcontracting capped and too many dual bases to enumerate, the uncapped dual bounds times this
#: are *assumed* (the result is then never certified optimal).
ASSUMED_FACTOR = 10.0


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
    lp = follower_lp(inst, xmax.reshape(inst.n, inst.T), np.zeros((inst.n, inst.T)))
    lp = dataclasses.replace(lp, b_ub=np.concatenate([lp.b_ub[: len(lp.b_ub) - len(g_max)], -g_max]))
    result = solve_lp(lp)
    if result.status != OPTIMAL:
        raise ValueError(f"the follower at the largest leader decision is {result.status}: no big-M bound")
    return result.value


def _lifts(inst: InventoryInstance) -> tuple[np.ndarray, np.ndarray]:
    m, nT = inst.Dd.shape
    demand_dual = np.array([_min_cost_lift(inst, np.eye(m)[i], np.zeros(nT)) for i in range(m)])
    balance_dual = np.array([_min_cost_lift(inst, np.zeros(m), np.eye(nT)[k]) for k in range(nT)])
    if not (np.isfinite(demand_dual).all() and np.isfinite(balance_dual).all()):
        raise ValueError("a demand row cannot be met by any demand: the KKT big-Ms are not derivable")
    return demand_dual, balance_dual


def kkt_bounds(inst: InventoryInstance) -> KKTBounds:
    """Valid bounds on the follower's optimal duals and on the leader-optimal primal response (module
    docstring); not valid with subcontracting capped (ValueError)."""
    if inst.subcontract_cap is not None:
        raise ValueError("with subcontracting capped, the value-function bounds of kkt_bounds do not hold")
    n, T = inst.n, inst.T
    demand_dual, balance_dual = _lifts(inst)
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
    if inst.inventory_cap is not None:
        I = np.minimum(I, inst.inventory_cap)
    return KKTBounds(demand_dual, balance_dual, space_dual, d, I.ravel(), S.ravel(), phi_max)


# -- the generic KKT builder's inputs ----------------------------------------------------------------


def _affine_follower(inst: InventoryInstance) -> kkt.AffineLP:
    """The follower LP of ``follower_lp`` as an affine map of the flat leader vector (x, v)."""
    shape, nT = (inst.n, inst.T), inst.n * inst.T

    def build(xv: np.ndarray) -> LinearProgram:
        return follower_lp(inst, xv[:nT].reshape(shape), xv[nT:].reshape(shape))

    return kkt.AffineLP.from_function(build, 2 * nT)


def _leader(problem: InventoryProblem) -> kkt.LeaderSpec:
    """F = p d - c x - h I - s S - v - f z - r y, resources, and x <= xmax z for setup decisions."""
    inst = problem.instance
    n, T, nT = inst.n, inst.T, inst.n * inst.T
    lb, ub = problem.bounds()
    resources = np.zeros((inst.q * T, 2 * nT))
    for i in range(inst.q):
        for t in range(T):
            resources[i * T + t, np.arange(n) * T + t] = inst.a[i, :, t]
    used = np.any(resources != 0, axis=1)
    rows_x, rhs = resources[used], inst.b.ravel()[used]
    constant = -float(inst.r @ inst.y)
    spec: dict[str, Any] = {}
    if inst.setup == "decision":  # z[k] binary, x[k] <= xmax[k] z[k], cost f z
        link = np.hstack([np.eye(nT), np.zeros((nT, nT))])
        rows_w = np.vstack([np.zeros((len(rhs), nT)), -np.diag(ub[:nT])])
        rows_x, rhs = np.vstack([rows_x, link]), np.concatenate([rhs, np.zeros(nT)])
        spec = {"w_lb": np.zeros(nT), "w_ub": np.ones(nT), "w_integer": np.ones(nT, bool), "obj_w": -inst.f.ravel()}
        spec["rows_w"] = rows_w
    else:
        constant -= float(inst.f.sum())
    return kkt.LeaderSpec(
        lb=lb,
        ub=ub,
        sense="max",
        obj_x=np.concatenate([-inst.c.ravel(), -np.ones(nT)]),
        obj_y=np.concatenate([inst.p.ravel(), -inst.h.ravel(), -inst.s.ravel()]),
        constant=constant,
        rows_x=rows_x,
        rows_y=np.zeros((len(rhs), 3 * nT)),
        rows_rhs=rhs,
        **spec,
    )


def _supplied(inst: InventoryInstance, plp: kkt.AffineLP) -> kkt.SuppliedBounds | None:
    """The family's dual (and primal) bounds on ``follower_lp``'s rows; None where kkt.py should derive them."""
    nT, m = inst.n * inst.T, len(inst.d0)
    n_space = len(plp.b_ub) - m
    demand = np.hstack([-inst.Dd, np.zeros((m, 2 * nT))])
    if not np.array_equal(plp.A_ub[n_space:], demand) or np.any(plp.A_ub[:n_space, :nT]):
        raise ValueError("follower_lp's row layout changed (space rows, then demand rows): update _supplied")
    finite = np.isfinite(inst.space_capacity())
    if inst.subcontract_cap is None:
        b = kkt_bounds(inst)
        return kkt.SuppliedBounds(
            y_hi=np.concatenate([b.d, b.I, b.S]),
            lam_hi=np.concatenate([b.space_dual[finite], b.demand_dual]),
            mu_lo=-b.balance_dual,
            mu_hi=np.zeros(nT),
            proven=True,
            argument="inventory value-function bounds (kkt_bounds)",
        )
    if kkt.vertex_dual_bounds(plp) is not None:
        return None  # kkt.py enumerates the dual vertices: proven
    demand_dual, balance_dual = _lifts(inst)
    space = (balance_dual.reshape(inst.n, inst.T) / inst.B[:, None]).max(axis=0)[finite]
    scale = ASSUMED_FACTOR * max(float(demand_dual.max(initial=0.0)), float(balance_dual.max(initial=0.0)))
    return kkt.SuppliedBounds(
        lam_hi=ASSUMED_FACTOR * np.concatenate([space, demand_dual]),
        mu_lo=np.full(nT, -scale),
        mu_hi=np.full(nT, scale),
        proven=False,
        argument=f"subcontracting capped: uncapped dual bounds x{ASSUMED_FACTOR:g}, assumed",
    )


def kkt_inputs(problem: InventoryProblem) -> tuple[kkt.AffineLP, kkt.LeaderSpec, kkt.SuppliedBounds | None]:
    """What :func:`bilevel_bench.kkt.solve` needs for this problem's optimistic baseline."""
    plp = _affine_follower(problem.instance)
    return plp, _leader(problem), _supplied(problem.instance, plp)


def build_kkt_model(problem: InventoryProblem, solver_name: str = "SCIP") -> tuple[pywraplp.Solver, dict[str, Any]]:
    """The KKT single-level MILP as an OR-Tools model, with handles to its leader variables and its bounds."""
    plp, leader, supplied = kkt_inputs(problem)
    big_ms = kkt.derive_big_ms(plp, leader, supplied)
    solver, handles = kkt.build_model(plp, leader, big_ms, solver_name)
    nT = problem.instance.n * problem.instance.T
    bounds = None if problem.instance.subcontract_cap is not None else kkt_bounds(problem.instance)
    return solver, {"x": handles.x[:nT], "v": handles.x[nT:], "bounds": bounds, "big_ms": big_ms}


def write_model(problem: InventoryProblem, path: str | Path, solver_name: str = "SCIP") -> Path:
    """Write the KKT MILP as ``.lp`` or ``.mps`` (by the file's suffix)."""
    path = Path(path)
    if path.suffix not in (".lp", ".mps"):
        raise ValueError(f"{path}: the model can be written as .lp or .mps, not {path.suffix!r}")
    solver, _ = build_kkt_model(problem, solver_name)
    text = solver.ExportModelAsLpFormat(False) if path.suffix == ".lp" else solver.ExportModelAsMpsFormat(True, False)
    path.write_text(text)
    return path


# -- the baselines -----------------------------------------------------------------------------------


def solve_exact(problem: InventoryProblem, time_limit: float = 60.0) -> ExactResult:
    """The family's exact baseline: the optimistic KKT MILP, or the pessimistic reading's own method."""
    if problem.tie_break == "pessimistic":
        return _solve_pessimistic(problem, time_limit)
    return solve_kkt(problem, time_limit)


def solve_kkt(problem: InventoryProblem, time_limit: float = 60.0, solver_name: str = "SCIP") -> ExactResult:
    """The optimistic KKT baseline through :func:`bilevel_bench.kkt.solve` (module docstring)."""
    if problem.tie_break == "pessimistic":
        return _solve_pessimistic(problem, time_limit)
    plp, leader, supplied = kkt_inputs(problem)
    result = kkt.solve(plp, leader, supplied, time_limit=time_limit, solver_name=solver_name)
    if result.x is not None:
        x = np.clip(result.x, *problem.bounds())
        if result.w is not None and len(result.w):  # setup decisions: no setup, no production (solver noise)
            nT = problem.instance.n * problem.instance.T
            x[:nT] = np.where(result.w < 0.5, 0.0, x[:nT])
        result.x = problem.repair(x)  # resources kept exactly (the MILP keeps them to its tolerance)
    views = problem.decode(result.x) if result.x is not None else {}
    return result.as_exact(views, method=f"KKT big-M MILP ({solver_name}, bilevel_bench.kkt)")


def _solve_pessimistic(problem: InventoryProblem, time_limit: float) -> ExactResult:
    """Dispatch point of the pessimistic reading (its module, ``pessimistic.py``, is wired here by its author)."""
    from bilevel_bench.problems.inventory.pessimistic import solve_pessimistic

    return solve_pessimistic(problem, time_limit)


def solve_by_dual_vertices(problem: InventoryProblem, vertices: np.ndarray | None = None) -> ExactResult:
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
    best_value, best_x = -math.inf, np.zeros(2 * inst.n * inst.T)
    for lam in vertices:
        lp = _vertex_lp(problem, lam)
        result = solve_lp(lp, maximize=False)
        if result.status == OPTIMAL and -result.value > best_value:
            best_value, best_x = -result.value, result.y[: 2 * inst.n * inst.T]
    constant = float(inst.r @ inst.y + inst.f.sum())
    return ExactResult(
        objective=best_value - constant,
        bound=best_value - constant,
        status=ExactStatus.OPTIMAL,
        time_s=time.perf_counter() - start,
        solution={**problem.decode(best_x), "x": best_x.tolist()},
        method=f"dual-vertex enumeration ({len(vertices)} vertices, one LP each)",
    )


def _vertex_lp(problem: InventoryProblem, lam: np.ndarray) -> LinearProgram:
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
