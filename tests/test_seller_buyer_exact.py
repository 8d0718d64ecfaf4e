"""Seller-buyer exact baseline: the certified best response against an independent brute force over
(D, R), a case the certificate must close (a monopoly whose optimum is computed here by a 1-D optimiser),
cases it must not close (a budget too small), and the statuses that reach the user (``problem.exact``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from bilevel_bench.problem import VALUE_REL, ExactStatus, tie_tolerance
from bilevel_bench.problems.seller_buyer import exact
from bilevel_bench.problems.seller_buyer.exact import best_response
from bilevel_bench.problems.seller_buyer.instance import SellerBuyerInstance, generate
from bilevel_bench.problems.seller_buyer.problem import SellerBestResponseProblem, SellerDeviationProblem
from bilevel_bench.verify import verify_exact

# -- an independent brute force, written out from eq. 5-10 (no function of the family is used) ----------


def _price(inst: SellerBuyerInstance, k: int, D: np.ndarray, R: np.ndarray) -> np.ndarray:
    """v = R (C_s + A_s / Q), Q = sqrt(2 A_b D / (i v)): the positive root of s^2 - b s - R C_s, v = s^2."""
    b = R * inst.A_s[k] * np.sqrt(inst.i / (2 * inst.A_b * D))
    return ((b + np.sqrt(b * b + 4 * R * inst.C_s[k])) / 2) ** 2


def _revenue(inst: SellerBuyerInstance, total: np.ndarray) -> np.ndarray:
    """(P - M) total with P, M on the demand curve K P^-a M^b = total at the buyer's best margin."""
    P = (inst.K * (inst.beta / inst.alpha) ** inst.beta / np.maximum(total, 1e-300)) ** (1 / (inst.alpha - inst.beta))
    return np.where(total > 0, (P - inst.beta / inst.alpha * P) * total, 0.0)


def _cost(inst: SellerBuyerInstance, q: np.ndarray, v: np.ndarray) -> np.ndarray:
    Q = np.sqrt(2 * inst.A_b * q / (inst.i * v))
    return v * q + inst.A_b * q / Q + 0.5 * inst.i * Q * v


def brute_force(inst: SellerBuyerInstance, j: int, D: np.ndarray, R: np.ndarray, n_D: int, n_R: int) -> float:
    """Seller j's best profit over an (n_D x n_R) grid of (D_j, R_j), accepted when the buyer's best set with
    j is at least as good as its best set without j (exact indifference, ties to j)."""
    others = [k for k in range(inst.n) if k != j]
    v_o = np.array([_price(inst, k, np.array(D[k]), np.array(R[k])) for k in others])
    D_o = np.asarray(D, dtype=float)[others]
    best_without, with_j = -math.inf, []
    for mask in range(2 ** len(others)):
        chosen = [m for m in range(len(others)) if mask >> m & 1]
        T = float(D_o[chosen].sum())
        c = float(sum(_cost(inst, D_o[m], v_o[m]) for m in chosen))
        best_without = max(best_without, float(_revenue(inst, np.array(T))) - c)
        with_j.append((T, c))
    Dj, Rj = np.meshgrid(np.linspace(inst.Dmin[j], inst.Dmax[j], n_D), np.linspace(1.0, inst.R_max, n_R))
    vj = _price(inst, j, Dj, Rj)
    cost_j = _cost(inst, Dj, vj)
    best_with = np.full(Dj.shape, -math.inf)
    for T, c in with_j:
        best_with = np.maximum(best_with, _revenue(inst, T + Dj) - c - cost_j)
    Q = np.sqrt(2 * inst.A_b * Dj / (inst.i * vj))
    profit = (vj - inst.C_s[j]) * Dj - inst.A_s[j] * Dj / Q  # eq. 10
    return float(np.where(best_with >= best_without, profit, 0.0).max())


def _cases():
    rng = np.random.default_rng(11)
    for seed in range(3):
        inst = generate(3, seed)
        D = rng.uniform(inst.Dmin, inst.Dmax)
        R = rng.uniform(1.0, 2.5, 3)
        for j in range(3):
            yield inst, j, D, R


@pytest.mark.parametrize("tie_break", ["optimistic", "pessimistic"])
def test_certified_best_response_against_brute_force(tie_break):
    checked = 0
    for inst, j, D, R in _cases():
        br = best_response(inst, j, D, R, tie_break, certify=True)
        assert br.certified and br.bound - br.profit <= br.tolerance
        assert 1e-6 * max(1.0, br.profit) < br.tolerance <= 1e-6 * max(1.0, br.profit) + 4 * tie_tolerance(1e5)
        brute = brute_force(inst, j, D, R, 301, 1201)
        assert brute <= br.bound + 1e-9  # the bound is an upper bound
        assert br.profit >= brute - br.tolerance - 1e-9  # and the incumbent is at least as good as the grid
        problem = SellerBestResponseProblem(inst, tie_break, seller=j, profile=[*D, *R])
        assert problem.evaluate(np.array([br.D, br.R])).value == pytest.approx(br.profit, rel=VALUE_REL)
        checked += 1
    assert checked == 9


