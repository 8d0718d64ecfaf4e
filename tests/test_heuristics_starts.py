"""Bilevel-aware starts (``sampling = "hpr"``, heuristics/starts.py), the response polish, and the families'
``relaxation_starts``, against values known to be right.

The piecewise toy: x in [0, 4]; the follower maximises y subject to y <= x, y <= 4 - x, y >= 0, so
y*(x) = min(x, 4 - x); the leader maximises 2 y - x. On the piece x <= 2 the leader gets x, on x >= 2 it gets
8 - 3x: the optimum is x = 2, value 2. Its high-point relaxation (max 2y - x over the same rows) has the same
optimum, (x, y) = (2, 2). The polish at x0 = 1 (row y <= x tight) maximises x over the piece: x = 2; at
x0 = 3 (row y <= 4 - x tight) it maximises 8 - 3x: x = 2 as well.
"""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench import kkt
from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.registry import get_heuristic, heuristics
from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.heuristics.starts import ResponsePolish, linear_polish
from bilevel_bench.instance import Instance
from bilevel_bench.problem import OPTIMAL, BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.inventory.instance import generate
from bilevel_bench.problems.inventory.problem import InventoryProblem
from bilevel_bench.problems.seller_buyer.exact import best_response
from bilevel_bench.problems.seller_buyer.instance import paper_instance
from bilevel_bench.problems.seller_buyer.problem import SellerBestResponseProblem
from bilevel_bench.problems.tolls.problem import TollsProblem
from bilevel_bench.problems.tolls.relaxation import inverse_tolls
from bilevel_bench.registry import get_family, resolve_instance

PIECEWISE = kkt.AffineLP(
    c=np.array([-1.0]),
    C=np.zeros((1, 1)),
    A_ub=np.array([[1.0], [1.0]]),
    b_ub=np.array([0.0, 4.0]),
    B_ub=np.array([[1.0], [-1.0]]),
    A_eq=np.zeros((0, 1)),
    b_eq=np.zeros(0),
    B_eq=np.zeros((0, 1)),
    lb=np.zeros(1),
    ub=np.array([np.inf]),
)
LEADER = kkt.LeaderSpec(lb=np.zeros(1), ub=np.full(1, 4.0), obj_x=np.array([-1.0]), obj_y=np.array([2.0]))


class PiecewiseToy(BilevelProblem):
    family = "toy"
    sense = "max"

    def __init__(self, instance: Instance | None = None, tie_break: str = "optimistic") -> None:
        super().__init__(instance or Instance(name="piecewise", seed=None), tie_break)
        self.calls = 0

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(1), np.full(1, 4.0)

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        return FollowerResponse(OPTIMAL, 0.0, {"y": np.array([min(x[0], 4.0 - x[0])])}, 1)

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        return float(2.0 * response.solution["y"][0] - x[0])

    def linear_structure(self) -> tuple[kkt.AffineLP, kkt.LeaderSpec]:
        return PIECEWISE, LEADER

    def relaxation_starts(self, n: int, seed: int) -> np.ndarray:
        self.calls += 1
        return np.array([[2.0]])  # the HPR's optimum, by hand (module docstring)

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        return ExactResult(2.0, 2.0, OPTIMAL, 0.0, {"x": [2.0]})


@pytest.mark.parametrize(("x0", "y0"), [(1.0, None), (3.0, None), (2.0, None), (0.5, [0.5])])
def test_the_polish_finds_the_best_point_of_the_piece(x0, y0):
    polish = ResponsePolish(PIECEWISE, LEADER)
    x = polish.polish(np.array([x0]), None if y0 is None else np.array(y0))
    assert x is not None and x[0] == pytest.approx(2.0, abs=1e-9)


def test_sampling_hpr_puts_the_relaxation_optimum_in_the_first_batch_within_the_budget():
    problem = PiecewiseToy()
    run = run_heuristic(problem, "ga", {"pop_size": 8, "sampling": "hpr"}, seed=1, budget=Budget(max_evals=40))
    assert run.sampling == "hpr" and run.counters.n_evals == 40 and problem.calls == 1
    assert run.history[0].best_value == pytest.approx(2.0)  # the start is the optimum: found in batch one
    sizes = np.diff([c.n_evals for c in run.history], prepend=0)
    # k = 8 // 4 = 2: one relaxation start and two random decisions, then their polish (the random ones
    # polish to x = 2, the relaxation start, so they are dropped as duplicates), then the GA's own sample
    assert sizes[0] == 3 and sum(sizes[:3]) >= 8 - 2
    assert run.counters.work["relaxation_starts"] == 1 and run.counters.work["polish_lp_solves"] >= 3


