"""The ``procurement.sweep`` study: the source's simulations (HM.jl/LDM.jl ``SimulateOptimization``), and the
same sweeps under ex-post IR and elastic demand (issue "The seeds' remaining model variants").

For each base instance, each variant (the instance switches ``expost_ir``/``elastic``) and each value of the
swept parameter (delta for HM, gamma for LDM) it runs the closed form and both exact baselines through the
core (``ProcurementProblem(version=...).exact``: closed form where attained, else SCIP, repaired and
re-verified), and the heuristic with the exact follower in the versions asked (several seeds). It reports
what the source's scripts plot (expected cost, expected transfers E[sum t], expected number of active
suppliers, average demand of each supplier) and, per point, the **decentralized-minus-centralized cost gap**
(the source: under ex-post IR, and under elastic affine demand, the price-based mechanism can cost the buyer
more than the centralized one) with the heuristic's gaps to both optima.

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

    [[variants]]                 # optional, any number; each is one more sweep
    label = "expost_ir"          # a name for the tables (unique; "base" is the top-level sweep)
    expost_ir = true             # the instance switches this sweep sets (default false)
    elastic = false
    instances = ["hm_example"]   # optional overrides of the top-level keys of the same name
    deltas = [1.0, 2.0]
    gammas = [0.25, 0.5]
    seeds = [1]
    versions = ["decentralized"] # heuristic runs in these versions (default both)

The top-level sweep is the variant ``base`` with the instances' own switches. A variant's switches are set
with ``instance.with_switches`` (an LDM instance made elastic gets its intercepts shifted by R p_ref 1, as
the generator does) and gamma is changed with ``instance.with_gamma`` (elastic LDM keeps its demand at p_ref).

Writes ``sweep.csv`` (every row), ``sweep_summary.csv`` (one row per instance, variant, value and method;
heuristic rows are medians over seeds, with ``gap_pct`` to the exact optimum of the same version) and
``sweep_points.csv`` (one row per point: both optima and their statuses, ``dec_minus_cen`` and its percent,
``dec_above_cen_proven`` = the decentralized bound exceeds the centralized optimum by more than the tie
band, and the heuristic's median gaps to both optima); the printed summary is the points table.
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
from bilevel_bench.problem import gap_pct, tie_tolerance
from bilevel_bench.problems.procurement.instance import ProcurementInstance
from bilevel_bench.registry import get_family, resolve_instance

KEYS = {
    "name",
    "study",
    "description",
    "instances",
    "deltas",
    "gammas",
    "seeds",
    "heuristic",
    "params",
    "max_evals",
    "exact_time_limit_s",
    "n_jobs",
    "variants",
}
VARIANT_KEYS = {"label", "expost_ir", "elastic", "instances", "deltas", "gammas", "seeds", "versions"}
VERSIONS = ("centralized", "decentralized")


def sweep(settings: dict[str, Any], out_dir: Path) -> str:
    """Run the sweep with settings from :func:`check_sweep`; write its CSVs into ``out_dir``."""
    tasks = []
    for variant in settings["variants"]:
        for inst in variant["instances"]:
            for value in _values(inst, variant):
                tasks += [(variant, inst, value, seed) for seed in [None, *variant["seeds"]]]
    rows = Parallel(n_jobs=settings["n_jobs"])(
        delayed(_case)(variant, inst, value, seed, settings) for variant, inst, value, seed in tasks
    )
    frame = pd.DataFrame([row for chunk in rows for row in chunk])
    frame.to_csv(out_dir / "sweep.csv", index=False)
    _summary(frame).to_csv(out_dir / "sweep_summary.csv", index=False)
    points = _points(frame)
    points.to_csv(out_dir / "sweep_points.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_rows", 500):
        return points.to_string(index=False, float_format=lambda v: f"{v:.6g}")


def check_sweep(config: dict[str, Any], source: str) -> dict[str, Any]:
    """The sweep's settings from its grid, every key checked and every instance loaded (nothing is run)."""
    _unknown(config, KEYS, source, "")
    family = get_family("procurement", source)
    base: dict[str, Any] = {
        "label": "base",
        "switches": None,
        "instances": _instances(family, config, "instances", source, ""),
        "deltas": _values_list(config, "deltas", source, ""),
        "gammas": _values_list(config, "gammas", source, ""),
        "seeds": _seeds(config, "seeds", source, "", [1, 2, 3]),
        "versions": list(VERSIONS),
    }
    variants = [base]
    raw = config.get("variants", [])
    if not isinstance(raw, list) or not all(isinstance(v, dict) for v in raw):
        raise InputError(source, "variants", f"expected a list of tables ([[variants]]), got {raw!r}")
    for i, entry in enumerate(raw):
        where = f"variants[{i}]."
        _unknown(entry, VARIANT_KEYS, source, where)
        label = entry.get("label")
        if not isinstance(label, str) or not label or label in {v["label"] for v in variants}:
            raise InputError(source, f"{where}label", f"expected a new non-empty name, got {label!r}")
        switches: dict[str, bool] = {}
        for key in ("expost_ir", "elastic"):
            value = entry.get(key, False)
            if not isinstance(value, bool):
                raise InputError(source, f"{where}{key}", f"expected bool, got {type(value).__name__} {value!r}")
            switches[key] = value
        instances = _instances(family, entry, "instances", source, where) if "instances" in entry else base["instances"]
        versions = entry.get("versions", list(VERSIONS))
        if not isinstance(versions, list) or not versions or not set(versions) <= set(VERSIONS):
            raise InputError(source, f"{where}versions", f"expected a non-empty list of {VERSIONS}, got {versions!r}")
        variants.append(
            {
                "label": label,
                "switches": switches,
                "instances": instances,
                "deltas": _values_list(entry, "deltas", source, where) if "deltas" in entry else base["deltas"],
                "gammas": _values_list(entry, "gammas", source, where) if "gammas" in entry else base["gammas"],
                "seeds": _seeds(entry, "seeds", source, where, base["seeds"]),
                "versions": versions,
            }
        )
    for variant in variants:  # every point's instance can be made (e.g. gamma keeps R positive definite)
        where = "" if variant["switches"] is None else f"variants[{variants.index(variant) - 1}]."
        for j, inst in enumerate(variant["instances"]):
            for value in _values(inst, variant):
                _apply(inst, variant["switches"], value, source, f"{where}instances[{j}]")
    name = config.get("heuristic", "ga")
    out: dict[str, Any] = {"variants": variants, "heuristic": name}
    out["params"] = get_heuristic(name, source, "heuristic").parameters(config.get("params", {}), source)
    out["max_evals"] = _positive_int(config, "max_evals", 3000, source)
    out["time_limit"] = float(_positive_int(config, "exact_time_limit_s", 60, source))
    out["n_jobs"] = _positive_int(config, "n_jobs", 1, source)
    return out


