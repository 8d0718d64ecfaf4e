"""The market follower: closed forms (utilities.jl, and the elastic extensions) against the per-profile KKT
active-set enumeration, a KKT certificate, SCIP's QP and scipy, on random prices including corners where a
supplier (or, with elastic demand, every supplier) gets nothing; hand-derived demands."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from bilevel_bench.problems.procurement.follower import (
    active_set_demand,
    assortment_hm,
    closed_form_demand,
    enumerate_demand,
    kkt_residual,
    qp_demand,
    solve_follower,
)
from bilevel_bench.problems.procurement.instance import generate, hm_example, ldm_elastic_example, ldm_example

# (model, n, gamma, elastic, delta): elastic Hotelling needs delta of the order of the costs to sell at all
CASES = [
    ("hm", 2, 0.5, False, 2.0),
    ("hm", 3, 0.5, False, 2.0),
    ("hm", 4, 0.5, False, 2.0),
    ("ldm", 2, 0.5, False, 2.0),
    ("ldm", 3, 0.3, False, 2.0),
    ("hm", 1, 0.5, True, 16.0),
    ("hm", 2, 0.5, True, 16.0),
    ("hm", 3, 0.5, True, 20.0),
    ("ldm", 1, 0.5, True, 2.0),
    ("ldm", 2, 0.5, True, 2.0),
    ("ldm", 3, 0.3, True, 2.0),
]


def _random_prices(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """Prices near the types, plus wide spreads that price suppliers out (zero-demand corners)."""
    near = rng.uniform(9.0, 13.0, (count, n))
    wide = rng.uniform(0.0, 30.0, (count, n))
    return np.vstack([near, wide])


@pytest.mark.parametrize(("model", "n", "gamma", "elastic", "delta"), CASES)
def test_closed_form_is_the_qp_optimum(model, n, gamma, elastic, delta):
    rng = np.random.default_rng(n + 10 * elastic)
    zero_seen = nothing_sold = 0
    for seed in range(3):
        inst = generate(model=model, n=n, m=2, seed=seed, gamma=gamma, delta=delta, elastic=elastic)
        P = _random_prices(rng, n, 40)
        if elastic:  # above every supplier's marginal saving -(Qx + q) <= -q: nobody sells
            P = np.vstack([P, np.full((1, n), float(-inst.quadratic()[1].min()) + 1.0)])
        X = closed_form_demand(inst, P)
        zero_seen += int(np.sum(np.any(X < 1e-12, axis=1)))
        nothing_sold += int(np.sum(np.all(X < 1e-12, axis=1)))
        for p, x in zip(P, X, strict=True):
            assert kkt_residual(inst, p, x) < 1e-9  # convex QP: KKT certifies optimality
            assert np.abs(active_set_demand(inst, p) - x).max() < 1e-9  # per-profile enumeration, own code
        assert np.abs(enumerate_demand(inst, P) - X).max() < 1e-9
        if not elastic:
            assert np.allclose(X.sum(axis=1), 1.0)
    assert zero_seen >= 20  # the corner cases were exercised
    if elastic:
        assert nothing_sold >= 1  # and the corner where nobody sells


def test_closed_form_against_scip_and_scipy():
    rng = np.random.default_rng(7)
    for model, n, gamma, elastic, delta in CASES:
        inst = generate(model=model, n=n, m=2, seed=1, gamma=gamma, delta=delta, elastic=elastic)
        Q, q, _ = inst.quadratic()
        for p in _random_prices(rng, n, 2):
            x = closed_form_demand(inst, p[None])[0]
            # SCIP solves the QP by outer approximation: a coarse but independent check
            assert np.abs(qp_demand(inst, p) - x).max() < 2e-3
            res = _scipy_qp(p, Q, q, elastic)
            assert np.abs(res.x - x).max() < 1e-5


def _scipy_qp(p: np.ndarray, Q: np.ndarray, q: np.ndarray, elastic: bool):
    """min p@y + 1/2 y'Qy + q@y on the simplex (or y >= 0 when elastic) by SLSQP (test-time only)."""
    n = len(p)
    constraints = [] if elastic else [{"type": "eq", "fun": lambda y: y.sum() - 1.0}]
    return minimize(
        lambda y: p @ y + 0.5 * y @ Q @ y + q @ y,
        np.full(n, 1.0 / n),
        jac=lambda y: p + Q @ y + q,
        method="SLSQP",
        bounds=[(0, None if elastic else 1)] * n,
        constraints=constraints,
        options={"ftol": 1e-14, "maxiter": 500},
    )


