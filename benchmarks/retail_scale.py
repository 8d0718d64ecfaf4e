"""How one retail GA run grows with the instance: CPU seconds per evaluation, the largest instance that fits a
budget, and peak memory. CPU time (this process) is reported because the machine is shared; wall too.

Run:
  python benchmarks/retail_scale.py sizes [--evals 1000]          # shipped small, medium, large, xlarge
  python benchmarks/retail_scale.py largest [--evals 5000] [--cpu 60]   # generated K = 20, 30, 40, ...
  python benchmarks/retail_scale.py memory [--instance xlarge] [--evals 1000]

``largest`` runs one GA (pop 40, seed 1, heuristic routing) of ``--evals`` evaluations on
``generate:K=<K>,S=3,P=3,R=<ceil(K/8)>,seed=1`` for growing K and stops after the first K whose run takes
more than ``--cpu`` CPU seconds: the K before it is the largest where the budget fits. ``memory`` prints
the peak resident set size of the process (``ru_maxrss``) after one run, and the peak of Python's own
allocations (tracemalloc, which does not see OR-Tools' C++ memory).
"""

from __future__ import annotations

import argparse
import math
import resource
import time
import tracemalloc

from common import footer, header

from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problems.retail import FAMILY
from bilevel_bench.problems.retail.instance import RetailInstance, generate
from bilevel_bench.problems.retail.problem import RetailProblem


def one_run(inst: RetailInstance, evals: int) -> tuple[float, float, RetailProblem, float]:
    problem = RetailProblem(inst)
    wall, cpu = time.perf_counter(), time.process_time()
    result = run_heuristic(problem, "ga", {"pop_size": 40}, seed=1, budget=Budget(max_evals=evals))
    return time.perf_counter() - wall, time.process_time() - cpu, problem, result.best_value


def row(label: str, inst: RetailInstance, evals: int) -> float:
    wall, cpu, problem, best = one_run(inst, evals)
    work = problem.work_counters()
    size = inst.size()
    print(
        f"{label:<28}{size['K']:>5}{size['S']:>3}{size['P']:>3}{size['R']:>4}{evals:>7}{wall:>9.1f}{cpu:>9.1f}"
        f"{1000 * cpu / evals:>10.2f}{work['routing_calls']:>9.0f}{work['route_cache_hits']:>8.0f}"
        f"{work['routing_s']:>10.1f}{best:>10.2f}"
    )
    return cpu


def table_header() -> None:
    print(
        f"{'instance':<28}{'K':>5}{'S':>3}{'P':>3}{'R':>4}{'evals':>7}{'wall s':>9}{'CPU s':>9}{'CPU ms/ev':>10}"
        f"{'routings':>9}{'hits':>8}{'routing s':>10}{'best':>10}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("sizes", "largest", "memory"))
    parser.add_argument("--evals", type=int)
    parser.add_argument("--cpu", type=float, default=60.0)
    parser.add_argument("--instance", default="xlarge")
    parser.add_argument("--start", type=int, default=20)
    parser.add_argument("--step", type=int, default=10)
    args = parser.parse_args()
    if args.what == "sizes":
        evals = args.evals or 1000
        header(f"retail GA (pop 40, heuristic routing): CPU per evaluation by size, {evals} evaluations each")
        table_header()
        for name in ("small", "medium", "large", "xlarge"):
            row(name, RetailInstance.load(FAMILY.data_dir / f"{name}.json"), evals)
    elif args.what == "largest":
        evals = args.evals or 5000
        header(f"retail GA: largest generated instance where {evals} evaluations fit in {args.cpu:g} CPU seconds")
        table_header()
        K, fits = args.start, None
        while K <= 200:
            spec = f"generate:K={K},S=3,P=3,R={math.ceil(K / 8)},seed=1"
            cpu = row(spec, generate(K=K, S=3, P=3, R=math.ceil(K / 8), seed=1), evals)
            if cpu > args.cpu:
                break
            fits, K = K, K + args.step
        print(f"largest K that fits: {fits}")
    else:
        evals = args.evals or 1000
        header(f"retail GA peak memory: {args.instance}, {evals} evaluations")
        inst = RetailInstance.load(FAMILY.data_dir / f"{args.instance}.json")
        tracemalloc.start()
        table_header()
        row(args.instance, inst, evals)
        _, peak = tracemalloc.get_traced_memory()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"peak RSS {rss:.0f} MB (whole process: Python, numpy, OR-Tools, pymoo); Python allocations peak {peak / 2**20:.1f} MB"
        )
    footer()


if __name__ == "__main__":
    main()