def test_bound_holds_for_the_game_rule_and_a_fine_one_dimensional_grid():
    """Under the buyer's one rule (no focal seller) the same bound holds; f(D) on 200,001 points stays below it."""
    for inst, j, D, R in _cases():
        br = best_response(inst, j, D, R, focal=False, certify=True)
        th = exact._Threshold(inst, j, D, R, strict=False)
        fine = th.profit(np.linspace(inst.Dmin[j], inst.Dmax[j], 200_001))
        assert float(fine.max()) <= br.bound + 1e-9
        assert br.profit >= float(fine.max()) - br.tolerance
        deviation = SellerDeviationProblem(inst, seller=j, profile=[*D, *R])
        assert deviation.evaluate(np.array([br.D, br.R])).value == pytest.approx(br.profit, rel=VALUE_REL)


def _monopoly() -> SellerBuyerInstance:
    inst = SellerBuyerInstance(
        name="monopoly",
        seed=None,
        K=3000.0,
        alpha=2.5,
        beta=0.2,
        i=0.1,
        A_b=30.0,
        Dmin=np.array([10.0]),
        Dmax=np.array([200.0]),
        A_s=np.array([45.0]),
        C_s=np.array([1.5]),
        R_max=100.0,
    )
    inst.validate("monopoly")
    return inst


def test_certificate_closes_on_a_monopoly_with_a_known_optimum():
    """One seller: the buyer takes the offer iff revenue(D) >= D v + sqrt(2 A_b i D v) (B0 = 0), so the best
    price is that root and the best quantity maximises one smooth function of D, found here by Brent."""
    inst = _monopoly()

    def neg_profit(d: float) -> float:
        b = math.sqrt(2 * inst.A_b * inst.i * d)
        s = (-b + math.sqrt(b * b + 4 * d * float(_revenue(inst, np.array(d))))) / (2 * d)
        v = s * s
        return -((v - 1.5) * d - 45.0 * math.sqrt(inst.i * v * d / (2 * inst.A_b)))

    res = minimize_scalar(neg_profit, bounds=(10.0, 200.0), method="bounded", options={"xatol": 1e-10})
    assert 10.5 < res.x < 199.5  # an interior optimum: the grid alone does not hit it
    result = SellerBestResponseProblem(inst).exact()
    assert result.status is ExactStatus.OPTIMAL and result.verification == "agree"
    assert result.objective == pytest.approx(-res.fun, abs=1e-6)
    assert result.bound >= -res.fun - 1e-9
    assert result.bound - result.objective <= 1e-6 * result.objective + 4 * tie_tolerance(0.0)
    assert "certificate closed" in result.notes and "tolerance" in result.notes


def test_certificate_on_a_single_point_band_is_exact():
    inst = generate(2, 3).replace(Dmax=generate(2, 3).Dmin.copy())
    br = best_response(inst, 1, inst.Dmin, np.full(2, 1.5), certify=True)
    assert br.certified and br.cells == 1
    assert br.bound - br.profit <= 4 * tie_tolerance(0.0) + 1e-6 * max(1.0, br.profit)


def test_certificate_fails_on_a_budget_too_small_and_says_so():
    inst = _monopoly()
    problem = SellerBestResponseProblem(inst)
    raw = exact.solve_exact(problem, n_grid=5, max_cells=4)  # 4 cells of width 47.5, no refinement allowed
    result = verify_exact(problem, raw)
    assert result.status is ExactStatus.FEASIBLE and result.verification == "agree"
    assert result.bound - result.objective > 1.0  # far from closed
    assert "NOT closed" in result.notes
    optimum = problem.exact()
    assert optimum.status is ExactStatus.OPTIMAL
    assert result.bound >= optimum.objective  # still a valid bound
    assert result.objective <= optimum.objective + 1e-9
    assert result.gap_pct > 0.5 and optimum.gap_pct < 1e-3


def test_exact_cli_path_reports_a_certified_status_on_the_paper():
    from bilevel_bench.problems.seller_buyer.instance import paper_instance

    for tie_break in ("optimistic", "pessimistic"):
        result = SellerBestResponseProblem(paper_instance(), tie_break).exact()
        assert result.status is ExactStatus.OPTIMAL and result.verification == "agree"
        assert result.objective == pytest.approx(155.870, abs=1e-3)
        assert 0 <= result.bound - result.objective <= 2e-4
        assert isinstance(result.solution["x"], list) and len(result.solution["x"]) == 2


def test_bound_covers_offers_the_buyer_accepts_inside_its_tie_band():
    """The follower treats buyer profits within tie_tolerance as tied and, optimistically, breaks the tie for
    the focal seller: an offer slightly above the exact threshold is still accepted and earns a little more
    than the exact best response. The bound must cover it (it widens the threshold by the band)."""
    for inst, j, D, R in _cases():
        br = best_response(inst, j, D, R, certify=True)
        if br.at_cap:
            continue
        problem = SellerBestResponseProblem(inst, seller=j, profile=[*D, *R])
        lo, hi = br.R, br.R * (1 + 1e-5)
        assert problem.evaluate(np.array([br.D, hi])).value == 0.0  # rejected well above the band
        for _ in range(80):  # the largest accepted mark-up, by bisection on the follower itself
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if problem.evaluate(np.array([br.D, mid])).value > 0 else (lo, mid)
        inside = problem.evaluate(np.array([br.D, lo])).value
        assert inside > br.profit  # the band is real: the follower accepts a higher price
        assert inside <= br.bound
        th = exact._Threshold(inst, j, D, R, strict=False)
        point = np.array([br.D])
        assert inside <= th.cell_bound(point, point)[0]  # the bound of the cell [D, D] itself
