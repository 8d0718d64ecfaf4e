"""Run a grid: exact baselines first, then every (problem, instance, heuristic, seed) run, in parallel.

Nothing is lost on a crash. Rows are appended whole (one ``write`` of a complete line, then flush and
fsync) as runs finish; a partial last line left by a kill is dropped when the file is read back. A grid
started again with ``--resume`` (the default) skips every run id already in ``runs.csv`` and every
instance already in ``exact.csv``. When all runs are done, the files are rewritten sorted by run id
(temporary file, then atomic rename), so a serial and a parallel run of the same grid give identical files
apart from the time columns. A lock file refuses a second grid writing into the same directory.

Outputs, in ``results/<grid name>/`` (or ``--out``):

- ``runs.csv``: one row per run (:data:`RUN_COLUMNS`);
- ``history.csv``: one row per run and checkpoint (:data:`HISTORY_COLUMNS`);
- ``exact.csv``: one row per instance with the exact baseline (:data:`EXACT_COLUMNS`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config

from bilevel_bench import __version__
from bilevel_bench.errors import InputError
from bilevel_bench.experiments.grid import ExactSpec, Grid, RunSpec
from bilevel_bench.heuristics.run import run_heuristic
from bilevel_bench.registry import get_family

TIME_COLUMNS = ("wall_s", "follower_s", "elapsed_s", "time_s")

RUN_COLUMNS = [
    "run_id", "grid", "grid_hash", "problem", "instance", "size", "heuristic", "algorithm", "params", "seed",
    "tie_break", "max_evals", "max_seconds", "status", "error", "best_value", "best_violation",
    "best_decision", "verified", "verify_value", "verify_status", "n_evals", "n_unique", "n_follower_solves",
    "n_follower_failures", "cache_hits", "wall_s", "follower_s", "exact_value", "exact_status", "exact_bound",
    "gap_pct", "sense", "stop_reason", "restarts", "hypervolume", "front", "problem_options", "warnings",
    "bilevel_bench_version", "pymoo_version", "ortools_version", "numpy_version",
]  # fmt: skip
HISTORY_COLUMNS = [
    "run_id", "problem", "instance", "heuristic", "seed", "checkpoint", "n_evals", "n_follower_solves",
    "elapsed_s", "best_value",
]  # fmt: skip
EXACT_COLUMNS = [
    "problem",
    "instance",
    "sense",
    "status",
    "objective",
    "bound",
    "gap_pct",
    "time_s",
    "method",
    "notes",
    "verification",
    "warnings",
]


def versions() -> dict[str, str]:
    import ortools
    import pymoo

    return {
        "bilevel_bench_version": __version__,
        "pymoo_version": pymoo.__version__,
        "ortools_version": ortools.__version__,
        "numpy_version": np.__version__,
    }


# -- crash-safe CSV files -----------------------------------------------------------------------------


def append_rows(path: Path, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
    """Append complete lines (header first if the file is new), then flush and fsync."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    new = not path.exists() or path.stat().st_size == 0
    if new:
        writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(buffer.getvalue())
        handle.flush()
        os.fsync(handle.fileno())


def _cell(value: Any) -> Any:
    """A missing number is an empty cell, as pandas writes it (not csv's "nan")."""
    return "" if isinstance(value, float) and math.isnan(value) else value


def read_rows(path: Path, repair: bool = True) -> pd.DataFrame:
    """Read a results CSV, dropping a partial last line left by a killed writer (and, with ``repair``,
    truncating the file to its complete lines so that appends start on a fresh line)."""
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        if repair:
            path.write_bytes(data)
    if not data:
        return pd.DataFrame()
    # only "" and "nan" are missing values: an instance or heuristic named "NA" stays a name
    return pd.read_csv(
        io.BytesIO(data), keep_default_na=False, na_values=["", "nan"], dtype={"instance": str, "run_id": str}
    )


def rewrite_sorted(path: Path, columns: list[str], keys: list[str]) -> None:
    """Rewrite a CSV sorted by ``keys`` through a temporary file and an atomic rename."""
    frame = read_rows(path)
    if frame.empty:
        return
    frame = frame.sort_values(keys, kind="stable")
    tmp = path.with_suffix(".csv.tmp")
    frame.to_csv(tmp, index=False, columns=[c for c in columns if c in frame.columns], lineterminator="\n")
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    tmp.replace(path)


