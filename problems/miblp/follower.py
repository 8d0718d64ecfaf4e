"""The follower of a MIBLP, solved exactly for a fixed leader decision, with explicit tie-breaking.

Notation (``instance.py``): v = (x, y), the follower's rows F and the leader's rows U. For a leader decision x
the follower solves the MILP (MibS's lower level; BOBILib, Thürauf et al. 2024, eq. (1b))::

    (F1)  d* = min_y  d @ y
               s.t.   lo_F - Gx x <= Gy y <= hi_F - Gx x        (the follower's rows, x fixed)
                      y_lo <= y <= y_hi,  y_j integer where the MPS says so

Tie-breaking is a lexicographic second solve over the follower's optimal set (``tie_break``)::

    (F2)  min (optimistic) / max (pessimistic)  cy @ y   s.t. (F1)'s constraints and  d @ y <= d* + tol

(cy: the leader's objective on y; the leader's x-part is a constant). tol = 0 where the data are integer
(CP-SAT below: ties are exact), else :func:`bilevel_bench.problem.tie_tolerance`. The optimistic stage also
keeps the leader's coupling rows (rows of U with follower columns) satisfied when some optimal response
can, which is MibS's optimistic bilevel feasibility: among the optimal responses the leader gets one that
satisfies its rows, and of those the cheapest. When none can, (F2) is solved without them and the leader's
violation says by how much the rows fail. The pessimistic stage ignores the coupling rows (it maximises
cy @ y over the optimal set; it does not look for an optimal response that breaks a coupling row); none of
the shipped instances has coupling rows. Stage 2 is skipped when it cannot change the leader's value
(cy = 0, and no coupling rows in the optimistic reading).

Two exact shortcuts, both checked by the tests against enumeration:

- where a follower row cannot be met by any y of the follower's box (interval arithmetic on Gy, with a
  1e-9 relative margin so that float noise never decides), (F1) is infeasible without a solve;
- on the CP-SAT engine (integer data) without coupling rows, (F1) and (F2) are one solve of the weighted
  objective ``W d @ y + cy @ y`` (pessimistic: ``- cy @ y``) with W = 1 + the range of cy @ y over the box:
  two responses with different d @ y differ by at least W in it, so its minimisers are exactly (F2)'s
  (:meth:`CpSatFollower.combined`; about 30 % fewer solver seconds than two solves on DeNegre).

**Graded infeasibility** (``FollowerResponse.infeasibility``): when (F1) is infeasible for x, the minimum
total slack of the follower's rows over the follower's box, from the phase-one LP (integrality dropped;
GLOP, one persistent model shared by both engines)::

    min  sum_i (p_i + q_i)   s.t.  lo_F - Gx x <= Gy y + p - q <= hi_F - Gx x,  p, q >= 0,  y_lo <= y <= y_hi

in the rows' own units. It grows with how far the leader's x pushes the follower's rows out of reach, so a
search has a slope to follow. For packing rows with non-negative y (BOBILib's DeNegre instances: a x + b y
<= r, b >= 0) it equals the MILP's minimum slack (both are sum_i max(0, a_i x - r_i), at y = 0). It is 0
where x leaves the LP relaxation feasible but no integer y exists; such candidates get only the core's flat
penalty. The LP, not the MILP, because the MILP phase one is itself hard where feasibility is (one
infeasible leader decision of ``enigma-0.900000`` cost 0.3-2.6 s with CP-SAT, against milliseconds here).

Two exact engines, chosen once per instance (:func:`make_engine`), each keeping its model between calls
(only the right-hand sides and the objective change):

- :class:`CpSatFollower` when every follower variable is integer and bounded and every follower row, the
  follower's objective, the leader's objective on y and the coupling rows are integer after scaling each
  by the least common multiple of its coefficients' denominators (up to :data:`MAX_SCALE`): CP-SAT,
  ``num_workers = 1``, exact integer arithmetic;
- :class:`ScipFollower` otherwise (continuous or unbounded follower variables, irrational coefficients):
  SCIP through ``pywraplp``, one thread, its default tolerances (1e-6 feasibility, 1e-9 integrality after
  the values of integer variables are rounded); a solution whose rows are off by more than
  :data:`FEASIBILITY_TOL` is reported ``invalid``.

Every solve's time limit is :data:`SOLVE_LIMIT_S` capped by the run's deadline
(:func:`bilevel_bench.limits.solver_seconds`); a solve cut by it gives status ``limit``. Neither engine uses
a node or solution limit, so the answers do not depend on the machine's load.

The independent check used in the tests is :func:`brute_force` (enumeration of every integer y in the box).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from fractions import Fraction
from typing import Any

import numpy as np

from bilevel_bench import limits
from bilevel_bench.problem import INFEASIBLE, INVALID, LIMIT, OPTIMAL, UNBOUNDED, FollowerResponse, tie_tolerance
from bilevel_bench.problems.miblp.instance import MiblpInstance

#: Own time limit of one solver call (the run's deadline caps it).
SOLVE_LIMIT_S = 120.0
#: Largest row scale (lcm of denominators) for which the CP-SAT engine is used.
MAX_SCALE = 10**6
#: Largest magnitude of a scaled coefficient, bound or row activity CP-SAT is given (int64 must not overflow).
MAX_INT = 2**50
#: A row's bound that means "none" in CP-SAT.
FREE = 2**62
#: Relative slack when a scaled right-hand side is rounded to an integer (float noise, never real fractions).
ROUND_TOL = 1e-9
#: CP-SAT's presolve: off, because on these small followers it costs 4-5x the search (benchmarks/miblp_evaluation.py).
CPSAT_PRESOLVE = False
#: CP-SAT solves (F1) and (F2) as one weighted objective where that is exact (integer data, no coupling rows).
WEIGHTED = True
#: Relative slack of the interval pre-check (a row whose range over the follower's box misses its bounds by
#: more than this is infeasible without a solve).
INTERVAL_TOL = 1e-9
#: Largest scaled row residual a SCIP solution may have.
FEASIBILITY_TOL = 1e-6


@dataclasses.dataclass(frozen=True)
class Split:
    """The instance split by level (dense blocks; plain arrays)."""

    lc: np.ndarray  # leader columns
    fc: np.ndarray  # follower columns
    Gx: np.ndarray  # [m_f, n_x] follower rows on x
    Gy: np.ndarray  # [m_f, n_y] follower rows on y
    f_lo: np.ndarray  # [m_f] (-inf: none)
    f_hi: np.ndarray
    Hx: np.ndarray  # [m_u, n_x] leader rows on x
    Hy: np.ndarray  # [m_u, n_y] leader rows on y (non-zero rows: coupling rows)
    u_lo: np.ndarray
    u_hi: np.ndarray
    cx: np.ndarray  # leader objective on x
    cy: np.ndarray  # leader objective on y
    offset: float
    d: np.ndarray  # follower objective
    y_lo: np.ndarray  # (-inf: none)
    y_hi: np.ndarray
    y_int: np.ndarray

    @property
    def coupling(self) -> np.ndarray:
        """Indices of the leader rows that involve follower variables."""
        return np.flatnonzero(np.any(self.Hy != 0, axis=1))


def split(instance: MiblpInstance) -> Split:
    A = instance.dense()
    row_lo, row_hi, col_lo, col_hi = instance.bounds_inf()
    lc, fc = instance.leader_cols, instance.follower_cols
    fr, ur = instance.follower_rows, instance.leader_rows
    return Split(
        lc=lc,
        fc=fc,
        Gx=A[np.ix_(fr, lc)],
        Gy=A[np.ix_(fr, fc)],
        f_lo=row_lo[fr],
        f_hi=row_hi[fr],
        Hx=A[np.ix_(ur, lc)],
        Hy=A[np.ix_(ur, fc)],
        u_lo=row_lo[ur],
        u_hi=row_hi[ur],
        cx=instance.obj[lc],
        cy=instance.obj[fc],
        offset=instance.obj_offset,
        d=instance.follower_obj,
        y_lo=col_lo[fc],
        y_hi=col_hi[fc],
        y_int=instance.integer[fc],
    )


def row_violation(lo: np.ndarray, hi: np.ndarray, value: np.ndarray) -> np.ndarray:
    """How far each ``value`` lies outside [lo, hi] (0 inside; inf bounds never bind)."""
    return np.maximum(np.maximum(lo - value, 0.0), np.maximum(value - hi, 0.0))


# -- scaling to integers ------------------------------------------------------------------------------------------


def integer_scale(values: np.ndarray) -> int | None:
    """The least s with s * values all integers (denominators up to MAX_SCALE), or None."""
    scale = 1
    for v in np.unique(values[values != 0]):
        frac = Fraction(float(v)).limit_denominator(MAX_SCALE)
        if abs(float(frac) - float(v)) > 1e-12 * max(1.0, abs(float(v))):
            return None
        scale = math.lcm(scale, frac.denominator)
        if scale > MAX_SCALE:
            return None
    return scale


def _scaled_rows(M: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(integer matrix, per-row scale) or None if some row is not rational enough."""
    scales = []
    for row in M:
        s = integer_scale(row)
        if s is None:
            return None
        scales.append(s)
    S = np.asarray(scales, dtype=float).reshape(-1)
    out = np.rint(M * S[:, None]) if len(M) else M.copy()
    if np.abs(out).max(initial=0.0) > MAX_INT:
        return None
    return out.astype(np.int64), S


