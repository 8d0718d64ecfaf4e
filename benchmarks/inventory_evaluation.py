"""Inventory evaluation speed, side by side in one run, with the load average before and after.

Run: python benchmarks/inventory_evaluation.py [--instance seed] [--decisions 1000] [--evals 2000] [--jobs 2]
                                               [--only follower,loop,parallel]

Three comparisons (each side measured in interleaved rounds, the best round of each kept; wall and CPU
seconds both, since the machine is shared: CPU time is the steadier measure under load):

1. **follower calls/s**: the persistent follower (``FollowerModel``: one GLOP model per stage, built once,
   only the right-hand sides updated per call) against today's reference path, which builds both stages'
   models from scratch in every call (``solve_follower``). Same random decisions; their answers are
   compared (status, follower value, leader value) and must agree to 1e-9.
2. **whole GA loop**: the project's run (``run_heuristic`` with ``ga``: batch evaluator, cache, persistent
   follower) against the naive nesting of ``benchmarks/common.py`` (``ga_loop_ratio``'s other side, here
   timed on both clocks: a pymoo ``ElementwiseProblem`` that builds and solves the follower from scratch per
   evaluation, plain GA), same seed and budget.
3. **serial vs --jobs N**: batches of new random decisions (no cache hits) through the ``BatchEvaluator``
   that runs use, with its process pool started once.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from common import footer, header, ratio_line, timed

from bilevel_bench.heuristics.evaluator import BatchEvaluator
from bilevel_bench.problem import FOLLOWER_FAILURE_VIOLATION, Evaluation
from bilevel_bench.problems.inventory.follower import FollowerModel, solve_follower
from bilevel_bench.problems.inventory.problem import InventoryProblem
from bilevel_bench.registry import get_family, resolve_instance


def random_decisions(problem: InventoryProblem, count: int, seed: int = 0) -> list[np.ndarray]:
    """Repaired random decisions; advertising up to a tenth of its bound (realistic forced demand)."""
    lb, ub = problem.bounds()
    half = len(lb) // 2
    scale = np.concatenate([np.ones(half), np.full(len(lb) - half, 0.1)])
    rng = np.random.default_rng(seed)
    return [problem.repair(lb + rng.uniform(0, 1, len(lb)) * (ub - lb) * scale) for _ in range(count)]


def reference_evaluate(problem: InventoryProblem, x: np.ndarray) -> Evaluation:
    """``problem.evaluate`` with the follower built from scratch (the reference path)."""
    X, V = problem.split(x)
    response = solve_follower(problem.instance, X, V, problem.tie_break)
    violation = problem.leader_violation(x, response)
    if not response.ok:
        return Evaluation(math.nan, violation + FOLLOWER_FAILURE_VIOLATION + response.infeasibility, response)
    return Evaluation(problem.leader_objective(x, response), violation, response)


def interleaved(functions: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, float, Any]]:
    """Best wall and best CPU seconds of each function over ``repeats`` interleaved rounds, last result."""
    best: dict[str, tuple[float, float, Any]] = {name: (math.inf, math.inf, None) for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            wall, cpu, result = timed(function)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu), result)
    return best


def two_clocks(label: str, ours: tuple[float, float, Any], other: tuple[float, float, Any]) -> str:
    return (
        f"{ratio_line(label, ours[0], other[0])} (wall); "
        f"CPU {ours[1]:.3f} s vs {other[1]:.3f} s -> {other[1] / ours[1]:.2f}x"
    )


def follower_section(problem: InventoryProblem, decisions: list[np.ndarray], repeats: int) -> None:
    inst, tie = problem.instance, problem.tie_break
    split = [problem.split(x) for x in decisions]

    def persistent() -> list[Any]:
        model = FollowerModel(inst)  # built once per side and round, as a worker builds it once per run
        return [model.solve(X, V, tie) for X, V in split]

    def reference() -> list[Any]:
        return [solve_follower(inst, X, V, tie) for X, V in split]

    best = interleaved({"persistent": persistent, "reference": reference}, repeats)
    worst = 0.0
    for x, a, b in zip(decisions, best["persistent"][2], best["reference"][2], strict=True):
        assert a.status == b.status, (a.status, b.status)
        if a.ok:
            for u, w in ((a.value, b.value), (problem.leader_objective(x, a), problem.leader_objective(x, b))):
                worst = max(worst, abs(u - w) / max(1.0, abs(w)))
    calls = len(decisions)
    print(f"follower ({tie}), {calls} decisions per side, answers agree to {worst:.1e} (relative)")
    print(f"  {'persistent':<16}{calls / best['persistent'][0]:>10.0f} calls/s (wall)")
    print(f"  {'per-call build':<16}{calls / best['reference'][0]:>10.0f} calls/s (wall)")
    print("  " + two_clocks("follower calls", best["persistent"], best["reference"]))


def naive_loop(problem: InventoryProblem, evals: int, pop_size: int, seed: int = 1) -> float:
    """The naive nesting of ``benchmarks/common.py`` (``ga_loop_ratio``'s other side): a pymoo
    ElementwiseProblem building and solving the follower per evaluation, plain GA; returns its best value."""
    from pymoo.algorithms.soo.nonconvex.ga import GA
    from pymoo.core.problem import ElementwiseProblem
    from pymoo.optimize import minimize

    lb, ub = problem.bounds()

    class Naive(ElementwiseProblem):
        def __init__(self) -> None:
            super().__init__(n_var=len(lb), n_obj=1, n_ieq_constr=1, xl=lb, xu=np.maximum(ub, lb + 1e-9))

        def _evaluate(self, x: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            evaluation = reference_evaluate(problem, np.asarray(x, dtype=float))
            out["F"] = -evaluation.value if math.isfinite(evaluation.value) else 0.0
            out["G"] = evaluation.violation

    result = minimize(Naive(), GA(pop_size=pop_size), ("n_evals", evals), seed=seed)
    return -float(result.F[0]) if result.F is not None else math.nan


def ours_loop(problem: InventoryProblem, evals: int, pop_size: int, seed: int = 1) -> float:
    """The project's run on a fresh problem (its follower model built in the run): returns its best value."""
    from bilevel_bench.heuristics.run import Budget, run_heuristic

    fresh = InventoryProblem(problem.instance, problem.tie_break)
    return run_heuristic(fresh, "ga", {"pop_size": pop_size}, seed, Budget(max_evals=evals)).best_value


def loop_section(problem: InventoryProblem, evals: int, repeats: int, pop_size: int) -> None:
    best = interleaved(
        {
            "ours": lambda: ours_loop(problem, evals, pop_size),
            "naive": lambda: naive_loop(problem, evals, pop_size),
        },
        repeats,
    )
    print(
        f"whole GA loop, {evals} evaluations, pop {pop_size}, seed 1: best value ours {best['ours'][2]:.2f}, "
        f"naive {best['naive'][2]:.2f}"
    )
    print("  " + two_clocks("GA loop vs naive nesting", best["ours"], best["naive"]))


def parallel_section(problem: InventoryProblem, batch: int, batches: int, jobs: int) -> None:
    lb, ub = problem.bounds()
    rng = np.random.default_rng(0)
    sets = [lb + rng.uniform(0, 1, (batch, len(lb))) * (ub - lb) for _ in range(batches)]

    def measure(n_jobs: int) -> Callable[[], tuple[float, int]]:
        def run() -> tuple[float, int]:
            fresh = InventoryProblem(problem.instance, problem.tie_break)
            with BatchEvaluator(fresh, n_jobs=n_jobs, use_cache=False) as evaluator:
                evaluator.evaluate(sets[0][:4])  # warm the pool up (worker start is not evaluation speed)
                start = time.perf_counter()
                for X in sets:
                    evaluator.evaluate(X)
                return time.perf_counter() - start, evaluator.counters.n_unique - 4

        return run

    serial_s, n = measure(1)()
    parallel_s, _ = measure(jobs)()
    print(f"batch evaluation, {n} new decisions per side (batches of {batch})")
    print(f"  {'serial':<12}{n / serial_s:>10.0f} evals/s")
    print(f"  {'jobs=' + str(jobs):<12}{n / parallel_s:>10.0f} evals/s")
    print("  " + ratio_line(f"--jobs {jobs} vs serial", parallel_s, serial_s))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--instance", default="seed")
    parser.add_argument("--tie-break", default="optimistic", choices=("optimistic", "pessimistic"))
    parser.add_argument("--decisions", type=int, default=1000, help="follower calls per side")
    parser.add_argument("--evals", type=int, default=2000, help="GA budget per side")
    parser.add_argument("--pop-size", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=400, help="decisions per batch (parallel section)")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default="follower,loop,parallel", help="comma-separated sections")
    args = parser.parse_args()
    family = get_family("inventory")
    instance = resolve_instance(family, args.instance)
    problem = InventoryProblem(instance, args.tie_break)  # type: ignore[arg-type]
    sections = set(args.only.split(","))
    header(f"inventory evaluation speed, instance {args.instance} {instance.size()}, {args.tie_break}")
    if "follower" in sections:
        follower_section(problem, random_decisions(problem, args.decisions), args.repeats)
    if "loop" in sections:
        loop_section(problem, args.evals, args.repeats, args.pop_size)
    if "parallel" in sections:
        parallel_section(problem, args.batch, args.batches, args.jobs)
    footer()


if __name__ == "__main__":
    main()
