"""Linear programs as plain data, solved with GLOP (OR-Tools), with explicit lexicographic tie-breaking.

Every family whose follower is an LP describes it as a :class:`LinearProgram` (numpy arrays) and calls
:func:`solve_lexicographic`. The OR-Tools model is built inside the call, so the data can travel to worker
processes and nothing unpicklable is ever stored.

Tie-breaking (stated once, here): stage 1 solves ``min c @ y``. Stage 2 adds
``c @ y <= z1 + tol(z1)`` (see :func:`bilevel_bench.problem.tie_tolerance`) and optimises the leader's
preference over the follower's optimal face: maximise it (optimistic) or minimise it (pessimistic). An
unbounded stage 2 is reported as ``unbounded``, never as a number.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from ortools.linear_solver import pywraplp

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

#: Largest residual (scaled by the row's size) accepted from the LP solver before a solution is called
#: invalid. GLOP's own primal feasibility tolerance is 1e-8 on the scaled model.
FEASIBILITY_TOL = 1e-6


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
        worst = 0.0
        if len(self.b_ub):
            scale = 1.0 + np.abs(self.A_ub) @ np.abs(y) + np.abs(self.b_ub)
            worst = max(worst, float(np.max((self.A_ub @ y - self.b_ub) / scale)))
        if len(self.b_eq):
            scale = 1.0 + np.abs(self.A_eq) @ np.abs(y) + np.abs(self.b_eq)
            worst = max(worst, float(np.max(np.abs(self.A_eq @ y - self.b_eq) / scale)))
        worst = max(worst, float(np.max(self.lb - y, initial=0.0)), float(np.max(y - self.ub, initial=0.0)))
        return worst


@dataclasses.dataclass(frozen=True)
class LPSolution:
    status: str
    y: np.ndarray  # empty unless optimal
    value: float  # the objective that was optimised; nan unless optimal


def solve_lp(
    lp: LinearProgram,
    objective: np.ndarray | None = None,
    maximize: bool = False,
    cap: tuple[np.ndarray, float] | None = None,
) -> LPSolution:
    """Solve ``lp`` with GLOP, optionally with another objective and one extra row ``cap[0] @ y <= cap[1]``."""
    solver = pywraplp.Solver.CreateSolver("GLOP")
    inf = solver.infinity()
    y = [
        solver.NumVar(float(lo), inf if math.isinf(hi) else float(hi), "") for lo, hi in zip(lp.lb, lp.ub, strict=True)
    ]
    _add_rows(solver, y, lp.A_ub, -inf, lp.b_ub)
    _add_rows(solver, y, lp.A_eq, lp.b_eq, lp.b_eq)
    if cap is not None:
        _add_rows(solver, y, cap[0][None, :], -inf, np.array([cap[1]]))
    c = lp.c if objective is None else objective
    obj = solver.Objective()
    for j in np.flatnonzero(c):
        obj.SetCoefficient(y[j], float(c[j]))
    obj.SetMaximization() if maximize else obj.SetMinimization()
    status = _STATUS.get(solver.Solve(), INVALID)
    if status != OPTIMAL:
        return LPSolution(status, np.empty(0), math.nan)
    values = np.array([v.solution_value() for v in y])
    if lp.residual(values) > FEASIBILITY_TOL:  # never trust a solution we cannot check
        return LPSolution(INVALID, np.empty(0), math.nan)
    return LPSolution(OPTIMAL, values, float(c @ values))


def solve_lexicographic(lp: LinearProgram, preference: np.ndarray, tie_break: str) -> tuple[LPSolution, int]:
    """Follower optimum, then the leader's ``preference`` optimised over the follower's optimal face.

    ``preference`` is what the leader gains from the follower's variables (to be maximised by an optimistic
    follower and minimised by a pessimistic one). Returns the stage-2 solution (whose ``value`` is replaced
    by the follower's own objective) and the number of LP solves.
    """
    first = solve_lp(lp)
    if first.status != OPTIMAL:
        return first, 1
    if not np.any(preference):
        return first, 1
    cap = first.value + tie_tolerance(first.value)
    maximize = tie_break == "optimistic"
    second = solve_lp(lp, preference, maximize=maximize, cap=(lp.c, cap))
    if second.status == INFEASIBLE:
        # Stage 1's optimum is feasible for stage 2 by construction, so "infeasible" here is GLOP's answer
        # for a dual-infeasible LP: confirm unboundedness inside a large box before saying so.
        return LPSolution(_confirm_unbounded(lp, preference, maximize, cap), np.empty(0), math.nan), 3
    if second.status != OPTIMAL:
        return second, 2
    return LPSolution(OPTIMAL, second.y, float(lp.c @ second.y)), 2


#: Box used to confirm an unbounded second stage: a solution reaching it is taken as a ray.
UNBOUNDED_BOX = 1e9


def _confirm_unbounded(lp: LinearProgram, preference: np.ndarray, maximize: bool, cap: float) -> str:
    boxed = dataclasses.replace(lp, ub=np.minimum(lp.ub, UNBOUNDED_BOX))
    result = solve_lp(boxed, preference, maximize=maximize, cap=(lp.c, cap))
    if result.status == OPTIMAL and np.max(result.y) >= 0.5 * UNBOUNDED_BOX:
        return UNBOUNDED
    return INVALID


def _add_rows(solver: pywraplp.Solver, y: list, A: np.ndarray, lo: np.ndarray | float, hi: np.ndarray) -> None:
    for i, row in enumerate(A):
        low = lo if np.isscalar(lo) else float(lo[i])
        ct = solver.Constraint(low, float(hi[i]), "")
        for j in np.flatnonzero(row):
            ct.SetCoefficient(y[j], float(row[j]))