def _unknown(config: dict[str, Any], allowed: set[str], source: str, where: str) -> None:
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise InputError(source, f"{where}{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _list(config: dict, key: str, kind: Any, source: str, where: str, default: list | None = None) -> list:
    value = config.get(key, default)
    if (
        value is None
        or not isinstance(value, list)
        or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value)
    ):
        raise InputError(
            source, f"{where}{key}", f"expected a list of {getattr(kind, '__name__', 'numbers')}, got {value!r}"
        )
    return value


def _instances(family: Any, config: dict, key: str, source: str, where: str) -> list[ProcurementInstance]:
    specs = _list(config, key, str, source, where)
    if not specs:
        raise InputError(source, f"{where}{key}", "expected at least one instance")
    out = []
    for i, spec in enumerate(specs):
        inst = resolve_instance(family, spec, source, f"{where}{key}[{i}]")
        assert isinstance(inst, ProcurementInstance)  # the procurement family's instances
        out.append(inst)
    return out


def _values_list(config: dict, key: str, source: str, where: str) -> list[float]:
    values = [float(v) for v in _list(config, key, (int, float), source, where, default=[])]
    for i, value in enumerate(values):
        if not (math.isfinite(value) and value >= 0 and (key == "gammas" or value > 0)):
            need = "positive" if key == "deltas" else ">= 0"
            raise InputError(source, f"{where}{key}[{i}]", f"must be finite and {need}, got {value!r}")
    return values


