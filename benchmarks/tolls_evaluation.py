"""Tolls evaluation speed, side by side in one run, with the load average before and after.

Run: python benchmarks/tolls_evaluation.py [--instance medium] [--decisions 300] [--evals 2000] [--repeats 3]
                                           [--only follower,loop]

1. **follower calls/s** (interleaved rounds, the best of each kept), on the same random tolls:
   - ours: ``FollowerModel`` (the K shortest-path LPs stacked into one, arcs that can never be on a shortest
     path left out, persistent GLOP models of both tie-breaking stages, only costs and preference set per call);
   - reference: the same stacked LP through ``bilevel_bench.lp.solve_lexicographic``, built from scratch;
   - per-call build: what a user without this project writes: per commodity, a fresh pywraplp GLOP model of
     the shortest-path LP over all arcs, then a fresh second model for the tie-breaking stage.
   The answers (users' cost, revenue) are compared.
2. **whole GA loop**: the project's run (``run_heuristic`` with ``ga``) against the naive nesting of
   ``benchmarks/common.py`` whose ``_evaluate`` is the per-call build above; same GA, seed and budget.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np
from common import best_of, footer, ga_loop_ratio, header, ratio_line
from ortools.linear_solver import pywraplp

from bilevel_bench.problem import tie_tolerance
from bilevel_bench.problems.tolls.follower import FollowerModel, network_lp, revenue, solve_follower
from bilevel_bench.problems.tolls.instance import TollsInstance
from bilevel_bench.problems.tolls.problem import TollsProblem
from bilevel_bench.registry import get_family, resolve_instance


def _shortest_path_model(inst: TollsInstance, k: int, cost: np.ndarray) -> tuple[Any, list[Any]]:
    solver = pywraplp.Solver.CreateSolver("GLOP")
    y = [solver.NumVar(0.0, solver.infinity(), "") for _ in range(inst.n_arcs)]
    for v in range(inst.n_nodes):
        supply = 1.0 if v == inst.origin[k] else -1.0 if v == inst.destination[k] else 0.0
        row = solver.Constraint(supply, supply, "")
        for a in range(inst.n_arcs):
            if inst.arcs[a, 0] == v:
                row.SetCoefficient(y[a], 1.0)
            elif inst.arcs[a, 1] == v:
                row.SetCoefficient(y[a], -1.0)
    return solver, y


def naive_response(inst: TollsInstance, tolls: np.ndarray, tie_break: str) -> tuple[float, float]:
    """(users' cost, revenue), every commodity's two stages built from scratch with pywraplp."""
    cost = inst.cost.copy()
    cost[inst.toll_arcs] += tolls
    toll = np.zeros(inst.n_arcs)
    toll[inst.toll_arcs] = tolls
    total_cost, total_revenue = 0.0, 0.0
    for k in range(inst.n_commodities):
        solver, y = _shortest_path_model(inst, k, cost)
        for a in range(inst.n_arcs):
            solver.Objective().SetCoefficient(y[a], float(cost[a]))
        solver.Objective().SetMinimization()
        if solver.Solve() != pywraplp.Solver.OPTIMAL:
            return math.nan, math.nan
        z1 = solver.Objective().Value()
        second, y2 = _shortest_path_model(inst, k, cost)
        cap = second.Constraint(-second.infinity(), z1 + tie_tolerance(z1), "")
        for a in range(inst.n_arcs):
            cap.SetCoefficient(y2[a], float(cost[a]))
            second.Objective().SetCoefficient(y2[a], float(toll[a]))
        second.Objective().SetMaximization() if tie_break == "optimistic" else second.Objective().SetMinimization()
        if second.Solve() != pywraplp.Solver.OPTIMAL:
            return math.nan, math.nan
        total_cost += inst.demand[k] * z1
        total_revenue += inst.demand[k] * second.Objective().Value()
    return total_cost, total_revenue


def follower_section(problem: TollsProblem, decisions: list[np.ndarray], repeats: int) -> None:
    inst, tie = problem.instance, problem.tie_break
    net = network_lp(inst)
    model = FollowerModel(net)
    answers: dict[str, list[tuple[float, float]]] = {}

    def ours() -> None:
        answers["ours"] = [
            (r.value, revenue(inst, x, r.solution["flow"])) for x in decisions for r in [model.solve(x, tie)]
        ]

    def reference() -> None:
        answers["reference"] = [
            (r.value, revenue(inst, x, r.solution["flow"])) for x in decisions for r in [solve_follower(net, x, tie)]
        ]

    def naive() -> None:
        answers["naive"] = [naive_response(inst, x, tie) for x in decisions]

    seconds = best_of({"ours": ours, "reference": reference, "naive": naive}, repeats)
    worst = {
        other: max(
            max(abs(a[0] - b[0]) / max(1.0, abs(b[0])), abs(a[1] - b[1]) / max(1.0, abs(b[1])))
            for a, b in zip(answers["ours"], answers[other], strict=True)
        )
        for other in ("reference", "naive")
    }
    calls = len(decisions)
    print(
        f"follower ({tie}), {calls} random toll vectors per side; ours agrees with the reference to "
        f"{worst['reference']:.1e} and with the per-call build to {worst['naive']:.1e} (relative, cost and revenue)"
    )
    for label in ("ours", "reference", "naive"):
        print(f"  {label:<12}{calls / seconds[label]:>10.0f} calls/s")
    print("  " + ratio_line("follower calls vs per-call pywraplp build", seconds["ours"], seconds["naive"]))
    print("  " + ratio_line("follower calls vs stacked LP built per call", seconds["ours"], seconds["reference"]))


def loop_section(problem: TollsProblem, evals: int, repeats: int, pop_size: int) -> None:
    inst, tie = problem.instance, problem.tie_break

    def naive_evaluate(x: np.ndarray) -> tuple[float, float]:
        _, gain = naive_response(inst, np.asarray(x, dtype=float), tie)
        return (-gain, 0.0) if math.isfinite(gain) else (0.0, 1.0)

    ours, naive = math.inf, math.inf
    best: tuple[float, float] = (math.nan, math.nan)
    for _ in range(repeats):
        fresh = TollsProblem(inst, tie)
        o, n, ours_best, naive_best = ga_loop_ratio(fresh, naive_evaluate, evals, seed=1, pop_size=pop_size)
        ours, naive = min(ours, o), min(naive, n)
        best = (ours_best, -naive_best)
    print(f"whole GA loop, {evals} evaluations, pop {pop_size}: best value ours {best[0]:.2f}, naive {best[1]:.2f}")
    print("  " + ratio_line("GA loop vs naive nesting", ours, naive))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--instance", default="medium")
    parser.add_argument("--tie-break", default="optimistic", choices=("optimistic", "pessimistic"))
    parser.add_argument("--decisions", type=int, default=300, help="follower calls per side")
    parser.add_argument("--evals", type=int, default=2000, help="GA budget per side")
    parser.add_argument("--pop-size", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="follower,loop", help="comma-separated sections")
    args = parser.parse_args()
    instance = resolve_instance(get_family("tolls"), args.instance)
    problem = TollsProblem(instance, args.tie_break)  # type: ignore[arg-type]
    sections = set(args.only.split(","))
    header(f"tolls evaluation speed, instance {args.instance} {instance.size()}, {args.tie_break}")
    if "follower" in sections:
        lb, ub = problem.bounds()
        rng = np.random.default_rng(0)
        decisions = [lb + rng.uniform(0, 1, len(lb)) * (ub - lb) for _ in range(args.decisions)]
        follower_section(problem, decisions, args.repeats)
    if "loop" in sections:
        loop_section(problem, args.evals, args.repeats, args.pop_size)
    footer()


if __name__ == "__main__":
    main()
