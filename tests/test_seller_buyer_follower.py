"""Seller-buyer family: closed forms against a numerical optimiser, the buyer's choice against brute force,
CP-SAT against enumeration, explicit ties, and instance checks."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from bilevel_bench.errors import InputError
from bilevel_bench.problems.seller_buyer.follower import (
    buyer_outcome,
    clearing_price,
    demand,
    discretise,
    enumerate_buyer,
    enumerate_discretised,
    lot_size,
    markup,
    offer_price,
    paper_prices,
    purchase_cost,
    revenue,
    seller_profit,
    solve_buyer_cpsat,
)
from bilevel_bench.problems.seller_buyer.instance import SellerBuyerInstance, generate, paper_instance
from bilevel_bench.problems.seller_buyer.problem import SellerBestResponseProblem
from bilevel_bench.registry import families, resolve_instance


def _instances():
    yield paper_instance()
    yield paper_instance(alpha=2.4)
    for seed in range(3):
        yield generate(4, seed)


def _random_offers(inst: SellerBuyerInstance, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    D = rng.uniform(inst.Dmin, inst.Dmax)
    R = rng.uniform(1.0, 3.0, inst.n)
    return D, offer_price(inst, D, R)


def test_paper_price_closed_form_maximises_single_seller_profit():
    """P_j, M_j = (alpha, beta) c / (alpha - beta - 1) maximise (P - M - c) K P^-a M^b (Esmaeili et al. 2009)."""
    for inst in _instances():
        for c in (1.7, 3.0, 5.5):

            def neg(z, inst=inst, c=c):
                P, M = np.exp(z)
                return -(P - M - c) * demand(inst, P, M)

            P_cf, M_cf = paper_prices(inst, c - inst.A_b / 1e12, 1e12)
            res = minimize(
                neg,
                np.log([2 * c, 0.2 * c]),
                method="Nelder-Mead",
                options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000},
            )
            assert np.exp(res.x) == pytest.approx([P_cf, M_cf], rel=1e-4)
            assert -res.fun <= -neg(np.log([P_cf, M_cf])) + 1e-9


def test_clearing_price_maximises_margin_on_the_demand_curve():
    for inst in _instances():
        for total in (10.0, 67.0, 250.0):

            def neg(log_m, inst=inst, total=total):
                M = math.exp(log_m)
                P = (inst.K * M**inst.beta / total) ** (1 / inst.alpha)  # on the demand curve
                return -(P - M) * total

            res = minimize_scalar(neg, bounds=(-12, 6), method="bounded", options={"xatol": 1e-12})
            P, M = clearing_price(inst, total)
            assert math.exp(res.x) == pytest.approx(M, rel=1e-5)
            assert demand(inst, P, M) == pytest.approx(total, rel=1e-12)
            assert revenue(inst, total) == pytest.approx(-res.fun, rel=1e-9)


def test_paper_closed_forms_agree_with_clearing_price_at_their_own_demand():
    inst = paper_instance()
    P_j, M_j = paper_prices(inst, 4.0, 120.0)
    P, M = clearing_price(inst, demand(inst, P_j, M_j))
    assert pytest.approx((P_j, M_j), rel=1e-12) == (P, M)
    assert M_j / P_j == pytest.approx(inst.beta / inst.alpha)


def test_eoq_minimises_ordering_plus_holding_and_offer_price_is_a_fixed_point():
    rng = np.random.default_rng(0)
    for inst in _instances():
        D, v = _random_offers(inst, rng)
        for q, price in zip(D, v, strict=True):
            res = minimize_scalar(
                lambda Q, q=q, p=price, inst=inst: inst.A_b * q / Q + 0.5 * inst.i * Q * p,
                bounds=(1e-3, 1e4),
                method="bounded",
                options={"xatol": 1e-10},
            )
            assert res.x == pytest.approx(lot_size(inst, q, price), rel=1e-5)
            assert purchase_cost(inst, q, price) == pytest.approx(price * q + res.fun, rel=1e-9)
        R = markup(inst, D, v)
        Q = lot_size(inst, D, v)
        assert v == pytest.approx(R * (inst.C_s + inst.A_s / Q), rel=1e-12)  # eq. 5-7
        assert offer_price(inst, D, R) == pytest.approx(v, rel=1e-12)
        assert seller_profit(inst, D, v) == pytest.approx((v - inst.C_s) * D - inst.A_s * D / Q, rel=1e-12)


def _brute_force_buyer(inst, D, v):
    """Independent: every subset, profit written out from eq. 8 with explicit P, M and Q."""
    best, best_set = 0.0, ()
    for r in range(1, inst.n + 1):
        for subset in itertools.combinations(range(inst.n), r):
            total = sum(D[j] for j in subset)
            # P from K P^-a (b/a P)^b = total
            P = (inst.K * (inst.beta / inst.alpha) ** inst.beta / total) ** (1 / (inst.alpha - inst.beta))
            M = inst.beta / inst.alpha * P
            profit = (P - M) * total
            for j in subset:
                Q = math.sqrt(2 * inst.A_b * D[j] / (inst.i * v[j]))
                profit -= v[j] * D[j] + inst.A_b * D[j] / Q + 0.5 * inst.i * Q * v[j]
            if profit > best + 1e-9:
                best, best_set = profit, subset
    return best, best_set


def test_buyer_enumeration_matches_brute_force():
    rng = np.random.default_rng(1)
    checked = 0
    for seed in range(6):
        inst = generate(2 + seed % 5, seed, K=600.0 * (2 + seed % 5))
        for _ in range(15):
            D, v = _random_offers(inst, rng)
            choice = enumerate_buyer(inst, D, v)
            value, subset = _brute_force_buyer(inst, D, v)
            assert choice.value == pytest.approx(value, rel=1e-9, abs=1e-9)
            assert tuple(np.flatnonzero(choice.accepted)) == subset
            checked += 1
    assert checked == 90


def test_cpsat_matches_enumeration_on_the_discretisation():
    rng = np.random.default_rng(2)
    for seed in range(5):
        inst = generate(3 + seed, seed, K=500.0 * (3 + seed))
        for trial in range(4):
            D, v = _random_offers(inst, rng)
            D = np.round(D)  # whole units: the discretisation is exact on quantities
            tie_break = ("optimistic", "pessimistic")[trial % 2]
            focal = None if trial < 2 else int(trial % inst.n)
            data = discretise(inst, D, v)
            ref_set, ref_value = enumerate_discretised(data, tie_break, focal)
            accepted, value, status = solve_buyer_cpsat(inst, D, v, tie_break, focal)
            assert status == "optimal"
            assert value == ref_value
            assert np.array_equal(accepted, ref_set)
            float_choice = enumerate_buyer(inst, D, v, tie_break, focal)  # money rounding only: 1e-4 per term
            assert float_choice.value == pytest.approx(ref_value / 1e4, abs=1e-3 * inst.n)


def test_ties_are_broken_explicitly():
    inst = paper_instance()
    D = np.full(10, 100.0)
    v = offer_price(inst, D, np.full(10, 1.9))
    neutral = enumerate_buyer(inst, D, v)
    assert np.flatnonzero(neutral.accepted).tolist() == [0]  # identical offers: lowest index
    assert enumerate_buyer(inst, D, v, "optimistic", focal=4).accepted[4]
    pessimistic = enumerate_buyer(inst, D, v, "pessimistic", focal=0)
    assert not pessimistic.accepted[0] and pessimistic.accepted.sum() == 1
    for tie_break, focal in (("optimistic", 3), ("pessimistic", 0), ("optimistic", None)):
        accepted, _, _ = solve_buyer_cpsat(inst, D, v, tie_break, focal)
        assert np.array_equal(accepted, enumerate_buyer(inst, D, v, tie_break, focal).accepted)


def test_outcome_reports_buyer_and_sellers():
    inst = paper_instance()
    D = np.full(10, 100.0)
    v = offer_price(inst, D, np.full(10, 1.9))
    out = buyer_outcome(inst, D, v, enumerate_buyer(inst, D, v).accepted)
    assert out["total"] == 100.0 and out["V"] == pytest.approx(v[0])
    assert demand(inst, out["P"], out["M"]) == pytest.approx(100.0)
    assert out["buyer_profit"] == pytest.approx(enumerate_buyer(inst, D, v).value)


def test_paper_instance_is_shipped_and_flagged():
    family = families()["seller_buyer"]
    inst = resolve_instance(family, "paper")
    assert inst == paper_instance()
    assert (inst.K, inst.alpha, inst.beta, inst.i, inst.A_b, inst.n) == (3500.0, 1.7, 0.15, 0.1, 40.0, 10)
    warnings = SellerBestResponseProblem(inst).warnings()
    assert len(warnings) == 2 and "alpha - beta = 1.55 <= 2" in warnings[0]
    with pytest.raises(InputError, match="allow_outside_conditions"):
        inst.replace(allow_outside_conditions=False).validate("paper.json")
    assert SellerBestResponseProblem(generate(3, 1)).warnings() == []


def test_bad_inputs_raise_input_errors():
    family = families()["seller_buyer"]
    assert resolve_instance(family, "generate:n=3,seed=1").n == 3
    with pytest.raises(InputError, match="alpha"):
        resolve_instance(family, "generate:n=3,seed=1,alpha=1.7,beta=0.15")
    assert resolve_instance(family, "generate:n=3,seed=1,alpha=1.7,beta=0.15,allow_outside_conditions=1").n == 3
    with pytest.raises(InputError, match="exceed 1"):
        resolve_instance(family, "generate:n=3,seed=1,alpha=1.2,beta=0.5,allow_outside_conditions=1")
    with pytest.raises(InputError, match="Dmax"):
        paper_instance().replace(Dmax=np.full(10, 10.0)).validate("x.json")
    with pytest.raises(InputError, match="seller"):
        SellerBestResponseProblem(paper_instance(), seller=10)


def test_the_buyer_is_never_infeasible_and_a_cut_cpsat_is_a_limit(monkeypatch):
    """Refusing every offer is always feasible, so every enumerated response is optimal with infeasibility 0;
    the CP-SAT path (n > 12) stopped before proving its answer gives status ``limit``, which the core ranks
    as an infeasible candidate (nan value, violation >= FOLLOWER_FAILURE_VIOLATION)."""
    from bilevel_bench.problem import FOLLOWER_FAILURE_VIOLATION
    from bilevel_bench.problems.seller_buyer import follower

    inst = paper_instance()
    problem = SellerBestResponseProblem(inst)
    lb, ub = problem.bounds()
    for x in (lb, ub, np.array([lb[0], ub[1]]), np.array([ub[0], lb[1]])):
        evaluation = problem.evaluate(x)
        assert evaluation.follower.status == "optimal" and evaluation.follower.infeasibility == 0.0
    big = generate(13, 0)
    monkeypatch.setattr(follower, "solve_buyer_cpsat", lambda *args, **kwargs: (np.zeros(13, bool), 0, "unknown"))
    response = follower.buyer_response(big, big.Dmax, np.full(13, 2.0))
    assert response.status == "limit"
    evaluation = SellerBestResponseProblem(big).evaluate(np.array([big.Dmax[0], 2.0]))
    assert math.isnan(evaluation.value) and evaluation.violation >= FOLLOWER_FAILURE_VIOLATION
