"""The whole GA loop on a retail instance: ours against the naive nesting, side by side, with the load average.

Run: python benchmarks/retail_evaluation.py [--instance medium] [--evals 1000] [--routing heuristic]

Three GA runs with the same GA, seed and budget (pop 40), one after the other in one process:

- **ours**: ``run_heuristic`` (the project's run: vectorised followers, tie reduction, route cache);
- **ours, no route cache**: the same, with the route cache emptied before every evaluation;
- **naive**: a pymoo ``ElementwiseProblem`` whose ``_evaluate`` does what a user without this project would
  write (``benchmarks/common.py``): every customer's follower built and solved by CP-SAT (the optimal set
  enumerated, so the tie rule can be applied), every combination of the optimal choices routed from scratch
  with the same routing, the best (optimistic) or worst (pessimistic) kept.

Printed: wall and CPU seconds of each (CPU is what the load does not inflate), the ratios, our time split
(followers / routing / the rest), routings and cache hits, and the best values (the naive run must find
values of the same kind; the GA with pymoo's own duplicate elimination may differ slightly).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
from typing import Any

import numpy as np
from common import footer, header, ratio_line, timed

from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problems.retail import FAMILY
from bilevel_bench.problems.retail.follower import optimal_set_cpsat, to_cents
from bilevel_bench.problems.retail.instance import RetailInstance
from bilevel_bench.problems.retail.problem import RetailProblem
from bilevel_bench.problems.retail.routing import parcels_of, route


class UncachedRetailProblem(RetailProblem):
    """The same problem, routing every evaluation again (for the comparison only)."""

    def follower_response(self, x: np.ndarray) -> Any:
        self._routes.clear()
        return super().follower_response(x)


def naive_evaluate(inst: RetailInstance, tie_break: str, mode: str, x: np.ndarray) -> tuple[float, float]:
    """(F, G) in pymoo's sense for one decision, built from scratch: CP-SAT per customer, brute-force ties."""
    z = np.clip(to_cents(x), 0, np.tile(to_cents(inst.zmax), inst.S)).reshape(inst.S, inst.P)
    sets = [optimal_set_cpsat(inst, k, z)[1] for k in range(inst.K)]
    digits = (inst.S + 1) ** np.arange(inst.P - 1, -1, -1)
    best = math.nan
    for combo in itertools.product(*sets):
        option = (np.array(combo)[:, None] // digits[None, :]) % (inst.S + 1)
        taken = np.where(option > 0, z[np.maximum(option - 1, 0), np.arange(inst.P)[None, :]], 0)
        revenue = float(np.where(inst.cart, to_cents(inst.z_base)[None, :] - taken, 0).sum()) / 100
        routes = route(inst, parcels_of(inst, option), mode)
        value = revenue - routes.cost if routes.ok else -math.inf
        if math.isnan(best) or (value > best if tie_break == "optimistic" else value < best):
            best = value
    return (-best, 0.0) if math.isfinite(best) else (0.0, 1.0)


def run_naive(inst: RetailInstance, tie_break: str, mode: str, evals: int, seed: int = 1) -> float:
    from pymoo.algorithms.soo.nonconvex.ga import GA
    from pymoo.core.problem import ElementwiseProblem
    from pymoo.optimize import minimize

    lb, ub = np.zeros(inst.S * inst.P), np.tile(inst.zmax, inst.S)

    class Naive(ElementwiseProblem):
        def __init__(self) -> None:
            super().__init__(n_var=len(lb), n_obj=1, n_ieq_constr=1, xl=lb, xu=np.maximum(ub, lb + 1e-9))

        def _evaluate(self, x: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            out["F"], out["G"] = naive_evaluate(inst, tie_break, mode, np.round(x * 100) / 100)

    result = minimize(Naive(), GA(pop_size=40), ("n_evals", evals), seed=seed)
    return -float(result.F[0]) if result.F is not None else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="medium")
    parser.add_argument("--evals", type=int, default=1000)
    parser.add_argument("--routing", default="heuristic")
    parser.add_argument("--tie-break", default="optimistic")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive run (slow)")
    args = parser.parse_args()
    inst = RetailInstance.load(FAMILY.data_dir / f"{args.instance}.json")
    header(
        f"retail GA loop: {args.instance} {inst.size()}, pop 40, {args.evals} evaluations, "
        f"routing {args.routing}, {args.tie_break}"
    )
    rows = {}
    for label, cls in (("ours", RetailProblem), ("ours, no route cache", UncachedRetailProblem)):
        problem = cls(inst, tie_break=args.tie_break, routing=args.routing)
        wall, cpu, result = timed(
            functools.partial(
                run_heuristic, problem, "ga", {"pop_size": 40}, seed=1, budget=Budget(max_evals=args.evals)
            )
        )
        rows[label] = (wall, cpu, result.best_value, problem.work_counters())
    if not args.no_naive:
        wall, cpu, best = timed(lambda: run_naive(inst, args.tie_break, args.routing, args.evals))
        rows["naive"] = (wall, cpu, best, {})
    print(
        f"{'variant':<22}{'wall s':>9}{'CPU s':>9}{'CPU ms/eval':>13}{'follower s':>12}{'routing s':>11}"
        f"{'routings':>10}{'hits':>8}{'best':>10}"
    )
    for label, (wall, cpu, best, work) in rows.items():
        print(
            f"{label:<22}{wall:>9.2f}{cpu:>9.2f}{1000 * cpu / args.evals:>13.2f}"
            f"{work.get('follower_s', math.nan):>12.3f}{work.get('routing_s', math.nan):>11.2f}"
            f"{work.get('routing_calls', math.nan):>10.0f}{work.get('route_cache_hits', math.nan):>8.0f}{best:>10.2f}"
        )
    ours = rows["ours"]
    print(ratio_line("route cache (wall)", ours[0], rows["ours, no route cache"][0]))
    print(ratio_line("route cache (CPU)", ours[1], rows["ours, no route cache"][1]))
    if "naive" in rows:
        print(ratio_line("whole GA loop vs naive nesting (wall)", ours[0], rows["naive"][0]))
        print(ratio_line("whole GA loop vs naive nesting (CPU)", ours[1], rows["naive"][1]))
    footer()


if __name__ == "__main__":
    main()
