"""Exact baselines: the closed form (virtual costs) against the centralized QP and the decentralized model
(SCIP), as examples.jl checks; returned prices pass the IR/IC checks and induce the allocation."""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench.problems.procurement.exact import (
    closed_form,
    inducing_prices,
    solve_single_level,
    virtual_cost_profiles,
)
from bilevel_bench.problems.procurement.follower import closed_form_demand
from bilevel_bench.problems.procurement.instance import generate, hm_example, ldm_example
from bilevel_bench.problems.procurement.mechanism import expected_cost, slacks
from bilevel_bench.problems.procurement.problem import ProcurementProblem

EXAMPLES = [hm_example(), ldm_example(), generate(model="hm", n=2, m=3, seed=1),
            generate(model="ldm", n=2, m=3, seed=1)]  # fmt: skip


def test_virtual_costs_and_the_spec_numbers_on_hm_example():
    inst = hm_example()
    # phi(12) = 12 + F(10) / f(12) (12 - 10) = 12 + 0.5 / 0.5 * 2
    assert inst.virtual_costs() == pytest.approx(np.array([[10.0, 14.0], [10.0, 14.0]]))
    form = closed_form(inst)
    assert form["value"] == pytest.approx(11.75)
    d, phi = form["allocation"], virtual_cost_profiles(inst)
    prob = inst.profile_probabilities()
    assert prob @ (d * phi).sum(axis=1) == pytest.approx(11.0)
    # p = phi is not feasible with t = x.p: total IR/IC shortfall 2.0 (spec)
    assert np.maximum(-slacks(inst, d, d * phi), 0).sum() == pytest.approx(2.0)


@pytest.mark.parametrize("inst", EXAMPLES, ids=lambda i: i.name)
def test_optimisation_agrees_with_closed_form_where_conditions_hold(inst):
    form = closed_form(inst)
    assert form["conditions"]["virtual_costs_increasing"] and form["conditions"]["allocation_monotone"]
    for version in ("centralized", "decentralized"):
        result = solve_single_level(inst, version, 30.0)
        assert result.status == "optimal"
        assert result.objective == pytest.approx(form["value"], rel=1e-6)


@pytest.mark.parametrize("inst", EXAMPLES, ids=lambda i: i.name)
def test_closed_form_prices_are_feasible_and_attain_the_value(inst):
    form = closed_form(inst)
    assert form["attained"]
    P, d = form["prices"], form["allocation"]
    assert np.abs(closed_form_demand(inst, P) - d).max() < 1e-9  # the market answers with d
    assert slacks(inst, d, d * P).min() >= -1e-9  # IR and IC hold with t = x.p
    assert expected_cost(inst, d, d * P) == pytest.approx(form["value"], rel=1e-9)
    assert P.min() >= 0 and P.max() <= inst.price_bound() + 1e-9  # within the leader's bounds


def test_decentralized_never_beats_centralized_and_closed_form_is_a_lower_bound():
    inst = generate(model="ldm", n=2, m=2, seed=4, gamma=0.8)
    form = closed_form(inst)
    central = solve_single_level(inst, "centralized", 30.0)
    decentral = solve_single_level(inst, "decentralized", 30.0)
    assert form["value"] <= central.objective + 1e-6 <= decentral.objective + 2e-6


@pytest.mark.parametrize("version", ["decentralized", "centralized"])
def test_problem_exact_solution_evaluates_to_its_objective(version):
    problem = ProcurementProblem(ldm_example(), version=version)
    result = problem.exact(30.0)
    evaluation = problem.evaluate(np.array(result.solution["x"]))
    assert evaluation.feasible  # the closed form's decision: IR/IC exactly, not to a solver's tolerance
    assert evaluation.value == pytest.approx(result.objective, rel=1e-12)
    assert result.status == "optimal" and result.verification == "agree"
    assert result.objective == pytest.approx(result.bound, rel=1e-12)
    assert result.objective == pytest.approx(10.8542780749, rel=1e-9)
    assert "SCIP" in result.method and "closed form 10.854" in result.notes


def test_centralized_closed_form_is_attained_where_decentralized_prices_cannot():
    """3 Hotelling suppliers: the closed form 11.1410824 needs free transfers. The envelope transfers attain it
    (centralized); the cheapest IR/IC prices inducing the same allocation cost 11.1440283 (decentralized)."""
    inst = generate(model="hm", n=3, m=2, seed=1)
    form = closed_form(inst)
    assert form["value"] == pytest.approx(11.1410824, abs=1e-7) and not form["attained"]
    assert expected_cost(inst, form["allocation"], form["allocation"] * form["prices"]) == pytest.approx(11.1440283, abs=1e-7)
    assert ProcurementProblem(inst, version="decentralized").closed_form_decision(form) is None
    centralized = ProcurementProblem(inst, version="centralized")
    decision = centralized.closed_form_decision(form)
    evaluation = centralized.evaluate(np.array(decision["x"]))
    assert evaluation.feasible and evaluation.value == pytest.approx(form["value"], abs=1e-9)


def test_a_solver_decision_that_breaks_ir_is_not_reported():
    from bilevel_bench.problem import ExactResult
    from bilevel_bench.verify import verify_exact

    problem = ProcurementProblem(hm_example())
    free = verify_exact(problem, ExactResult(5.0, 4.0, "optimal", 0.1, {"x": [0.0] * problem.n_prices}, "SCIP"))
    assert free.status == "error" and np.isnan(free.objective) and free.bound == 4.0  # suppliers paid 0
    assert free.verification == "infeasible" and "not bilevel feasible" in free.notes
    feasible = closed_form(hm_example())["prices"].ravel().tolist()
    kept = verify_exact(problem, ExactResult(11.7, 11.0, "feasible", 0.1, {"x": feasible}, "SCIP"))
    assert kept.status == "feasible" and kept.objective == pytest.approx(11.75)  # the value its prices earn
    assert kept.verification == "mismatch" and "solver value 11.7" in kept.notes


def test_inducing_prices_reproduce_any_allocation():
    rng = np.random.default_rng(0)
    for model, n in (("hm", 3), ("ldm", 2)):
        inst = generate(model=model, n=n, m=2, seed=2)
        X = rng.dirichlet(np.ones(n), size=len(inst.profiles()))
        X[0] = np.eye(n)[0]  # a corner: one supplier takes everything
        P = inducing_prices(inst, X)
        assert np.abs(closed_form_demand(inst, P) - X).max() < 1e-9
        assert P.min() >= 0
