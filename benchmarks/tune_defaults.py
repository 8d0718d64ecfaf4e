"""Fair tuning of the heuristics' default parameters on generated instances disjoint from the shipped ones.

Procedure (issue 19.4; the result and its table are in heuristics/README.md, "Where the defaults come from"):

1. **Tuning set**: :data:`TUNING_INSTANCES`, generated with instance seeds 101 and 102, which no shipped
   instance, experiment grid or test uses; the script checks that none equals a shipped instance of its family
   (data compared, names aside). Every family's default options and the optimistic reading.
2. **Reference**: each instance's exact baseline, solved once (``problem.exact``) and cached in ``--cache``
   (JSON); only ``optimal`` results are accepted (the script stops otherwise).
3. **Design** per heuristic (:func:`designs`): the current defaults plus a Latin hypercube sample of the main
   parameters (drawn from ``numpy.random.default_rng(DESIGN_SEED)``, rounded to two significant digits), or a
   small grid where a heuristic has one or two parameters. Parameters not listed keep their defaults.
4. **Runs**: every configuration on every instance with run seeds ``--seeds`` (1, 2, 3) and the same budget of
   ``--max-evals`` leader evaluations (2000), through :func:`bilevel_bench.heuristics.run.run_heuristic`.
5. **Ranking**: per instance, the configurations' mean gap to the exact optimum over the seeds (a run without a
   feasible decision counts as an infinite gap) is ranked (ties share the mean rank); configurations are
   ordered by their mean rank over the instances, then by mean gap. The winner replaces the default only if
   it ranks strictly better; otherwise the default stays.
6. **Bilevel-aware components** (``sampling = "hpr"``, the memetic GA's ``local_search = "polish"``) are in the
   design and in the tables, but do not compete for the defaults (:data:`COMPONENTS`): the defaults are
   chosen among the algorithm's own parameters, ranked without them. A default must work on every family
   (the polish needs an LP follower) and a heuristic's name must keep meaning the textbook algorithm; the
   components' effect is reported beside it, and heuristics/README.md recommends them.

Run (about 30 CPU minutes on the project machine): ``nice -n 10 python benchmarks/tune_defaults.py --out runs.csv``.
``--from-csv runs.csv`` ranks the runs of an earlier ``--out`` again without running anything. ``--only ga,de`` restricts the heuristics, ``--max-evals``/``--seeds`` change the budget and seeds (for a quick
look), ``--jobs`` runs configurations in parallel (same results).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from common import footer, header

from bilevel_bench.heuristics.registry import get_heuristic
from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problem import BilevelProblem
from bilevel_bench.registry import get_family, resolve_instance

#: (family, generator spec): two per family, instance seeds 101 and 102 (used nowhere else).
TUNING_INSTANCES: tuple[tuple[str, str], ...] = (
    ("inventory", "generate:n=2,T=4,q=3,seed=101"),
    ("inventory", "generate:n=2,T=6,q=3,seed=102"),
    ("tolls", "generate:rows=3,cols=4,commodities=5,seed=101"),
    ("tolls", "generate:rows=4,cols=4,commodities=6,seed=102"),
    ("procurement", "generate:model=hm,n=2,m=3,seed=101"),
    ("procurement", "generate:model=ldm,n=2,m=2,seed=102"),
    ("retail", "generate:K=6,S=2,P=2,R=2,seed=101"),
)
DESIGN_SEED = 19
EXACT_TIME_LIMIT = 300.0


# -- the designs -----------------------------------------------------------------------------------------


def _round2(value: float) -> float:
    return float(f"{value:.2g}")


def _lhs(rng: np.random.Generator, n: int, ranges: dict[str, tuple[float, float, str]]) -> list[dict[str, Any]]:
    """n points of a Latin hypercube over ``ranges`` (name -> (low, high, "log" | "lin" | "int"))."""
    points: list[dict[str, Any]] = [{} for _ in range(n)]
    for name, (low, high, kind) in ranges.items():
        u = (rng.permutation(n) + rng.random(n)) / n
        for point, ui in zip(points, u, strict=True):
            if kind == "lin":
                point[name] = _round2(low + (high - low) * ui)
            else:
                value = math.exp(math.log(low) + (math.log(high) - math.log(low)) * ui)
                point[name] = round(value) if kind == "int" else _round2(value)
    return points


def designs() -> dict[str, list[dict[str, Any]]]:
    """The configurations of each tuned heuristic (overrides of its defaults); the first is the default."""
    rng = np.random.default_rng(DESIGN_SEED)
    ga = _lhs(rng, 7, {"pop_size": (20, 120, "int"), "crossover_eta": (2, 30, "log"), "mutation_eta": (5, 60, "log")})
    de = _lhs(rng, 5, {"pop_size": (20, 120, "int"), "F": (0.3, 0.9, "lin"), "CR": (0.2, 1.0, "lin")})
    pso = _lhs(rng, 5, {"pop_size": (10, 60, "int"), "w": (0.4, 0.9, "lin"), "c": (1.0, 2.5, "lin")})
    for point in pso:
        point["c1"] = point["c2"] = point.pop("c")
    hpr = {"sampling": "hpr"}  # the bilevel-aware starts (heuristics/starts.py) against the algorithm's own
    return {
        "ga": [{}, *ga, hpr],
        "de": [{}, *de, hpr],
        "pso": [{}, *pso, hpr],
        "memetic_ga": [{}, hpr, {"local_search": "polish"}, {"local_search": "polish", **hpr}],
        "cmaes": [{}, *({"sigma": s} for s in (0.05, 0.1, 0.3, 0.5))],
        "pattern_search": [{}, *({"init_delta": d} for d in (0.05, 0.1, 0.5)), {"init_delta": 0.25, "init_rho": 0.25}],
        "matheuristic": [
            {},
            *({"penalty": p} for p in (0.1, 1.0)),
            *({"restart_sigma": s} for s in (0.0, 0.15)),
        ],
    }


#: The defaults the recorded tuning run started from (heuristics/registry.py and heuristics/matheuristic.py
#: before it). Every configuration is these plus its overrides, so a rerun after the defaults have changed runs
#: the same configurations; "default" in the tables means these.
PRE_TUNING_DEFAULTS: dict[str, dict[str, Any]] = {
    "ga": {"pop_size": 50, "crossover_prob": 0.9, "crossover_eta": 15.0, "mutation_eta": 20.0, "anchors": True},
    "memetic_ga": {
        "pop_size": 50,
        "crossover_prob": 0.9,
        "crossover_eta": 15.0,
        "mutation_eta": 20.0,
        "anchors": True,
        "ls_every": 10,
        "ls_iters": 5,
        "ls_step": 0.2,
        "local_search": "compass",
    },
    "de": {"pop_size": 50, "F": 0.5, "CR": 0.9},
    "pso": {"pop_size": 25, "w": 0.9, "c1": 2.0, "c2": 2.0, "adaptive": True},
    "cmaes": {"sigma": 0.2, "restarts": 9},
    "pattern_search": {"init_delta": 0.25, "init_rho": 0.5, "step_size": 1.0, "n_sample_points": 20, "step_tol": 1e-6},
    "matheuristic": {"penalty": 0.3, "restart_sigma": 0.05},
}


def full_params(heuristic: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The pre-tuning defaults with ``overrides``, checked by the registry (unknown names, ranges)."""
    return get_heuristic(heuristic).parameters({**PRE_TUNING_DEFAULTS[heuristic], **overrides}, "<tune_defaults>")