def test_source_formulas_on_the_examples():
    hm = hm_example()
    # demandHM: supplier 1 gets clip((p2 - p1 + delta) / (2 delta), 0, 1)
    X = closed_form_demand(hm, np.array([[10.0, 10.0], [10.0, 11.0], [10.0, 14.0], [13.0, 10.0]]))
    assert X[:, 0] == pytest.approx([0.5, 0.75, 1.0, 0.0])
    ldm = ldm_example()
    # demandLM at p1 = p2: ((r2-g) a1 - (r1-g) a2 + r1 - g) / (r1 + r2 - 2g) = (0.15 - 0.25 + 0.5) / 1.1
    X = closed_form_demand(ldm, np.array([[10.0, 10.0]]))
    assert X[0] == pytest.approx([0.4 / 1.1, 0.7 / 1.1])


def test_elastic_demands_by_hand():
    # Hotelling, suppliers at 0 and 1, T(x) = delta/2 [x1^2 + (1 - x1)^2 + (x1 + x2 - 1)^2]: the gradient rows
    # p1 + delta (3 x1 + x2 - 2) = 0, p2 + delta (x1 + x2 - 1) = 0 give x1 = (delta - p1 + p2) / (2 delta),
    # x2 = (delta + p1 - 3 p2) / (2 delta); with x2 = 0, x1 = (2 delta - p1) / (3 delta)
    hm = hm_example().replace(delta=20.0, elastic=True)
    X = closed_form_demand(hm, np.array([[10.0, 4.0], [10.0, 10.0], [50.0, 50.0]]))
    assert X[0] == pytest.approx([14 / 40, 18 / 40])
    assert X[1] == pytest.approx([(40 - 10) / 60, 0.0])
    assert X[2] == pytest.approx([0.0, 0.0])  # priced above every marginal saving: nothing is bought
    assert closed_form_demand(hm_example().replace(elastic=True), np.array([[4.0, 2.0]]))[0] == pytest.approx([0, 0])
    # affine: x = a - R p where positive; ldm_elastic_example's demand at prices 14 is the example's (0.25, 0.5)
    ldm = ldm_elastic_example()
    X = closed_form_demand(ldm, np.array([[14.0, 14.0], [12.0, 12.0], [14.0, 20.0]]))
    assert X[0] == pytest.approx([0.25, 0.5]) and X[1] == pytest.approx([1.25, 1.7])
    # supplier 2 priced out: x1 = a1 + (g / r2) a2 - ((r1 r2 - g^2) / r2) p1 = 7.25 + 8.9 / 2.2 - 0.85 * 14 / 1.1
    assert X[2] == pytest.approx([7.25 + 8.9 / 2.2 - 0.85 * 14 / 1.1, 0.0])


def test_hotelling_assortment_rule_matches_positive_demand_for_two_suppliers():
    inst = hm_example()
    P = np.random.default_rng(3).uniform(8.0, 14.0, (500, 2))
    assert np.array_equal(assortment_hm(inst, P), closed_form_demand(inst, P) > 0)


def test_solve_follower_reports_expected_consumer_cost():
    inst = hm_example()
    P = np.array([[10.0, 10.0], [10.0, 14.0], [14.0, 10.0], [12.0, 12.0]])
    response = solve_follower(inst, P)
    # profile costs: 10 + 2/2 (0.25 + 0.25), 10 + 1, 10 + 1, 12 + 0.5, each with probability 1/4
    assert response.ok and response.value == pytest.approx((10.5 + 11 + 11 + 12.5) / 4)
    assert response.infeasibility == 0.0  # the market is never infeasible (simplex / orthant non-empty)


def test_market_never_infeasible_and_bad_prices_are_invalid():
    inst = ldm_elastic_example()
    response = solve_follower(inst, np.full((4, 2), 30.0))  # nobody sells: still optimal, cost k = 0
    assert response.ok and response.value == pytest.approx(0.0) and response.infeasibility == 0.0
    with pytest.raises(ArithmeticError):
        solve_follower(inst, np.full((4, 2), np.nan))
