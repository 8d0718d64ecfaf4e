"""The ``procurement.sweep`` study: the source's simulations (HM.jl/LDM.jl ``SimulateOptimization``).

For each base instance and each value of the swept parameter (delta for HM, gamma for LDM) it solves the
closed form, the centralized QP, the decentralized single-level model and runs the GA with the exact
follower in both versions (several seeds; ``ProcurementProblem(version=...)``), and reports what the source's scripts plot: the expected cost, the expected
transfers E[sum t], the expected number of active suppliers and the average demand of each supplier.

Config (``experiments/procurement.toml``)::

    name = "procurement"
    study = "procurement.sweep"
    instances = ["hm_example", "ldm_example"]   # shipped names, JSON paths or generate: specs
    deltas = [0.5, 1.0, 2.0, 4.0, 8.0]          # swept on HM instances
    gammas = [0.0, 0.25, 0.5, 0.75]             # swept on LDM instances
    seeds = [1, 2, 3]
    heuristic = "ga"
    params = { pop_size = 40 }
    max_evals = 3000
    exact_time_limit_s = 60
    n_jobs = 2
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.registry import get_heuristic
from bilevel_bench.instance import Instance
from bilevel_bench.registry import get_family, resolve_instance

KEYS = {"name", "study", "description", "instances", "deltas", "gammas", "seeds", "heuristic", "params",
        "max_evals", "exact_time_limit_s", "n_jobs"}  # fmt: skip


def sweep(settings: dict[str, Any], out_dir: Path) -> str:
    """Run the sweep with settings from :func:`check_sweep`; write its CSVs into ``out_dir``."""
    cases = [(inst, value) for inst in settings["instances"] for value in _values(inst, settings)]
    tasks = [(inst, value, seed) for inst, value in cases for seed in [None, *settings["seeds"]]]
    rows = Parallel(n_jobs=settings["n_jobs"])(delayed(_case)(inst, value, seed, settings) for inst, value, seed in tasks)
    frame = pd.DataFrame([row for chunk in rows for row in chunk])
    frame.to_csv(out_dir / "sweep.csv", index=False)
    table = _summary(frame)
    table.to_csv(out_dir / "sweep_summary.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        return table.to_string(index=False, float_format=lambda v: f"{v:.6g}")


def check_sweep(config: dict[str, Any], source: str) -> dict[str, Any]:
    """The sweep's settings from its grid, every key checked and every instance loaded (nothing is run)."""

    unknown = sorted(set(config) - KEYS)
    if unknown:
        raise InputError(source, unknown[0], f"unknown key (allowed: {', '.join(sorted(KEYS))})")
    family = get_family("procurement", source)
    specs = _list(config, "instances", str, source)
    instances = [resolve_instance(family, s, source, f"instances[{i}]") for i, s in enumerate(specs)]
    out: dict[str, Any] = {"instances": instances}
    for key in ("deltas", "gammas"):
        out[key] = [float(v) for v in _list(config, key, (int, float), source, default=[])]
        for i, value in enumerate(out[key]):
            if not (math.isfinite(value) and value >= 0 and (key == "gammas" or value > 0)):
                raise InputError(source, f"{key}[{i}]", f"must be {'positive' if key == 'deltas' else '>= 0'}, got {value!r}")
    out["seeds"] = _list(config, "seeds", int, source, default=[1, 2, 3])
    name = config.get("heuristic", "ga")
    out["heuristic"] = name
    out["params"] = get_heuristic(name, source, "heuristic").parameters(config.get("params", {}), source)
    out["max_evals"] = _positive_int(config, "max_evals", 3000, source)
    out["time_limit"] = float(_positive_int(config, "exact_time_limit_s", 60, source))
    out["n_jobs"] = _positive_int(config, "n_jobs", 1, source)
    return out


def _list(config: dict, key: str, kind: Any, source: str, default: list | None = None) -> list:
    value = config.get(key, default)
    if value is None or not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
        raise InputError(source, key, f"expected a list of {getattr(kind, '__name__', 'numbers')}, got {value!r}")
    return value


