"""Relaxations of the production-and-advertising bilevel problem, for bilevel-aware heuristics.

Both use the follower LP and the leader's part of the KKT baseline (``exact.py``: ``_affine_follower``,
``_leader``; :class:`bilevel_bench.kkt.AffineLP` and :class:`~bilevel_bench.kkt.LeaderSpec`), over
z = (x, w, y): the leader's production and advertising x, the setup binaries w (``setup = "decision"``,
relaxed to [0, 1]) and the customer's plan y = (d, I, S).

**High-point relaxation** (HPR; :func:`relaxation_starts`, the problem's ``relaxation_starts`` hook)::

    max  F(x, w, y) = -c x - v - f w + p d - h I - s S - r y_rent     (the leader's objective)
    s.t. A_ub y - B_ub x <= b_ub,  A_eq y - B_eq x = b_eq,  lb <= y <= y_hi      (the customer's rows)
         resources, x <= xmax w,  x and w in their boxes                          (the leader's rows)

i.e. the bilevel problem without the customer's optimality. ``y_hi`` are the primal bounds of the KKT
baseline (``exact.kkt_bounds``: every leader-preferred optimal response lies below them, so the set keeps
every bilevel feasible point and the HPR stays a relaxation); without them the HPR is unbounded whenever
p > s (the leader would have the customer buy and subcontract without limit). With subcontracting capped
the caps bound y instead. The first start is the HPR's optimum; start k >= 1 is the optimum of a variant:
odd k with the objective's coefficients multiplied by exp(0.5 g), g standard normal, even k with a random
half of the leader's variables fixed at uniform random values of their box (variants whose LP is
infeasible are skipped). One LP (GLOP) per start, counted in ``relaxation_lp_solves``; deterministic for a
seed. Duplicates are dropped.

**Projection onto the follower-feasible decisions** (:func:`project_feasible`, the problem's ``project``
hook). The follower is infeasible only when caps bind; then the decision is moved to the nearest one (L1
norm, each coordinate in units of its range) at which the customer has a feasible plan and the leader's rows hold::

    min  sum |x' - x|   s.t.  (x', w, y) satisfies every row of the HPR (without y_hi)

an LP. Its x' makes the follower's LP feasible (y is a feasible plan) and bounded (the customer's cost p d
is >= 0), so the follower is optimal at x': the projected decision is provably follower-feasible. Counted
in ``projection_lp_solves``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from bilevel_bench.lp import LinearProgram, solve_lp_arrays
from bilevel_bench.problem import OPTIMAL

if TYPE_CHECKING:
    from bilevel_bench.problems.inventory.problem import InventoryProblem

#: Spread of the objective perturbation of the HPR variants (log scale).
PERTURBATION = 0.5
#: Share of the leader's variables fixed at random in the other variants.
FIXED_SHARE = 0.5


class Relaxation:
    """The HPR's rows over z = (x, w, y) of one problem (plain arrays)."""

    def __init__(self, problem: InventoryProblem, y_bounds: bool = True) -> None:
        from bilevel_bench.problems.inventory.exact import _affine_follower, _leader, kkt_bounds

        plp, spec = _affine_follower(problem.instance), _leader(problem)
        self.plp, self.spec = plp, spec
        p, n = plp.p, plp.n
        q = 0 if spec.w_lb is None else len(spec.w_lb)
        self.p, self.q, self.n = p, q, n
        w_lb = np.zeros(q) if spec.w_lb is None else np.asarray(spec.w_lb, float)
        w_ub = np.ones(q) if spec.w_ub is None else np.asarray(spec.w_ub, float)
        y_ub = plp.ub.copy()
        self.setup_lps = 0  # LPs solved to build it (kkt_bounds: one per demand row and product-period, + 1)
        if y_bounds and problem.instance.subcontract_cap is None:
            bounds = kkt_bounds(problem.instance)
            self.setup_lps = len(problem.instance.d0) + problem.n_var // 2 + 1
            y_ub = np.minimum(y_ub, np.concatenate([bounds.d, bounds.I, bounds.S]))
        self.lb = np.concatenate([spec.lb, w_lb, plp.lb])
        self.ub = np.concatenate([spec.ub, w_ub, y_ub])
        r = 0 if spec.rows_rhs is None else len(spec.rows_rhs)
        rows_x = np.zeros((r, p)) if spec.rows_x is None else spec.rows_x
        rows_w = np.zeros((r, q)) if spec.rows_w is None else spec.rows_w
        rows_y = np.zeros((r, n)) if spec.rows_y is None else spec.rows_y
        rhs = np.zeros(0) if spec.rows_rhs is None else spec.rows_rhs
        self.A_ub = np.vstack(
            [np.hstack([-plp.B_ub, np.zeros((len(plp.b_ub), q)), plp.A_ub]), np.hstack([rows_x, rows_w, rows_y])]
        )
        self.b_ub = np.concatenate([plp.b_ub, rhs])
        self.A_eq = np.hstack([-plp.B_eq, np.zeros((len(plp.b_eq), q)), plp.A_eq])
        self.b_eq = plp.b_eq.copy()
        self.objective = np.concatenate(
            [_given(spec.obj_x, p), _given(spec.obj_w, q), _given(spec.obj_y, n)]
        )  # the constant does not move the optimum

    def solve(self, objective: np.ndarray, lb: np.ndarray, ub: np.ndarray) -> tuple[np.ndarray, float] | None:
        """max objective @ z over the HPR with the box [lb, ub] on z: (z, value), or None if no optimum."""
        lp = LinearProgram(objective, self.A_ub, self.b_ub, self.A_eq, self.b_eq, lb, ub)
        result = solve_lp_arrays(lp, maximize=True)
        return (result.y, float(result.value)) if result.status == OPTIMAL else None


