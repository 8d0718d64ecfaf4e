"""MIBLP follower and GA loop speed, side by side, with the load average.

Run: python benchmarks/miblp_evaluation.py [--instance miblp_20_20_50_0110_10_1] [--points 300] [--evals 1000]

1. **Follower solves per second** on the same leader decisions (half drawn uniformly from the leader's HPR
   box (``box``: mostly infeasible followers, most refused by the interval pre-check without a solve), and
   next to the published optimum (``near``: mostly feasible, solved), each variant in its own problem, the
   best of 3 interleaved rounds (``common.best_of``):

   - ``persistent``: the family's engine (one CP-SAT model kept, right-hand sides changed per call);
   - ``fresh build``: the same engine built anew for every decision (model built, then solved; CPU ms
     counts the builds too);
   - ``persistent, SCIP``: the SCIP engine, kept (``follower_engine = "scip"``).

   The answers must agree (checked); printed are decisions per second, CPU ms per decision and the ratios.
2. **The whole GA loop** (``common.ga_loop_ratio``): ``run_heuristic`` with the family's problem against
   a pymoo ``ElementwiseProblem`` that builds and solves the follower from scratch for every evaluation, as
   a user without this project would: CP-SAT with its default parameters (presolve on), the follower's
   optimum then the leader's tie-break as a second solve, a flat penalty for an infeasible follower.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np
from common import best_of, footer, ga_loop_ratio, header, ratio_line

from bilevel_bench.problems.miblp import FAMILY
from bilevel_bench.problems.miblp.follower import Split, make_engine
from bilevel_bench.problems.miblp.instance import MiblpInstance
from bilevel_bench.problems.miblp.problem import MiblpProblem


def decisions(problem: MiblpProblem, n: int, seed: int = 1) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` decisions drawn uniformly from the leader's box, and ``n`` next to the published optimum."""
    rng = np.random.default_rng(seed)
    lo, hi = problem.bounds()
    near = problem.instance.published_x if len(problem.instance.published_x) else (lo + hi) / 2
    box = [rng.integers(lo, hi + 1).astype(float) for _ in range(n)]
    return box, [np.clip(np.round(near) + rng.integers(-1, 2, len(lo)), lo, hi) for _ in range(n)]


def compare(inst: MiblpInstance, label: str, X: list[np.ndarray]) -> None:
    """Persistent engine, fresh engine per decision, persistent SCIP: the best of 3 interleaved rounds."""
    answers: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}

    def persistent(name: str, engine: str) -> Any:
        def run() -> None:
            problem = MiblpProblem(inst, follower_engine=engine)
            problem.evaluate(X[0])  # the model is built once, before the clock
            start = time.process_time()
            answers[name] = [problem.evaluate(x).value for x in X]
            cpu[name] = min(cpu.get(name, math.inf), time.process_time() - start)

        return run

    def fresh() -> None:
        problem = MiblpProblem(inst)
        start = time.process_time()
        values = []
        for x in X:
            problem._engine = make_engine(problem.sp)  # a new model for every decision
            values.append(problem.evaluate(x).value)
        answers["fresh build"] = values
        cpu["fresh build"] = min(cpu.get("fresh build", math.inf), time.process_time() - start)

    seconds = best_of(
        {
            "persistent": persistent("persistent", "auto"),
            "fresh build": fresh,
            "persistent, SCIP": persistent("persistent, SCIP", "scip"),
        }
    )
    same = all(np.allclose(answers[k], answers["persistent"], equal_nan=True) for k in answers)
    feasible = int(np.sum(np.isfinite(answers["persistent"])))
    for name, wall in seconds.items():
        print(
            f"{label:<8}{name:<20}{len(X) / wall:>13.1f}{1000 * wall / len(X):>10.3f}{1000 * cpu[name] / len(X):>9.3f}"
            f"{feasible:>10}"
        )
    print(f"{label:<8}all variants agree: {same}")
    print(ratio_line(f"{label}: persistent vs fresh build (wall)", seconds["persistent"], seconds["fresh build"]))
    print(ratio_line(f"{label}: persistent vs fresh build (CPU)", cpu["persistent"], cpu["fresh build"]))
    print(
        ratio_line(
            f"{label}: CP-SAT vs SCIP, both persistent (wall)", seconds["persistent"], seconds["persistent, SCIP"]
        )
    )


def naive_evaluate(inst: MiblpInstance, sp: Split, x: np.ndarray) -> tuple[float, float]:
    """(F, G) for pymoo: a CP-SAT model of the follower built from scratch, two solves, flat penalty."""
    from ortools.sat.python import cp_model

    x = np.round(x)
    gx = sp.Gx @ x
    model = cp_model.CpModel()
    y = [model.new_int_var(int(a), int(b), "") for a, b in zip(sp.y_lo, sp.y_hi, strict=True)]
    for row, lo, hi in zip(sp.Gy, sp.f_lo - gx, sp.f_hi - gx, strict=True):
        expr = sum(int(c) * y[k] for k, c in enumerate(row) if c)
        if math.isfinite(lo):
            model.add(expr >= math.ceil(lo - 1e-9))
        if math.isfinite(hi):
            model.add(expr <= math.floor(hi + 1e-9))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    follower = sum(int(c) * v for c, v in zip(sp.d, y, strict=True))
    model.minimize(follower)
    if solver.solve(model) != cp_model.OPTIMAL:
        return 0.0, 1e6
    model.add(follower <= round(solver.objective_value))
    model.minimize(sum(int(c) * v for c, v in zip(sp.cy, y, strict=True)))
    solver.solve(model)
    values = np.array([solver.value(v) for v in y], dtype=float)
    return float(sp.cx @ x + sp.cy @ values + sp.offset), 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="miblp_20_20_50_0110_10_1")
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--evals", type=int, default=1000)
    parser.add_argument("--no-naive", action="store_true", help="skip the GA loop comparison")
    args = parser.parse_args()
    inst = MiblpInstance.load(FAMILY.data_dir / f"{args.instance}.json")
    header(f"miblp follower: {args.instance} {inst.size()}, {args.points} leader decisions per set")
    ours = MiblpProblem(inst)
    print(f"engine: {ours.engine.name}")
    print(f"{'set':<8}{'variant':<20}{'decisions/s':>13}{'wall ms':>10}{'CPU ms':>9}{'feasible':>10}")
    for label, X in zip(("box", "near"), decisions(ours, args.points), strict=True):
        compare(inst, label, X)
    if not args.no_naive:
        sp = ours.sp
        ours_s, naive_s, ours_best, naive_best = ga_loop_ratio(
            MiblpProblem(inst), lambda x: naive_evaluate(inst, sp, x), args.evals, seed=1
        )
        print(
            f"GA loop, {args.evals} evaluations, pop 40, seed 1: best ours {ours_best:g}, naive {naive_best:g} "
            f"(published {inst.published_objective})"
        )
        print(ratio_line("whole GA loop vs naive nesting (wall)", ours_s, naive_s))
    footer()


if __name__ == "__main__":
    main()
