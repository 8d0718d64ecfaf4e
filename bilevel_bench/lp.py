"""Linear programs as plain data, solved with GLOP (OR-Tools), with explicit lexicographic tie-breaking.

Every family whose follower is an LP describes it as a :class:`LinearProgram` (numpy arrays). Two ways to
solve it, with the same answers:

- :func:`solve_lp` / :func:`solve_lexicographic` build the OR-Tools model inside the call (from scratch,
  nothing kept): the reference path, and the right tool for one-off LPs;
- :class:`ParametricLP` keeps persistent GLOP models of one constraint matrix, built once (per worker
  process), and per call updates only what the leader's decision changes: right-hand sides, variable
  bounds, costs, the tie-breaking preference. It is what a family's follower uses for speed; keep it in
  an attribute listed in the problem's ``transient`` (an OR-Tools model is never pickled).

Tie-breaking (stated once, here): stage 1 solves ``min c @ y``; its optimum ``z1`` is the follower's value.
Stage 2 optimises the leader's preference over the follower's **optimal face**, exactly: by complementary
slackness with stage 1's optimal duals, y is optimal if and only if it is feasible, every variable with a
nonzero reduced cost stays at its bound, and every row with a nonzero dual stays tight; stage 2 imposes
exactly that (:func:`optimal_face`), plus the cap ``c @ y <= z1 + tol(z1)`` (see
:func:`bilevel_bench.problem.tie_tolerance`) as a guard. The preference is maximised (optimistic) or
minimised (pessimistic). (A cap alone would admit responses that mix in a slightly worse alternative, worse
by up to the tolerance in total: near-ties would then move the leader's value by far more than the
tolerance.) An unbounded stage 2 is reported as ``unbounded``, never as a number. The reported value is
stage 1's optimum, which is unique whichever optimal response stage 2 returns; the response's preference
value is stage 2's optimum, also unique. Those two numbers are what the leader's value is made of, so they
do not depend on which optimal vertex the solver returns, nor on a previous call's warm start.

Every solve caps its time with :func:`bilevel_bench.limits.solver_seconds` (GLOP's time limit); a solve cut
by it returns status ``limit``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import ortools.linear_solver.linear_solver_pb2 as linear_solver_pb2
import ortools.linear_solver.pywraplp as pywraplp
import scipy.sparse as sp
from ortools.linear_solver.python import model_builder_helper as mbh

from bilevel_bench.limits import solver_seconds
from bilevel_bench.problem import INFEASIBLE, INVALID, LIMIT, OPTIMAL, UNBOUNDED, tie_tolerance

_STATUS = {
    pywraplp.Solver.OPTIMAL: OPTIMAL,
    pywraplp.Solver.INFEASIBLE: INFEASIBLE,
    pywraplp.Solver.UNBOUNDED: UNBOUNDED,
    pywraplp.Solver.ABNORMAL: INVALID,
    pywraplp.Solver.MODEL_INVALID: INVALID,
    pywraplp.Solver.NOT_SOLVED: LIMIT,
    pywraplp.Solver.FEASIBLE: LIMIT,
}

_BUILDER_STATUS = {
    mbh.SolveStatus.OPTIMAL: OPTIMAL,
    mbh.SolveStatus.INFEASIBLE: INFEASIBLE,
    mbh.SolveStatus.UNBOUNDED: UNBOUNDED,
    mbh.SolveStatus.FEASIBLE: LIMIT,
    mbh.SolveStatus.NOT_SOLVED: LIMIT,
}

#: Largest residual (scaled by the row's size) accepted from the LP solver before a solution is called
#: invalid. GLOP's own primal feasibility tolerance is 1e-8 on the scaled model.
FEASIBILITY_TOL = 1e-6

#: GLOP parameters of the persistent models. GLOP's presolve rebuilds the problem at every solve and so
#: loses the previous basis; without it a re-solve starts from the last optimal basis, which stays dual
#: feasible when only right-hand sides (or bounds) move: the dual simplex then needs a few pivots. Measured
#: on the inventory follower: about 2x faster per call than with GLOP's defaults.
PERSISTENT_GLOP_PARAMETERS = "use_preprocessing: false use_dual_simplex: true"


@dataclasses.dataclass(frozen=True)
class LinearProgram:
    """``min c @ y  s.t.  A_ub @ y <= b_ub,  A_eq @ y == b_eq,  lb <= y <= ub`` (ub may hold inf)."""

    c: np.ndarray
    A_ub: np.ndarray
    b_ub: np.ndarray
    A_eq: np.ndarray
    b_eq: np.ndarray
    lb: np.ndarray
    ub: np.ndarray

    @property
    def n(self) -> int:
        return len(self.c)

    def residual(self, y: np.ndarray) -> float:
        """Largest scaled violation of the constraints and bounds by ``y``."""
        return _residual(self.A_ub, self.b_ub, self.A_eq, self.b_eq, self.lb, self.ub, y)


def _residual(
    A_ub: np.ndarray,
    b_ub: np.ndarray,
    A_eq: np.ndarray,
    b_eq: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    y: np.ndarray,
    abs_ub: np.ndarray | None = None,
    abs_eq: np.ndarray | None = None,
) -> float:
    worst = 0.0
    ay = np.abs(y)
    if len(b_ub):
        scale = 1.0 + (np.abs(A_ub) if abs_ub is None else abs_ub) @ ay + np.abs(b_ub)
        worst = max(worst, float(((A_ub @ y - b_ub) / scale).max()))
    if len(b_eq):
        scale = 1.0 + (np.abs(A_eq) if abs_eq is None else abs_eq) @ ay + np.abs(b_eq)
        worst = max(worst, float((np.abs(A_eq @ y - b_eq) / scale).max()))
    return max(worst, float((lb - y).max(initial=0.0)), float((y - ub).max(initial=0.0)))


#: A reduced cost or dual counts as nonzero beyond this, times (1 + the largest |c|): GLOP's optimality
#: tolerance is 1e-7 on the scaled model; values below are solver noise around a true zero (a real nonzero
#: below it could only move the response by a cost below the tie tolerance).
FACE_TOL = 1e-9


def face_tolerance(c: np.ndarray) -> float:
    return FACE_TOL * (1.0 + float(np.abs(c).max(initial=0.0)))


def optimal_face(
    lb: np.ndarray, ub: np.ndarray, reduced_costs: np.ndarray, duals_ub: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The optimal face of ``min c @ y`` from one optimal dual: the bounds that fix every variable with a
    nonzero reduced cost at its bound, and the mask of ``A_ub`` rows with a nonzero dual (to be kept tight).

    Complementary slackness: for any dual optimal solution, the primal optimal set is exactly the feasible
    points that satisfy it, so these bounds and tight rows describe the optimal face, not an approximation.
    """
    face_lb, face_ub = lb.copy(), ub.copy()
    at_lower = reduced_costs > tol  # min: a positive reduced cost holds the variable at its lower bound
    at_upper = (reduced_costs < -tol) & np.isfinite(ub)
    face_ub[at_lower] = lb[at_lower]
    face_lb[at_upper] = ub[at_upper]
    return face_lb, face_ub, np.abs(duals_ub) > tol


