"""The KKT big-M baseline against the published optimum and an independent dual-vertex enumeration."""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problems.inventory.exact import build_kkt_model, solve_by_dual_vertices, write_model
from bilevel_bench.problems.inventory.instance import advertising_bound, generate
from bilevel_bench.problems.inventory.problem import InventoryProblem

#: The optimistic optimum of the seed instance, agreed by PAO's FA with HiGHS, a KKT big-M model and a
#: dual-vertex enumeration (spec inventory.md).
SEED_OPTIMUM = 234652.3156


def test_kkt_reaches_the_published_seed_optimum(seed):
    result = InventoryProblem(seed).exact(time_limit=60)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(SEED_OPTIMUM, abs=1e-3)
    assert result.bound == pytest.approx(SEED_OPTIMUM, abs=1e-3)
    assert result.verification == "agree"


def test_dual_vertex_enumeration_agrees_on_the_seed(seed):
    result = solve_by_dual_vertices(InventoryProblem(seed))
    assert result.objective == pytest.approx(SEED_OPTIMUM, abs=1e-3)


@pytest.mark.parametrize(("n", "T", "q", "s"), [(1, 2, 1, 3), (1, 3, 2, 5), (2, 2, 2, 7), (1, 4, 2, 9), (2, 3, 3, 4)])
def test_kkt_equals_brute_force_dual_vertices_on_tiny_instances(n, T, q, s):
    problem = InventoryProblem(generate(n, T, q, s))
    kkt = problem.exact(time_limit=60)
    brute = solve_by_dual_vertices(problem)
    assert kkt.status == "optimal"
    assert kkt.objective == pytest.approx(brute.objective, rel=1e-7)


def test_advertising_bound_does_not_bind_at_the_seed_optimum(seed):
    result = InventoryProblem(seed).exact(time_limit=60)
    v = np.array(result.solution["advertising"])
    assert np.all(v < 0.5 * seed.vmax)
    doubled = seed.replace(vmax=advertising_bound(seed, factor=4.0))
    assert InventoryProblem(doubled).exact(time_limit=60).objective == pytest.approx(SEED_OPTIMUM, abs=1e-3)


def test_big_ms_are_derived_not_guessed(seed):
    _, handles = build_kkt_model(InventoryProblem(seed))
    bounds = handles["bounds"]
    assert np.all(np.isfinite(bounds.demand_dual)) and bounds.demand_dual.max() < 1e4
    assert bounds.d.max() < 1e6 and bounds.phi_max < 1e8


def test_model_is_writable_as_lp_and_mps(tmp_path, seed):
    problem = InventoryProblem(seed)
    lp = write_model(problem, tmp_path / "seed.lp")
    mps = write_model(problem, tmp_path / "seed.mps")
    assert "Maximize" in lp.read_text() or "maximize" in lp.read_text().lower()
    assert "ROWS" in mps.read_text()
    with pytest.raises(ValueError, match=r"not '\.txt'"):
        write_model(problem, tmp_path / "seed.txt")


def test_decision_setups_and_finite_space_still_verify():
    inst = generate(2, 3, 3, 1, setup="decision").replace(y=np.array([0.0, 1.0, 0.0]), Mspace=50.0)
    result = InventoryProblem(inst).exact(time_limit=60)
    assert result.status == "optimal" and result.verification == "agree"


def test_the_pessimistic_seed_is_unbounded(seed):
    """Uncapped, the pessimistic customer subcontracts and holds without limit (README): no number is reported."""
    result = InventoryProblem(seed, "pessimistic").exact(time_limit=60)
    assert result.status == "unbounded" and np.isnan(result.objective)


@pytest.mark.parametrize("s", [1, 2])
def test_a_heuristic_never_beats_the_proven_optimum(s):
    problem = InventoryProblem(generate(2, 3, 2, s))
    exact = problem.exact(time_limit=60)
    run = run_heuristic(problem, "ga", {"pop_size": 20}, seed=s, budget=Budget(max_evals=600))
    assert run.verified
    assert run.best_value <= exact.objective + 1e-6 * abs(exact.objective)