def _check_header(path: Path, columns: list[str]) -> None:
    """Refuse to resume into a CSV whose columns differ (written by another version): rows would shift."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n")
    if header != ",".join(columns):
        raise InputError(
            str(path),
            "<header>",
            "columns differ from this version's; use --fresh to start over or --out for another directory",
        )


@contextmanager
def directory_lock(out_dir: Path) -> Iterator[None]:
    """Refuse a second grid in the same output directory; a lock left by a dead process is taken over."""
    lock = out_dir / ".lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        owner = lock.read_text().strip() or "?"
        if owner.isdigit() and not _alive(int(owner)):
            lock.unlink(missing_ok=True)
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        else:
            raise InputError(
                str(out_dir),
                "--out",
                f"another grid (pid {owner}) is writing here; wait for it or choose --out",
            ) from None
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the work done in workers (plain data in, plain rows out) ----------------------------------------------


def execute_exact(task: ExactSpec) -> dict[str, Any]:
    family = get_family(task.family)
    problem = family.make_problem(task.instance, task.tie_break, **task.options)
    row = {"problem": task.family, "instance": task.instance_spec, "sense": problem.sense,
           "warnings": "; ".join(problem.warnings())}  # fmt: skip
    try:
        result = problem.exact(time_limit=task.time_limit)
        row.update({k: v for k, v in result.as_dict().items() if k in EXACT_COLUMNS})
    except Exception as exc:  # a failed baseline is a row, never the end of the grid
        row.update({"status": "error", "notes": _one_line(exc)})
    return row


def execute_run(spec: RunSpec, exact: dict[str, Any] | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row: dict[str, Any] = {
        "run_id": spec.run_id,
        "problem": spec.family,
        "instance": spec.instance_spec,
        "heuristic": spec.heuristic.label,
        "algorithm": spec.heuristic.name,
        "params": json.dumps(spec.heuristic.params, sort_keys=True),
        "seed": spec.seed,
        "tie_break": spec.tie_break,
        "max_evals": spec.budget.max_evals,
        "max_seconds": spec.budget.max_seconds,
    }
    history: list[dict[str, Any]] = []
    try:
        problem = get_family(spec.family).make_problem(spec.instance, spec.tie_break, **spec.options)
        row["sense"] = problem.sense
        row["size"] = json.dumps({**spec.instance.size(), "n_var": problem.n_var})
        row["problem_options"] = json.dumps(problem.options(), sort_keys=True)
        row["warnings"] = "; ".join(problem.warnings())
        result = run_heuristic(
            problem,
            spec.heuristic.name,
            spec.heuristic.params,
            spec.seed,
            spec.budget,
            spec.eval_jobs,
            spec.time_limit,
        )
    except Exception as exc:
        row.update({"status": "failed", "error": _one_line(exc)})
        return row, history
    counters = result.counters
    row.update(
        {
            "status": result.status,
            "error": result.error,
            "best_value": result.best_value,
            "best_violation": result.best_violation,
            "best_decision": json.dumps(result.decision, sort_keys=True),
            "verified": result.verified,
            "verify_value": result.verify_value,
            "verify_status": result.verify_status,
            "n_evals": counters.n_evals,
            "n_unique": counters.n_unique,
            "n_follower_solves": counters.n_follower_solves,
            "n_follower_failures": counters.n_follower_failures,
            "cache_hits": counters.cache_hits,
            "wall_s": round(result.wall_s, 4),
            "follower_s": round(counters.follower_s, 4),
            "stop_reason": result.stop_reason,
            "restarts": result.restarts,
            "hypervolume": result.hypervolume,
            "front": json.dumps(result.front) if result.front else "",
        }
    )
    if exact is not None:
        row["exact_value"] = exact.get("objective")
        row["exact_status"] = exact.get("status")
        row["exact_bound"] = exact.get("bound")
        row["gap_pct"] = problem.gap_pct(result.best_value, _float(exact.get("objective")))
    for k, checkpoint in enumerate(result.history):
        history.append(
            {
                "run_id": spec.run_id,
                "problem": spec.family,
                "instance": spec.instance_spec,
                "heuristic": spec.heuristic.label,
                "seed": spec.seed,
                "checkpoint": k,
                "n_evals": checkpoint.n_evals,
                "n_follower_solves": checkpoint.n_follower_solves,
                "elapsed_s": round(checkpoint.elapsed_s, 4),
                "best_value": checkpoint.best_value,
            }
        )
    return row, history


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _one_line(exc: BaseException) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {Path(where[0].filename).name}:{where[0].lineno}" if where else ""
    return f"{type(exc).__name__}: {exc}{at}".replace("\n", " ")[:500]


# -- the grid ---------------------------------------------------------------------------------------------


def run_grid(
    grid: Grid,
    out_dir: Path,
    n_jobs: int | None = None,
    resume: bool = True,
    backend: str = "loky",
    scheduler: str | None = None,
    progress: bool = True,
) -> Path:
    """Run (or resume) ``grid`` into ``out_dir``; returns ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with directory_lock(out_dir):
        _prepare(out_dir, grid, resume)
        jobs = grid.n_jobs if n_jobs is None else n_jobs
        with _backend(backend, scheduler):
            exact = _run_exact(grid, out_dir, jobs, progress)
            _run_runs(grid, out_dir, jobs, exact, progress)
        rewrite_sorted(out_dir / "runs.csv", RUN_COLUMNS, ["run_id"])
        rewrite_sorted(out_dir / "history.csv", HISTORY_COLUMNS, ["run_id", "checkpoint"])
        rewrite_sorted(out_dir / "exact.csv", EXACT_COLUMNS, ["problem", "instance"])
    return out_dir