def _positive_int(config: dict, key: str, default: int, source: str) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(source, key, f"must be a positive integer, got {value!r}")
    return value


def _values(inst: Instance, settings: dict[str, Any]) -> list[float]:
    swept = settings["deltas"] if inst.model == "hm" else settings["gammas"]
    return swept or [inst.delta if inst.model == "hm" else inst.gamma]


def _case(base: Instance, value: float, seed: int | None, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Seed None: the three baselines; a seed: one heuristic run."""
    from bilevel_bench.heuristics.run import Budget, run_heuristic
    from bilevel_bench.problems.procurement.exact import closed_form, solve_single_level, virtual_cost_profiles
    from bilevel_bench.problems.procurement.follower import closed_form_demand
    from bilevel_bench.problems.procurement.problem import ProcurementProblem

    inst = base.replace(**({"delta": value} if base.model == "hm" else {"gamma": value}))
    inst.validate(f"sweep {base.name}")
    head = {"instance": base.name, "model": base.model, "parameter": "delta" if base.model == "hm" else "gamma",
            "value": value}  # fmt: skip
    if seed is None:
        form = closed_form(inst)
        # transfers: the attaining prices' (t = d.p), else the Myerson payments d.phi (same expectation)
        d = form["allocation"]
        T = d * (form["prices"] if form["prices"] is not None else virtual_cost_profiles(inst))
        status = "attained" if form["attained"] else "not attained"
        conds = {f"cond_{k}": v for k, v in form["conditions"].items()}
        rows = [{**head, "method": "closed_form", "status": status, **_quantities(inst, d, T), "cost": form["value"],
                 **conds}]  # fmt: skip
        for version in ("centralized", "decentralized"):
            res = solve_single_level(inst, version, settings["time_limit"])
            X, T = (np.array(res.solution[k]) for k in ("x_alloc", "t")) if res.solution else (None, None)
            rows.append({**head, "method": version, "status": res.status, "cost": res.objective,
                         "time_s": res.time_s, **(_quantities(inst, X, T) if X is not None else {})})  # fmt: skip
        return rows
    rows = []
    for version in ("centralized", "decentralized"):
        problem = ProcurementProblem(inst, version=version)
        result = run_heuristic(problem, settings["heuristic"], settings["params"], seed, Budget(settings["max_evals"]))
        row = {**head, "method": f"{settings['heuristic']}_{version}", "seed": seed, "status": result.status,
               "cost": result.best_value, "violation": result.best_violation, "verified": result.verified,
               "time_s": result.wall_s}  # fmt: skip
        if result.best_x is not None:
            X = closed_form_demand(inst, problem.prices(result.best_x))
            row.update(_quantities(inst, X, problem.transfers(result.best_x, X)))
        rows.append(row)
    return rows


def _quantities(inst: Instance, X: np.ndarray, T: np.ndarray) -> dict[str, float]:
    prob = inst.profile_probabilities()
    # "active": demand above 1e-6, above SCIP's noise in the single-level solutions
    out = {"transfers": float(prob @ np.asarray(T).sum(axis=1)), "active": float(prob @ (X > 1e-6).sum(axis=1))}
    out.update({f"demand_{i + 1}": float(prob @ X[:, i]) for i in range(X.shape[1])})
    return out


def _summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (instance, value, method); heuristic rows are medians over seeds, with the gap (%) to the
    exact single-level optimum of the same version."""
    keys = ["instance", "parameter", "value", "method"]
    numeric = [c for c in ("cost", "transfers", "active", "demand_1", "demand_2", "demand_3", "violation") if c in frame]
    table = frame.groupby(keys, sort=False)[numeric].median().reset_index()
    exact = frame[frame["method"].isin(["centralized", "decentralized"])].set_index(["instance", "value", "method"])
    ref = [exact["cost"].get((row.instance, row.value, row.method.split("_")[-1]), math.nan)
           for row in table.itertuples()]  # fmt: skip
    ref = np.asarray(ref, dtype=float)
    table["gap_pct"] = 100 * (table["cost"].to_numpy() - ref) / np.abs(ref)
    return table