def test_default_sampling_asks_for_no_relaxation():
    problem = PiecewiseToy()
    run = run_heuristic(problem, "ga", {"pop_size": 8}, seed=1, budget=Budget(max_evals=16))
    assert run.sampling == "default" and problem.calls == 0 and "relaxation_starts" not in run.counters.work


POPULATION_HEURISTICS = ["ga", "mixed_ga", "memetic_ga", "de", "pso", "nsga2", "cmaes", "pattern_search", "nelder_mead"]


@pytest.mark.parametrize("name", POPULATION_HEURISTICS)
def test_every_population_heuristic_offers_hpr_starts(name):
    spec = get_heuristic(name)
    assert spec.defaults["sampling"] == "default" and spec.parameters({"sampling": "hpr"})["sampling"] == "hpr"
    with pytest.raises(InputError, match="is not one of default, hpr"):
        spec.parameters({"sampling": "lhs"})
    if name == "nsga2":
        return  # the toy has no bi-objective view; nsga2 runs hpr on inventory below
    problem = PiecewiseToy()
    run = run_heuristic(problem, name, {"sampling": "hpr"}, seed=2, budget=Budget(max_evals=60))
    assert problem.calls == 1 and run.counters.n_evals == 60 and run.best_value == pytest.approx(2.0)


def test_random_search_has_no_sampling_parameter():
    assert "sampling" not in heuristics()["random_search"].defaults


@pytest.fixture(scope="module")
def tiny() -> tuple[InventoryProblem, float]:
    problem = InventoryProblem(generate(2, 2, 2, 1))
    exact = problem.exact(time_limit=60)
    assert exact.status == "optimal"
    return problem, exact.objective


def test_inventory_hpr_matches_the_core_relaxation_and_bounds_the_optimum(tiny):
    problem, optimum = tiny
    relaxation = problem.relaxation()
    z, value = relaxation.solve(relaxation.objective, relaxation.lb, relaxation.ub)
    # the same LP through kkt.py's own HPR model (another GLOP model, built by the core)
    plp, spec = relaxation.plp, relaxation.spec
    leader = kkt._Leader(spec, plp.n)
    core = kkt._hpr(
        plp, leader, relaxation.lb[relaxation.p + relaxation.q :], relaxation.ub[relaxation.p + relaxation.q :]
    )
    assert core.extreme(relaxation.objective, maximize=True) == pytest.approx(value, rel=1e-9)
    constant = spec.constant
    assert value + constant >= optimum - 1e-6 * abs(optimum)  # a relaxation: an upper bound of the optimum
    starts = problem.relaxation_starts(6, seed=3)
    assert np.allclose(starts[0], np.clip(z[: relaxation.p], *problem.bounds()))  # the HPR optimum comes first
    assert len(starts) >= 2 and len(np.unique(starts, axis=0)) == len(starts)


def test_inventory_polish_never_loses_and_never_beats_the_optimum(tiny):
    problem, optimum = tiny
    polish = linear_polish(problem)
    assert polish is not None
    lb, ub = problem.bounds()
    rng = np.random.default_rng(5)
    for _ in range(15):
        x = lb + (ub - lb) * rng.random(len(lb))
        before = problem.evaluate(x).value
        after = problem.evaluate(polish.polish(x)).value
        assert before - 1e-6 * abs(before) <= after <= optimum + 1e-6 * abs(optimum)


def test_memetic_polish_reaches_the_inventory_optimum(tiny):
    problem, optimum = tiny
    params = {"pop_size": 20, "sampling": "hpr", "local_search": "polish"}
    run = run_heuristic(problem, "memetic_ga", params, seed=1, budget=Budget(max_evals=400))
    assert run.verified and run.counters.n_evals == 400 and run.counters.work["polished"] > 0
    assert problem.gap_pct(run.best_value, optimum) <= 1e-6


class NoStructureToy(PiecewiseToy):
    def linear_structure(self) -> None:
        return None


def test_memetic_polish_falls_back_to_the_compass_search_without_an_lp_follower():
    params = {"pop_size": 10, "ls_every": 1, "local_search": "polish"}
    run = run_heuristic(NoStructureToy(), "memetic_ga", params, seed=1, budget=Budget(max_evals=200))
    assert "polished" not in run.counters.work and run.counters.n_evals == 200
    sizes = np.diff([c.n_evals for c in run.history], prepend=0)[:-1]
    assert np.any(sizes <= 2)  # the compass search's batches: x +- step on the one coordinate


