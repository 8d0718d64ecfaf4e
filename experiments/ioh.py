"""Export a results directory in the IOHprofiler data format, for IOHanalyzer and iohinspector.

``export_ioh(results_dir, out)`` (``bilevel-bench export-ioh RESULTS_DIR OUT``) writes, for every heuristic
(the IOH *algorithm*) and problem family (the IOH *function*)::

    OUT/<heuristic>/IOHprofiler_f<id>_<problem>.json         the runs' meta data
    OUT/<heuristic>/data_f<id>_<problem>/IOHprofiler_f<id>_DIM<d>.dat   evaluations and best-so-far
    OUT/bilevel-bench-export.csv                             which IOH run is which run of runs.csv

The family's instances are the IOH *instances* (numbered 1, 2, ... in their sorted order, the same for every
heuristic), the dimension is the instance's number of leader variables (``size_n_var``), and each seed is
one IOH run. ``bilevel-bench-export.csv`` maps every IOH (algorithm, function, dimension, instance, run) to
the run id, instance name, seed and reference of ``runs.csv``.

**The target.** By default (``target="gap"``) the logged value is the best-so-far gap to the instance's
reference in percent (``gap_pct`` of history.csv), a minimisation (``"maximization": false``): it compares
across instances whose values have different scales, and 0 is the reference. Against a ``best_found`` or
``exact_incumbent`` reference a gap is relative to the best value known, not to an optimum (the mapping file
says which kind each instance has). ``target="value"`` logs the leader's best-so-far value instead, in the
leader's sense (``maximization`` true for a max family); all instances of a family must share the sense.

**The rows.** The history is kept per evaluated batch, so each run's rows are its checkpoints (evaluations so
far, best so far) where the best so far improved. IOHprofiler's readers start a run at evaluation 1, so each
run starts with a row at evaluation 1 whose value is unknown unless a checkpoint is there: it is written as
``Inf`` (``-Inf`` for a maximised value), as is any checkpoint before the first feasible value. A run's
``evals`` in the JSON file is the evaluations it used (runs.csv ``n_evals``) and ``best`` its best
checkpoint (``y`` null if it never had a feasible value; ``x`` is left empty: decisions are named views, see
``best_decision`` in runs.csv).

Only runs that ended normally are exported: a run a clock ended early (``timeout``) depends on the machine's
load and a ``failed`` run has no history; both are counted in the return value.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bilevel_bench.errors import InputError
from bilevel_bench.experiments.results import read_results, table_path

MARKER = "bilevel-bench-export.csv"
FORMAT_VERSION = "0.3.3"  # the IOHexperimenter JSON meta-data format
TARGETS = ("gap", "value")
REQUIRED_RUNS = ("run_id", "problem", "instance", "heuristic", "seed", "status", "n_evals", "reference_kind")
REQUIRED_HISTORY = ("run_id", "n_evals", "best_value", "gap_pct")


@dataclasses.dataclass
class Export:
    out: Path
    files: list[Path]
    runs: int  # runs exported
    left_out: dict[str, int]  # status -> runs not exported


def export_ioh(
    results_dir: str | Path,
    out: str | Path,
    target: str = "gap",
    problems: Sequence[str] | None = None,
    heuristics: Sequence[str] | None = None,
) -> Export:
    """Write the IOHprofiler files of ``results_dir`` into ``out`` (see the module docstring). Everything is
    checked before anything is written; ``out`` must be new, empty, or an earlier export (replaced whole)."""
    directory, out = Path(results_dir), Path(out)
    if target not in TARGETS:
        raise InputError("<cli>", "--target", f"{target!r}: choose from {', '.join(TARGETS)}")
    runs, history = _inputs(directory)
    runs = _select(runs, "problem", problems, "--problems")
    runs = _select(runs, "heuristic", heuristics, "--heuristics")
    _check_out(out)
    ok = runs[runs["status"] == "ok"]
    left_out = {str(k): int(v) for k, v in runs.loc[runs["status"] != "ok", "status"].value_counts().items()}
    history = history[history["run_id"].isin(set(ok["run_id"]))]
    ids = _instance_ids(runs)
    senses = _senses(ok, history, target)
    building = out.parent / f".{out.name}-{os.getpid()}.tmp"
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    try:
        files, mapping = _write(building, ok, history, ids, senses, target)
        pd.DataFrame(mapping).to_csv(building / MARKER, index=False)
        _swap(building, out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    written = [out / f.relative_to(building) for f in files] + [out / MARKER]
    return Export(out, written, len(mapping), left_out)


def _inputs(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not directory.is_dir():
        raise InputError(str(directory), "<dir>", "no such results directory")
    runs_path = table_path(directory, "runs")
    if runs_path is None:
        raise InputError(str(directory), "runs.csv", "no runs.csv (or runs.parquet) in this directory")
    tables = read_results(directory)
    runs, history = tables.runs, tables.history
    for frame, required, name in (
        (runs, REQUIRED_RUNS, str(runs_path)),
        (history, REQUIRED_HISTORY, str(table_path(directory, "history"))),
    ):
        missing = [c for c in required if c not in frame.columns]
        if missing and not (frame is history and frame.empty):
            raise InputError(name, ", ".join(missing), "missing column(s): written by an older version?")
    if runs.empty:
        raise InputError(str(runs_path), "<rows>", "no runs in this file (only a header)")
    if history.empty:
        raise InputError(str(directory), "history.csv", "no history: nothing to export")
    runs = runs.copy()
    runs["instance"] = runs["instance"].astype(str)
    runs["status"] = runs["status"].fillna("failed").astype(str)
    return runs, history


def _select(runs: pd.DataFrame, column: str, wanted: Sequence[str] | None, option: str) -> pd.DataFrame:
    if not wanted:
        return runs
    known = sorted(set(runs[column].dropna().astype(str)))
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise InputError("<cli>", option, f"no runs of {', '.join(map(repr, unknown))} (known: {', '.join(known)})")
    return runs[runs[column].isin(list(wanted))]


def _check_out(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise InputError(str(out), "OUT", "exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise InputError(
            str(out), "OUT", f"is not empty and not an earlier export (no {MARKER}); choose a new directory"
        )


def _instance_ids(runs: pd.DataFrame) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(problem, instance) -> (function id, IOH instance id, dimension)."""
    out = {}
    for fid, problem in enumerate(sorted(set(runs["problem"])), start=1):
        mine = runs[runs["problem"] == problem]
        for iid, instance in enumerate(sorted(set(mine["instance"])), start=1):
            sizes = pd.to_numeric(mine.loc[mine["instance"] == instance].get("size_n_var"), errors="coerce")
            size = sizes.dropna() if sizes is not None else pd.Series(dtype=float)
            out[(str(problem), instance)] = (fid, iid, int(size.iloc[0]) if len(size) else 1)
    return out