def _seeds(config: dict, key: str, source: str, where: str, default: list[int]) -> list[int]:
    seeds = _list(config, key, int, source, where, default=default)
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise InputError(source, f"{where}{key}", f"expected distinct non-negative integers, got {seeds!r}")
    return seeds


def _positive_int(config: dict, key: str, default: int, source: str) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(source, key, f"must be a positive integer, got {value!r}")
    return value


def _values(inst: ProcurementInstance, variant: dict[str, Any]) -> list[float]:
    swept = variant["deltas"] if inst.model == "hm" else variant["gammas"]
    return swept or [inst.delta if inst.model == "hm" else inst.gamma]


def _apply(
    base: ProcurementInstance, switches: dict[str, bool] | None, value: float, source: str, key: str
) -> ProcurementInstance:
    """The point's instance: the variant's switches, then the swept value; a failure names ``source`` and ``key``."""
    from bilevel_bench.problems.procurement.instance import with_gamma, with_switches

    inst = base
    try:
        if switches is not None:
            inst = with_switches(inst, switches["expost_ir"], switches["elastic"])
        if inst.model == "hm":
            inst = inst.replace(delta=value)
            inst.validate(source)
        else:
            inst = with_gamma(inst, value)
    except InputError as exc:
        raise InputError(source, key, f"{base.name} at {value:g}: {exc.key}: {exc.message}") from None
    return inst


def _case(
    variant: dict[str, Any], base: ProcurementInstance, value: float, seed: int | None, settings: dict[str, Any]
) -> list[dict[str, Any]]:
    """Seed None: the closed form and the two exact baselines; a seed: the heuristic in the variant's versions."""
    from bilevel_bench.heuristics.run import Budget, run_heuristic
    from bilevel_bench.problems.procurement.exact import closed_form, virtual_cost_profiles
    from bilevel_bench.problems.procurement.follower import closed_form_demand
    from bilevel_bench.problems.procurement.problem import ProcurementProblem

    inst = _apply(base, variant["switches"], value, "sweep", base.name)
    head = {
        "instance": base.name,
        "variant": variant["label"],
        "switches": inst.variant(),
        "parameter": "delta" if base.model == "hm" else "gamma",
        "value": value,
    }
    rows: list[dict[str, Any]] = []
    if seed is None:
        form = closed_form(inst)
        # transfers: the attaining prices' (t = d.p), else the Myerson payments d.phi (same expectation)
        d = form["allocation"]
        T = d * (form["prices"] if form["attained"] else virtual_cost_profiles(inst))
        conds = {f"cond_{k}": v for k, v in form["conditions"].items()}
        status = "attained" if form["attained"] else "not attained"
        rows.append(
            {
                **head,
                "method": "closed_form",
                "status": status,
                **_quantities(inst, d, T),
                "cost": form["value"],
                **conds,
            }
        )
        for version in VERSIONS:
            problem = ProcurementProblem(inst, version=version)
            res = problem.exact(settings["time_limit"])
            row = {
                **head,
                "method": version,
                "status": res.status.value,
                "verification": res.verification,
                "cost": res.objective,
                "bound": res.bound,
                "time_s": res.time_s,
            }
            if res.x is not None:
                X = closed_form_demand(inst, problem.prices(res.x))
                row.update(_quantities(inst, X, problem.transfers(res.x, X)))
            rows.append(row)
        return rows
    for version in variant["versions"]:
        problem = ProcurementProblem(inst, version=version)
        result = run_heuristic(problem, settings["heuristic"], settings["params"], seed, Budget(settings["max_evals"]))
        row = {
            **head,
            "method": f"{settings['heuristic']}_{version}",
            "seed": seed,
            "status": result.status,
            "cost": result.best_value,
            "violation": result.best_violation,
            "verified": result.verified,
            "time_s": result.wall_s,
        }
        if result.best_x is not None:
            X = closed_form_demand(inst, problem.prices(result.best_x))
            row.update(_quantities(inst, X, problem.transfers(result.best_x, X)))
        rows.append(row)
    return rows