def test_nsga2_takes_hpr_starts(tiny):
    problem, optimum = tiny
    run = run_heuristic(problem, "nsga2", {"pop_size": 20, "sampling": "hpr"}, 1, Budget(max_evals=100))
    assert run.counters.work["relaxation_starts"] >= 1 and run.best_value <= optimum + 1e-6 * abs(optimum)


@pytest.fixture(scope="module")
def small_tolls() -> tuple[TollsProblem, object]:
    family = get_family("tolls")
    problem = family.make_problem(resolve_instance(family, "small"))
    exact = problem.exact(time_limit=60)
    assert exact.status == "optimal"
    return problem, exact


def test_pricing_the_optimal_paths_recovers_the_tolls_optimum(small_tolls):
    problem, exact = small_tolls
    response = problem.follower_response(exact.x)
    flow = response.solution["flow"]
    on_path = flow[problem.network.commodity, problem.network.arc] > 0.5
    tolls, value = inverse_tolls(problem.instance, problem.network, problem.upper, on_path)
    assert value == pytest.approx(exact.objective, rel=1e-9)  # 260 (proven optimal by the KKT baseline)
    assert problem.evaluate(tolls).value == pytest.approx(exact.objective, rel=1e-9)


def test_tolls_starts_are_bilevel_feasible_and_earn_their_pricing_value(small_tolls):
    problem, exact = small_tolls
    starts = problem.relaxation_starts(8, seed=1)
    assert 1 <= len(starts) <= 8 and problem.work_counters()["relaxation_lp_solves"] >= 2
    polish = linear_polish(problem)
    for x in starts:
        value = problem.evaluate(x).value
        assert 0.0 <= value <= exact.objective + 1e-6
        # the generic polish (KKT pieces) agrees: the priced paths are already the best of their piece
        assert problem.evaluate(polish.polish(x)).value == pytest.approx(value, rel=1e-9, abs=1e-9)


def test_seller_starts_sit_at_the_buyer_threshold():
    inst = paper_instance()
    problem = SellerBestResponseProblem(inst, seller=0)
    D, R = problem.profile[: inst.n], problem.profile[inst.n :]
    exact = best_response(inst, 0, D, R, focal=True, certify=True)
    assert exact.certified and inst.Dmax[0] == exact.D  # the certified best response sits at the band's end
    starts = problem.relaxation_starts(10, seed=4)
    values = np.array([problem.evaluate(x).value for x in starts])
    assert np.all(values > 0) and np.all(np.diff(values) <= 1e-9)  # accepted, best first
    assert np.all(values <= exact.bound + 1e-9)
    end = np.flatnonzero(starts[:, 0] == inst.Dmax[0])
    assert len(end) == 1 and values[end[0]] == pytest.approx(exact.profit, rel=1e-7)
    above = problem.evaluate(starts[end[0]] * np.array([1.0, 1.0 + 1e-6])).value
    assert above == 0.0  # a mark-up just above the threshold is refused


def test_procurement_starts_hold_the_relaxation_optimum_and_a_feasible_posted_price():
    from bilevel_bench.problems.procurement.exact import closed_form

    family = get_family("procurement")
    problem = family.make_problem(resolve_instance(family, "hm_example"), version="decentralized")
    form = closed_form(problem.instance)
    assert form["attained"]  # on hm_example the relaxation's allocation is priced at the Myerson bound
    starts = problem.relaxation_starts(6, seed=2)
    first, posted = problem.evaluate(starts[0]), problem.evaluate(starts[1])
    assert first.feasible and first.value == pytest.approx(form["value"], rel=1e-7)  # the optimum itself
    theta_m = min(float(problem.instance.types[-1]), problem.instance.price_bound())
    assert np.all(starts[1] == theta_m) and posted.feasible  # posted price: IC, IR by construction
    assert len(np.unique(starts, axis=0)) == len(starts) >= 3


def test_miblp_starts_lie_in_the_high_point_relaxation_box():
    family = get_family("miblp")
    instance = resolve_instance(family, "miblp_20_15_50_0110_10_1")
    raw = family.make_problem(instance, leader_bounds="mps")
    tight = family.make_problem(instance, leader_bounds="hpr")  # the box of relaxation.py's min/max LPs
    starts = raw.relaxation_starts(8, seed=1)
    assert len(starts) >= 2 and raw.work_counters()["relaxation_lp_solves"] == 8
    lower, upper = tight.bounds()
    # every start is an HPR point: inside the HPR box (integers rounded inward there, so allow the rounding)
    assert np.all(starts >= lower - 1.0 + 1e-9) and np.all(starts <= upper + 1.0 - 1e-9)
    assert np.all(starts >= raw.bounds()[0]) and np.all(starts <= raw.bounds()[1])
