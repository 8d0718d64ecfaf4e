"""The repair hook (``ProcurementProblem.repair_solver_decision``): a solver's prices that break IR/IC by its
tolerance are moved onto the IR/IC polytope and verified; ``exact`` returns a verified value on the issue's
instance and on 20 other generated instances (issue "Comparisons a reviewer can trust", procurement values)."""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench.problems.procurement.exact import closed_form, envelope_vector, solve_single_level
from bilevel_bench.problems.procurement.follower import closed_form_demand
from bilevel_bench.problems.procurement.instance import generate, hm_example, ldm_elastic_example
from bilevel_bench.problems.procurement.problem import ProcurementProblem
from bilevel_bench.registry import get_family, resolve_instance


def test_the_issue_instance_gets_a_verified_value():
    """generate:model=hm,n=2,m=2,seed=1: SCIP's prices break IR/IC by ~1e-6 under the exact market (they were
    rejected before, and the run had no value); repaired, they are exactly feasible and agree with SCIP."""
    inst = resolve_instance(get_family("procurement"), "generate:model=hm,n=2,m=2,seed=1")
    problem = ProcurementProblem(inst)
    raw = np.array(solve_single_level(inst, "decentralized", 60.0).solution["x"])
    broken = problem.evaluate(raw)
    assert 0.0 < broken.violation < 1e-4
    repaired = problem.repair_solver_decision(raw)
    check = problem.evaluate(repaired)
    assert check.feasible and check.value == pytest.approx(broken.value, rel=1e-6)
    result = problem.exact(60.0)
    assert result.status == "optimal" and result.verification == "agree"
    assert "repaired" in result.notes
    # the closed form 11.4634829 is a lower bound; prices >= 0 keep the decentralized buyer just above it
    assert closed_form(inst)["value"] == pytest.approx(11.4634829, abs=1e-7)
    assert result.objective == pytest.approx(11.463486, abs=2e-6) and result.bound >= 11.4634829
    assert problem.evaluate(np.array(result.solution["x"])).violation == 0.0


def test_tolerance_breaks_are_repaired_and_real_ones_are_not():
    problem = ProcurementProblem(hm_example())
    exact = closed_form(hm_example())["prices"].ravel()
    noisy = exact - 1e-6 * np.random.default_rng(0).uniform(0.0, 1.0, exact.shape)  # suppliers paid slightly less
    before = problem.evaluate(noisy)
    assert 0.0 < before.violation < 1e-5
    after = problem.evaluate(problem.repair_solver_decision(noisy))
    assert after.feasible and after.value == pytest.approx(before.value, abs=1e-5)
    free = np.zeros(problem.n_prices)  # IR broken by whole money units: a different decision, left as it is
    assert np.array_equal(problem.repair_solver_decision(free), free)
    assert np.array_equal(problem.repair_solver_decision(exact), exact)  # feasible: untouched


def test_centralized_shares_are_repaired_at_the_allocation():
    inst = generate(model="hm", n=2, m=3, seed=1)
    problem = ProcurementProblem(inst, version="centralized")
    vector = envelope_vector(inst, closed_form(inst)["allocation"])
    assert problem.evaluate(vector).feasible
    noisy = vector.copy()
    noisy[problem.n_prices :] = np.clip(noisy[problem.n_prices :] - 1e-7, 0.0, 1.0)  # pays a hair less: IC breaks
    assert problem.evaluate(noisy).violation > 0.0
    repaired = problem.repair_solver_decision(noisy)
    assert np.array_equal(repaired[: problem.n_prices], noisy[: problem.n_prices])  # the allocation is kept
    assert problem.evaluate(repaired).feasible


