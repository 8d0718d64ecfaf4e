"""The market follower: closed forms (utilities.jl) against the KKT active-set enumeration, a KKT
certificate, SCIP's QP and scipy, on random prices including corners where a supplier gets nothing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from bilevel_bench.problems.procurement.follower import (
    active_set_demand,
    assortment_hm,
    closed_form_demand,
    kkt_residual,
    qp_demand,
    solve_follower,
)
from bilevel_bench.problems.procurement.instance import generate, hm_example, ldm_example

CASES = [("hm", 2, 0.0), ("hm", 3, 0.0), ("hm", 4, 0.0), ("ldm", 2, 0.5), ("ldm", 3, 0.3)]


def _random_prices(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """Prices near the types, plus wide spreads that price suppliers out (zero-demand corners)."""
    near = rng.uniform(9.0, 13.0, (count, n))
    wide = rng.uniform(0.0, 30.0, (count, n))
    return np.vstack([near, wide])


@pytest.mark.parametrize(("model", "n", "gamma"), CASES)
def test_closed_form_is_the_qp_optimum(model, n, gamma):
    rng = np.random.default_rng(n)
    zero_seen = 0
    for seed in range(3):
        inst = generate(model=model, n=n, m=2, seed=seed, gamma=gamma or 0.5)
        P = _random_prices(rng, n, 40)
        X = closed_form_demand(inst, P)
        zero_seen += int(np.sum(np.any(X < 1e-12, axis=1)))
        for p, x in zip(P, X, strict=True):
            assert kkt_residual(inst, p, x) < 1e-9  # convex QP: KKT certifies optimality
            if model == "hm" or n == 2:  # otherwise the closed form *is* the enumeration
                assert np.abs(active_set_demand(inst, p) - x).max() < 1e-9
    assert zero_seen >= 20  # the corner cases were exercised


def test_closed_form_against_scip_and_scipy():
    rng = np.random.default_rng(7)
    for model, n, gamma in CASES:
        inst = generate(model=model, n=n, m=2, seed=1, gamma=gamma or 0.5)
        Q, q, _ = inst.quadratic()
        for p in _random_prices(rng, n, 2):
            x = closed_form_demand(inst, p[None])[0]
            # SCIP solves the QP by outer approximation: a coarse but independent check
            assert np.abs(qp_demand(inst, p) - x).max() < 2e-3
            res = _scipy_qp(p, Q, q)
            assert np.abs(res.x - x).max() < 1e-5


def _scipy_qp(p: np.ndarray, Q: np.ndarray, q: np.ndarray):
    """min p@y + 1/2 y'Qy + q@y on the simplex by SLSQP (test-time only)."""
    n = len(p)
    return minimize(lambda y: p @ y + 0.5 * y @ Q @ y + q @ y, np.full(n, 1.0 / n), jac=lambda y: p + Q @ y + q,
                    method="SLSQP", bounds=[(0, 1)] * n, constraints=[{"type": "eq", "fun": lambda y: y.sum() - 1.0}],
                    options={"ftol": 1e-14, "maxiter": 500})  # fmt: skip


def test_source_formulas_on_the_examples():
    hm = hm_example()
    # demandHM: supplier 1 gets clip((p2 - p1 + delta) / (2 delta), 0, 1)
    X = closed_form_demand(hm, np.array([[10.0, 10.0], [10.0, 11.0], [10.0, 14.0], [13.0, 10.0]]))
    assert X[:, 0] == pytest.approx([0.5, 0.75, 1.0, 0.0])
    ldm = ldm_example()
    # demandLM at p1 = p2: ((r2-g) a1 - (r1-g) a2 + r1 - g) / (r1 + r2 - 2g) = (0.15 - 0.25 + 0.5) / 1.1
    X = closed_form_demand(ldm, np.array([[10.0, 10.0]]))
    assert X[0] == pytest.approx([0.4 / 1.1, 0.7 / 1.1])


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