def _quantities(inst: ProcurementInstance, X: np.ndarray, T: np.ndarray) -> dict[str, float]:
    prob = inst.profile_probabilities()
    # "active": demand above 1e-6, above a solver's noise
    out = {"transfers": float(prob @ np.asarray(T).sum(axis=1)), "active": float(prob @ (X > 1e-6).sum(axis=1))}
    out.update({f"demand_{i + 1}": float(prob @ X[:, i]) for i in range(X.shape[1])})
    return out


POINT = ["instance", "variant", "parameter", "value"]


def _summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (instance, variant, value, method); heuristic rows are medians over seeds, with the gap (%)
    to the exact optimum of the same version."""
    keys = [*POINT, "method"]
    numeric = [
        c for c in ("cost", "transfers", "active", "demand_1", "demand_2", "demand_3", "violation") if c in frame
    ]
    table = frame.groupby(keys, sort=False)[numeric].median().reset_index()
    exact = frame[frame["method"].isin(VERSIONS)].set_index([*POINT, "method"])["cost"]
    ref = [
        exact.get((r.instance, r.variant, r.parameter, r.value, str(r.method).split("_")[-1]), math.nan)
        for r in table.itertuples()
    ]
    table["gap_pct"] = gap_pct(table["cost"].to_numpy(dtype=float), np.asarray(ref, dtype=float), "min")
    table.loc[table["method"].isin(["closed_form", *VERSIONS]), "gap_pct"] = math.nan
    return table


def _points(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per point: the two optima, their difference, and the heuristic's median gaps to both."""
    out = []
    for key, group in frame.groupby(POINT, sort=False):
        by = {m: g for m, g in group.groupby("method")}
        row: dict[str, Any] = dict(zip(POINT, key, strict=True))
        cen, dec = by["centralized"].iloc[0], by["decentralized"].iloc[0]
        row.update(
            {
                "closed_form": by["closed_form"]["cost"].iloc[0],
                "centralized": cen["cost"],
                "cen_status": cen["status"],
                "decentralized": dec["cost"],
                "dec_status": dec["status"],
                "dec_bound": dec["bound"],
            }
        )
        row["dec_minus_cen"] = dec["cost"] - cen["cost"]
        row["dec_minus_cen_pct"] = 100.0 * row["dec_minus_cen"] / max(abs(cen["cost"]), 1e-9)
        band = 2.0 * tie_tolerance(cen["cost"])
        row["dec_above_cen_proven"] = bool(
            cen["status"] == "optimal" and math.isfinite(dec["bound"]) and dec["bound"] > cen["cost"] + band
        )
        for name, g in by.items():
            method = str(name)
            if method in ("closed_form", *VERSIONS):
                continue
            median = float(g["cost"].median())
            row[f"{method}_median"] = median
            if method.endswith("_decentralized"):  # the heuristic's gap to its own optimum and to the centralized one
                row[f"{method}_gap_to_dec_pct"] = float(gap_pct(median, dec["cost"], "min"))
            row[f"{method}_gap_to_cen_pct"] = float(gap_pct(median, cen["cost"], "min"))
        out.append(row)
    return pd.DataFrame(out)