def test_elastic_prices_are_repaired_by_moving_the_allocation():
    """Elastic demand pins prices to the allocation, so the repair moves both (linearised rows, iterated)."""
    inst = ldm_elastic_example()
    problem = ProcurementProblem(inst)
    raw = np.array(solve_single_level(inst, "decentralized", 60.0).solution["x"])
    noisy = raw - 1e-6  # every price a hair lower: transfers and allocations move, IR/IC break a little
    before = problem.evaluate(noisy)
    assert 0.0 < before.violation < 1e-4
    repaired = problem.repair_solver_decision(noisy)
    after = problem.evaluate(repaired)
    assert after.feasible and after.value == pytest.approx(before.value, abs=1e-5)
    X_before = closed_form_demand(inst, problem.prices(noisy))
    assert not np.array_equal(closed_form_demand(inst, problem.prices(repaired)), X_before)


OTHERS = [
    *(f"generate:model={m},n=2,m={k},seed={s}" for m in ("hm", "ldm") for k in (2, 3) for s in (2, 3)),
    "generate:model=hm,n=3,m=2,seed=1",
    "generate:model=hm,n=3,m=3,seed=2",
    "generate:model=ldm,n=3,m=2,seed=1,gamma=0.3",
    "generate:model=ldm,n=3,m=3,seed=2,gamma=0.3",
    "generate:model=hm,n=2,m=2,seed=1,expost_ir=true",
    "generate:model=ldm,n=2,m=2,seed=1,expost_ir=true",
    "generate:model=hm,n=2,m=3,seed=2,expost_ir=true",
    "generate:model=ldm,n=2,m=2,seed=3,elastic=true",
    "generate:model=hm,n=2,m=2,seed=1,delta=8,elastic=true",
    "generate:model=hm,n=2,m=2,seed=2,delta=16,elastic=true,expost_ir=true",
    "generate:model=hm,n=3,m=2,seed=2,expost_ir=true",
    "generate:model=ldm,n=2,m=2,seed=2,elastic=true,expost_ir=true",
]


def test_the_instance_list_is_what_the_issue_asks():
    assert len(OTHERS) == 20 and len(set(OTHERS)) == 20
    assert "generate:model=hm,n=2,m=2,seed=1" not in OTHERS


@pytest.mark.slow
@pytest.mark.parametrize("spec", OTHERS)
@pytest.mark.parametrize("version", ["decentralized", "centralized"])
def test_exact_returns_a_verified_value(spec, version):
    """Mixed hm/ldm, n 2-3, m 2-3, the switches, both versions; SCIP gets 2 s (where the closed form is not
    attained, the baseline still returns its best feasible decision, verified by the core)."""
    problem = ProcurementProblem(resolve_instance(get_family("procurement"), spec), version=version)
    result = problem.exact(2.0)
    assert np.isfinite(result.objective), result.notes
    assert result.verification in ("agree", "mismatch") and result.status in ("optimal", "feasible")
    evaluation = problem.evaluate(np.array(result.solution["x"]))
    assert evaluation.feasible and evaluation.value == pytest.approx(result.objective, rel=1e-9)
    assert result.bound <= result.objective + 1e-6 * max(1.0, abs(result.objective))


@pytest.mark.parametrize("model", ["hm", "ldm"])
def test_centralized_solver_path_when_the_closed_form_needs_ironing(model):
    """Virtual costs that fall (types 10, 11, 12 with f = 0.45, 0.1, 0.45): the closed form's allocation is not
    monotone, so the centralized optimum comes from SCIP; its rates break IC by SCIP's tolerance and are
    repaired at the market's allocation (the allocation is kept)."""
    from bilevel_bench.problems.procurement.instance import ldm_example

    base = hm_example() if model == "hm" else ldm_example()
    inst = base.replace(types=np.array([10.0, 11.0, 12.0]), marginals=np.array([[0.45, 0.1, 0.45], [0.3, 0.3, 0.4]]))
    inst.validate()
    assert not inst.virtual_costs_increasing() and not closed_form(inst)["conditions"]["allocation_monotone"]
    result = ProcurementProblem(inst, version="centralized").exact(30.0)
    assert result.status == "optimal" and result.verification == "agree" and "SCIP" in result.method
    assert result.objective >= closed_form(inst)["value"] - 1e-9
    assert result.objective == pytest.approx({"hm": 11.9342618, "ldm": 10.9874836}[model], abs=1e-6)
