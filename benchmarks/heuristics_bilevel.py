"""Bilevel-aware heuristics against the plain ones: constraint handling and starts (issue 19's goals).

    python benchmarks/heuristics_bilevel.py [--procurement] [--inventory] [--seller] [--miblp] [--seeds 3]

Every line gives the budget (leader evaluations) and the parameters of the runs; "before" is the
heuristic as it was (``constraints = "feasibility_first"``, ``sampling = "default"``), "after" the
bilevel-aware settings named on the line. Gaps in % to the family's exact (or published) reference.

(a) ``--procurement``: the GA on every point of ``experiments/procurement.toml`` (the sweep and its variants),
    decentralized version, its budget (3,000 evaluations, pop_size 40) and seeds: median gap per point,
    before and after (``sampling = "hpr"``, ``constraints = "auto"``, i.e. repair by the IR/IC projection);
(b) ``--inventory``: ``generate:n=2,T=8,q=4,seed=3``: the exact KKT solve's wall and CPU time, against the
    time each heuristic needs to come within 1% (wall and CPU seconds at the first checkpoint within 1%);
(c) ``--seller``: the GA best response's share of the certified exact best-response profit, as
    ``benchmarks/seller_buyer_evaluation.py`` (c) (pop 20, budgets 200 and 1000, its markets and profiles,
    ties in the seller's favour), before and after ``sampling = "hpr"``;
(d) ``--miblp``: BOBILib DeNegre instances on their raw bounds (no tightening): the share of runs that find a
    bilevel-feasible point and the median gap to the published optimum, before and after.
"""

from __future__ import annotations

import argparse
import math
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
from common import footer, header

from bilevel_bench.heuristics.run import Budget, RunResult, run_heuristic
from bilevel_bench.problem import BilevelProblem
from bilevel_bench.registry import get_family, resolve_instance

ROOT = Path(__file__).resolve().parent.parent
BEFORE = {"constraints": "feasibility_first", "sampling": "default"}


def _runs(problem: BilevelProblem, name: str, params: dict[str, Any], seeds: int, evals: int) -> list[RunResult]:
    return [run_heuristic(problem, name, params, seed, Budget(max_evals=evals)) for seed in range(1, seeds + 1)]


def _gaps(problem: BilevelProblem, runs: list[RunResult], reference: float) -> np.ndarray:
    return np.array([problem.gap_pct(r.best_value, reference) if r.best_violation == 0 else math.inf for r in runs])


# -- (a) procurement ---------------------------------------------------------------------------------------
def procurement_points() -> list[tuple[str, Any]]:
    from bilevel_bench.problems.procurement.instance import ProcurementInstance, with_gamma, with_switches

    config = tomllib.loads((ROOT / "experiments" / "procurement.toml").read_text())
    family = get_family("procurement")
    out = []
    blocks = [{"label": "sweep", **config}] + [{**variant} for variant in config.get("variants", [])]
    for block in blocks:
        label = block.get("label", "sweep")
        deltas, gammas = block.get("deltas", config["deltas"]), block.get("gammas", config["gammas"])
        for spec in block.get("instances", config["instances"]):
            base = resolve_instance(family, spec)
            assert isinstance(base, ProcurementInstance)
            if label != "sweep":
                base = with_switches(base, bool(block.get("expost_ir", False)), bool(block.get("elastic", False)))
            for value in deltas if base.model == "hm" else gammas:
                inst = base.replace(delta=value) if base.model == "hm" else with_gamma(base, value)
                if base.model == "hm":
                    inst.validate("benchmark")
                out.append((f"{label}:{spec}@{value:g}", inst))
    return out


