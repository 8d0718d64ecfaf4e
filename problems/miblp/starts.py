"""Relaxation starts of a MIBLP for bilevel-aware heuristics (the problem's ``relaxation_starts`` hook).

The high-point relaxation (HPR, as in ``relaxation.py``: every row of both levels and every bound, the
follower's optimality dropped, integrality relaxed: an LP over (x, y))::

    min  c_x x + c_y y + lam d y   s.t.  f_lo <= G_x x + G_y y <= f_hi,  u_lo <= H_x x + H_y y <= u_hi,
                                         x in the leader's box,  y_lo <= y <= y_hi

Start 0 is its optimum with lam = 0 (the HPR's own optimum). The variants alternate: odd k adds the
follower's objective with a weight lam = w exp(g), g standard normal, w = ||c_y||_1 / ||d||_1 (1 if either
is 0): HPR points whose y the follower likes better, so more often bilevel feasible; even k >= 2 fixes a
random half of the leader's variables at uniform random values of the box (integers: uniform integers) and
solves the HPR over the rest. Infeasible or unbounded LPs are skipped; the leader part of each optimum is
returned (the run's canonical map rounds the integer variables), duplicates dropped. One LP (GLOP) each,
counted in ``relaxation_lp_solves``; deterministic for a seed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from bilevel_bench.lp import LinearProgram, solve_lp_arrays
from bilevel_bench.problem import OPTIMAL

if TYPE_CHECKING:
    from bilevel_bench.problems.miblp.follower import Split


def _rows(A: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided rows lo <= A z <= hi as (A_ub, b_ub, A_eq, b_eq)."""
    eq = np.isfinite(lo) & np.isfinite(hi) & (lo == hi)
    upper = np.isfinite(hi) & ~eq
    lower = np.isfinite(lo) & ~eq
    return np.vstack([A[upper], -A[lower]]), np.concatenate([hi[upper], -lo[lower]]), A[eq], lo[eq]


def hpr_starts(
    sp: Split, lower: np.ndarray, upper: np.ndarray, integer: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, int]:
    """Up to n leader decisions from the HPR and its variants (module docstring), and the LPs solved."""
    rng = np.random.default_rng(seed)
    n_x = len(lower)
    parts = [
        _rows(np.hstack([sp.Gx, sp.Gy]), sp.f_lo, sp.f_hi),
        _rows(np.hstack([sp.Hx, sp.Hy]), sp.u_lo, sp.u_hi),
    ]
    A_ub = np.vstack([p[0] for p in parts])
    b_ub = np.concatenate([p[1] for p in parts])
    A_eq = np.vstack([p[2] for p in parts])
    b_eq = np.concatenate([p[3] for p in parts])
    base = np.concatenate([sp.cx, sp.cy])
    d_norm, c_norm = float(np.abs(sp.d).sum()), float(np.abs(sp.cy).sum())
    weight = c_norm / d_norm if d_norm > 0 and c_norm > 0 else 1.0
    found: list[np.ndarray] = []
    solves = 0
    for k in range(n):
        objective = base.copy()
        lo, hi = np.concatenate([lower, sp.y_lo]), np.concatenate([upper, sp.y_hi])
        if k % 2 == 1:
            objective[n_x:] += weight * math.exp(float(rng.standard_normal())) * sp.d
        elif k > 0:
            fixed = np.flatnonzero(rng.random(n_x) < 0.5)
            values = lower[fixed] + (upper[fixed] - lower[fixed]) * rng.random(len(fixed))
            values = np.where(
                integer[fixed], np.clip(np.round(values), np.ceil(lower[fixed]), np.floor(upper[fixed])), values
            )
            lo[fixed], hi[fixed] = values, values
        result = solve_lp_arrays(LinearProgram(objective, A_ub, b_ub, A_eq, b_eq, lo, hi))
        solves += 1
        if result.status != OPTIMAL:
            continue
        x = np.clip(result.y[:n_x], lower, upper)
        if not any(np.array_equal(x, other) for other in found):
            found.append(x)
    return (np.array(found) if found else np.zeros((0, n_x))), solves
