"""Seller-buyer family: exact best response against brute force, a hand-computed symmetric equilibrium,
determinism of the best-response order, the GA paths, and the problems' exact baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bilevel_bench.experiments.studies.seller_buyer import ga_best_response, iterated_ga_best_response, joint_ga
from bilevel_bench.problems.seller_buyer.exact import best_response, exploitability
from bilevel_bench.problems.seller_buyer.follower import markup, revenue, seller_profit
from bilevel_bench.problems.seller_buyer.game import iterated_best_response
from bilevel_bench.problems.seller_buyer.instance import SellerBuyerInstance, generate, paper_instance
from bilevel_bench.problems.seller_buyer.problem import ExploitabilityProblem, SellerBestResponseProblem


def _symmetric_pair(D: float = 40.0) -> SellerBuyerInstance:
    """Two identical sellers whose quantity is fixed (Dmin = Dmax): only the mark-up is chosen."""
    inst = SellerBuyerInstance(
        name="pair",
        seed=None,
        K=20000.0,
        alpha=2.5,
        beta=0.2,
        i=0.1,
        A_b=30.0,
        Dmin=np.full(2, D),
        Dmax=np.full(2, D),
        A_s=np.full(2, 45.0),
        C_s=np.full(2, 1.5),
        R_max=100.0,
    )
    inst.validate("pair")
    return inst


def test_symmetric_equilibrium_computed_by_hand():
    """Buyer indifferent between both and one: D v + sqrt(2 A_b i D v) = revenue(2D) - revenue(D)."""
    D = 40.0
    inst = _symmetric_pair(D)
    G = revenue(inst, 2 * D) - revenue(inst, D)
    b = math.sqrt(2 * inst.A_b * inst.i * D)
    v_star = ((-b + math.sqrt(b * b + 4 * D * G)) / (2 * D)) ** 2
    R_star = float(markup(inst, D, v_star, 0))
    assert 1.0 < R_star < inst.R_max
    profile_D, profile_R = np.full(2, D), np.full(2, R_star)
    value, _, responses = exploitability(inst, profile_D, profile_R)
    assert value == pytest.approx(0.0, abs=1e-9)
    assert pytest.approx(R_star, rel=1e-9) == responses[0].R
    assert responses[0].profit == pytest.approx(float(seller_profit(inst, D, v_star, 0)), rel=1e-9)
    assert exploitability(inst, profile_D, profile_R * 0.95)[0] > 1.0  # underpricing is exploitable
    result = iterated_best_response(inst, start=[D, D, 3.0, 1.2])
    assert result.nash and result.converged
    assert pytest.approx([R_star, R_star], rel=1e-9) == result.R
    assert result.accepted.all() and result.outcome_gains.max() <= 1e-6


def test_exact_best_response_matches_brute_force_grid():
    rng = np.random.default_rng(3)
    for seed in range(3):
        inst = generate(3, seed)
        D = rng.uniform(inst.Dmin, inst.Dmax)
        R = rng.uniform(1.0, 2.5, 3)
        for j in range(3):
            br = best_response(inst, j, D, R)
            problem = SellerBestResponseProblem(inst, seller=j, profile=[*D, *R])
            assert problem.evaluate(np.array([br.D, br.R])).value == pytest.approx(br.profit, rel=1e-7, abs=1e-7)
            fine = best_response(inst, j, D, R, n_grid=8001)
            assert br.profit >= fine.profit - 1e-7 * max(1.0, fine.profit)
            # brute force over (D, R) with the buyer solved from scratch at every point: never better
            grid_D = np.linspace(inst.Dmin[j], inst.Dmax[j], 41)
            grid_R = np.linspace(1.0, inst.R_max, 121)
            brute = max(problem.evaluate(np.array([d, r])).value for d in grid_D for r in grid_R)
            assert brute <= br.profit + 1e-7


def test_pessimistic_best_response_is_just_below_the_optimistic_one():
    inst = _symmetric_pair()
    opt = best_response(inst, 0, np.full(2, 40.0), np.full(2, 2.0))
    pes = best_response(inst, 0, np.full(2, 40.0), np.full(2, 2.0), tie_break="pessimistic")
    assert pes.profit < opt.profit and pes.profit == pytest.approx(opt.profit, rel=1e-6)
    problem = SellerBestResponseProblem(inst, tie_break="pessimistic", seller=0, profile=[40.0, 40.0, 2.0, 2.0])
    assert problem.evaluate(np.array([pes.D, pes.R])).value == pytest.approx(pes.profit)


def test_best_response_order_is_deterministic_with_a_seed():
    inst = generate(4, 2)
    first = iterated_best_response(inst, order="random", seed=7, max_rounds=4)
    again = iterated_best_response(inst, order="random", seed=7, max_rounds=4)
    other = iterated_best_response(inst, order="random", seed=8, max_rounds=4)
    assert first.orders == again.orders
    assert np.array_equal(first.D, again.D) and np.array_equal(first.R, again.R)
    assert first.orders != other.orders
    assert iterated_best_response(inst, order=[3, 2, 1, 0], max_rounds=1).orders == [[3, 2, 1, 0]]
    with pytest.raises(ValueError, match="permutation"):
        iterated_best_response(inst, order=[0, 0, 1, 2])


def test_paper_example_converges_to_a_reported_equilibrium():
    result = iterated_best_response(paper_instance())
    assert result.converged and result.nash and result.rounds == 2
    assert result.q.sum() == pytest.approx(100.0)  # one seller at Dmax serves the whole market
    assert pytest.approx(0.15 / 1.7) == result.M / result.P
    assert result.outcome_gains.max() > 100  # identical tied sellers: only the tie rule makes it Nash


def test_ga_best_response_never_beats_exact_and_is_deterministic():
    inst = generate(3, 1)
    D, R = inst.Dmax.copy(), np.full(3, 1.5)
    exact = best_response(inst, 1, D, R)
    a = ga_best_response(inst, 1, D, R, seed=5, max_evals=120)
    b = ga_best_response(inst, 1, D, R, seed=5, max_evals=120)
    assert a == b
    assert a[2] <= exact.profit + 1e-7
    assert a[2] >= 0.8 * exact.profit


def test_iterated_ga_and_joint_ga_report_exact_exploitability():
    inst = _symmetric_pair()
    ga = iterated_ga_best_response(inst, ga_evals=60, max_rounds=3, seed=1)
    assert ga.exploitability == pytest.approx(exploitability(inst, ga.D, ga.R)[0])
    assert ga.nash == (ga.exploitability <= ga.tol)
    joint = joint_ga(inst, seed=1, max_evals=40)
    assert joint.exploitability == pytest.approx(exploitability(inst, joint.D, joint.R)[0])
    assert joint.exploitability >= 0.0


def test_problems_exact_baselines():
    inst = generate(3, 4)
    problem = SellerBestResponseProblem(inst, seller=2)
    result = problem.exact()
    assert result.status == "optimal" and result.objective == pytest.approx(result.bound, rel=1e-9)
    game = ExploitabilityProblem(_symmetric_pair())
    exact = game.exact()
    assert exact.status == "optimal" and exact.objective == pytest.approx(0.0, abs=1e-9)
    assert game.evaluate(np.array(exact.solution["x"])).value == pytest.approx(0.0, abs=1e-9)


def test_zero_profit_profile_is_nash_under_both_tie_rules():
    """Every seller at cost (R = 1) earns 0 and no deviation earns more: a Bertrand equilibrium by hand."""
    inst = paper_instance()
    for tie_break in ("optimistic", "pessimistic"):
        value, gains, responses = exploitability(inst, inst.Dmax, np.ones(inst.n), tie_break)
        assert value == 0.0 and np.all(gains <= 1e-9)
        assert all(br.profit == 0.0 for br in responses)