def label(overrides: dict[str, Any]) -> str:
    def text(value: Any) -> str:
        return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)

    return "default" if not overrides else ", ".join(f"{k}={text(v)}" for k, v in overrides.items())


# -- instances and references ----------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    family: str
    spec: str
    problem: BilevelProblem
    optimum: float

    @property
    def name(self) -> str:
        return f"{self.family}:{self.spec.removeprefix('generate:')}"


def check_disjoint(family_name: str, spec: str) -> None:
    """The tuning instance differs from every shipped instance of its family (data compared, names aside)."""
    family = get_family(family_name)
    instance = resolve_instance(family, spec)
    for shipped in family.shipped():
        other = family.load_shipped(shipped)
        if type(other) is type(instance) and dataclasses.replace(other, name=instance.name, seed=instance.seed) == (
            instance
        ):
            raise SystemExit(f"tuning instance {family_name} {spec} is the shipped instance {shipped!r}")


def cases(cache: Path) -> list[Case]:
    known: dict[str, Any] = json.loads(cache.read_text()) if cache.exists() else {}
    out = []
    for family_name, spec in TUNING_INSTANCES:
        check_disjoint(family_name, spec)
        family = get_family(family_name)
        problem = family.make_problem(resolve_instance(family, spec))
        key = f"{family_name} {spec}"
        if key not in known:
            start = time.perf_counter()
            result = problem.exact(time_limit=EXACT_TIME_LIMIT)
            known[key] = {
                "objective": result.objective,
                "status": str(result.status),
                "time_s": round(time.perf_counter() - start, 2),
            }
            cache.write_text(json.dumps(known, indent=1, sort_keys=True))
        if known[key]["status"] != "optimal":
            raise SystemExit(f"{key}: the exact baseline is {known[key]['status']}, not optimal: no reference")
        out.append(Case(family_name, spec, problem, float(known[key]["objective"])))
        print(f"# reference {key}: {known[key]['objective']:.6g} (optimal, {known[key]['time_s']} s)", flush=True)
    return out