@dataclasses.dataclass(frozen=True)
class LPSolution:
    status: str
    y: np.ndarray  # empty unless optimal
    value: float  # the objective that was optimised (lexicographic: the follower's stage-1 optimum); nan unless optimal


def _time_limit_ms(own_limit: float) -> int:
    """GLOP's time limit in ms for a solve whose own limit is ``own_limit`` (0: none)."""
    seconds = solver_seconds(own_limit)
    return 0 if math.isinf(seconds) else max(1, math.ceil(seconds * 1000.0))


def solve_lp(
    lp: LinearProgram,
    objective: np.ndarray | None = None,
    maximize: bool = False,
    cap: tuple[np.ndarray, float] | None = None,
    time_limit: float = math.inf,
    parameters: str = "",
) -> LPSolution:
    """Solve ``lp`` with GLOP, optionally with another objective and one extra row ``cap[0] @ y <= cap[1]``.

    The model is built inside the call (the reference path). ``time_limit`` is capped by the run's deadline;
    ``parameters`` are GLOP's (text format; GLOP's defaults when empty).
    """
    return _solve_reference(lp, objective, maximize, cap, time_limit, parameters)[0]


def _solve_reference(
    lp: LinearProgram,
    objective: np.ndarray | None = None,
    maximize: bool = False,
    cap: tuple[np.ndarray, float] | None = None,
    time_limit: float = math.inf,
    parameters: str = "",
) -> tuple[LPSolution, np.ndarray, np.ndarray]:
    """:func:`solve_lp`, with the reduced costs and the duals of the ``A_ub`` rows (empty unless optimal)."""
    none = np.empty(0)
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if parameters:
        solver.SetSolverSpecificParametersAsString(parameters)
    inf = solver.infinity()
    y = [
        solver.NumVar(float(lo), inf if math.isinf(hi) else float(hi), "") for lo, hi in zip(lp.lb, lp.ub, strict=True)
    ]
    ub_rows = _add_rows(solver, y, lp.A_ub, -inf, lp.b_ub)
    _add_rows(solver, y, lp.A_eq, lp.b_eq, lp.b_eq)
    if cap is not None:
        _add_rows(solver, y, cap[0][None, :], -inf, np.array([cap[1]]))
    c = lp.c if objective is None else objective
    obj = solver.Objective()
    for j in np.flatnonzero(c):
        obj.SetCoefficient(y[j], float(c[j]))
    obj.SetMaximization() if maximize else obj.SetMinimization()
    solver.SetTimeLimit(_time_limit_ms(time_limit))
    status = _STATUS.get(solver.Solve(), INVALID)
    if status != OPTIMAL:
        return LPSolution(status, none, math.nan), none, none
    values = np.array([v.solution_value() for v in y])
    if lp.residual(values) > FEASIBILITY_TOL:  # never trust a solution we cannot check
        return LPSolution(INVALID, none, math.nan), none, none
    reduced = np.array([v.reduced_cost() for v in y])
    duals = np.array([row.dual_value() for row in ub_rows])
    return LPSolution(OPTIMAL, values, float(c @ values)), reduced, duals