def _given(value: np.ndarray | None, size: int) -> np.ndarray:
    return np.zeros(size) if value is None else np.asarray(value, dtype=float)


def relaxation_starts(relaxation: Relaxation, n: int, seed: int) -> tuple[np.ndarray, int]:
    """Up to n leader decisions: the HPR's optimum, then its variants (module docstring); and the LPs solved."""
    rng = np.random.default_rng(seed)
    found: list[np.ndarray] = []
    solves = 0
    p = relaxation.p
    for k in range(n):
        objective, lb, ub = relaxation.objective.copy(), relaxation.lb.copy(), relaxation.ub.copy()
        if k % 2 == 1:
            objective *= np.exp(PERTURBATION * rng.standard_normal(len(objective)))
        elif k > 0:
            fixed = np.flatnonzero(rng.random(p) < FIXED_SHARE)
            values = lb[fixed] + (ub[fixed] - lb[fixed]) * rng.random(len(fixed))
            lb[fixed], ub[fixed] = values, values
        optimum = relaxation.solve(objective, lb, ub)
        solves += 1
        if optimum is None:
            continue
        x = np.clip(optimum[0][:p], relaxation.spec.lb, relaxation.spec.ub)
        if not any(np.array_equal(x, y) for y in found):
            found.append(x)
    return (np.array(found) if found else np.zeros((0, p))), solves


def project_feasible(relaxation: Relaxation, x: np.ndarray) -> np.ndarray | None:
    """The nearest decision (L1) at which the follower has a feasible plan and the leader's rows hold."""
    p, N = relaxation.p, len(relaxation.lb)
    eye = np.eye(p)
    pad = np.zeros((p, N - p))
    # over (z, t): x' - t <= x and -x' - t <= -x, i.e. |x' - x| <= t
    A_ub = np.vstack(
        [
            np.hstack([relaxation.A_ub, np.zeros((len(relaxation.b_ub), p))]),
            np.hstack([eye, pad, -eye]),
            np.hstack([-eye, pad, -eye]),
        ]
    )
    b_ub = np.concatenate([relaxation.b_ub, x, -x])
    A_eq = np.hstack([relaxation.A_eq, np.zeros((len(relaxation.b_eq), p))])
    lb = np.concatenate([relaxation.lb, np.zeros(p)])
    ub = np.concatenate([relaxation.ub, np.full(p, math.inf)])
    scale = 1.0 / np.maximum(relaxation.spec.ub - relaxation.spec.lb, 1e-9)  # each coordinate in box units
    objective = np.concatenate([np.zeros(N), scale])
    result = solve_lp_arrays(LinearProgram(objective, A_ub, b_ub, A_eq, relaxation.b_eq, lb, ub))
    if result.status != OPTIMAL:
        return None
    return np.clip(result.y[:p], relaxation.spec.lb, relaxation.spec.ub)