# -- the runs --------------------------------------------------------------------------------------------


def run_one(task: tuple[Case, str, dict[str, Any], int, int]) -> dict[str, Any]:
    case, heuristic, overrides, seed, max_evals = task
    start = time.process_time()
    params = full_params(heuristic, overrides)
    result = run_heuristic(case.problem, heuristic, params, seed=seed, budget=Budget(max_evals=max_evals))
    gap = case.problem.gap_pct(result.best_value, case.optimum)
    return {
        "heuristic": heuristic,
        "config": label(overrides),
        "instance": case.name,
        "seed": seed,
        "best_value": result.best_value,
        "optimum": case.optimum,
        "gap_pct": gap,
        "verified": result.verified,
        "cpu_s": round(time.process_time() - start, 3),
    }


def applicable(heuristic: str, case: Case) -> bool:
    if heuristic == "matheuristic":
        return case.problem.linear_structure() is not None
    return True


#: Parameters that switch on a bilevel-aware component rather than tune the algorithm (procedure, point 6).
COMPONENTS = ("sampling", "local_search")


def is_component(config: str) -> bool:
    return any(config.startswith(f"{name}=") or f", {name}=" in config for name in COMPONENTS)


def rank_table(rows: list[dict[str, Any]], configs: list[str]) -> list[dict[str, Any]]:
    """Per instance the configurations' mean gaps, ranked (ties averaged); mean rank and mean gap per config."""
    from scipy.stats import rankdata

    instances = sorted({r["instance"] for r in rows})
    mean_gap: dict[str, dict[str, float]] = {c: {} for c in configs}
    for c in configs:
        for i in instances:
            gaps = [r["gap_pct"] for r in rows if r["config"] == c and r["instance"] == i]
            mean_gap[c][i] = math.inf if any(math.isnan(g) for g in gaps) else float(np.mean(gaps))
    ranks: dict[str, list[float]] = {c: [] for c in configs}
    for i in instances:
        values = [mean_gap[c][i] for c in configs]
        for c, r in zip(configs, rankdata(values, method="average"), strict=True):
            ranks[c].append(float(r))
    table = [
        {
            "config": c,
            "mean_rank": float(np.mean(ranks[c])),
            "mean_gap": float(np.mean(list(mean_gap[c].values()))),
            "gaps": mean_gap[c],
        }
        for c in configs
    ]
    table.sort(key=lambda t: (t["mean_rank"], t["mean_gap"], t["config"] != "default"))
    return table