def solve_lp_arrays(
    lp: LinearProgram, objective: np.ndarray | None = None, maximize: bool = False, time_limit: float = math.inf
) -> LPSolution:
    """As :func:`solve_lp` (without the cap row), with the model filled from sparse arrays in one call (OR-Tools'
    model builder) instead of a Python loop per coefficient: for many small one-off LPs. Fresh GLOP each call."""
    helper = mbh.ModelBuilderHelper()
    c = lp.c if objective is None else objective
    m_ub, m_eq = len(lp.b_ub), len(lp.b_eq)
    fill: Any = helper.fill_model_from_sparse_data  # its stub's array types are malformed
    fill(
        np.asarray(lp.lb, dtype=float),
        np.asarray(lp.ub, dtype=float),
        np.asarray(c, dtype=float),
        np.concatenate([np.full(m_ub, -np.inf), lp.b_eq]),
        np.concatenate([lp.b_ub, lp.b_eq]),
        _csr(np.vstack([lp.A_ub.reshape(m_ub, lp.n), lp.A_eq.reshape(m_eq, lp.n)])),
    )
    helper.set_maximize(maximize)
    solver = mbh.ModelSolverHelper("glop")
    seconds = solver_seconds(time_limit)
    if math.isfinite(seconds):
        solver.set_time_limit_in_seconds(seconds)
    solver.solve(helper)
    status = _BUILDER_STATUS.get(solver.status(), INVALID)
    if status != OPTIMAL:
        return LPSolution(status, np.empty(0), math.nan)
    values = np.asarray(solver.variable_values(), dtype=float)
    if lp.residual(values) > FEASIBILITY_TOL:
        return LPSolution(INVALID, np.empty(0), math.nan)
    return LPSolution(OPTIMAL, values, float(c @ values))


def _csr(A: np.ndarray) -> sp.csr_matrix:
    rows, cols = np.nonzero(A)
    indptr = np.zeros(A.shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=A.shape[0]), out=indptr[1:])
    return sp.csr_matrix((A[rows, cols], cols.astype(np.int32), indptr), shape=A.shape)


def solve_lexicographic(
    lp: LinearProgram, preference: np.ndarray, tie_break: str, time_limit: float = math.inf
) -> tuple[LPSolution, int]:
    """Follower optimum, then the leader's ``preference`` optimised over the follower's optimal face.

    ``preference`` is what the leader gains from the follower's variables (to be maximised by an optimistic
    follower and minimised by a pessimistic one). Returns the stage-2 solution, whose ``value`` is the
    follower's stage-1 optimum (see the module docstring), and the number of LP solves. The reference path:
    both stages are built from scratch (:class:`ParametricLP` gives the same answers faster).
    """
    first, reduced, duals = _solve_reference(lp, time_limit=time_limit)
    if first.status != OPTIMAL:
        return first, 1
    if not np.any(preference):
        return first, 1
    cap = first.value + tie_tolerance(first.value)
    maximize = tie_break == "optimistic"
    face_lb, face_ub, tight = optimal_face(lp.lb, lp.ub, reduced, duals, face_tolerance(lp.c))
    face = dataclasses.replace(
        lp,
        A_ub=lp.A_ub[~tight],
        b_ub=lp.b_ub[~tight],
        A_eq=np.vstack([lp.A_eq.reshape(len(lp.b_eq), lp.n), lp.A_ub[tight]]),
        b_eq=np.concatenate([lp.b_eq, lp.b_ub[tight]]),
        lb=face_lb,
        ub=face_ub,
    )
    second = solve_lp(face, preference, maximize=maximize, cap=(lp.c, cap), time_limit=time_limit)
    if second.status in (INFEASIBLE, UNBOUNDED):
        # Stage 1's optimum is feasible for stage 2 by construction, so "infeasible" here is GLOP's answer
        # for a dual-infeasible LP: confirm unboundedness inside a large box before saying so.
        return LPSolution(_confirm_unbounded(face, preference, maximize, cap, time_limit), np.empty(0), math.nan), 3
    if second.status != OPTIMAL:
        return second, 2
    return LPSolution(OPTIMAL, second.y, first.value), 2


