"""Exact baseline: a seller's exact best response to the others' offers, and the exploitability of a profile.

Formulation (the paper's eq. 5-10; notation of ``follower.py``). Seller j chooses its offer (D_j, R_j) in
[Dmin_j, Dmax_j] x [1, R_max] (eq. 5-7: v_j = R_j (C_s_j + A_s_j/Q_j), so R_j >= 1 is eq. 6) to maximise
eq. 10 on what the buyer accepts,

    pi_j = [j accepted] * ((v_j - C_s_j) D_j - A_s_j D_j / Q_j),    Q_j = sqrt(2 A_b D_j / (i v_j))  (eq. 8),

where the buyer answers with its exact response (eq. 8; follower.py). Staying out (ST_j = 0, eq. 5) earns 0,
which an offer at R_j = 1 (profit >= 0 by eq. 6) never undercuts, so it needs no separate branch.

Reduction to a 1-D problem. Fix the others' offers; let S range over the subsets of the other sellers,
T_S and c_S their total quantity and purchase cost, and B0 = max_S revenue(T_S) - c_S the buyer's best
profit without j. With j's offer (D, v) the buyer accepts j (optimistic ties) iff for some S

    revenue(T_S + D) - c_S - D v - sqrt(2 A_b i D v) >= B0,

and the left side decreases in v, so j is accepted iff v <= v*(D) = max_S v*_S(D), with v*_S the root of
D v + sqrt(2 A_b i D) sqrt(v) = G_S(D) := revenue(T_S + D) - c_S - B0 (a quadratic in sqrt(v): closed form).
Seller j's profit grows with v at every accepted offer (instance.validate enforces the condition), so its
best response for a given D is v = min(v*(D), v(D, R_max)), provided it is >= v(D, 1); else j cannot be
accepted at that D. What remains is the 1-D maximisation over D of a piecewise smooth function (a max of
2^(n-1) smooth pieces). It is solved by a fine grid (``n_grid`` points) and golden-section refinement of
the bracket around the best grid point; the tests check it against a grid 20 times finer.

Ties. Optimistic: the threshold is the buyer's exact indifference (G_S as above). The follower treats
buyer profits within tol = :func:`bilevel_bench.problem.tie_tolerance` of its best as tied (follower.py),
so an offer inside that band is accepted too and can earn up to ~tol more than this best response; values
within tol are equal for this project (``BilevelProblem.gap_pct`` reports such a difference as gap 0).
Pessimistic: the buyer must gain strictly more than tol, so G_S is lowered by twice tol(B0) (the supremum
itself is not attained). The final offer is checked against the buyer's exact response and moved down by
a few ulps if rounding put it on the wrong side.

The exploitability of a profile is max_j (best response value of j) - (j's profit at the profile), each
computed with ties broken with seller j as the focal seller. Enumeration makes this exact for
n <= ENUMERATION_MAX_N sellers.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.problem import tie_tolerance
from bilevel_bench.problems.seller_buyer.follower import (
    ENUMERATION_MAX_N,
    buyer_response,
    markup,
    offer_price,
    purchase_cost,
    revenue,
    seller_profit,
    subset_masks,
)
from bilevel_bench.problems.seller_buyer.instance import SellerBuyerInstance

N_GRID = 401
GOLDEN_ITERATIONS = 60
INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0


@dataclasses.dataclass(frozen=True)
class BestResponse:
    seller: int
    D: float
    R: float
    v: float
    profit: float  # 0 when no offer can be accepted
    accepted: bool
    at_cap: bool  # the mark-up bound R_max binds


class _Threshold:
    """v*(D) for seller j against fixed offers of the others (vectorised over D)."""

    def __init__(self, inst: SellerBuyerInstance, j: int, D: np.ndarray, R: np.ndarray, tie_break: str) -> None:
        if inst.n > ENUMERATION_MAX_N + 1:
            raise InputError(
                "<problem>", "n", f"exact best response enumerates 2^(n-1) sets; n = {inst.n} is too large"
            )
        self.inst, self.j = inst, j
        others = np.array([k for k in range(inst.n) if k != j], dtype=int)
        D_o = np.asarray(D, dtype=float)[others]
        v_o = offer_price(inst, D_o, np.asarray(R, dtype=float)[others], others)
        masks = subset_masks(len(others))
        self.T = masks @ D_o
        self.cost = masks @ purchase_cost(inst, D_o, v_o)
        base = revenue(inst, self.T) - self.cost
        self.B0 = float(base.max())
        self.margin = 0.0 if tie_break == "optimistic" else 2.0 * tie_tolerance(self.B0)

    def best_price(self, Dj: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(v, accepted, at_cap) of seller j's best price at each quantity in ``Dj``."""
        inst, j = self.inst, self.j
        Dj = np.atleast_1d(np.asarray(Dj, dtype=float))
        G = revenue(inst, self.T[:, None] + Dj[None, :]) - self.cost[:, None] - self.B0 - self.margin
        b = np.sqrt(2.0 * inst.A_b * inst.i * Dj)
        disc = np.maximum(b * b + 4.0 * Dj * G, 0.0)
        root = (np.sqrt(disc) - b) / (2.0 * Dj)
        root = np.where(G >= 0, root, -1.0).max(axis=0)  # best set for j; -1: no set accepts j at any v >= 0
        v_star = np.where(root >= 0, root * root, -1.0)
        v_floor = offer_price(inst, Dj, np.ones_like(Dj), j)
        v_cap = offer_price(inst, Dj, np.full_like(Dj, inst.R_max), j)
        v = np.minimum(v_star, v_cap)
        return v, v >= v_floor, v_star >= v_cap

    def profit(self, Dj: np.ndarray) -> np.ndarray:
        v, ok, _ = self.best_price(Dj)
        return np.where(ok, seller_profit(self.inst, Dj, np.maximum(v, 1e-12), self.j), 0.0)


