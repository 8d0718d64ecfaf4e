"""Exact baseline: one seller's best response, certified by a bound over D, and the sellers' game.

Formulation (the paper's eq. 5-10; notation of ``follower.py``). Seller j chooses its offer (D_j, R_j) in
[Dmin_j, Dmax_j] x [1, R_max] (eq. 5-7: v_j = R_j (C_s_j + A_s_j/Q_j), so R_j >= 1 is eq. 6) to maximise
eq. 10 on what the buyer accepts,

    pi_j = [j accepted] * g(D_j, v_j),   g(D, v) = (v - C_s_j) D - A_s_j sqrt(i v D / (2 A_b)),

(Q_j = sqrt(2 A_b D_j / (i v_j)) is the buyer's EOQ, eq. 8), where the buyer answers with its exact
response (eq. 8; follower.py). Staying out (ST_j = 0, eq. 5) earns 0, which an offer at R_j = 1 (profit
exactly 0 by eq. 6) never undercuts, so it needs no separate branch.

Reduction to one dimension (exact). Fix the others' offers; let S range over the subsets of the other
sellers, T_S and c_S their total quantity and purchase cost, and B0 = max_S revenue(T_S) - c_S the buyer's
best profit without j. With j's offer (D, v) the buyer's best profit with j is
W(D, v) = max_S revenue(T_S + D) - c_S - D v - sqrt(2 A_b i D v), decreasing in v; j can be accepted only
if W >= B0 - tol(B0) (the follower's tie band), so the prices at which j is accepted form an interval
v <= v*(D) = max_S v*_S(D), where v*_S solves D v + sqrt(2 A_b i D v) = G_S(D) := revenue(T_S + D) - c_S - B0
(a quadratic in sqrt(v): closed form). g grows with v at every price >= C_s_j (instance.validate enforces
2 sqrt(C_s Dmin) > A_s sqrt(i / (2 A_b))), so the best price at a quantity D is v = min(v*(D), v(D, R_max)),
provided it is >= v(D, 1); else j earns 0 at D. The jump of the profit in R (to 0 just above the buyer's
threshold) is thereby resolved in closed form: the best offer sits exactly at the threshold. What remains
is f(D) = g(D, v(D)), a continuous function of D alone (the max of 2^(n-1) smooth pieces, capped at
R_max): continuous because the profit at the acceptance boundary v*(D) = v(D, 1) is g = 0 (R = 1), with
kinks where the cap starts to bind (v*(D) = v(D, R_max)) and where the best set S changes.

Where the buyer accepts j at its exact indifference (ties broken in j's favour: the ``optimistic`` reading
of j's own problem, ``focal=True``), the incumbent's price is at the threshold. Under any other rule (the
``pessimistic`` reading, or the game's one buyer rule ``focal=False`` that breaks ties by the sellers'
total profit, whatever j's interest) the supremum is not attained: the incumbent asks the buyer to gain
more than its tie band (G_S lowered by 2 tol(B0)). Either way the offer is checked against the buyer's
exact response under the same rule and moved down by a few ulps if rounding put it on the wrong side.

The search for the incumbent: ``n_grid`` points over [Dmin_j, Dmax_j], the points where the cap starts to
bind (sign changes of v*(D) - v(D, R_max) on the grid, bisected), and a zoom into the bracket around the
best point (a grid of ``ZOOM_POINTS`` in the bracket, ``ZOOM_ROUNDS`` times).

Certificate (``certify=True``). An upper bound of f over a cell [a, b] of D: G_S is increasing in D
(revenue is), the root sqrt(v*_S) = 2 G / (beta + sqrt(beta^2 + 4 D G)), beta = sqrt(2 A_b i D), increases in
G and decreases in D and beta, and v(D, R_max) decreases in D, so over the cell every accepted price is
<= V = min(max_S root_S(a, beta(a), G_S(b) + band)^2, v(a, R_max)), band = 1.5 tol(B0) (the follower's
tie band, with slack for rounding: the bound covers every tie rule). g(., V) is convex in D (linear minus
a square root) and g(D, .) increasing above C_s_j, so f <= max(g(a, V), g(b, V), 0) on the cell, and
f = 0 on the cell if V < v(b, R = 1) (v(., 1) decreases in D). Branch and bound: cells whose bound
exceeds the incumbent by more than the tolerance are halved (the midpoint is evaluated and may improve
the incumbent) until none is left (status ``optimal``: the incumbent is within the tolerance of the
bound) or the budget (``max_cells`` cell bounds, deterministic) or the time limit runs out (status
``feasible``, the bound is still valid). Tolerance: ``GAP_RTOL`` * max(1, |best|) + ``TIE_SLACK`` *
tol(B0): the relative part is the certificate's, the absolute part covers the follower's tie band, which
the bound includes and an incumbent under a strict rule does not (at most 3.5 tol(B0) of profit). Of the
2^(n-1) sets S only those on the Pareto front of (T_S large, c_S small) are kept (any other set's G_S is
pointwise below one of them), and only those that reach G_S >= -band at D = Dmax_j (G_S grows with D).

Exploitability of a profile: max_j (best response value of j) - (j's profit at the profile), both under
ONE buyer tie rule (``focal=False``: the follower's rule without a focal seller, the same for every
deviation) unless ``focal=True`` asks for the reading in which each seller's deviation and profit are
taken with ties broken in that seller's favour (which no single buyer does for all sellers at once; kept
only for comparison). With ``certify=True`` it comes with an upper bound from the certified best
responses. Enumeration makes all of this exact for n <= ENUMERATION_MAX_N + 1 sellers.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING

import numpy as np

from bilevel_bench import limits
from bilevel_bench.errors import InputError
from bilevel_bench.problem import ExactResult, ExactStatus, tie_tolerance
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

if TYPE_CHECKING:
    from bilevel_bench.problems.seller_buyer.problem import ExploitabilityProblem, SellerBestResponseProblem

N_GRID = 401
ZOOM_POINTS = 17
ZOOM_ROUNDS = 12
BISECTIONS = 60
#: A new point replaces the incumbent only if better by more than this (relative): rounding noise is not a gain.
NOISE = 1e-12
#: Relative tolerance of the certificate (of max(1, |best profit|)).
GAP_RTOL = 1e-6
#: Absolute slack of the certificate, in units of the buyer's tie tolerance tol(B0) (see the docstring).
TIE_SLACK = 4.0
#: The bound widens the buyer's indifference by this many tol(B0) (the tie band, with slack for rounding).
BOUND_BAND = 1.5
#: Deterministic budget of the certificate: cell bounds computed (each over the Pareto sets S).
MAX_CELLS = 200_000
#: Cells narrower than this (relative to the band of D) are not split further (floating point).
MIN_WIDTH = 1e-12
_CHUNK = 1 << 20  # elements of a (sets x points) block


@dataclasses.dataclass(frozen=True)
class BestResponse:
    seller: int
    D: float
    R: float
    v: float
    profit: float  # 0 when no offer can be accepted
    accepted: bool
    at_cap: bool  # the mark-up bound R_max binds
    bound: float = math.nan  # upper bound of the best-response value (nan without certify)
    certified: bool = False  # bound - profit <= tolerance
    tolerance: float = math.nan
    cells: int = 0  # cell bounds computed by the certificate
    sets: int = 0  # the Pareto sets S the threshold uses


def _pareto(T: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the sets no other set dominates (larger or equal T at lower or equal cost)."""
    order = np.lexsort((cost, -T))  # T descending, then cost ascending
    best_cost = np.minimum.accumulate(cost[order])
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = cost[order][1:] < best_cost[:-1]
    return np.sort(order[keep])