#: Box used to confirm an unbounded second stage: a solution reaching it is taken as a ray.
UNBOUNDED_BOX = 1e9


def _confirm_unbounded(lp: LinearProgram, preference: np.ndarray, maximize: bool, cap: float, time_limit: float) -> str:
    boxed = dataclasses.replace(lp, ub=np.minimum(lp.ub, UNBOUNDED_BOX))
    # GLOP's presolve was seen to end such boxed LPs ABNORMAL; without it they solve
    result = solve_lp(boxed, preference, maximize, (lp.c, cap), time_limit, "use_preprocessing: false")
    if result.status == LIMIT:
        return LIMIT
    if result.status == OPTIMAL and np.max(result.y) >= 0.5 * UNBOUNDED_BOX:
        return UNBOUNDED
    return INVALID


def phase_one(lp: LinearProgram, elastic: np.ndarray | None = None) -> LinearProgram:
    """The phase-one LP of ``lp``: ``min sum(t)`` over ``(y, t)`` with the ``elastic`` rows (a mask over the
    rows ``A_ub`` then ``A_eq``; all by default) relaxed by non-negative violations ``t`` (one per ``<=``
    row, two per ``==`` row). Its optimum is the least total violation of those rows, 0 iff ``lp`` is
    feasible (when only elastic rows can be violated)."""
    m_ub, m_eq = len(lp.b_ub), len(lp.b_eq)
    mask = np.ones(m_ub + m_eq, dtype=bool) if elastic is None else np.asarray(elastic, dtype=bool)
    ub_rows, eq_rows = np.flatnonzero(mask[:m_ub]), np.flatnonzero(mask[m_ub:])
    k_ub, k_eq = len(ub_rows), len(eq_rows)
    t_ub = np.zeros((m_ub, k_ub))
    t_ub[ub_rows, np.arange(k_ub)] = -1.0  # A_ub y - t <= b_ub
    t_eq = np.zeros((m_eq, 2 * k_eq))
    t_eq[eq_rows, np.arange(k_eq)] = 1.0  # A_eq y + t+ - t- = b_eq
    t_eq[eq_rows, k_eq + np.arange(k_eq)] = -1.0
    n_t = k_ub + 2 * k_eq
    return LinearProgram(
        c=np.concatenate([np.zeros(lp.n), np.ones(n_t)]),
        A_ub=np.hstack([lp.A_ub, t_ub, np.zeros((m_ub, 2 * k_eq))]),
        b_ub=lp.b_ub,
        A_eq=np.hstack([lp.A_eq, np.zeros((m_eq, k_ub)), t_eq]),
        b_eq=lp.b_eq,
        lb=np.concatenate([lp.lb, np.zeros(n_t)]),
        ub=np.concatenate([lp.ub, np.full(n_t, np.inf)]),
    )


def least_violation(lp: LinearProgram, elastic: np.ndarray | None = None, time_limit: float = math.inf) -> float:
    """The phase-one optimum of ``lp`` (see :func:`phase_one`), built from scratch; nan if it fails."""
    result = solve_lp(phase_one(lp, elastic), time_limit=time_limit)
    return max(result.value, 0.0) if result.status == OPTIMAL else math.nan


def _add_rows(solver: pywraplp.Solver, y: list, A: np.ndarray, lo: np.ndarray | float, hi: np.ndarray) -> list:
    rows = []
    for i, row in enumerate(A):
        low = lo if np.isscalar(lo) else float(lo[i])  # type: ignore[index]
        ct = solver.Constraint(low, float(hi[i]), "")
        for j in np.flatnonzero(row):
            ct.SetCoefficient(y[j], float(row[j]))
        rows.append(ct)
    return rows


# -- persistent models ------------------------------------------------------------------------------


