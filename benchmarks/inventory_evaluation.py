"""Follower solves per second, and the speedup of parallel evaluation over serial, side by side.

Run: python benchmarks/inventory_evaluation.py [--batch 400] [--jobs 2] [--instance seed]

Both sides evaluate the same batches of random leader decisions (no cache hits: every decision is new),
through the same BatchEvaluator that heuristic runs use, with its persistent loky pool created once.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bilevel_bench.heuristics.evaluator import BatchEvaluator
from bilevel_bench.registry import get_family, resolve_instance


def measure(problem, batches: list[np.ndarray], n_jobs: int) -> tuple[float, int, int]:
    with BatchEvaluator(problem, n_jobs=n_jobs, use_cache=False) as evaluator:
        evaluator.evaluate(batches[0][:4])  # warm the pool up (worker start is not evaluation speed)
        start = time.perf_counter()
        for batch in batches:
            evaluator.evaluate(batch)
        seconds = time.perf_counter() - start
        counters = evaluator.counters
    return seconds, counters.n_unique - 4, counters.n_follower_solves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="seed")
    parser.add_argument("--batch", type=int, default=400, help="decisions per batch (a population)")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    family = get_family("inventory")
    problem = family.make_problem(resolve_instance(family, args.instance))
    lb, ub = problem.bounds()
    rng = np.random.default_rng(0)
    batches = [lb + rng.uniform(0, 1, (args.batch, len(lb))) * (ub - lb) for _ in range(args.batches)]
    serial_s, n, solves = measure(problem, batches, 1)
    parallel_s, _, _ = measure(problem, batches, args.jobs)
    print(f"instance {args.instance}: {n} leader evaluations, {solves} follower LP solves per side")
    print(f"{'mode':<12}{'seconds':>10}{'evals/s':>10}{'LP solves/s':>14}")
    print(f"{'serial':<12}{serial_s:>10.2f}{n / serial_s:>10.0f}{solves / serial_s:>14.0f}")
    print(f"{'jobs=' + str(args.jobs):<12}{parallel_s:>10.2f}{n / parallel_s:>10.0f}{solves / parallel_s:>14.0f}")
    print(f"parallel speedup over serial: {serial_s / parallel_s:.2f}x on {args.jobs} workers")


if __name__ == "__main__":
    main()