def _prepare(out_dir: Path, grid: Grid, resume: bool) -> None:
    stamp = out_dir / "grid.json"
    if not resume:
        for name in ("runs.csv", "history.csv", "exact.csv", "grid.json"):
            (out_dir / name).unlink(missing_ok=True)
    for name, columns in (("runs.csv", RUN_COLUMNS), ("history.csv", HISTORY_COLUMNS), ("exact.csv", EXACT_COLUMNS)):
        _check_header(out_dir / name, columns)
    if stamp.exists():
        previous = json.loads(stamp.read_text()).get("grid_hash")
        if previous != grid.hash:
            raise InputError(
                grid.source,
                "<grid>",
                f"{out_dir} holds results of a different grid (hash {previous}); "
                "use --fresh to start over or --out for another directory",
            )
    else:
        stamp.write_text(json.dumps({"grid": grid.name, "grid_hash": grid.hash, "config": grid.config}, indent=1))


@contextmanager
def _backend(backend: str, scheduler: str | None) -> Iterator[None]:
    if backend == "loky":
        yield
        return
    if backend != "dask":
        raise InputError("<cli>", "--backend", f"{backend!r} is not one of loky, dask")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError("<cli>", "--backend", "dask needs the extra: pip install -e '.[dask]'") from None
    cluster = None if scheduler else LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = Client(scheduler or cluster)
    try:
        with parallel_config(backend="dask"):
            yield
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _parallel(jobs: int, tasks: list, progress: bool, label: str) -> Iterator[Any]:
    if not tasks:
        return iter(())
    from tqdm import tqdm

    results = (
        Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks)
        if jobs != 1
        else (fn(*args, **kwargs) for fn, args, kwargs in tasks)
    )
    return iter(tqdm(results, total=len(tasks), desc=label, disable=not progress, file=sys.stderr))


def _run_exact(grid: Grid, out_dir: Path, jobs: int, progress: bool) -> dict[tuple[str, str], dict[str, Any]]:
    path = out_dir / "exact.csv"
    done = read_rows(path)
    known = {(r["problem"], r["instance"]): r for r in done.to_dict("records")} if not done.empty else {}
    todo = [t for t in grid.exact_tasks() if (t.family, t.instance_spec) not in known]
    for row in _parallel(jobs, [delayed(execute_exact)(t) for t in todo], progress, "exact"):
        append_rows(path, EXACT_COLUMNS, [row])
        known[(row["problem"], row["instance"])] = row
    return known


def _run_runs(grid: Grid, out_dir: Path, jobs: int, exact: dict, progress: bool) -> None:
    path, history_path = out_dir / "runs.csv", out_dir / "history.csv"
    done = read_rows(path)
    finished = set(done["run_id"]) if not done.empty else set()
    _drop_orphan_history(history_path, finished)
    todo = [s for s in grid.runs() if s.run_id not in finished]
    stamp = {"grid": grid.name, "grid_hash": grid.hash, **versions()}
    tasks = [delayed(execute_run)(s, exact.get((s.family, s.instance_spec))) for s in todo]
    for row, history in _parallel(jobs, tasks, progress, "runs"):
        # history first: a run counts as done only once its row is written, so a kill in between repeats it
        append_rows(history_path, HISTORY_COLUMNS, history)
        append_rows(path, RUN_COLUMNS, [{**row, **stamp}])


def _drop_orphan_history(history_path: Path, finished: set[str]) -> None:
    """History rows of runs that never got their runs.csv row (killed in between) are removed."""
    history = read_rows(history_path)
    if history.empty or set(history["run_id"]) <= finished:
        return
    keep = history[history["run_id"].isin(finished)]
    tmp = history_path.with_suffix(".csv.tmp")
    keep.to_csv(tmp, index=False, columns=HISTORY_COLUMNS, lineterminator="\n")
    tmp.replace(history_path)


# -- the summary ------------------------------------------------------------------------------------------


def summary_table(out_dir: Path) -> pd.DataFrame:
    runs = read_rows(out_dir / "runs.csv")
    if runs.empty:
        return runs
    grouped = runs.groupby(["problem", "instance", "heuristic"], sort=True)
    table = grouped.agg(
        runs=("run_id", "size"),
        ok=("status", lambda s: int((s == "ok").sum())),
        verified=("verified", lambda s: int(s.astype(str).eq("True").sum())),
        best_median=("best_value", "median"),
        exact=("exact_value", "first"),
        exact_status=("exact_status", "first"),
        gap_pct_median=("gap_pct", "median"),
        gap_pct_max=("gap_pct", "max"),
        evals_median=("n_evals", "median"),
        follower_solves_median=("n_follower_solves", "median"),
        wall_s_median=("wall_s", "median"),
    )
    return table.reset_index()