def print_table(heuristic: str, rows: list[dict[str, Any]], configs: list[str], instances: list[str]) -> None:
    """All configurations ranked together, then the choice of defaults among the algorithm's own parameters."""
    short = [i.split(":", 1)[0][:4] + "-" + i.rsplit("seed=", 1)[-1] for i in instances]
    print(f"\n### {heuristic}\n")
    print("| configuration | mean rank | mean gap % | " + " | ".join(short) + " |")
    print("|---|---:|---:|" + "---:|" * len(short))
    for t in rank_table(rows, configs):
        cells = " | ".join("inf" if math.isinf(t["gaps"][i]) else f"{t['gaps'][i]:.3g}" for i in instances)
        print(f"| {t['config']} | {t['mean_rank']:.2f} | {t['mean_gap']:.3g} | {cells} |")
    own = [c for c in configs if not is_component(c)]
    table = rank_table(rows, own)
    best, default = table[0], next(t for t in table if t["config"] == "default")
    ranks = ", ".join(f"{t['config']} {t['mean_rank']:.2f}" for t in table)
    print(f"\nranked among the algorithm's own parameters ({len(own)} configurations): {ranks}")
    if best["config"] == "default" or best["mean_rank"] >= default["mean_rank"]:
        print(f"{heuristic}: the current defaults win (mean rank {default['mean_rank']:.2f}); no change.")
    else:
        print(
            f"{heuristic}: new defaults {best['config']} (mean rank {best['mean_rank']:.2f} against "
            f"{default['mean_rank']:.2f} for the current defaults)."
        )


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an earlier ``--out`` CSV, typed as :func:`run_one` returns them."""
    with path.open(newline="") as handle:
        rows: list[dict[str, Any]] = list(csv.DictReader(handle))
    for row in rows:
        for key in ("best_value", "optimum", "gap_pct", "cpu_s"):
            row[key] = float(row[key]) if row[key] not in ("", "nan") else math.nan
        row["seed"], row["verified"] = int(row["seed"]), row["verified"] == "True"
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--max-evals", type=int, default=2000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--only", default="", help="comma-separated heuristics (default: all tuned ones)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/bilevel_bench_tune_exact.json"))
    parser.add_argument("--out", type=Path, default=None, help="CSV of every run")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--from-csv", type=Path, default=None, help="rank the runs of an earlier --out again")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    plan = designs()
    if args.only:
        plan = {h: plan[h] for h in args.only.split(",")}
    if args.from_csv is not None:
        report(plan, read_rows(args.from_csv))
        return 0
    header(f"tune_defaults: budget {args.max_evals} evaluations, seeds {seeds}, design seed {DESIGN_SEED}")
    all_cases = cases(args.cache)
    tasks: list[tuple[Case, str, dict[str, Any], int, int]] = []
    for heuristic, configs in plan.items():
        for overrides in configs:
            full_params(heuristic, overrides)  # refuses a bad design before anything runs
            for case in all_cases:
                if applicable(heuristic, case):
                    tasks.extend((case, heuristic, overrides, seed, args.max_evals) for seed in seeds)
    print(f"# {len(tasks)} runs", flush=True)
    start = time.perf_counter()
    mapper: Callable[..., Any] = map
    pool = ProcessPoolExecutor(args.jobs) if args.jobs > 1 else None
    if pool is not None:
        mapper = pool.map
    rows = []
    for k, row in enumerate(mapper(run_one, tasks), 1):
        rows.append(row)
        if k % 50 == 0:
            print(f"# {k}/{len(tasks)} runs, {time.perf_counter() - start:.0f} s", flush=True)
    if pool is not None:
        pool.shutdown()
    if args.out is not None:
        with args.out.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    cpu = sum(r["cpu_s"] for r in rows)
    print(f"# {len(rows)} runs in {time.perf_counter() - start:.0f} s wall, {cpu:.0f} s CPU of the runs")
    unverified = [r for r in rows if not r["verified"] and not math.isnan(r["best_value"])]
    if unverified:
        print(f"# WARNING: {len(unverified)} runs whose best value was not re-verified")
    report(plan, rows)
    footer()
    return 0


def report(plan: dict[str, list[dict[str, Any]]], rows: list[dict[str, Any]]) -> None:
    for heuristic, configs in plan.items():
        mine = [r for r in rows if r["heuristic"] == heuristic]
        instances = sorted({r["instance"] for r in mine})
        print_table(heuristic, mine, [label(c) for c in configs], instances)


if __name__ == "__main__":
    sys.exit(main())