def best_response(
    inst: SellerBuyerInstance,
    j: int,
    D: np.ndarray,
    R: np.ndarray,
    tie_break: str = "optimistic",
    n_grid: int = N_GRID,
) -> BestResponse:
    """Seller j's exact best response (grid over D + golden refinement, exact price threshold)."""
    th = _Threshold(inst, j, D, R, tie_break)
    lo, hi = float(inst.Dmin[j]), float(inst.Dmax[j])
    grid = np.linspace(lo, hi, n_grid) if hi > lo else np.array([lo])
    values = th.profit(grid)
    k = int(np.argmax(values))
    best_D, best_val = float(grid[k]), float(values[k])
    if len(grid) > 1 and best_val > 0:
        a, b = float(grid[max(k - 1, 0)]), float(grid[min(k + 1, len(grid) - 1)])
        D_ref = _golden(lambda x: float(th.profit(np.array([x]))[0]), a, b)
        val_ref = float(th.profit(np.array([D_ref]))[0])
        if val_ref > best_val:
            best_D, best_val = D_ref, val_ref
    v, ok, cap = (arr[0] for arr in th.best_price(np.array([best_D])))
    if not ok:
        return BestResponse(j, lo, 1.0, float(offer_price(inst, lo, 1.0, j)), 0.0, False, False)
    R_j = _accepted_markup(inst, j, D, R, best_D, float(markup(inst, best_D, v, j)), tie_break)
    v = float(offer_price(inst, best_D, R_j, j))
    return BestResponse(j, best_D, R_j, v, float(seller_profit(inst, best_D, v, j)), True, bool(cap))


def _accepted_markup(
    inst: SellerBuyerInstance, j: int, D: np.ndarray, R: np.ndarray, Dj: float, Rj: float, tie_break: str
) -> float:
    """The largest mark-up <= Rj (up to rounding) at which the buyer's exact response still accepts j."""
    D, R = np.array(D, dtype=float), np.array(R, dtype=float)
    D[j] = Dj
    Rj = float(np.clip(Rj, 1.0, inst.R_max))
    for step in range(60):
        R[j] = Rj
        if buyer_response(inst, D, R, tie_break, focal=j).solution["accepted"][j]:
            return Rj
        Rj = max(1.0, Rj * (1.0 - 2.0**step * np.finfo(float).eps))
    raise AssertionError(f"seller {j}'s exact best response is not accepted by the buyer")  # a bug, not input


def _golden(f, a: float, b: float) -> float:
    """Maximiser of f on [a, b] by golden-section search (f unimodal on the small bracket)."""
    c, d = b - INV_PHI * (b - a), a + INV_PHI * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(GOLDEN_ITERATIONS):
        if fc >= fd:
            b, d, fd = d, c, fc
            c = b - INV_PHI * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + INV_PHI * (b - a)
            fd = f(d)
    return (a + b) / 2.0


def profile_profit(inst: SellerBuyerInstance, j: int, D: np.ndarray, R: np.ndarray, tie_break: str) -> float:
    """Seller j's profit at a profile, buyer ties broken with j as the focal seller."""
    response = buyer_response(inst, D, R, tie_break, focal=j)
    return float(response.solution["seller_profit"][j])


def exploitability(
    inst: SellerBuyerInstance, D: np.ndarray, R: np.ndarray, tie_break: str = "optimistic", n_grid: int = N_GRID
) -> tuple[float, np.ndarray, list[BestResponse]]:
    """(max gain, gain per seller, best responses): what each seller gains by its exact best response."""
    responses = [best_response(inst, j, D, R, tie_break, n_grid) for j in range(inst.n)]
    gains = np.array([br.profit - profile_profit(inst, br.seller, D, R, tie_break) for br in responses])
    return float(max(gains.max(), 0.0)), gains, responses