class _GlopModel:
    """One pywraplp GLOP model of a fixed constraint matrix, changed in place between solves.

    Rows: ``A_ub`` (``-inf <= . <= b_ub``), ``A_eq`` (``b_eq <= . <= b_eq``), then optional extra rows
    ``extra @ y <= extra_ub`` (the tie-breaking cap). The model remembers its data, and only entries that
    differ are passed to OR-Tools, so an unchanged row or bound costs nothing.
    """

    def __init__(
        self,
        lp: LinearProgram,
        objective: np.ndarray,
        maximize: bool,
        extra: np.ndarray | None = None,
        parameters: str = PERSISTENT_GLOP_PARAMETERS,
    ) -> None:
        solver = pywraplp.Solver.CreateSolver("GLOP")
        if parameters:
            solver.SetSolverSpecificParametersAsString(parameters)
        self.solver = solver
        self.y = [solver.NumVar(float(lo), float(hi), "") for lo, hi in zip(lp.lb, lp.ub, strict=True)]
        self._response = linear_solver_pb2.MPSolutionResponse()
        self.lb, self.ub = np.array(lp.lb, dtype=float), np.array(lp.ub, dtype=float)
        ub_rows = self._rows(lp.A_ub, np.full(len(lp.b_ub), -math.inf), lp.b_ub)
        eq_rows = self._rows(lp.A_eq, lp.b_eq, lp.b_eq)
        self._set_ub = [row.SetUb for row in ub_rows]
        self._set_lb = [row.SetLb for row in ub_rows]
        self.tight = np.zeros(len(lp.b_ub), dtype=bool)  # A_ub rows held at equality (the optimal face)
        self._set_eq = [row.SetBounds for row in eq_rows]
        self.b_ub, self.b_eq = np.array(lp.b_ub, dtype=float), np.array(lp.b_eq, dtype=float)
        self.extra = np.zeros((0, lp.n)) if extra is None else np.array(extra, dtype=float)
        self.extra_rows = self._rows(
            self.extra, np.full(len(self.extra), -math.inf), np.full(len(self.extra), math.inf)
        )
        self.extra_ub = np.full(len(self.extra), math.inf)
        self.objective = np.zeros(lp.n)
        self._limit_ms = 0  # GLOP's time limit in ms (0: none), set before a solve when it changes
        self.maximize = not maximize  # forces the first set_objective to set the sense
        self.set_objective(objective, maximize)

    def _rows(self, A: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list:
        rows = []
        for i, row in enumerate(A):
            ct = self.solver.Constraint(float(lo[i]), float(hi[i]), "")
            for j in np.flatnonzero(row):
                ct.SetCoefficient(self.y[j], float(row[j]))
            rows.append(ct)
        return rows

    def set_rhs(self, b_ub: np.ndarray | None, b_eq: np.ndarray | None) -> None:
        if b_ub is not None:
            changed = (b_ub != self.b_ub).nonzero()[0]
            if len(changed):
                set_ub, old = self._set_ub, self.b_ub
                for i, value in zip(changed.tolist(), b_ub[changed].tolist(), strict=True):
                    set_ub[i](value)
                    old[i] = value
        if b_eq is not None:
            changed = (b_eq != self.b_eq).nonzero()[0]
            if len(changed):
                set_eq, old = self._set_eq, self.b_eq
                for i, value in zip(changed.tolist(), b_eq[changed].tolist(), strict=True):
                    set_eq[i](value, value)
                    old[i] = value

    def apply_rhs(self, ub_rows: list[int], ub_values: list[float], eq_rows: list[int], eq_values: list[float]) -> None:
        """Set the given rows' right-hand sides (the caller knows they changed)."""
        set_ub, set_lb, tight, old = self._set_ub, self._set_lb, self.tight, self.b_ub
        for i, value in zip(ub_rows, ub_values, strict=True):
            if tight[i]:  # a row held tight moves both sides, so its range is never empty
                set_lb[i](-math.inf)
                tight[i] = False
            set_ub[i](value)
            old[i] = value
        set_eq, old = self._set_eq, self.b_eq
        for i, value in zip(eq_rows, eq_values, strict=True):
            set_eq[i](value, value)
            old[i] = value

    def set_bounds(self, lb: np.ndarray | None, ub: np.ndarray | None) -> None:
        if lb is not None:
            for j in (lb != self.lb).nonzero()[0].tolist():
                self.y[j].SetLb(float(lb[j]))
                self.lb[j] = lb[j]
        if ub is not None:
            for j in (ub != self.ub).nonzero()[0].tolist():
                self.y[j].SetUb(float(ub[j]))
                self.ub[j] = ub[j]

    def set_tight(self, mask: np.ndarray) -> None:
        """Hold the ``A_ub`` rows in ``mask`` at equality (``b_ub <= A y <= b_ub``); release the others."""
        set_lb, b = self._set_lb, self.b_ub
        for i in (mask != self.tight).nonzero()[0].tolist():
            set_lb[i](float(b[i]) if mask[i] else -math.inf)
        self.tight[:] = mask

    def set_objective(self, objective: np.ndarray, maximize: bool) -> None:
        obj = self.solver.Objective()
        for j in (objective != self.objective).nonzero()[0].tolist():
            obj.SetCoefficient(self.y[j], float(objective[j]))
            self.objective[j] = objective[j]
        if maximize != self.maximize:
            obj.SetMaximization() if maximize else obj.SetMinimization()
            self.maximize = maximize

    def set_extra_row(self, i: int, coefficients: np.ndarray | None, upper: float) -> None:
        if coefficients is not None:
            for j in (coefficients != self.extra[i]).nonzero()[0].tolist():
                self.extra_rows[i].SetCoefficient(self.y[j], float(coefficients[j]))
                self.extra[i, j] = coefficients[j]
        if upper != self.extra_ub[i]:
            self.extra_rows[i].SetUb(upper)
            self.extra_ub[i] = upper

    def solve(self, time_limit: float) -> str:
        limit_ms = _time_limit_ms(time_limit)
        if limit_ms != self._limit_ms:
            self.solver.SetTimeLimit(limit_ms)
            self._limit_ms = limit_ms
        return _STATUS.get(self.solver.Solve(), INVALID)

    def values(self) -> np.ndarray:
        """The last solution (one proto copy: faster than a call per variable)."""
        self.solver.FillSolutionResponseProto(self._response)
        return np.array(self._response.variable_value, dtype=float)

    def duals(self, m_ub: int) -> tuple[np.ndarray, np.ndarray]:
        """The reduced costs and the duals of the ``A_ub`` rows of the solution :meth:`values` just read."""
        response = self._response
        return np.array(response.reduced_cost, dtype=float), np.array(response.dual_value[:m_ub], dtype=float)

    def objective_value(self) -> float:
        return float(self.solver.Objective().Value())


class ParametricLP:
    """Persistent GLOP models of one LP whose data the leader moves, for lexicographic follower solves.

    Built once from a :class:`LinearProgram` (its constraint matrices are fixed for good) and a default
    tie-breaking ``preference``. Each solve passes what changed: ``b_ub``/``b_eq`` (right-hand sides),
    ``lb``/``ub`` (variable bounds), ``c`` (the follower's costs) and ``preference``; everything else stays
    as it was. Three GLOP models live inside, each built on first use:

    - stage 1: ``min c @ y`` (the follower's own LP);
    - stage 2: the leader's preference over the follower's optimal face, with the cap row
      ``c @ y <= z1 + tol(z1)`` (its coefficients follow ``c``, its bound is set after each stage 1);
    - phase one (:meth:`least_violation`), built only when a follower is infeasible.

    Each model re-solves warm from its own last basis (``PERSISTENT_GLOP_PARAMETERS``). Which optimal vertex
    comes back can therefore depend on earlier calls, but the reported numbers cannot (module docstring):
    stage 1's optimum and stage 2's optimum are unique. ``n_solves`` counts solver calls. Not picklable:
    keep it in an attribute named in the problem's ``transient`` and build it lazily in each process.
    """

    def __init__(
        self,
        lp: LinearProgram,
        preference: np.ndarray | None = None,
        elastic: np.ndarray | None = None,
        parameters: str = PERSISTENT_GLOP_PARAMETERS,
    ) -> None:
        self.lp = lp
        self.parameters = parameters
        self.elastic = elastic
        self.c = np.array(lp.c, dtype=float)
        self.preference = np.zeros(lp.n) if preference is None else np.array(preference, dtype=float)
        self.b_ub, self.b_eq = np.array(lp.b_ub, dtype=float), np.array(lp.b_eq, dtype=float)
        self.lb, self.ub = np.array(lp.lb, dtype=float), np.array(lp.ub, dtype=float)
        self._m_ub = len(lp.b_ub)
        # the largest |A| row sum, to scale the check of every returned solution (see _trusted)
        self._row_scale = float(np.abs(np.vstack([lp.A_ub, lp.A_eq, lp.c[None, :]])).sum(axis=1).max(initial=0.0))
        self._stage1: _GlopModel | None = None
        self._stage2: _GlopModel | None = None
        self._phase1: _GlopModel | None = None
        self._stage_b_ub, self._stage_b_eq = self.b_ub.copy(), self.b_eq.copy()  # what the stage models hold
        self._version = {"bounds": 0, "c": 0, "preference": 0}  # what changed since a model last saw it
        self._has_preference = bool(self.preference.any())
        self._seen: dict[tuple[int, str], int] = {}
        self.n_solves = 0

    # -- data ---------------------------------------------------------------------------------------
    def update(
        self,
        b_ub: np.ndarray | None = None,
        b_eq: np.ndarray | None = None,
        lb: np.ndarray | None = None,
        ub: np.ndarray | None = None,
        c: np.ndarray | None = None,
        preference: np.ndarray | None = None,
    ) -> None:
        """Set the leader-dependent data (None: unchanged). Models pick it up at their next solve."""
        if b_ub is not None:
            self.b_ub = np.asarray(b_ub, dtype=float)
        if b_eq is not None:
            self.b_eq = np.asarray(b_eq, dtype=float)
        if lb is not None:
            self.lb = np.asarray(lb, dtype=float)
            self._version["bounds"] += 1
        if ub is not None:
            self.ub = np.asarray(ub, dtype=float)
            self._version["bounds"] += 1
        if c is not None:
            self.c = np.asarray(c, dtype=float)
            self._version["c"] += 1
        if preference is not None:
            self.preference = np.asarray(preference, dtype=float)
            self._version["preference"] += 1
            self._has_preference = bool(self.preference.any())

    def current(self) -> LinearProgram:
        """The LP as it stands (for the reference path and for checks)."""
        return dataclasses.replace(self.lp, c=self.c, b_ub=self.b_ub, b_eq=self.b_eq, lb=self.lb, ub=self.ub)

    def _stale(self, model: _GlopModel, what: str) -> bool:
        """Whether ``model`` has not seen the latest ``what`` (and mark it seen)."""
        key, version = (id(model), what), self._version[what]
        if self._seen.get(key) == version:
            return False
        self._seen[key] = version
        return True

    def _sync_stages(self) -> None:
        """Bring both stage models to the current right-hand sides (one comparison for the pair) and bounds."""
        models = [model for model in (self._stage1, self._stage2) if model is not None]
        ub_rows = (self.b_ub != self._stage_b_ub).nonzero()[0]
        eq_rows = (self.b_eq != self._stage_b_eq).nonzero()[0]
        if len(ub_rows) or len(eq_rows):
            ub_values, eq_values = self.b_ub[ub_rows], self.b_eq[eq_rows]
            self._stage_b_ub[ub_rows], self._stage_b_eq[eq_rows] = ub_values, eq_values
            rows = (ub_rows.tolist(), ub_values.tolist(), eq_rows.tolist(), eq_values.tolist())
            for model in models:
                model.apply_rhs(*rows)
        for model in models:
            if self._stale(model, "bounds"):
                model.set_bounds(self.lb, self.ub)

    def _trusted(self, model: _GlopModel, y: np.ndarray) -> bool:
        """Whether the solution just returned by ``model`` passes OR-Tools' own independent check
        (``MPSolver::VerifySolution``: bounds, every row, the objective's value recomputed from ``y``) within
        :data:`FEASIBILITY_TOL` times the problem's scale (1 + largest |b| + largest |A| row sum * largest |y|).
        One C++ call: the per-row numpy check of :meth:`LinearProgram.residual` cost as much as a solve."""
        scale = 1.0 + max(float(np.abs(self.b_ub).max(initial=0.0)), float(np.abs(self.b_eq).max(initial=0.0)))
        scale += self._row_scale * float(np.abs(y).max(initial=0.0))
        return bool(model.solver.VerifySolution(FEASIBILITY_TOL * scale, False))

    # -- solves -------------------------------------------------------------------------------------
    def solve(self, time_limit: float = math.inf, **data: np.ndarray | None) -> LPSolution:
        """Stage 1 alone: ``min c @ y`` with the data given (see :meth:`update`)."""
        self.update(**data)
        model = self._first_stage()
        status = self._solve(model, time_limit)
        if status != OPTIMAL:
            return LPSolution(status, np.empty(0), math.nan)
        y = model.values()
        if not self._trusted(model, y):
            return LPSolution(INVALID, np.empty(0), math.nan)
        return LPSolution(OPTIMAL, y, model.objective_value())

    def solve_lexicographic(
        self, tie_break: str, time_limit: float = math.inf, **data: np.ndarray | None
    ) -> tuple[LPSolution, int]:
        """As :func:`solve_lexicographic` on the current data (updated by ``data``, see :meth:`update`):
        the stage-2 response, its ``value`` the follower's stage-1 optimum, and the number of solves."""
        self.update(**data)
        first = self._first_stage()
        status = self._solve(first, time_limit)
        if status != OPTIMAL:
            return LPSolution(status, np.empty(0), math.nan), 1
        z1 = first.objective_value()
        second = self._second_stage()
        y = first.values()  # also reads the duals (one proto copy)
        if second is None:  # no preference: stage 1's response is the answer
            if not self._trusted(first, y):
                return LPSolution(INVALID, np.empty(0), math.nan), 1
            return LPSolution(OPTIMAL, y, z1), 1
        maximize = tie_break == "optimistic"
        if maximize != second.maximize:
            second.set_objective(self.preference, maximize)
        second.set_extra_row(0, self.c if self._stale(second, "c") else None, z1 + tie_tolerance(z1))
        reduced, duals = first.duals(self._m_ub)
        face_lb, face_ub, tight = optimal_face(self.lb, self.ub, reduced, duals, face_tolerance(self.c))
        second.set_bounds(face_lb, face_ub)
        second.set_tight(tight)
        status = self._solve(second, time_limit)
        if status in (INFEASIBLE, UNBOUNDED):
            return LPSolution(self._confirm_unbounded(second, time_limit), np.empty(0), math.nan), 3
        if status != OPTIMAL:
            return LPSolution(status, np.empty(0), math.nan), 2
        y = second.values()
        if not self._trusted(second, y):  # never trust a solution we cannot check
            return LPSolution(INVALID, np.empty(0), math.nan), 2
        return LPSolution(OPTIMAL, y, z1), 2

    def least_violation(self, time_limit: float = math.inf, **data: np.ndarray | None) -> float:
        """The phase-one optimum on the current data (see :func:`phase_one`; ``elastic`` rows as given at
        construction); nan if it fails."""
        self.update(**data)
        if self._phase1 is None:
            lp = phase_one(self.lp, self.elastic)
            self._phase1 = _GlopModel(lp, lp.c, maximize=False, parameters=self.parameters)
        model = self._phase1
        n_t = len(model.lb) - self.lp.n
        model.set_rhs(self.b_ub, self.b_eq)
        if self._stale(model, "bounds"):
            model.set_bounds(
                np.concatenate([self.lb, np.zeros(n_t)]), np.concatenate([self.ub, np.full(n_t, math.inf)])
            )
        status = self._solve(model, time_limit)
        return max(model.objective_value(), 0.0) if status == OPTIMAL else math.nan

    def _first_stage(self) -> _GlopModel:
        """The stage-1 model, synced (both stage models get the current data here)."""
        self._sync_stages()
        if self._stage1 is None:
            self._stage1 = self._build(self.c, maximize=False)
            self._stale(self._stage1, "c")
        model = self._stage1
        if self._stale(model, "c"):
            model.set_objective(self.c, maximize=False)
        return model

    def _second_stage(self) -> _GlopModel | None:
        """The stage-2 model (None when there is no preference); synced by :meth:`_first_stage`."""
        if not self._has_preference:
            return None
        if self._stage2 is None:
            self._stage2 = self._build(self.preference, maximize=True, extra=self.c[None, :])
            for what in ("c", "preference"):
                self._stale(self._stage2, what)
        model = self._stage2
        if self._stale(model, "preference"):
            model.set_objective(self.preference, model.maximize)
        return model

    def _build(self, objective: np.ndarray, maximize: bool, extra: np.ndarray | None = None) -> _GlopModel:
        """A stage model on the data the stage models hold (which :meth:`_sync_stages` made current)."""
        lp = dataclasses.replace(self.current(), b_ub=self._stage_b_ub.copy(), b_eq=self._stage_b_eq.copy())
        model = _GlopModel(lp, objective, maximize, extra=extra, parameters=self.parameters)
        self._stale(model, "bounds")
        return model

    def _solve(self, model: _GlopModel, time_limit: float) -> str:
        self.n_solves += 1
        return model.solve(time_limit)

    def _confirm_unbounded(self, model: _GlopModel, time_limit: float) -> str:
        """Stage 2 said infeasible or unbounded: re-solve inside a large box (then restore the bounds)."""
        face_ub = model.ub.copy()
        model.set_bounds(None, np.minimum(face_ub, UNBOUNDED_BOX))
        status = self._solve(model, time_limit)
        reached = status == OPTIMAL and float(np.max(model.values())) >= 0.5 * UNBOUNDED_BOX
        model.set_bounds(None, face_ub)
        if status == LIMIT:
            return LIMIT
        return UNBOUNDED if reached else INVALID
