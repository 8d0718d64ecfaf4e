"""The matheuristic (PADM, heuristics/matheuristic.py) against the exact KKT baseline on LP-follower instances.

For each instance: the exact baseline once (its time), then the matheuristic with each seed and the same
budget of evaluations: final gap to the exact optimum, and the evaluations and seconds (wall, from the run's
history) until the gap is at most 1 %, side by side with the exact solve's time and the load average. The
machine is shared: read the times as ratios measured in one go, not as absolute speeds.

Run: ``nice -n 10 python benchmarks/matheuristic_evaluation.py`` (``--max-evals``, ``--seeds``, ``--instances``).
"""

from __future__ import annotations

import argparse
import math
import time

from common import footer, header

from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.registry import get_family, resolve_instance

INSTANCES = (
    "tolls:hand",
    "tolls:small",
    "tolls:medium",
    "inventory:seed",
    "inventory:generate:n=2,T=8,q=4,seed=3",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--max-evals", type=int, default=1000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--instances", default=";".join(INSTANCES), help="family:instance items, ';'-separated")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    specs = [s.strip() for s in args.instances.split(";") if s.strip()]
    header(f"matheuristic against the exact baseline, budget {args.max_evals} evaluations, seeds {seeds}")
    print("| instance | exact (s) | optimum | seed | gap % | evals to 1 % | s to 1 % | run s | attempts |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for spec in specs:
        family_name, instance_spec = spec.split(":", 1)
        family = get_family(family_name)
        problem = family.make_problem(resolve_instance(family, instance_spec))
        start = time.perf_counter()
        exact = problem.exact(time_limit=600)
        exact_s = time.perf_counter() - start
        for seed in seeds:
            run = run_heuristic(problem, "matheuristic", None, seed=seed, budget=Budget(max_evals=args.max_evals))
            hit = next((c for c in run.history if problem.gap_pct(c.best_value, exact.objective) <= 1.0), None)
            gap = problem.gap_pct(run.best_value, exact.objective)
            evals = str(hit.n_evals) if hit else "-"
            seconds = f"{hit.elapsed_s:.2f}" if hit else "-"
            attempts = int(run.counters.work.get("matheuristic_attempts", 0))
            print(
                f"| {spec} | {exact_s:.1f} ({exact.status}) | {exact.objective:.6g} | {seed} | "
                f"{gap:.3f} | {evals} | {seconds} | {run.wall_s:.1f} | {attempts} |",
                flush=True,
            )
            if not run.verified and not math.isnan(run.best_value):
                print(f"# WARNING: {spec} seed {seed}: best value not re-verified")
    footer()


if __name__ == "__main__":
    main()
