"""The leader's search box from the high-point relaxation (HPR).

The HPR of a MIBLP keeps every constraint of both levels (leader rows, follower rows, all variable bounds)
and drops the follower's optimality; here integrality is relaxed too, so it is an LP. Every bilevel-feasible
(x, y) satisfies it, so for each leader variable x_j::

    lo_j = min { x_j : (x, y) in HPR },    hi_j = max { x_j : (x, y) in HPR }

bound every bilevel-feasible x_j, and the box [lo, hi] (intersected with the MPS bounds, rounded inward for
integer variables: ceil(lo_j), floor(hi_j)) loses no bilevel-feasible decision. Two LPs per leader variable,
solved with GLOP on one persistent model (only the objective changes); a direction is skipped once some LP
solution already puts the variable at its MPS bound in that direction (the bound is then attained by an HPR
point, so the LP could only confirm it); LPs minimising / maximising the sum of the unsettled variables,
repeated while they settle more, settle most binaries before the per-variable LPs.

Safety of the rounding: an LP value is rounded with a slack of :data:`ROUND_SLACK` (relative), so that a
solver's 1e-7 error can never cut an integer point off; the box may keep an extra integer at worst.
A direction the LP does not solve to optimality (unbounded, or a solver failure) keeps the MPS bound; a
bound infinite both in the MPS and in the HPR becomes :data:`FALLBACK_BOUND` (the heuristics need a finite
box), which the note says.
"""

from __future__ import annotations

import math

import numpy as np
import ortools.linear_solver.pywraplp as pywraplp

from bilevel_bench.problems.miblp.instance import MiblpInstance

ROUND_SLACK = 1e-5
FALLBACK_BOUND = 1e4


def hpr_leader_box(instance: MiblpInstance) -> tuple[np.ndarray, np.ndarray, str]:
    """(lower, upper, note): the leader's box over its columns (``instance.leader_cols`` order)."""
    row_lo, row_hi, col_lo, col_hi = instance.bounds_inf()
    leader = instance.leader_cols
    integer = instance.integer[leader]
    mps_lo, mps_hi = col_lo[leader].copy(), col_hi[leader].copy()
    solver = pywraplp.Solver.CreateSolver("GLOP")
    inf = solver.infinity()
    v = [solver.NumVar(_f(lo, inf), _f(hi, inf), "") for lo, hi in zip(col_lo, col_hi, strict=True)]
    order = np.argsort(instance.a_row, kind="stable")
    rows, cols, vals = instance.a_row[order], instance.a_col[order], instance.a_val[order]
    starts = np.searchsorted(rows, np.arange(instance.m + 1))
    for i in range(instance.m):
        ct = solver.Constraint(_f(row_lo[i], inf), _f(row_hi[i], inf), "")
        for k in range(starts[i], starts[i + 1]):
            ct.SetCoefficient(v[int(cols[k])], float(vals[k]))
    objective = solver.Objective()
    status = solver.Solve()
    if status == pywraplp.Solver.INFEASIBLE:
        lo, hi = _finite(mps_lo, mps_hi, integer)
        return lo, hi, "the high-point relaxation is infeasible (no bilevel-feasible point): leader box from the MPS"
    lo, hi = mps_lo.copy(), mps_hi.copy()
    # a direction is settled without its LP once some HPR point has the variable at its MPS bound
    settled = {False: np.zeros(len(leader), dtype=bool), True: np.zeros(len(leader), dtype=bool)}
    _settle(settled, v, leader, mps_lo, mps_hi)
    for maximize in (False, True):  # aggregated LPs (min / max of the sum of the unsettled) settle many at once
        while not settled[maximize].all():
            before = int(settled[maximize].sum())
            objective.Clear()
            for u in np.flatnonzero(~settled[maximize]):
                objective.SetCoefficient(v[int(leader[u])], 1.0)
            objective.SetMaximization() if maximize else objective.SetMinimization()
            if solver.Solve() != pywraplp.Solver.OPTIMAL:
                break
            _settle(settled, v, leader, mps_lo, mps_hi)
            if int(settled[maximize].sum()) == before:
                break
    for k, j in enumerate(leader):
        objective.Clear()
        objective.SetCoefficient(v[int(j)], 1.0)
        for maximize in (False, True):
            if settled[maximize][k]:
                continue
            objective.SetMaximization() if maximize else objective.SetMinimization()
            if solver.Solve() != pywraplp.Solver.OPTIMAL:
                continue  # unbounded in this direction (or not solved): keep the MPS bound
            _settle(settled, v, leader, mps_lo, mps_hi)
            value = objective.Value()
            slack = ROUND_SLACK * max(1.0, abs(value))
            if maximize:
                hi[k] = min(hi[k], math.floor(value + slack) if integer[k] else value + slack)
            else:
                lo[k] = max(lo[k], math.ceil(value - slack) if integer[k] else value - slack)
    changed = int(np.sum(lo > mps_lo)) + int(np.sum(hi < mps_hi))
    infinite = int(np.sum(~np.isfinite(lo))) + int(np.sum(~np.isfinite(hi)))
    lo, hi = _finite(lo, hi, integer)
    note = (
        f"leader box from the high-point relaxation LPs: {changed} of {2 * len(leader)} bounds tightened "
        f"(MPS box [{_fmt(mps_lo.min())}, {_fmt(mps_hi.max())}], now [{_fmt(lo.min())}, {_fmt(hi.max())}])"
    )
    if infinite:
        note += f"; {infinite} bounds infinite in both, set to +-{FALLBACK_BOUND:g}"
    return lo, hi, note


def _settle(settled: dict[bool, np.ndarray], v: list, leader: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    """Mark the directions that the current LP solution shows to reach the MPS bound (within 1e-9)."""
    values = np.array([v[int(j)].solution_value() for j in leader])
    settled[False] |= values <= lo + 1e-9
    settled[True] |= values >= hi - 1e-9


def _finite(lo: np.ndarray, hi: np.ndarray, integer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = np.where(np.isfinite(lo), lo, np.where(np.isfinite(hi), np.minimum(hi, 0.0) - FALLBACK_BOUND, -FALLBACK_BOUND))
    hi = np.where(np.isfinite(hi), hi, np.maximum(lo, 0.0) + FALLBACK_BOUND)
    lo = np.where(integer, np.ceil(lo - 1e-9), lo)
    hi = np.where(integer, np.floor(hi + 1e-9), hi)
    return lo.astype(float) + 0.0, np.maximum(hi, lo).astype(float) + 0.0  # + 0.0: no -0.0


def _f(value: float, inf: float) -> float:
    return float(np.clip(value, -inf, inf))


def _fmt(value: float) -> str:
    return f"{value:g}"
