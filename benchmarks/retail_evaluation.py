"""GA leader evaluations per second on a retail instance, with the time split followers / routing.

Run: python benchmarks/retail_evaluation.py [--instance medium] [--evals 1000] [--routing heuristic]

One GA run (serial, as in a grid cell with n_jobs=1 per run); the problem object counts the seconds spent
in the followers (numpy enumeration) and in routing (OR-Tools, cached per parcel set: only new parcel sets
are routed). A second run with the route cache disabled shows what the cache buys.
"""

from __future__ import annotations

import argparse
import time

from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problems.retail import FAMILY
from bilevel_bench.problems.retail.instance import RetailInstance
from bilevel_bench.problems.retail.problem import RetailProblem


class UncachedRetailProblem(RetailProblem):
    """The same problem, routing every evaluation again (for the comparison only)."""

    def leader_violation(self, x, response):  # called once per evaluation, before leader_objective
        self._routes.clear()
        return super().leader_violation(x, response)


def measure(problem: RetailProblem, evals: int) -> tuple[float, int, dict, float]:
    start = time.perf_counter()
    result = run_heuristic(problem, "ga", {"pop_size": 40}, seed=1, budget=Budget(max_evals=evals))
    return time.perf_counter() - start, result.counters.n_unique, dict(problem.timing), result.best_value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="medium")
    parser.add_argument("--evals", type=int, default=1000)
    parser.add_argument("--routing", default="heuristic")
    args = parser.parse_args()
    inst = RetailInstance.load(FAMILY.data_dir / f"{args.instance}.json")
    print(f"instance {args.instance} {inst.size()}, GA pop 40, {args.evals} evaluations, routing {args.routing}")
    print(f"{'variant':<14}{'wall s':>8}{'evals/s':>9}{'follower s':>12}{'routing s':>11}{'routings':>10}{'other s':>9}{'best':>10}")
    for label, cls in (("route cache", RetailProblem), ("no cache", UncachedRetailProblem)):
        wall, unique, timing, best = measure(cls(inst, routing=args.routing), args.evals)
        other = wall - timing["follower_s"] - timing["routing_s"]
        print(f"{label:<14}{wall:>8.2f}{unique / wall:>9.1f}{timing['follower_s']:>12.3f}{timing['routing_s']:>11.2f}"
              f"{timing['routing_calls']:>10}{other:>9.2f}{best:>10.2f}")


if __name__ == "__main__":
    main()
