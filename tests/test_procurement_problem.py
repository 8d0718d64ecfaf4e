"""Instances (shipped JSON, generator, bad input), the leader's evaluation and a short GA run."""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problems.procurement.exact import closed_form
from bilevel_bench.problems.procurement.instance import ProcurementInstance, generate, hm_example, ldm_example
from bilevel_bench.problems.procurement.problem import ProcurementProblem
from bilevel_bench.registry import get_family, resolve_instance


def test_shipped_instances_are_the_builders():
    family = get_family("procurement")
    assert resolve_instance(family, "hm_example") == hm_example()
    assert resolve_instance(family, "ldm_example") == ldm_example()


def test_generate_spec_is_reproducible_and_sized():
    family = get_family("procurement")
    a = resolve_instance(family, "generate:model=hm,n=3,m=2,seed=1")
    assert a == generate(model="hm", n=3, m=2, seed=1)
    assert a.size() == {"n": 3, "m": 2, "profiles": 8}
    assert a.virtual_costs_increasing()
    assert np.allclose(a.marginals.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"model": "logit"}, "model"), ({"n": 0}, "n"), ({"m": 9}, "m"), ({"delta": -1.0}, "delta"),
     ({"model": "ldm", "n": 3, "gamma": 0.6}, "gamma"), ({"seed": -2}, "seed")],
)  # fmt: skip
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


@pytest.mark.parametrize("version", ["decentralized", "centralized"])
def test_short_ga_is_feasible_and_never_beats_the_lower_bound(version):
    inst = hm_example()
    problem = ProcurementProblem(inst, version=version)
    result = run_heuristic(problem, "ga", {"pop_size": 20}, 1, Budget(max_evals=1000))
    assert result.best_violation == 0.0 and result.verified
    assert result.best_value >= closed_form(inst)["value"] - 1e-9  # the closed form is a lower bound
    assert problem.evaluate(result.best_x).value == pytest.approx(result.best_value)
