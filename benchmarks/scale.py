"""How one GA run's cost grows with instance size, per family: CPU seconds per leader evaluation.

Run: python benchmarks/scale.py [--evals 300] [--families inventory,tolls]

For every family, one GA run (pop 40, seed 1, ``--evals`` evaluations, serial) on each of four generated
instances of growing size; prints the leader dimension, the CPU seconds per evaluation (process time of the
run, so machine load inflates it little), the follower solves per evaluation and the cache hits, with the
load average. Retail's scale limit (the largest instance where 5,000 evaluations fit in 60 CPU-seconds) and
peak memory are in ``benchmarks/retail_scale.py``.
"""

from __future__ import annotations

import argparse
import time

from common import footer, header

from bilevel_bench.api import load_problem
from bilevel_bench.heuristics.run import Budget, run_heuristic

SIZES = {
    "inventory": ["n=1,T=2,q=1", "n=2,T=4,q=4", "n=3,T=8,q=6", "n=5,T=12,q=6"],
    "retail": ["K=6,S=2,P=2,R=2", "K=15,S=3,P=3,R=3", "K=30,S=3,P=3,R=4", "K=45,S=4,P=3,R=5"],
    # beyond 12 sellers the buyer is solved by CP-SAT on a discretisation (about 2 s per call): not a GA scale
    "seller_buyer": ["n=3", "n=6", "n=10", "n=12"],
    "procurement": ["model=hm,n=2,m=2", "model=hm,n=2,m=3", "model=hm,n=3,m=3", "model=ldm,n=3,m=4,gamma=0.25"],
    "tolls": [
        "rows=3,cols=3,commodities=3",
        "rows=4,cols=5,commodities=8",
        "rows=5,cols=6,commodities=12",
        "rows=6,cols=8,commodities=20",
    ],
    "interdiction": ["n=20", "n=35", "n=55", "n=80"],
    "miblp": [
        "n_leader=5,n_follower=5,m=5",
        "n_leader=10,n_follower=10,m=10",
        "n_leader=15,n_follower=20,m=20",
        "n_leader=20,n_follower=30,m=30",
    ],
}
HEURISTIC = {"interdiction": "mixed_ga", "miblp": "mixed_ga"}  # binary/integer leaders: integer operators


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evals", type=int, default=300)
    parser.add_argument("--families", default=",".join(SIZES))
    args = parser.parse_args()
    header(f"one GA run per instance, {args.evals} evaluations, pop 40, serial")
    print(f"{'family':<14}{'instance':<38}{'n_var':>6}{'CPU ms/eval':>13}{'solves/eval':>13}{'cache hits':>12}")
    for family in args.families.split(","):
        for size in SIZES[family]:
            spec = f"generate:{size},seed=1"
            problem = load_problem(family, spec)
            heuristic = HEURISTIC.get(family, "ga")
            cpu = time.process_time()
            run = run_heuristic(problem, heuristic, {"pop_size": 40}, 1, Budget(max_evals=args.evals))
            cpu = time.process_time() - cpu
            n = run.counters.n_evals
            print(
                f"{family:<14}{size:<38}{problem.n_var:>6}{1000 * cpu / n:>13.2f}"
                f"{run.counters.n_follower_solves / n:>13.2f}{run.counters.cache_hits:>12}"
            )
    footer()


if __name__ == "__main__":
    main()