def procurement(seeds: int) -> None:
    print("\n(a) procurement, decentralized: GA pop 40, 3000 evaluations; median gap % over seeds 1..", seeds)
    after = {"sampling": "hpr", "constraints": "auto"}
    print(f"{'point':<52}{'exact':>11}{'status':>9}{'before':>9}{'after':>9}  after gaps by seed")
    family = get_family("procurement")
    worst_before, worst_after = 0.0, 0.0
    for label, inst in procurement_points():
        problem = family.make_problem(inst, "optimistic", version="decentralized")
        exact = problem.exact(time_limit=60)
        if math.isnan(exact.objective):
            print(f"{label:<52}{'-':>11}{exact.status.value:>9}  no reference")
            continue
        gap_before = _gaps(problem, _runs(problem, "ga", {"pop_size": 40, **BEFORE}, seeds, 3000), exact.objective)
        gap_after = _gaps(problem, _runs(problem, "ga", {"pop_size": 40, **after}, seeds, 3000), exact.objective)
        before, now = float(np.median(gap_before)), float(np.median(gap_after))
        worst_before, worst_after = max(worst_before, before), max(worst_after, now)
        line = f"{label:<52}{exact.objective:>11.5f}{exact.status.value:>9}{before:>9.3f}{now:>9.3f}  "
        print(line + " ".join(f"{g:.3f}" for g in gap_after), flush=True)
    print(f"worst median gap: before {worst_before:.3f} %, after {worst_after:.3f} %")


# -- (b) inventory ---------------------------------------------------------------------------------------
INVENTORY = "generate:n=2,T=8,q=4,seed=3"
INVENTORY_CONFIGS: list[tuple[str, dict[str, Any], int]] = [
    ("ga", {"pop_size": 50, **BEFORE}, 12000),
    ("ga", {"pop_size": 50, "sampling": "hpr"}, 3000),
    ("memetic_ga", {"pop_size": 30, "sampling": "hpr", "local_search": "polish"}, 1500),
    ("memetic_ga", {"pop_size": 30, "local_search": "polish"}, 1500),
]


def _time_to(run: RunResult, problem: BilevelProblem, reference: float, pct: float) -> tuple[float, float, int]:
    for checkpoint in run.history:
        if problem.gap_pct(checkpoint.best_value, reference) <= pct:
            return checkpoint.elapsed_s, checkpoint.cpu_s, checkpoint.n_evals
    return math.nan, math.nan, -1


def inventory(seeds: int) -> None:
    family = get_family("inventory")
    problem = family.make_problem(resolve_instance(family, INVENTORY))
    cpu, start = time.process_time(), time.perf_counter()
    exact = problem.exact(time_limit=600)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"\n(b) inventory {INVENTORY}: exact {exact.objective:.2f} ({exact.status.value}) in {wall:.1f} s wall, "
        f"{cpu:.1f} CPU-s"
    )
    print(
        f"{'heuristic':<12}{'params':<62}{'evals':>6}{'seed':>5}{'gap %':>8}{'to 1%: wall':>13}{'CPU':>7}{'evals':>7}"
        f"{'run wall':>9}{'CPU':>7}"
    )
    for name, params, evals in INVENTORY_CONFIGS:
        for run, seed in zip(_runs(problem, name, params, seeds, evals), range(1, seeds + 1), strict=True):
            gap = problem.gap_pct(run.best_value, exact.objective)
            t_wall, t_cpu, n = _time_to(run, problem, exact.objective, 1.0)
            shown = ", ".join(f"{k}={v}" for k, v in params.items())
            print(
                f"{name:<12}{shown:<62}{evals:>6}{seed:>5}{gap:>8.3f}{t_wall:>13.1f}{t_cpu:>7.1f}{n:>7}"
                f"{run.wall_s:>9.1f}{run.cpu_s:>7.1f}",
                flush=True,
            )