def _senses(runs: pd.DataFrame, history: pd.DataFrame, target: str) -> dict[str, bool]:
    """problem -> IOH's maximization flag."""
    if target == "gap":
        return dict.fromkeys(map(str, runs["problem"]), False)
    out = {}
    for problem, group in runs.groupby("problem"):
        senses = set(group["sense"].dropna()) if "sense" in group else set()
        if len(senses) != 1:
            raise InputError(
                "<cli>",
                "--target",
                f"value: the runs of {problem!r} have senses {sorted(senses)}; "
                "one sense per family is needed (use the gap)",
            )
        out[str(problem)] = senses.pop() == "max"
    return out


def _write(
    root: Path,
    runs: pd.DataFrame,
    history: pd.DataFrame,
    ids: dict[tuple[str, str], tuple[int, int, int]],
    senses: dict[str, bool],
    target: str,
) -> tuple[list[Path], list[dict[str, Any]]]:
    column = "gap_pct" if target == "gap" else "best_value"
    by_run = {
        run_id: (
            group["n_evals"].to_numpy(dtype=float, na_value=np.nan),
            group[column].to_numpy(dtype=float, na_value=np.nan),
        )
        for run_id, group in history.sort_values(["run_id", "n_evals"], kind="stable").groupby("run_id", sort=False)
    }
    files: list[Path] = []
    mapping: list[dict[str, Any]] = []
    runs = runs.assign(
        ioh_fid=[ids[(str(p), i)][0] for p, i in zip(runs["problem"], runs["instance"], strict=True)],
        ioh_iid=[ids[(str(p), i)][1] for p, i in zip(runs["problem"], runs["instance"], strict=True)],
        ioh_dim=[ids[(str(p), i)][2] for p, i in zip(runs["problem"], runs["instance"], strict=True)],
    ).sort_values(["heuristic", "ioh_fid", "ioh_dim", "ioh_iid", "seed"], kind="stable")
    for (heuristic, problem), group in runs.groupby(["heuristic", "problem"], sort=True):
        maximize = senses[str(problem)]
        fid = int(group["ioh_fid"].iloc[0])
        name = _safe(str(problem))
        folder = root / _safe(str(heuristic))
        data_dir = folder / f"data_f{fid}_{name}"
        data_dir.mkdir(parents=True, exist_ok=True)
        scenarios = []
        for dim, scenario in group.groupby("ioh_dim", sort=True):
            dim = _int(dim, 1)
            dat = data_dir / f"IOHprofiler_f{fid}_DIM{dim}.dat"
            lines, entries = [], []
            for ioh_run, row in enumerate(scenario.itertuples(index=False), start=1):
                evals, values = by_run.get(str(row.run_id), (np.array([]), np.array([])))
                rows = improvement_rows(evals, values, maximize)
                lines.append("evaluations raw_y")
                lines += [f"{int(e)} {_number(v)}" for e, v in rows]
                best_evals, best_y = rows[-1]
                total = _int(row.n_evals, int(evals.max()) if len(evals) else 0)
                entries.append(
                    {
                        "instance": _int(row.ioh_iid, 1),
                        "evals": total,
                        "best": {"evals": int(best_evals), "x": [], "y": _json_number(best_y)},
                        "seed": _int(row.seed, 0),
                        "run_id": str(row.run_id),
                    }
                )
                mapping.append(
                    {
                        "heuristic": heuristic,
                        "problem": problem,
                        "function_id": fid,
                        "dimension": dim,
                        "ioh_instance": _int(row.ioh_iid, 1),
                        "instance": row.instance,
                        "ioh_run": ioh_run,
                        "seed": row.seed,
                        "run_id": row.run_id,
                        "reference_kind": row.reference_kind,
                        "reference_value": getattr(row, "reference_value", math.nan),
                        "target": target,
                        "maximization": maximize,
                    }
                )
            dat.write_text("\n".join(lines) + "\n", encoding="utf-8")
            files.append(dat)
            scenarios.append({"dimension": dim, "path": f"{data_dir.name}/{dat.name}", "runs": entries})
        algorithm = str(group["algorithm"].iloc[0]) if "algorithm" in group else str(heuristic)
        params = {
            str(c).removeprefix("param_"): _plain(v)
            for c, v in group.iloc[0].items()
            if str(c).startswith("param_") and not _missing(v)
        }
        meta = {
            "version": FORMAT_VERSION,
            "suite": "bilevel-bench",
            "function_id": fid,
            "function_name": str(problem),
            "maximization": maximize,
            "algorithm": {"name": str(heuristic), "info": f"{algorithm} {json.dumps(params, sort_keys=True)}"},
            "attributes": ["evaluations", "raw_y"],
            "experiment_attributes": [{"target": "gap_pct" if target == "gap" else "leader value"}],
            "scenarios": scenarios,
        }
        path = folder / f"IOHprofiler_f{fid}_{name}.json"
        path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        files.append(path)
    return files, mapping


