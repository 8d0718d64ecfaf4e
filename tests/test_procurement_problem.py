"""Instances (shipped JSON, generator, switches, bad input), the leader's evaluation (IR/IC and ex-post IR rows,
graded violation) and short GA runs on every combination of the switches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problem import FOLLOWER_FAILURE_VIOLATION
from bilevel_bench.problems.procurement.exact import closed_form
from bilevel_bench.problems.procurement.instance import (
    ProcurementInstance,
    generate,
    hm_example,
    ldm_elastic_example,
    ldm_example,
    with_gamma,
    with_switches,
)
from bilevel_bench.problems.procurement.mechanism import constraint_matrices
from bilevel_bench.problems.procurement.problem import ProcurementProblem
from bilevel_bench.registry import get_family, resolve_instance


def test_shipped_instances_are_the_builders():
    family = get_family("procurement")
    assert resolve_instance(family, "hm_example") == hm_example()
    assert resolve_instance(family, "ldm_example") == ldm_example()
    assert resolve_instance(family, "ldm_elastic_example") == ldm_elastic_example()


def test_generate_spec_is_reproducible_and_sized():
    family = get_family("procurement")
    a = resolve_instance(family, "generate:model=hm,n=3,m=2,seed=1")
    assert a == generate(model="hm", n=3, m=2, seed=1)
    assert a.size() == {"n": 3, "m": 2, "profiles": 8}
    assert a.virtual_costs_increasing()
    assert np.allclose(a.marginals.sum(axis=1), 1.0)
    assert not a.expost_ir and not a.elastic and a.variant() == "interim"


def test_switches_in_the_generator_spec_and_json():
    family = get_family("procurement")
    b = resolve_instance(family, "generate:model=ldm,n=2,m=3,seed=4,expost_ir=true,elastic=1")
    assert (
        b.expost_ir and b.elastic and b.name == "gen-ldm-n2-m3-s4-expost-elastic" and b.variant() == "expost_ir+elastic"
    )
    plain = generate(model="ldm", n=2, m=3, seed=4)
    # same draws; elastic intercepts a_0 + R (theta^m + 2) 1, so that demand at prices theta^m + 2 is a_0
    assert np.array_equal(b.types, plain.types) and np.array_equal(b.marginals, plain.marginals)
    assert np.allclose(b.a - b.slope_matrix() @ np.full(2, b.types[-1] + 2.0), plain.a)
    assert with_switches(plain, True, True).replace(name=b.name) == b
    assert ProcurementInstance.from_dict(json.loads(json.dumps(b.to_dict()))) == b
    # a file written before the switches existed reads with both off
    old = hm_example().to_dict()
    del old["expost_ir"], old["elastic"]
    assert ProcurementInstance.from_dict(old) == hm_example()
    with pytest.raises(InputError, match="elastic"):
        resolve_instance(family, "generate:model=hm,elastic=maybe")
    with pytest.raises(InputError, match="expost_ir"):
        generate(expost_ir=2)


def test_elastic_gamma_keeps_the_demand_at_the_reference_price():
    inst = ldm_elastic_example()
    for gamma in (0.0, 0.25, 0.75):
        moved = with_gamma(inst, gamma)
        assert moved.gamma == gamma
        assert moved.a - moved.slope_matrix() @ np.full(2, 14.0) == pytest.approx([0.25, 0.5])
    assert with_gamma(ldm_example(), 0.25).a.tolist() == ldm_example().a.tolist()  # inelastic: unchanged


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"model": "logit"}, "model"),
        ({"n": 0}, "n"),
        ({"m": 9}, "m"),
        ({"delta": -1.0}, "delta"),
        ({"model": "ldm", "n": 3, "gamma": 0.6}, "gamma"),
        ({"seed": -2}, "seed"),
        ({"elastic": "yes"}, "elastic"),
    ],
)
def test_generator_rejects_out_of_range_values(kwargs, key):
    with pytest.raises(InputError, match=key):
        generate(**kwargs)


def test_bad_instance_data_names_the_key():
    data = hm_example().to_dict()
    data["marginals"] = [[0.5, 0.6], [0.5, 0.5]]
    with pytest.raises(InputError, match="marginals"):
        ProcurementInstance.from_dict(data).validate("bad.json")
    data = ldm_example().to_dict()
    data["gamma"] = 2.0
    with pytest.raises(InputError, match="gamma"):
        ProcurementInstance.from_dict(data).validate("bad.json")
    for key, value in (("expost_ir", 1), ("elastic", "true")):
        data = hm_example().to_dict()
        data[key] = value
        with pytest.raises(InputError, match=f"{key}: expected bool"):
            ProcurementInstance.from_dict(data, "bad.json")
    data = ldm_elastic_example().to_dict()
    data["gamma"] = 1.2
    with pytest.raises(InputError, match=r"1\.2 with elastic demand makes the demand matrix"):
        ProcurementInstance.from_dict(data, "bad.json")


def test_leader_evaluation_matches_hand_computation():
    problem = ProcurementProblem(hm_example())
    assert problem.options() == {"version": "decentralized"} and problem.n_var == 8
    # all prices 13: every profile splits (0.5, 0.5), cost 13 + 0.5, and IR holds for both types
    evaluation = problem.evaluate(np.full(8, 13.0))
    assert evaluation.value == pytest.approx(13.5) and evaluation.violation == 0.0
    # all prices 11: the high type (12) loses 1 per unit on half its sales: IR shortfall 0.5 per supplier
    assert problem.evaluate(np.full(8, 11.0)).violation == pytest.approx(1.0)
    central = ProcurementProblem(hm_example(), version="centralized")
    assert central.n_var == 8 + 4  # prices, then a payment share per supplier and own type
    x = np.concatenate([np.full(8, 13.0), np.ones(4)])  # same split, pays theta^m = 12 per unit
    assert central.evaluate(x).value == pytest.approx(12.5) and central.evaluate(x).violation == 0.0
    x[8:] = 0.0  # pays the own cost: the low type would rather report high, IC shortfall 1 per supplier
    assert central.evaluate(x).violation == pytest.approx(2.0)
    with pytest.raises(InputError, match="version"):
        ProcurementProblem(hm_example(), version="mixed")


def test_expost_ir_rows_and_the_graded_violation():
    inst = hm_example().replace(expost_ir=True)
    Gx, _, names = constraint_matrices(inst)
    assert len(names) == 4 + 4 + 2 * 4 and names[-1] == "EPIR[1,3]" and Gx.shape == (16, 8)
    problem = ProcurementProblem(inst)
    # all prices p <= 12: interim IR of the high type short by 0.5 (12 - p) per supplier; ex-post, in each of
    # the two profiles where a supplier is high, f_-i x (12 - p) = 0.5 * 0.5 (12 - p): as much again
    violations = [problem.evaluate(np.full(8, p)).violation for p in (10.0, 10.5, 11.0, 11.5, 12.0)]
    assert violations == pytest.approx([4.0, 3.0, 2.0, 1.0, 0.0])  # graded: linear in the shortfall
    plain = ProcurementProblem(hm_example())
    assert plain.evaluate(np.full(8, 11.0)).violation == pytest.approx(1.0)
    # ex-post IR binds where interim IR/IC do not: the low type (10) is paid 9 for the whole unit when the rival
    # is high, 16 for half of it otherwise (interim utility 1.0; reporting high would give 0.625); the high type
    # gets 12.5 for half a unit against a high rival (0.125; reporting low would give -0.5)
    prices = np.array([16.0, 16.0, 9.0, 20.0, 20.0, 9.0, 12.5, 12.5])  # profiles LL, LH, HL, HH
    assert plain.evaluate(prices).violation == 0.0
    assert problem.evaluate(prices).violation == pytest.approx(2 * 0.5 * 1.0 * 1.0)


def test_a_failed_market_is_an_infeasible_candidate():
    evaluation = ProcurementProblem(ldm_elastic_example()).evaluate(np.full(8, np.nan))
    assert not evaluation.feasible and evaluation.violation >= FOLLOWER_FAILURE_VIOLATION
    assert evaluation.follower.status == "invalid"


VARIANTS = [
    hm_example(),
    hm_example().replace(expost_ir=True),
    ldm_elastic_example(),
    ldm_elastic_example().replace(expost_ir=True),
    hm_example().replace(elastic=True, delta=16.0),
]


@pytest.mark.parametrize("inst", VARIANTS, ids=lambda i: f"{i.name}-{i.variant()}")
@pytest.mark.parametrize("version", ["decentralized", "centralized"])
def test_short_ga_is_feasible_and_never_beats_the_lower_bound(inst, version):
    problem = ProcurementProblem(inst, version=version)
    result = run_heuristic(problem, "ga", {"pop_size": 20}, 1, Budget(max_evals=600))
    assert result.best_violation == 0.0 and result.verified
    assert result.best_value >= closed_form(inst)["value"] - 1e-9  # the closed form is a lower bound
    assert problem.evaluate(result.best_x).value == pytest.approx(result.best_value)
