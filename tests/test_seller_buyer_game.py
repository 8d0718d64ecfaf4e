"""Seller-buyer family: exact best response against brute force, a hand-computed symmetric equilibrium,
the game's one buyer tie rule (a hand-checkable 2-seller undercut and the paper's example), determinism of
the best-response order, the GA paths, and the problems' exact baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bilevel_bench.experiments.studies.seller_buyer import ga_best_response, iterated_ga_best_response, joint_ga
from bilevel_bench.problems.seller_buyer.exact import best_response, exploitability
from bilevel_bench.problems.seller_buyer.follower import markup, revenue, seller_profit
from bilevel_bench.problems.seller_buyer.game import TOL, iterated_best_response, outcome
from bilevel_bench.problems.seller_buyer.instance import SellerBuyerInstance, generate, paper_instance
from bilevel_bench.problems.seller_buyer.problem import (
    ExploitabilityProblem,
    SellerBestResponseProblem,
    SellerDeviationProblem,
)


def _symmetric_pair(D: float = 40.0, K: float = 20000.0) -> SellerBuyerInstance:
    """Two identical sellers whose quantity is fixed (Dmin = Dmax): only the mark-up is chosen."""
    inst = SellerBuyerInstance(
        name="pair",
        seed=None,
        K=K,
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
    # each seller's own reading (ties in its favour): the best response is the threshold itself
    favoured = exploitability(inst, profile_D, profile_R, focal=True)
    assert favoured.value == pytest.approx(0.0, abs=1e-9)
    assert pytest.approx(R_star, rel=1e-9) == favoured.responses[0].R
    assert favoured.responses[0].profit == pytest.approx(float(seller_profit(inst, D, v_star, 0)), rel=1e-9)
    # the game's one buyer rule: a deviation must be strictly preferred, so the best response is a hair lower
    ex = exploitability(inst, profile_D, profile_R, certify=True)
    assert ex.value == pytest.approx(0.0, abs=1e-6) and ex.certified and ex.bound <= TOL
    assert pytest.approx(R_star, rel=1e-6) == ex.responses[0].R
    assert ex.responses[0].R - R_star <= 0.0  # strictly preferred: a hair below the threshold
    assert exploitability(inst, profile_D, profile_R * 0.95).value > 1.0  # underpricing is exploitable
    result = iterated_best_response(inst, start=[D, D, 3.0, 1.2])
    assert result.nash and result.converged and result.tie_rule == "optimistic"
    assert pytest.approx([R_star, R_star], rel=1e-6) == result.R
    assert result.accepted.all() and result.outcome_gains.max() <= 1e-6


def _duo() -> SellerBuyerInstance:
    """Two identical sellers with D fixed at 40 in a market that takes only one of them at R = 2."""
    return _symmetric_pair(40.0, K=5000.0)


def test_one_buyer_rule_shows_the_undercut_that_the_seller_favoured_reading_hides():
    """Both sellers ask R = 2: v = R (C_s + A_s/Q), Q = sqrt(2 A_b D / (i v)) gives sqrt(v) = s with
    s^2 - (2 * 45 / sqrt(24000)) s - 3 = 0, v = 4.18903, and eq. 10's profit (v - C_s) D - A_s D/Q =
    v D (1 - 1/R) = 20 v = 83.7807. The buyer takes one (revenue(80) - 2 cost < revenue(40) - cost > 0);
    under one rule (ties by the sellers' total, then lowest index) it takes seller 0 whatever the tie
    reading, and seller 1 gains the whole 83.78 by asking a hair less. Each seller's own reading (ties in
    its favour) reports 0: the old 'Nash'."""
    inst = _duo()
    s = (90 / math.sqrt(24000) + math.sqrt((90 / math.sqrt(24000)) ** 2 + 12)) / 2
    v = s * s
    assert v == pytest.approx(4.18903, abs=1e-5) and 20 * v == pytest.approx(83.7807, abs=1e-4)
    c = v * 40 + math.sqrt(2 * 30 * 0.1 * v * 40)
    assert revenue(inst, 40.0) - c > 0 > (revenue(inst, 80.0) - 2 * c) - (revenue(inst, 40.0) - c)
    D, R = np.full(2, 40.0), np.full(2, 2.0)
    for rule in ("optimistic", "pessimistic"):
        result = outcome(inst, D, R, "fixed", rule)
        assert result.accepted.tolist() == [True, False] and result.tie_rule == rule
        assert result.seller_profit[0] == pytest.approx(20 * v, rel=1e-9)
        assert result.gains[1] == pytest.approx(20 * v, abs=1e-4) and result.gains[0] <= 1e-6
        assert result.exploitability == pytest.approx(20 * v, abs=1e-4)
        assert result.exploitability <= result.exploitability_bound <= result.exploitability + 1e-4
        assert result.outcome_gains == pytest.approx(result.gains, abs=1e-6)  # the follower agrees
        assert not result.nash
        if rule == "optimistic":  # each seller favoured in its own reading: the reading that said Nash
            assert result.focal_gains.max() == pytest.approx(0.0, abs=1e-6)
        # the deviation, played: seller 1 asks R = 2 (1 - 1e-6) and the buyer switches
        deviation = SellerDeviationProblem(inst, rule, seller=1, profile=[*D, *R])
        assert deviation.evaluate(np.array([40.0, 2.0 * (1 - 1e-6)])).value == pytest.approx(20 * v, abs=1e-3)
        assert deviation.evaluate(np.array([40.0, 2.0])).value == 0.0


def test_paper_example_under_one_buyer_rule():
    """The issue's numbers: at R = 1.887 (v = 3.316) for every seller, the buyer favouring seller 0 (lowest
    index among tied offers), seller 1 gains 155.66 by undercutting to v = 3.314, and 155.87 by its exact
    best response; the iterated best response keeps undercutting and never becomes Nash."""
    inst = paper_instance()
    D, R = inst.Dmax.copy(), np.full(inst.n, 1.8868682321618002)
    result = outcome(inst, D, R, "fixed")
    assert np.flatnonzero(result.accepted).tolist() == [0]
    assert result.focal_gains.max() == pytest.approx(0.0, abs=1e-6) and not result.nash
    assert result.gains[1:] == pytest.approx(np.full(9, 155.870), abs=1e-3)
    R_1 = float(markup(inst, 100.0, 3.314, 1))
    deviation = SellerDeviationProblem(inst, seller=1, profile=[*D, *R])
    assert deviation.evaluate(np.array([100.0, R_1])).value == pytest.approx(155.655, abs=1e-3)
    game = iterated_best_response(inst, max_rounds=3)
    assert not game.converged and not game.nash and game.moves >= 3 * (inst.n - 1)
    assert game.exploitability == pytest.approx(155.87, abs=0.01)
    assert pytest.approx(0.15 / 1.7) == game.M / game.P


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
            grid_D = np.linspace(inst.Dmin[j], inst.Dmax[j], 21)
            grid_R = np.linspace(1.0, inst.R_max, 61)
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
    assert ga.exploitability == pytest.approx(exploitability(inst, ga.D, ga.R).value)
    assert ga.nash == (ga.exploitability_bound <= ga.tol)
    joint = joint_ga(inst, seed=1, max_evals=40)
    assert joint.exploitability == pytest.approx(exploitability(inst, joint.D, joint.R).value)
    assert 0.0 <= joint.exploitability <= joint.exploitability_bound


def test_problems_exact_baselines():
    inst = generate(3, 4)
    problem = SellerBestResponseProblem(inst, seller=2)
    result = problem.exact()
    assert result.status == "optimal" and 0 <= result.bound - result.objective <= 1e-6 * result.objective + 1e-5
    game = ExploitabilityProblem(_symmetric_pair())
    exact = game.exact()
    assert exact.status == "optimal" and exact.objective == pytest.approx(0.0, abs=1e-6)
    assert game.evaluate(np.array(exact.solution["x"])).value == pytest.approx(0.0, abs=1e-6)
    duo = ExploitabilityProblem(_duo()).exact()  # Bertrand: the iterated best response does not settle
    assert duo.status == "feasible" and duo.objective > 1.0 and duo.bound == 0.0


def test_zero_profit_profile_is_nash_under_both_tie_rules():
    """Every seller at cost (R = 1) earns 0 and no deviation earns more: a Bertrand equilibrium by hand."""
    inst = paper_instance()
    for tie_break in ("optimistic", "pessimistic"):
        for focal in (False, True):
            ex = exploitability(inst, inst.Dmax, np.ones(inst.n), tie_break, focal=focal, certify=not focal)
            assert ex.value <= 1e-9 and np.all(ex.gains <= 1e-9)
            assert all(br.profit <= 1e-9 for br in ex.responses)
            if not focal:  # the game's one rule, certified: a proven TOL-equilibrium
                assert ex.certified and ex.bound <= 1e-4
