"""The exact baseline of the MIBLP family: enumeration of the leader's box, or the library's published value.

**Enumeration** (when every leader variable is integer and the high-point-relaxation box holds at most
:data:`MAX_POINTS` integer points). The box of ``relaxation.py`` contains every bilevel-feasible x (every
bilevel-feasible (x, y) satisfies the HPR), so the optimum of the bilevel problem

    min_x  F(x) = cx @ x + cy @ y(x) + offset   over x in the box with y(x) the follower's response
                                                (``follower.py``, the problem's tie rule) and (x, y(x))
                                                satisfying the leader's rows

is the best value over the box's points. Points are visited in increasing order of the valid lower bound
``LB(x) = cx @ x + offset + min_{y in the follower's box} cy @ y``; the visit stops when LB(x) reaches the
incumbent (no later point can beat it), which proves optimality without solving every follower. Before any
follower is solved, a point is dropped when (i) a leader row without follower columns fails, or (ii) some
follower row cannot be met by any y in the follower's box (interval arithmetic): both make x bilevel
infeasible. Every other point is evaluated with the exact follower (``problem.evaluate``), as the
heuristics do. Status ``optimal`` when the visit ends, ``infeasible`` when no point is bilevel feasible;
``feasible`` with the least remaining LB as bound when the time limit cuts it (notes say how far it got).
This is the textbook "enumerate the upper level, solve the lower level" scheme (e.g. Moore and Bard 1990,
sec. 3; DeNegre 2011, ch. 2), with a bound ordering.

**Published** (larger boxes or continuous leader variables): BOBILib's ``objective_value`` as status
``published`` with ``published_kind`` ``published_optimal`` (library status ``optimal``) or
``published_best_known`` (``open with feasible point``), and the library's leader decision as
``solution["x"]``, which the core re-evaluates (:mod:`bilevel_bench.verify`). The values are BOBILib's
optimistic ones, so a pessimistic problem gets ``unsupported`` here, as does an instance without a result.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from bilevel_bench import limits
from bilevel_bench.problem import ExactResult, ExactStatus
from bilevel_bench.problems.miblp.follower import Split, row_violation

if TYPE_CHECKING:
    from bilevel_bench.problems.miblp.problem import MiblpProblem

#: Largest box (integer points) the baseline enumerates.
MAX_POINTS = 100_000
METHOD_ENUM = "enumeration of the HPR leader box in lower-bound order, exact follower per point"


def box_points(problem: MiblpProblem) -> float:
    """Number of integer points of the HPR leader box (inf if a leader variable is continuous)."""
    if not problem.integer_mask().all():
        return math.inf
    sizes = problem.hpr_upper - problem.hpr_lower + 1.0
    return float(np.prod(np.maximum(sizes, 0.0)))


def solve_exact(problem: MiblpProblem, time_limit: float = 60.0) -> ExactResult:
    points = box_points(problem)
    if points <= MAX_POINTS:
        return enumerate_box(problem, time_limit)
    return published(
        problem,
        f"the HPR leader box has {points:.3g} integer points (> {MAX_POINTS:,} enumerated)"
        if math.isfinite(points)
        else "a leader variable is continuous (no enumeration)",
    )


def published(problem: MiblpProblem, why: str) -> ExactResult:
    inst = problem.instance
    if not inst.published_status or inst.published_objective is None:
        return ExactResult(
            math.nan,
            math.nan,
            ExactStatus.UNSUPPORTED,
            0.0,
            {},
            "none",
            f"{why}; no published result (.res.json) for this instance",
        )
    if problem.tie_break != "optimistic":
        return ExactResult(
            math.nan,
            math.nan,
            ExactStatus.UNSUPPORTED,
            0.0,
            {},
            "none",
            f"{why}; BOBILib's published values are for the optimistic reading",
        )
    kind = "published_optimal" if inst.published_status == "optimal" else "published_best_known"
    value = float(inst.published_objective)
    solution = {}
    if len(inst.published_x):
        solution = {"x": inst.published_x.tolist(), **problem.decode(inst.published_x)}
    return ExactResult(
        objective=value,
        bound=value if kind == "published_optimal" else math.nan,
        status=ExactStatus.PUBLISHED,
        time_s=0.0,
        solution=solution,
        method="BOBILib published result",
        notes=f"{why}; {inst.published_source}",
        published_kind=kind,
    )


def enumerate_box(problem: MiblpProblem, time_limit: float) -> ExactResult:
    start = time.perf_counter()
    sp = problem.sp
    lo, hi = problem.hpr_lower, problem.hpr_upper
    axes = [np.arange(a, b + 1.0) for a, b in zip(lo, hi, strict=True)]
    X = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes)) if len(axes) else np.zeros((1, 0))
    total = len(X)
    # (i) leader rows without follower columns
    rows = problem._leader_only
    keep = row_violation(sp.u_lo[rows], sp.u_hi[rows], X @ sp.Hx[rows].T).sum(axis=1) <= 1e-9
    # (ii) follower rows no y in the follower's box can meet
    pos, neg = np.maximum(sp.Gy, 0.0), np.minimum(sp.Gy, 0.0)
    with np.errstate(invalid="ignore"):
        gmin = np.nan_to_num(pos @ sp.y_lo + neg @ sp.y_hi, nan=-np.inf) if len(sp.Gy) else np.zeros(0)
        gmax = np.nan_to_num(pos @ sp.y_hi + neg @ sp.y_lo, nan=np.inf) if len(sp.Gy) else np.zeros(0)
    gx = X @ sp.Gx.T
    keep &= np.all(
        (gmax[None, :] >= sp.f_lo[None, :] - gx - 1e-9) & (gmin[None, :] <= sp.f_hi[None, :] - gx + 1e-9), axis=1
    )
    X = X[keep]
    lb = X @ sp.cx + sp.offset + _y_bound(sp, X)
    order = np.argsort(lb, kind="stable")
    best_value, best_x = math.inf, None
    visited = solved = 0
    cut = False
    for k in order:
        if lb[k] >= best_value:
            break
        if limits.expired() or time.perf_counter() - start > time_limit:
            cut = True
            break
        with limits.deadline(time.time() + max(0.0, time_limit - (time.perf_counter() - start))):
            evaluation = problem.evaluate(X[k])
        visited += 1
        solved += evaluation.follower.n_solves
        if evaluation.feasible and evaluation.value < best_value:
            best_value, best_x = evaluation.value, X[k]
        elif evaluation.follower.status == "limit":
            cut = True
            break
    elapsed = time.perf_counter() - start
    notes = (
        f"{total} box points, {total - len(X)} dropped before solving (leader rows / follower rows out of "
        f"reach), {visited} evaluated ({solved} follower MILP solves)"
    )
    solution = {} if best_x is None else {"x": best_x.tolist(), **problem.decode(best_x)}
    if cut:
        remaining = lb[order[visited:]] if visited < len(order) else np.array([math.inf])
        bound = float(min(best_value, remaining.min()))
        status = ExactStatus.FEASIBLE if best_x is not None else ExactStatus.UNSUPPORTED
        notes += f"; cut by the time limit ({time_limit:g} s) after {visited} of {len(X)} points"
        return ExactResult(
            best_value if best_x is not None else math.nan, bound, status, elapsed, solution, METHOD_ENUM, notes
        )
    if best_x is None:
        return ExactResult(
            math.nan,
            math.nan,
            ExactStatus.INFEASIBLE,
            elapsed,
            {},
            METHOD_ENUM,
            notes + "; no point of the box is bilevel feasible",
        )
    return ExactResult(best_value, best_value, ExactStatus.OPTIMAL, elapsed, solution, METHOD_ENUM, notes)


def _y_bound(sp: Split, X: np.ndarray) -> np.ndarray:
    """A lower bound of ``cy @ y`` over the follower's feasible y at each row of ``X``: the follower's box
    tightened by one round of bound propagation on each follower row (for a row lo <= g @ y <= hi and
    g_j > 0: g_j y_j <= hi - sum_{k != j} min(g_k y_k), and symmetrically), integers rounded inward."""
    y_lo = np.broadcast_to(sp.y_lo, (len(X), len(sp.y_lo))).copy()
    y_hi = np.broadcast_to(sp.y_hi, (len(X), len(sp.y_hi))).copy()
    G = sp.Gy
    if len(G) and len(X):
        gx = X @ sp.Gx.T  # [N, m]
        lo, hi = sp.f_lo[None, :] - gx, sp.f_hi[None, :] - gx
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            term_min = np.minimum(G[None, :, :] * sp.y_lo[None, None, :], G[None, :, :] * sp.y_hi[None, None, :])
            term_max = np.maximum(G[None, :, :] * sp.y_lo[None, None, :], G[None, :, :] * sp.y_hi[None, None, :])
            term_min = np.where(G[None, :, :] == 0, 0.0, term_min)
            term_max = np.where(G[None, :, :] == 0, 0.0, term_max)
            rest_min = term_min.sum(axis=2, keepdims=True) - term_min  # [N, m, n_y] sum over k != j
            rest_max = term_max.sum(axis=2, keepdims=True) - term_max
            up = hi[:, :, None] - rest_min  # g_j y_j <= up
            down = lo[:, :, None] - rest_max  # g_j y_j >= down
            pos, neg = G[None, :, :] > 0, G[None, :, :] < 0
            safe = np.where(G == 0, 1.0, G)[None, :, :]
            new_hi = np.where(pos, up / safe, np.where(neg, down / safe, np.inf))
            new_lo = np.where(pos, down / safe, np.where(neg, up / safe, -np.inf))
            new_hi = np.nan_to_num(new_hi, nan=np.inf).min(axis=1)
            new_lo = np.nan_to_num(new_lo, nan=-np.inf).max(axis=1)
            new_hi = np.where(sp.y_int[None, :], np.floor(new_hi + 1e-9 * np.maximum(1.0, np.abs(new_hi))), new_hi)
            new_lo = np.where(sp.y_int[None, :], np.ceil(new_lo - 1e-9 * np.maximum(1.0, np.abs(new_lo))), new_lo)
        y_hi, y_lo = np.minimum(y_hi, new_hi), np.maximum(y_lo, new_lo)
        y_hi = np.maximum(y_hi, y_lo)  # an empty box (follower infeasible) keeps a finite, still valid bound
    cy = sp.cy[None, :]
    with np.errstate(invalid="ignore"):
        part = np.where(cy > 0, cy * y_lo, np.where(cy < 0, cy * y_hi, 0.0))
    return np.nan_to_num(part, nan=-np.inf).sum(axis=1)
