"""Knapsack interdiction: follower speed (DP against CP-SAT), the GA loop against the naive nesting, and the exact
baseline's time on every shipped CCLW instance beside the published solvers' order of magnitude.

Run: python benchmarks/interdiction_evaluation.py [--solves 300] [--evals 2000] [--instance CCLW_n55_m2]
[--skip-ga] [--skip-exact]

1. **Follower solves per second** on four CCLW instances, at the same random leader decisions (repaired onto the
   leader's capacity, as the evaluator does): our numpy DP (``follower.solve_follower``) against CP-SAT building
   and solving the same knapsack (``follower.solve_cpsat``, one worker), interleaved, best of 3 rounds.
2. **The whole GA loop**: ``run_heuristic(problem, "mixed_ga")`` (our evaluator: canonical repair, cache, DP
   follower) against the naive nesting of ``benchmarks/common.py`` written for a binary leader: a pymoo
   ``ElementwiseProblem`` whose ``_evaluate`` builds and solves the follower in CP-SAT for every evaluation, with
   the leader's capacity as a constraint G, run by pymoo's binary GA (random binary sampling, two-point
   crossover, bit flip, duplicates removed), same pop size, seed and budget. Wall and CPU seconds, and the best
   values found (the optimum is the ``.ans`` value).
3. **Exact baseline** on all 30 shipped instances: time, status and value against the published optimum.
   Published solvers: Della Croce and Scatamacchia (2020) solve every CCLW instance within about a second,
   Weninger and Fukasawa (2023) faster still (C++, Gurobi for the DCS bound); so the reference order of magnitude
   is ~1 s per instance.
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from common import best_of, footer, header, timed

from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problems.interdiction.follower import solve_cpsat, solve_follower
from bilevel_bench.problems.interdiction.instance import DATA_DIR, InterdictionInstance, read_ki
from bilevel_bench.problems.interdiction.problem import InterdictionProblem

PUBLISHED_SECONDS = 1.0  # order of magnitude of the published solvers' time per CCLW instance


def _solve_all(solver: Callable[..., Any], inst: InterdictionInstance, X: list[np.ndarray]) -> None:
    for x in X:
        solver(inst.profit, inst.follower_weight, inst.follower_capacity, x)


def follower_speed(names: list[str], solves: int) -> None:
    print(f"\n## follower solves per second ({solves} random repaired leader decisions per instance)")
    print(f"{'instance':<14}{'n':>4}{'CF':>6}{'DP solves/s':>14}{'CP-SAT solves/s':>17}{'DP / CP-SAT':>13}")
    for name in names:
        inst = read_ki(DATA_DIR / f"{name}.ki")
        problem = InterdictionProblem(inst)
        rng = np.random.default_rng(0)
        X = [problem.repair(rng.random(inst.n) < 0.5) for _ in range(solves)]
        args = (inst.profit, inst.follower_weight, inst.follower_capacity)
        for x in X[:20]:  # the two agree (the tests check it on 1,200 cases; here a spot check)
            assert solve_follower(*args, x).value == solve_cpsat(*args, x).value
        seconds = best_of(
            {
                "dp": functools.partial(_solve_all, solve_follower, inst, X),
                "cpsat": functools.partial(_solve_all, solve_cpsat, inst, X),
            }
        )
        dp, cp = solves / seconds["dp"], solves / seconds["cpsat"]
        print(f"{name:<14}{inst.n:>4}{inst.follower_capacity:>6}{dp:>14.0f}{cp:>17.0f}{dp / cp:>12.1f}x")


def naive_ga(inst: InterdictionInstance, evals: int, pop_size: int, seed: int) -> float:
    """The naive nesting: CP-SAT built and solved per evaluation, leader capacity as G, pymoo's binary GA."""
    from pymoo.algorithms.soo.nonconvex.ga import GA
    from pymoo.core.problem import ElementwiseProblem
    from pymoo.operators.crossover.pntx import TwoPointCrossover
    from pymoo.operators.mutation.bitflip import BitflipMutation
    from pymoo.operators.sampling.rnd import BinaryRandomSampling
    from pymoo.optimize import minimize

    class Naive(ElementwiseProblem):
        def __init__(self) -> None:
            super().__init__(n_var=inst.n, n_obj=1, n_ieq_constr=1, xl=0, xu=1, vtype=bool)

        def _evaluate(self, x: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            x = np.asarray(x, dtype=float)
            response = solve_cpsat(inst.profit, inst.follower_weight, inst.follower_capacity, x)
            out["F"] = response.value
            out["G"] = float(inst.leader_weight @ x - inst.leader_capacity)

    algorithm = GA(
        pop_size=pop_size,
        sampling=BinaryRandomSampling(),
        crossover=TwoPointCrossover(),
        mutation=BitflipMutation(),
        eliminate_duplicates=True,
    )
    result = minimize(Naive(), algorithm, ("n_evals", evals), seed=seed)
    return float(result.F[0]) if result.F is not None else math.nan


def ga_loop(name: str, evals: int, pop_size: int = 40, seed: int = 1) -> None:
    inst = read_ki(DATA_DIR / f"{name}.ki")
    print(
        f"\n## GA loop on {name} (optimum {inst.published_optimum:g}): {evals} evaluations, pop {pop_size}, seed {seed}"
    )
    ours = timed(
        lambda: run_heuristic(
            InterdictionProblem(inst), "mixed_ga", {"pop_size": pop_size}, seed, Budget(max_evals=evals)
        )
    )
    naive = timed(lambda: naive_ga(inst, evals, pop_size, seed))
    print(f"{'variant':<34}{'wall s':>9}{'CPU s':>9}{'CPU ms/eval':>13}{'best':>8}")
    run = ours[2]
    print(
        f"{'ours (mixed_ga, DP, repair, cache)':<34}{ours[0]:>9.2f}{ours[1]:>9.2f}{1000 * ours[1] / evals:>13.2f}{run.best_value:>8.0f}"
    )
    print(
        f"{'naive (binary GA, CP-SAT per eval)':<34}{naive[0]:>9.2f}{naive[1]:>9.2f}{1000 * naive[1] / evals:>13.2f}{naive[2]:>8.0f}"
    )
    print(f"naive / ours: wall {naive[0] / ours[0]:.1f}x, CPU {naive[1] / ours[1]:.1f}x")
    print(
        f"ours: {run.counters.n_unique} follower solves ({run.counters.cache_hits} cache hits), "
        f"{run.counters.follower_s:.2f} s in the follower"
    )


def exact_times() -> None:
    print(f"\n## exact baseline on the 30 CCLW instances (published solvers: ~{PUBLISHED_SECONDS:g} s per instance)")
    print(f"{'instance':<14}{'status':>9}{'value':>7}{'published':>11}{'time s':>9}{'/ 1 s':>7}  notes")
    times = []
    for n in (35, 45, 55):
        for m in range(10):
            name = f"CCLW_n{n}_m{m}"
            inst = read_ki(DATA_DIR / f"{name}.ki")
            result = InterdictionProblem(inst).exact(time_limit=120)
            times.append(result.time_s)
            match = "" if result.objective == inst.published_optimum else "  MISMATCH"
            detail = result.notes.split(";")[0]
            print(
                f"{name:<14}{result.status.value:>9}{result.objective:>7.0f}{inst.published_optimum:>11.0f}"
                f"{result.time_s:>9.2f}{result.time_s / PUBLISHED_SECONDS:>7.2f}  {detail}{match}"
            )
    print(f"total {sum(times):.1f} s, mean {np.mean(times):.2f} s, max {max(times):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solves", type=int, default=300)
    parser.add_argument("--evals", type=int, default=2000)
    parser.add_argument("--instance", default="CCLW_n55_m2")
    parser.add_argument("--skip-ga", action="store_true")
    parser.add_argument("--skip-exact", action="store_true")
    args = parser.parse_args()
    header("knapsack interdiction: follower DP vs CP-SAT, GA loop vs naive nesting, exact baseline times")
    follower_speed(["CCLW_n35_m5", "CCLW_n45_m5", "CCLW_n55_m5", "CCLW_n55_m9"], args.solves)
    if not args.skip_ga:
        ga_loop(args.instance, args.evals)
    if not args.skip_exact:
        exact_times()
    footer()


if __name__ == "__main__":
    main()