def cpsat_applies(sp: Split) -> str:
    """ "" if the CP-SAT engine is exact for this split, else why not."""
    if not sp.y_int.all():
        return "a follower variable is continuous"
    if not (np.isfinite(sp.y_lo).all() and np.isfinite(sp.y_hi).all()):
        return "a follower variable has no finite bound"
    if max(np.abs(sp.y_lo).max(initial=0), np.abs(sp.y_hi).max(initial=0)) > MAX_INT:
        return "a follower bound is too large for CP-SAT"
    ymax = np.maximum(np.abs(sp.y_lo), np.abs(sp.y_hi))
    for name, M in (("follower rows", sp.Gy), ("coupling rows", sp.Hy[sp.coupling])):
        scaled = _scaled_rows(M)
        if scaled is None:
            return f"the {name} are not rational with small denominators"
        if len(M) and (np.abs(scaled[0]) @ ymax).max() > MAX_INT:
            return f"the {name} can take values too large for CP-SAT"
    for name, vec in (("follower objective", sp.d), ("leader objective on y", sp.cy)):
        s = integer_scale(vec)
        if s is None or np.abs(vec * s) @ ymax > MAX_INT:
            return f"the {name} is not rational with small denominators"
    return ""


def _rhs(lo: np.ndarray, hi: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scaled bounds of integer rows, rounded inward (a row's integer left side meets them exactly)."""
    slo, shi = lo * scale, hi * scale
    with np.errstate(invalid="ignore"):
        ilo = np.where(np.isfinite(slo), np.ceil(slo - ROUND_TOL * np.maximum(1.0, np.abs(slo))), -FREE)
        ihi = np.where(np.isfinite(shi), np.floor(shi + ROUND_TOL * np.maximum(1.0, np.abs(shi))), FREE)
    # beyond the activity limit a bound cannot bind (or cannot be met): clip to keep int64 safe
    return np.clip(ilo, -FREE, FREE).astype(np.int64), np.clip(ihi, -FREE, FREE).astype(np.int64)


# -- the engines --------------------------------------------------------------------------------------------------


class FollowerEngine:
    """One exact follower solver for one instance; ``solve`` is the whole lexicographic response."""

    name = ""

    def __init__(self, sp: Split) -> None:
        self.sp = sp
        self.coupling = sp.coupling
        self._phase: Any = None
        #: whether :meth:`combined` solves (F1) and (F2) exactly in one solve (integer data only)
        self.weighted = False
        # the range of each follower row's left side Gy @ y over the follower's box (interval arithmetic)
        pos, neg = np.maximum(sp.Gy, 0.0), np.minimum(sp.Gy, 0.0)
        with np.errstate(invalid="ignore"):
            self.g_min = np.nan_to_num(_dot(pos, sp.y_lo) + _dot(neg, sp.y_hi), nan=-np.inf)
            self.g_max = np.nan_to_num(_dot(pos, sp.y_hi) + _dot(neg, sp.y_lo), nan=np.inf)

    def combined(self, lo: np.ndarray, hi: np.ndarray, optimistic: bool) -> tuple[str, np.ndarray]:
        raise NotImplementedError

    def solve(self, x: np.ndarray, tie_break: str) -> FollowerResponse:
        start = time.perf_counter()
        sp = self.sp
        gx = sp.Gx @ x
        lo, hi = sp.f_lo - gx, sp.f_hi - gx
        ux = sp.Hx[self.coupling] @ x
        c_lo, c_hi = sp.u_lo[self.coupling] - ux, sp.u_hi[self.coupling] - ux
        optimistic = tie_break == "optimistic"
        keep_coupling = optimistic and len(self.coupling) > 0
        n = 0
        if np.any(self.g_max < lo - INTERVAL_TOL * (1.0 + np.abs(lo))) or np.any(
            self.g_min > hi + INTERVAL_TOL * (1.0 + np.abs(hi))
        ):
            status, dstar, y = INFEASIBLE, math.nan, np.empty(0)  # a row no y of the box can meet: no MILP needed
        elif self.weighted and not keep_coupling and np.any(sp.cy != 0):
            status, y = self.combined(lo, hi, optimistic)
            dstar, n = math.nan, 1
        else:
            status, dstar, y = self.stage1(lo, hi)
            n = 1
        if status == INFEASIBLE:
            slack = self.phase_one(lo, hi)
            n += 1
            return FollowerResponse(
                status,
                math.nan,
                {},
                n,
                time.perf_counter() - start,
                f"{self.name}: follower infeasible (phase-one LP slack {slack:g})",
                slack,
            )
        if status != OPTIMAL:
            return FollowerResponse(
                status, math.nan, {}, n, time.perf_counter() - start, f"{self.name}: stage 1 {status}"
            )
        detail = self.name
        if math.isnan(dstar):  # the one weighted solve was both stages
            detail += " (stages 1 and 2 as one weighted objective)"
        elif np.any(sp.cy != 0) or keep_coupling:
            status2, y2 = self.stage2(lo, hi, dstar, optimistic, (c_lo, c_hi) if keep_coupling else None)
            n += 1
            if status2 == INFEASIBLE and keep_coupling:  # no optimal response satisfies the coupling rows
                status2, y2 = self.stage2(lo, hi, dstar, optimistic, None)
                n += 1
                detail += "; no optimal response satisfies the leader's coupling rows"
            if status2 != OPTIMAL:
                return FollowerResponse(
                    status2, math.nan, {}, n, time.perf_counter() - start, f"{self.name}: tie-break stage {status2}"
                )
            y = y2
        return FollowerResponse(OPTIMAL, float(sp.d @ y), {"y": y}, n, time.perf_counter() - start, detail)

    def stage1(self, lo: np.ndarray, hi: np.ndarray) -> tuple[str, float, np.ndarray]:
        raise NotImplementedError

    def stage2(
        self,
        lo: np.ndarray,
        hi: np.ndarray,
        dstar: float,
        optimistic: bool,
        coupling: tuple[np.ndarray, np.ndarray] | None,
    ) -> tuple[str, np.ndarray]:
        raise NotImplementedError

    def phase_one(self, lo: np.ndarray, hi: np.ndarray) -> float:
        """The phase-one LP's minimum total slack (0 if the LP is not solved: nothing to grade by)."""
        from ortools.linear_solver import pywraplp

        if self._phase is None:
            solver = pywraplp.Solver.CreateSolver("GLOP")
            inf = solver.infinity()
            sp = self.sp
            y = [solver.NumVar(_clip(a, inf), _clip(b, inf), "") for a, b in zip(sp.y_lo, sp.y_hi, strict=True)]
            self._phase_rows = []
            objective = solver.Objective()
            for row in sp.Gy:
                p, q = solver.NumVar(0.0, inf, ""), solver.NumVar(0.0, inf, "")
                ct = solver.Constraint(-inf, inf, "")
                for k in np.flatnonzero(row):
                    ct.SetCoefficient(y[k], float(row[k]))
                ct.SetCoefficient(p, 1.0), ct.SetCoefficient(q, -1.0)
                objective.SetCoefficient(p, 1.0), objective.SetCoefficient(q, 1.0)
                self._phase_rows.append(ct)
            objective.SetMinimization()
            self._phase = solver
        solver = self._phase
        inf = solver.infinity()
        for ct, a, b in zip(self._phase_rows, lo, hi, strict=True):
            ct.SetBounds(_clip(a, inf), _clip(b, inf))
        solver.SetTimeLimit(int(min(limits.solver_seconds(SOLVE_LIMIT_S), 1e9) * 1000))
        if solver.Solve() != pywraplp.Solver.OPTIMAL:
            return 0.0
        return float(max(0.0, solver.Objective().Value()))


_CP_STATUS = {
    "OPTIMAL": OPTIMAL,
    "FEASIBLE": LIMIT,
    "INFEASIBLE": INFEASIBLE,
    "MODEL_INVALID": INVALID,
    "UNKNOWN": LIMIT,
}


class CpSatFollower(FollowerEngine):
    """CP-SAT on the rows scaled to integers; one model for (F1)/(F2), one for the phase one, both kept."""

    name = "CP-SAT"

    def __init__(self, sp: Split) -> None:
        from ortools.sat.python import cp_model

        super().__init__(sp)
        self.cp = cp_model
        G = _scaled_rows(sp.Gy)
        H = _scaled_rows(sp.Hy[self.coupling])
        assert G is not None and H is not None, "cpsat_applies() must be checked first"
        self.G, self.g_scale = G
        self.H, self.h_scale = H
        self.d_int = np.rint(sp.d * (integer_scale(sp.d) or 1)).astype(np.int64)
        self.cy_int = np.rint(sp.cy * (integer_scale(sp.cy) or 1)).astype(np.int64)
        self.y_lo = sp.y_lo.astype(np.int64)
        self.y_hi = sp.y_hi.astype(np.int64)
        # one weighted solve for both stages: W * d + cy (or W * d - cy) with W above cy's range on the box
        ymax = np.maximum(np.abs(self.y_lo), np.abs(self.y_hi)).astype(float)
        self.W = int(np.abs(self.cy_int) @ (self.y_hi - self.y_lo).astype(float)) + 1
        self.weighted = WEIGHTED and float(np.abs(self.W * self.d_int) @ ymax + np.abs(self.cy_int) @ ymax) < MAX_INT
        self._model: Any = None
        self.solver = cp_model.CpSolver()
        self.solver.parameters.num_workers = 1
        self.solver.parameters.cp_model_presolve = CPSAT_PRESOLVE

    # (F1)/(F2) model: rows with free domains set per call, a cap row, coupling rows, two objectives
    def _build(self) -> None:
        cp = self.cp
        model = cp.CpModel()
        y = [
            model.new_int_var(int(lo), int(hi), f"y{k}")
            for k, (lo, hi) in enumerate(zip(self.y_lo, self.y_hi, strict=True))
        ]
        self.rows = [model.add_linear_constraint(_expr(cp, y, row), -FREE, FREE) for row in self.G]
        self.d_expr = _expr(cp, y, self.d_int)
        self.cy_expr = _expr(cp, y, self.cy_int)
        self.cap = model.add_linear_constraint(self.d_expr, -FREE, FREE)
        if self.weighted:
            self.weighted_expr = {sign: _expr(cp, y, self.W * self.d_int + sign * self.cy_int) for sign in (1, -1)}
        self.coupling_rows = [model.add_linear_constraint(_expr(cp, y, row), -FREE, FREE) for row in self.H]
        self.y = y
        self._model = model

    def _set(self, constraints: list[Any], lo: np.ndarray, hi: np.ndarray) -> None:
        for ct, a, b in zip(constraints, lo, hi, strict=True):
            domain = ct.proto.linear.domain
            domain[0], domain[1] = int(a), int(b)

    def _solve(self, model: Any) -> str:
        self.solver.parameters.max_time_in_seconds = limits.solver_seconds(SOLVE_LIMIT_S)
        status = self.solver.solve(model)
        return _CP_STATUS.get(self.solver.status_name(status), INVALID)

    def stage1(self, lo: np.ndarray, hi: np.ndarray) -> tuple[str, float, np.ndarray]:
        if self._model is None:
            self._build()
        ilo, ihi = _rhs(lo, hi, self.g_scale)
        if np.any(ilo > ihi):  # a row no integer left side can meet (CP-SAT refuses an empty domain)
            return INFEASIBLE, math.nan, np.empty(0)
        self._set(self.rows, ilo, ihi)
        self._set([self.cap], np.array([-FREE]), np.array([FREE]))
        self._set(self.coupling_rows, np.full(len(self.H), -FREE), np.full(len(self.H), FREE))
        self._model.minimize(self.d_expr)
        status = self._solve(self._model)
        if status != OPTIMAL:
            return status, math.nan, np.empty(0)
        y = np.array([self.solver.value(v) for v in self.y], dtype=float)
        return OPTIMAL, float(self.d_int @ y), y

    def combined(self, lo: np.ndarray, hi: np.ndarray, optimistic: bool) -> tuple[str, np.ndarray]:
        """(F1) then (F2) in one solve: min W d @ y + cy @ y (pessimistic: - cy @ y), all integers. Exact: two
        y with different d @ y differ by at least W > (range of cy @ y on the box) in the weighted objective,
        so a minimiser minimises d @ y first and cy @ y (resp. -cy @ y) among those second."""
        if self._model is None:
            self._build()
        ilo, ihi = _rhs(lo, hi, self.g_scale)
        if np.any(ilo > ihi):
            return INFEASIBLE, np.empty(0)
        self._set(self.rows, ilo, ihi)
        self._set([self.cap], np.array([-FREE]), np.array([FREE]))
        self._set(self.coupling_rows, np.full(len(self.H), -FREE), np.full(len(self.H), FREE))
        self._model.minimize(self.weighted_expr[1 if optimistic else -1])
        status = self._solve(self._model)
        if status != OPTIMAL:
            return status, np.empty(0)
        return OPTIMAL, np.array([self.solver.value(v) for v in self.y], dtype=float)

    def stage2(
        self,
        lo: np.ndarray,
        hi: np.ndarray,
        dstar: float,
        optimistic: bool,
        coupling: tuple[np.ndarray, np.ndarray] | None,
    ) -> tuple[str, np.ndarray]:
        self._set([self.cap], np.array([-FREE]), np.array([round(dstar)]))  # exact: integer data
        if coupling is not None:
            clo, chi = _rhs(coupling[0], coupling[1], self.h_scale)
            if np.any(clo > chi):
                return INFEASIBLE, np.empty(0)
            self._set(self.coupling_rows, clo, chi)
        else:
            self._set(self.coupling_rows, np.full(len(self.H), -FREE), np.full(len(self.H), FREE))
        self._model.minimize(self.cy_expr) if optimistic else self._model.maximize(self.cy_expr)
        status = self._solve(self._model)
        if status != OPTIMAL:
            return status, np.empty(0)
        return OPTIMAL, np.array([self.solver.value(v) for v in self.y], dtype=float)


def _expr(cp: Any, y: list[Any], coefs: np.ndarray) -> Any:
    nz = np.flatnonzero(coefs)
    return cp.LinearExpr.weighted_sum([y[k] for k in nz], [int(coefs[k]) for k in nz])


_LP_STATUS_NAMES = ("OPTIMAL", "FEASIBLE", "INFEASIBLE", "UNBOUNDED", "ABNORMAL", "MODEL_INVALID", "NOT_SOLVED")


class ScipFollower(FollowerEngine):
    """SCIP through pywraplp; one solver for (F1)/(F2), one for the phase one, both kept."""

    name = "SCIP"

    def __init__(self, sp: Split) -> None:
        super().__init__(sp)
        self._solver: Any = None

    def _new(self) -> Any:
        import ortools.linear_solver.pywraplp as pywraplp

        solver = pywraplp.Solver.CreateSolver("SCIP")
        solver.SetNumThreads(1)
        return solver

    def _vars(self, solver: Any) -> list[Any]:
        inf = solver.infinity()
        sp = self.sp
        return [
            (solver.IntVar if integer else solver.NumVar)(_clip(lo, inf), _clip(hi, inf), "")
            for lo, hi, integer in zip(sp.y_lo, sp.y_hi, sp.y_int, strict=True)
        ]

    def _rows(self, solver: Any, y: list[Any], M: np.ndarray) -> list[Any]:
        out = []
        for row in M:
            ct = solver.Constraint(-solver.infinity(), solver.infinity(), "")
            for k in np.flatnonzero(row):
                ct.SetCoefficient(y[k], float(row[k]))
            out.append(ct)
        return out

    def _build(self) -> None:
        solver = self._new()
        self.y = self._vars(solver)
        self.rows = self._rows(solver, self.y, self.sp.Gy)
        self.cap = self._rows(solver, self.y, self.sp.d[None, :])[0]
        self.coupling_rows = self._rows(solver, self.y, self.sp.Hy[self.coupling])
        self._solver = solver

    def _solve(self, solver: Any) -> str:
        limit = limits.solver_seconds(SOLVE_LIMIT_S)
        solver.SetTimeLimit(int(min(limit, 1e9) * 1000))
        name = _LP_STATUS_NAMES[solver.Solve()]
        return {
            "OPTIMAL": OPTIMAL,
            "INFEASIBLE": INFEASIBLE,
            "UNBOUNDED": UNBOUNDED,
            "FEASIBLE": LIMIT,
            "NOT_SOLVED": LIMIT,
        }.get(name, INVALID)

    def _objective(self, solver: Any, y: list[Any], coefs: np.ndarray, maximize: bool) -> None:
        objective = solver.Objective()
        objective.Clear()
        for k in np.flatnonzero(coefs):
            objective.SetCoefficient(y[k], float(coefs[k]))
        objective.SetMaximization() if maximize else objective.SetMinimization()

    def _values(
        self, lo: np.ndarray, hi: np.ndarray, extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    ) -> np.ndarray | None:
        sp = self.sp
        y = np.array([v.solution_value() for v in self.y])
        y = np.where(sp.y_int, np.round(y), y)
        worst = _residual(sp.Gy, y, lo, hi)
        if extra is not None:
            worst = max(worst, _residual(extra[0], y, extra[1], extra[2]))
        worst = max(worst, float(np.max(sp.y_lo - y, initial=0.0)), float(np.max(y - sp.y_hi, initial=0.0)))
        return y if worst <= FEASIBILITY_TOL else None

    def stage1(self, lo: np.ndarray, hi: np.ndarray) -> tuple[str, float, np.ndarray]:
        if self._solver is None:
            self._build()
        solver, inf = self._solver, self._solver.infinity()
        for ct, a, b in zip(self.rows, lo, hi, strict=True):
            ct.SetBounds(_clip(a, inf), _clip(b, inf))
        self.cap.SetBounds(-inf, inf)
        for ct in self.coupling_rows:
            ct.SetBounds(-inf, inf)
        self._objective(solver, self.y, self.sp.d, maximize=False)
        status = self._solve(solver)
        if status == INFEASIBLE and not (np.isfinite(self.sp.y_lo).all() and np.isfinite(self.sp.y_hi).all()):
            # SCIP may say "infeasible" for "infeasible or unbounded": a feasible point decides
            self._objective(solver, self.y, np.zeros(len(self.y)), maximize=False)
            if self._solve(solver) == OPTIMAL:
                status = UNBOUNDED
        if status != OPTIMAL:
            return status, math.nan, np.empty(0)
        y = self._values(lo, hi, None)
        if y is None:
            return INVALID, math.nan, np.empty(0)
        return OPTIMAL, float(self.sp.d @ y), y

    def stage2(
        self,
        lo: np.ndarray,
        hi: np.ndarray,
        dstar: float,
        optimistic: bool,
        coupling: tuple[np.ndarray, np.ndarray] | None,
    ) -> tuple[str, np.ndarray]:
        solver, inf = self._solver, self._solver.infinity()
        self.cap.SetBounds(-inf, dstar + tie_tolerance(dstar))
        for k, ct in enumerate(self.coupling_rows):
            ct.SetBounds(
                *((_clip(coupling[0][k], inf), _clip(coupling[1][k], inf)) if coupling is not None else (-inf, inf))
            )
        self._objective(solver, self.y, self.sp.cy, maximize=not optimistic)
        status = self._solve(solver)
        if status != OPTIMAL:
            return status, np.empty(0)
        extra = None if coupling is None else (self.sp.Hy[self.coupling], coupling[0], coupling[1])
        y = self._values(lo, hi, extra)
        if y is None or self.sp.d @ y > dstar + 2 * tie_tolerance(dstar):
            return INVALID, np.empty(0)
        return OPTIMAL, y


def _dot(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    """M @ v where 0 * inf counts as 0 (a zero coefficient on an unbounded variable)."""
    with np.errstate(invalid="ignore"):
        return np.where(M != 0, M * v[None, :], 0.0).sum(axis=1) if M.size else np.zeros(len(M))


def _clip(value: float, inf: float) -> float:
    return float(min(max(value, -inf), inf))


def _residual(M: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    if not len(M):
        return 0.0
    value = M @ y
    scale = 1.0 + np.abs(M) @ np.abs(y)
    return float(np.max(row_violation(lo, hi, value) / scale, initial=0.0))


def make_engine(sp: Split, engine: str = "auto") -> FollowerEngine:
    """CP-SAT where it is exact (``cpsat_applies``), else SCIP; ``engine`` = "scip" forces SCIP."""
    why = cpsat_applies(sp)
    if engine == "scip" or (engine == "auto" and why):
        return ScipFollower(sp)
    if why:
        raise ValueError(f"CP-SAT is not exact here: {why}")
    return CpSatFollower(sp)


# -- the independent check: enumeration --------------------------------------------------------------------------


def brute_force(sp: Split, x: np.ndarray, tie_break: str) -> tuple[str, float, float, float]:
    """(status, follower value, leader value, phase-one slack) by enumerating every y of the (finite, integer)
    box: the definition of the response, written without any solver. For tests on tiny instances."""
    grids = [range(int(lo), int(hi) + 1) for lo, hi in zip(sp.y_lo, sp.y_hi, strict=True)]
    Y = np.array(list(itertools.product(*grids)), dtype=float).reshape(-1, len(grids))
    gx = sp.Gx @ x
    rows = Y @ sp.Gy.T
    violation = row_violation((sp.f_lo - gx)[None, :], (sp.f_hi - gx)[None, :], rows).sum(axis=1)
    feasible = violation <= 1e-9
    if not feasible.any():
        return INFEASIBLE, math.nan, math.nan, float(violation.min())
    fval = Y @ sp.d
    best = fval[feasible].min()
    optimal = feasible & (fval <= best + 1e-9)
    lead = Y @ sp.cy
    if tie_break == "optimistic" and len(sp.coupling):
        ux = sp.Hx[sp.coupling] @ x
        cv = row_violation(
            (sp.u_lo[sp.coupling] - ux)[None, :], (sp.u_hi[sp.coupling] - ux)[None, :], Y @ sp.Hy[sp.coupling].T
        ).sum(axis=1)
        if (optimal & (cv <= 1e-9)).any():
            optimal &= cv <= 1e-9
    pick = lead[optimal].min() if tie_break == "optimistic" else lead[optimal].max()
    return OPTIMAL, float(best), float(sp.cx @ x + pick + sp.offset), 0.0