class _Threshold:
    """The buyer's acceptance threshold v*(D) for seller j against fixed offers of the others, the profit
    f(D) at the best accepted price, and an upper bound of f over cells of D (vectorised over D)."""

    def __init__(self, inst: SellerBuyerInstance, j: int, D: np.ndarray, R: np.ndarray, strict: bool) -> None:
        if inst.n > ENUMERATION_MAX_N + 1:
            raise InputError(
                "<problem>", "n", f"exact best response enumerates 2^(n-1) sets; n = {inst.n} is too large"
            )
        self.inst, self.j = inst, j
        others = np.array([k for k in range(inst.n) if k != j], dtype=int)
        D_o = np.asarray(D, dtype=float)[others]
        v_o = offer_price(inst, D_o, np.asarray(R, dtype=float)[others], others)
        masks = subset_masks(len(others))
        T = masks @ D_o
        cost = masks @ purchase_cost(inst, D_o, v_o)
        self.B0 = float((revenue(inst, T) - cost).max())
        self.tol = tie_tolerance(self.B0)
        self.margin = 2.0 * self.tol if strict else 0.0
        self.band = BOUND_BAND * self.tol
        useful = revenue(inst, T + float(inst.Dmax[j])) - cost - self.B0 + self.band >= 0.0
        T, cost = T[useful], cost[useful]
        keep = _pareto(T, cost)
        self.T, self.cost = T[keep], cost[keep]

    @property
    def n_sets(self) -> int:
        return len(self.T)

    def _root(self, D: np.ndarray, G: np.ndarray) -> np.ndarray:
        """max over S of sqrt(v*_S) at coefficient D, beta(D), gap G[S, :] (-1 where no S has G >= 0)."""
        if not len(G):
            return np.full(D.shape, -1.0)
        beta = np.sqrt(2.0 * self.inst.A_b * self.inst.i * D)
        Gp = np.maximum(G, 0.0)
        root = 2.0 * Gp / (beta + np.sqrt(beta * beta + 4.0 * D * Gp))
        return np.asarray(np.where(G >= 0.0, root, -1.0).max(axis=0))

    def _chunks(self, size: int) -> list[slice]:
        step = max(1, _CHUNK // max(1, self.n_sets))
        return [slice(k, k + step) for k in range(0, size, step)]

    def best_price(self, Dj: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(v, accepted, at_cap, v*) of seller j's best price at each quantity in ``Dj`` (v* = -1: none)."""
        inst, j = self.inst, self.j
        Dj = np.atleast_1d(np.asarray(Dj, dtype=float))
        root = np.empty_like(Dj)
        for part in self._chunks(len(Dj)):
            d = Dj[part]
            G = revenue(inst, self.T[:, None] + d[None, :]) - self.cost[:, None] - self.B0 - self.margin
            root[part] = self._root(d, G)
        v_star = np.where(root >= 0.0, root * root, -1.0)
        v_floor = offer_price(inst, Dj, np.ones_like(Dj), j)
        v_cap = offer_price(inst, Dj, np.full_like(Dj, inst.R_max), j)
        v = np.minimum(v_star, v_cap)
        return v, v >= v_floor, v_star >= v_cap, v_star

    def profit(self, Dj: np.ndarray) -> np.ndarray:
        v, ok, _, _ = self.best_price(Dj)
        Dj = np.atleast_1d(np.asarray(Dj, dtype=float))
        return np.where(ok, seller_profit(self.inst, Dj, np.maximum(v, 1e-300), self.j), 0.0)

    def cell_bound(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """An upper bound of the profit f over each cell [a, b] of D, for every buyer tie rule."""
        inst, j = self.inst, self.j
        v_up = np.empty_like(a)
        for part in self._chunks(len(a)):
            G = revenue(inst, self.T[:, None] + b[None, part]) - self.cost[:, None] - self.B0 + self.band
            root = self._root(a[part], G)
            v_up[part] = np.where(root >= 0.0, root * root, -1.0)
        v_up = np.minimum(v_up, offer_price(inst, a, np.full_like(a, inst.R_max), j))
        possible = v_up >= offer_price(inst, b, np.ones_like(b), j)
        Vp = np.maximum(v_up, 1e-300)
        g = np.maximum(seller_profit(inst, a, Vp, j), seller_profit(inst, b, Vp, j))
        return np.where(possible, np.maximum(g, 0.0), 0.0)


def _cap_breakpoints(th: _Threshold, grid: np.ndarray) -> np.ndarray:
    """Quantities where the cap starts or stops binding (v*(D) = v(D, R_max)) between grid points."""
    if len(grid) < 2:
        return np.empty(0)
    _, _, cap, _ = th.best_price(grid)
    change = np.flatnonzero(cap[:-1] != cap[1:])
    if not len(change):
        return np.empty(0)
    lo, hi = grid[change].copy(), grid[change + 1].copy()
    cap_lo = cap[change]
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2.0
        same = th.best_price(mid)[2] == cap_lo
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    return np.where(cap_lo, lo, hi)  # the side where the cap binds (accepted at v(D, R_max))


def _zoom(th: _Threshold, a: float, b: float, best_D: float, best_val: float) -> tuple[float, float]:
    """(D, f(D)) best on [a, b] by repeated zooming: ``ZOOM_POINTS`` points, then the bracket around the
    best of them, ``ZOOM_ROUNDS`` times (the bracket shrinks by (ZOOM_POINTS - 1) / 2 per round). The
    incumbent (best_D, best_val) moves only for a gain beyond rounding (``NOISE`` relative)."""
    for _ in range(ZOOM_ROUNDS):
        points = np.linspace(a, b, ZOOM_POINTS)
        values = th.profit(points)
        k = int(np.argmax(values))
        if values[k] > best_val + NOISE * abs(best_val):
            best_D, best_val = float(points[k]), float(values[k])
        a, b = float(points[max(k - 1, 0)]), float(points[min(k + 1, ZOOM_POINTS - 1)])
    return best_D, best_val


@dataclasses.dataclass
class _Search:
    best_D: float
    best_val: float
    bound: float = math.nan
    certified: bool = False
    tolerance: float = math.nan
    cells: int = 0


def _certify(th: _Threshold, edges: np.ndarray, search: _Search, max_cells: int, deadline: float) -> None:
    """Branch and bound over cells of D (module docstring); updates ``search`` in place."""
    a, b = edges[:-1], edges[1:]
    width = float(edges[-1] - edges[0])
    closed = 0.0
    while True:
        ub = th.cell_bound(a, b)
        search.cells += len(a)
        search.tolerance = GAP_RTOL * max(1.0, abs(search.best_val)) + TIE_SLACK * th.tol
        open_ = ub > search.best_val + search.tolerance
        closed = max(closed, float(ub[~open_].max(initial=0.0)))
        if not open_.any():
            search.bound, search.certified = max(closed, search.best_val), True
            return
        a, b = a[open_], b[open_]
        stuck = float((b - a).max()) <= MIN_WIDTH * max(1.0, width)
        if search.cells + 2 * len(a) > max_cells or time.monotonic() > deadline or stuck:
            search.bound = max(closed, float(ub[open_].max()), search.best_val)
            return
        mid = (a + b) / 2.0
        values = th.profit(mid)
        k = int(np.argmax(values))
        if values[k] > search.best_val + NOISE * abs(search.best_val):
            search.best_D, search.best_val = float(mid[k]), float(values[k])
        a, b = np.concatenate([a, mid]), np.concatenate([mid, b])


def best_response(
    inst: SellerBuyerInstance,
    j: int,
    D: np.ndarray,
    R: np.ndarray,
    tie_break: str = "optimistic",
    n_grid: int = N_GRID,
    *,
    focal: bool = True,
    certify: bool = False,
    max_cells: int = MAX_CELLS,
    time_limit: float = math.inf,
) -> BestResponse:
    """Seller j's exact best response to the others' offers (module docstring).

    ``focal=True``: the buyer breaks ties with j as the focal seller (the reading of j's own bilevel
    problem); ``focal=False``: by the buyer's one rule for all sellers (the sellers' total profit, then
    lowest index). ``certify`` adds the bound and the certificate (``bound``, ``certified``)."""
    start = time.monotonic()
    strict = not (focal and tie_break == "optimistic")
    th = _Threshold(inst, j, D, R, strict)
    lo, hi = float(inst.Dmin[j]), float(inst.Dmax[j])
    grid = np.linspace(lo, hi, n_grid) if hi > lo else np.array([lo])
    grid = np.unique(np.concatenate([grid, _cap_breakpoints(th, grid)]))
    values = th.profit(grid)
    k = int(np.argmax(values))
    search = _Search(float(grid[k]), float(values[k]))
    if len(grid) > 1 and search.best_val > 0:
        a, b = float(grid[max(k - 1, 0)]), float(grid[min(k + 1, len(grid) - 1)])
        search.best_D, search.best_val = _zoom(th, a, b, search.best_D, search.best_val)
    if certify:
        deadline = start + limits.solver_seconds(time_limit)
        _certify(th, grid if len(grid) > 1 else np.array([lo, lo]), search, max_cells, deadline)
    v, ok, cap, _ = (arr[0] for arr in th.best_price(np.array([search.best_D])))
    R_j = None
    if ok:
        R_j = _accepted_markup(inst, j, D, R, search.best_D, float(markup(inst, search.best_D, v, j)), tie_break, focal)
        if R_j is None and search.best_val > TIE_SLACK * th.tol:  # only a zero-profit offer may be refused
            raise AssertionError(f"seller {j}'s exact best response is not accepted by the buyer")  # a bug
    if R_j is None:  # nothing to gain: stay out (an offer at R = 1 earns 0 whether accepted or not)
        offer = BestResponse(j, lo, 1.0, float(offer_price(inst, lo, 1.0, j)), 0.0, False, False)
    else:
        v = float(offer_price(inst, search.best_D, R_j, j))
        profit = float(seller_profit(inst, search.best_D, v, j))
        offer = BestResponse(j, search.best_D, R_j, v, profit, True, bool(cap))
    return dataclasses.replace(
        offer,
        bound=search.bound,
        certified=search.certified,
        tolerance=search.tolerance,
        cells=search.cells,
        sets=th.n_sets,
    )


def _accepted_markup(
    inst: SellerBuyerInstance,
    j: int,
    D: np.ndarray,
    R: np.ndarray,
    Dj: float,
    Rj: float,
    tie_break: str,
    focal: bool,
) -> float | None:
    """The largest mark-up <= Rj (up to rounding) at which the buyer's exact response still accepts j; None
    if it does not even at R = 1 (an offer at the threshold whose profit is 0 up to rounding)."""
    D, R = np.array(D, dtype=float), np.array(R, dtype=float)
    D[j] = Dj
    Rj = float(np.clip(Rj, 1.0, inst.R_max))
    for step in range(60):
        R[j] = Rj
        if buyer_response(inst, D, R, tie_break, focal=j if focal else None).solution["accepted"][j]:
            return Rj
        if Rj == 1.0:
            return None
        Rj = max(1.0, Rj * (1.0 - 2.0**step * np.finfo(float).eps))
    return None


def profile_profits(
    inst: SellerBuyerInstance, D: np.ndarray, R: np.ndarray, tie_break: str = "optimistic", focal: bool = False
) -> np.ndarray:
    """Every seller's profit at a profile: in the buyer's one response (``focal=False``), or each seller's
    with ties broken with that seller as the focal one (``focal=True``)."""
    if not focal:
        return np.asarray(buyer_response(inst, D, R, tie_break).solution["seller_profit"], dtype=float)
    return np.array([profile_profit(inst, j, D, R, tie_break, focal=True) for j in range(inst.n)])


def profile_profit(
    inst: SellerBuyerInstance, j: int, D: np.ndarray, R: np.ndarray, tie_break: str, focal: bool = False
) -> float:
    """Seller j's profit at a profile, buyer ties by the one rule (or with j as the focal seller)."""
    response = buyer_response(inst, D, R, tie_break, focal=j if focal else None)
    return float(response.solution["seller_profit"][j])


@dataclasses.dataclass(frozen=True)
class Exploitability:
    """What each seller gains by its best response at a profile, all under one reading of the buyer's ties."""

    value: float  # max(0, max_j gain_j)
    bound: float  # max(0, max_j gain bound_j): proven upper bound of the exploitability (nan without certify)
    gains: np.ndarray
    gain_bounds: np.ndarray
    profits: np.ndarray  # each seller's profit at the profile
    responses: list[BestResponse]
    focal: bool
    certified: bool  # every best response certified


def exploitability(
    inst: SellerBuyerInstance,
    D: np.ndarray,
    R: np.ndarray,
    tie_break: str = "optimistic",
    n_grid: int = N_GRID,
    *,
    focal: bool = False,
    certify: bool = False,
) -> Exploitability:
    """The exploitability of a profile under the buyer's one tie rule ``tie_break`` (``focal=True``: each
    seller's deviation and profit with ties in that seller's favour, a reading kept for comparison)."""
    responses = [best_response(inst, j, D, R, tie_break, n_grid, focal=focal, certify=certify) for j in range(inst.n)]
    profits = profile_profits(inst, D, R, tie_break, focal)
    gains = np.array([br.profit for br in responses]) - profits
    gain_bounds = np.array([br.bound for br in responses]) - profits
    value = float(max(gains.max(), 0.0))
    bound = float(max(gain_bounds.max(), 0.0)) if certify else math.nan
    certified = certify and all(br.certified for br in responses)
    return Exploitability(value, bound, gains, gain_bounds, profits, responses, focal, certified)


# -- the family's exact baselines (problem.py delegates here) ------------------------------------------


def solve_exact(
    problem: SellerBestResponseProblem,
    time_limit: float = 60.0,
    *,
    n_grid: int = N_GRID,
    max_cells: int = MAX_CELLS,
) -> ExactResult:
    """Seller ``problem.seller``'s certified best response (:func:`best_response` with ``certify=True``), ties
    as the problem reads them (``problem.focal_ties``).

    ``optimal`` when the branch and bound closes the gap to its tolerance (both in the notes), else
    ``feasible`` with the bound reached."""
    start = time.perf_counter()
    D, R = problem.full_profile(np.zeros(2))
    br = best_response(
        problem.instance,
        problem.seller,
        D,
        R,
        problem.tie_break,
        n_grid,
        focal=problem.focal_ties,
        certify=True,
        max_cells=max_cells,
        time_limit=time_limit,
    )
    x = np.array([br.D, br.R])
    status = ExactStatus.OPTIMAL if br.certified else ExactStatus.FEASIBLE
    closed = "closed" if br.certified else "NOT closed (budget or time limit)"
    notes = (
        f"certificate {closed}: bound - best = {br.bound - br.profit:.3g} against tolerance {br.tolerance:.3g} "
        f"(= {GAP_RTOL:g} * max(1, |best|) + {TIE_SLACK:g} * buyer tie tolerance); interval bound of the profit "
        f"over {br.cells} cells of D, price at the buyer's threshold in closed form, {br.sets} Pareto sets of "
        f"the other sellers; accepted={br.accepted}; R_max binds={br.at_cap}"
    )
    return ExactResult(
        objective=br.profit,
        bound=br.bound,
        status=status,
        time_s=time.perf_counter() - start,
        solution={**problem.decode(x), "x": x.tolist()},
        method=f"1-D best response: threshold price in closed form, grid over D ({n_grid} points) + cap "
        "breakpoints + zoom, branch and bound on an interval bound",
        notes=notes,
    )


def solve_exact_game(problem: ExploitabilityProblem, time_limit: float = 60.0) -> ExactResult:
    """The joint game: iterated best response (game.py), the final profile's exploitability under the buyer's
    one rule ``problem.tie_break``. ``optimal`` (exploitability 0 within ``tol``, the lower bound) only when
    the certified exploitability bound is <= tol; else ``feasible``."""
    from bilevel_bench.problems.seller_buyer.game import iterated_best_response

    start = time.perf_counter()
    result = iterated_best_response(problem.instance, tie_break=problem.tie_break, n_grid=problem.n_grid)
    x = np.concatenate([result.D, result.R])
    return ExactResult(
        objective=result.exploitability,
        bound=0.0,
        status=ExactStatus.OPTIMAL if result.nash else ExactStatus.FEASIBLE,
        time_s=time.perf_counter() - start,
        solution={**problem.decode(x), "x": x.tolist()},
        method="iterated exact best response (cyclic order, default start), one buyer tie rule",
        notes=(
            f"rounds={result.rounds}; buyer tie rule {result.tie_rule}; exploitability {result.exploitability:.6g}, "
            f"certified bound {result.exploitability_bound:.6g} (Nash iff bound <= tol {result.tol:g}): "
            f"nash={result.nash}"
        ),
    )