# -- (c) seller_buyer ------------------------------------------------------------------------------------
def seller(seeds: int) -> None:
    from bilevel_bench.problems.seller_buyer.exact import best_response
    from bilevel_bench.problems.seller_buyer.instance import generate, paper_instance
    from bilevel_bench.problems.seller_buyer.problem import SellerBestResponseProblem, default_start

    budgets = (200, 1000)
    print(f"\n(c) seller_buyer: GA best response / certified exact, seller 0, pop 20, seeds 1..{seeds}: min and median")
    print(
        f"{'market':<12}{'profile':<9}{'exact':>10}"
        + "".join(f"{f'{w}@{b}':>20}" for b in budgets for w in ("before", "after"))
    )
    for inst in (paper_instance(), generate(6, 1), generate(4, 3)):
        start = default_start(inst)
        rng = np.random.default_rng(5)
        profiles = [
            ("start", start),
            ("random", np.concatenate([rng.uniform(inst.Dmin, inst.Dmax), rng.uniform(1.0, 2.5, inst.n)])),
        ]
        for label, profile in profiles:
            D, R = profile[: inst.n], profile[inst.n :]
            exact = best_response(inst, 0, D, R, focal=True, certify=True)
            problem = SellerBestResponseProblem(inst, seller=0, profile=[float(v) for v in profile])
            line = f"{inst.name:<12}{label:<9}{exact.profit:>10.3f}"
            for budget in budgets:
                for params in ({"pop_size": 20, **BEFORE}, {"pop_size": 20, "sampling": "hpr"}):
                    shares = [r.best_value / exact.profit for r in _runs(problem, "ga", params, seeds, budget)]
                    line += f"{min(shares):>12.4f}{float(np.median(shares)):>8.4f}"
            print(line, flush=True)


# -- (d) miblp -------------------------------------------------------------------------------------------
def miblp(seeds: int) -> None:
    family = get_family("miblp")
    names = [n for n in family.shipped() if n.startswith("miblp_20_")]  # BOBILib's DeNegre instances
    print(
        f"\n(d) miblp: {len(names)} DeNegre instances on their raw MPS bounds (leader_bounds = mps), 1000 "
        f"evaluations, pop 20, seeds 1..{seeds}: runs with a bilevel-feasible point, median gap % to the "
        "published optimum (inf: no feasible point)"
    )
    configs = [
        ("ga", {"pop_size": 20, **BEFORE}),
        ("ga", {"pop_size": 20, "sampling": "hpr", "constraints": "auto"}),
        ("mixed_ga", {"pop_size": 20, **BEFORE}),
        ("mixed_ga", {"pop_size": 20, "sampling": "hpr", "constraints": "auto"}),
    ]
    labels = [f"{heuristic}/{params['sampling']}" for heuristic, params in configs]
    print(f"{'instance':<28}{'published':>10}" + "".join(f"{label:>24}" for label in labels))
    totals = [[0, 0] for _ in configs]
    for name in names:
        problem = family.make_problem(resolve_instance(family, name), leader_bounds="mps")
        reference = problem.exact(time_limit=60).objective
        line = f"{name:<28}{reference:>10.2f}"
        for k, (heuristic, params) in enumerate(configs):
            runs = _runs(problem, heuristic, params, seeds, 1000)
            feasible = sum(r.best_violation == 0 for r in runs)
            totals[k][0] += feasible
            totals[k][1] += len(runs)
            line += f"{f'{feasible}/{len(runs)}':>12}{float(np.median(_gaps(problem, runs, reference))):>12.3f}"
        print(line, flush=True)
    found = (f"{label} {a}/{b}" for label, (a, b) in zip(labels, totals, strict=True))
    print("runs with a feasible point: " + ", ".join(found))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("procurement", "inventory", "seller", "miblp"):
        parser.add_argument(f"--{flag}", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    chosen = [f for f in ("procurement", "inventory", "seller", "miblp") if getattr(args, f)] or [
        "inventory",
        "seller",
        "procurement",
    ]
    header("bilevel-aware heuristics (constraint handling, hpr starts, polish) against the plain ones")
    for flag in chosen:
        {"procurement": procurement, "inventory": inventory, "seller": seller, "miblp": miblp}[flag](args.seeds)
    footer()


if __name__ == "__main__":
    main()