def improvement_rows(evals: np.ndarray, values: np.ndarray, maximize: bool) -> list[tuple[float, float]]:
    """The (evaluations, best so far) rows of one run: evaluation 1 first (its value unknown unless a
    checkpoint is there: -inf/inf), then every checkpoint where the best so far improved."""
    worst = -math.inf if maximize else math.inf
    rows: list[tuple[float, float]] = []
    best = worst
    for e, v in zip(evals, values, strict=True):
        value = worst if math.isnan(v) else float(v)
        if not rows:
            if e <= 1:
                rows.append((1.0, value))
                best = value
                continue
            rows.append((1.0, worst))
        better = value > best if maximize else value < best
        if better:
            rows.append((float(e), value))
            best = value
    return rows or [(1.0, worst)]


def _swap(building: Path, out: Path) -> None:
    """Put ``building`` in the place of ``out`` (an earlier export is removed after the rename)."""
    old = out.parent / f".{out.name}-{os.getpid()}.old"
    if out.exists():
        out.rename(old)
    building.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "x"


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """A parameter's value as plain JSON data."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _json_number(value)
    return str(value)


def _number(value: float) -> str:
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return f"{value:.12g}"


def _json_number(value: Any) -> Any:
    """JSON has no inf or NaN: null, as IOHexperimenter writes them; integral floats as integers."""
    number = float(value)
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _int(value: Any, default: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return int(number) if math.isfinite(number) else default
