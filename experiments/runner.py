"""Run a grid: exact baselines first, then every (problem, instance, heuristic, seed) run, in parallel.

Nothing is lost on a crash. Rows are appended whole (one ``write`` of a complete line, then flush and
fsync) as runs finish; a partial last line left by a kill is dropped when the file is read back. A grid
started again with ``--resume`` (the default) skips every run id already in ``runs.csv`` and every
instance already in ``exact.csv``; it is refused if the grid, an instance it names or the package version
changed since (the grid hash). When all runs are done, the files are **finalised**: every run and history
row gets its reference and gap (:func:`references`), and the files are rewritten sorted by run id through
a temporary file and an atomic rename, so a serial, a parallel and a resumed run of the same grid give
identical files apart from the time columns (``schema.time_columns()``). A lock file refuses a second grid
writing into the same directory.

Outputs, in ``results/<grid name>/`` (or ``--out``), columns documented in ``docs/results.md``
(:mod:`bilevel_bench.experiments.schema`):

- ``runs.csv``: one row per run;
- ``history.csv``: one row per run and checkpoint;
- ``exact.csv``: one row per instance with the exact baseline (or a library's published value);
- ``grid.json``: the grid, its hash and what the hash covers.

**References and gaps.** An instance's reference is, in this order: the exact baseline's proven optimum
(``proven_optimal``), a library's published optimum (``published_optimal``) or best-known value
(``published_best_known``); otherwise the better of the exact baseline's incumbent (``exact_incumbent``)
and the best verified value any run of the grid found (``best_found``). ``gap_pct`` is measured against it
in the leader's sense (:func:`bilevel_bench.problem.gap_pct`); ``beats_reference`` marks a verified value
better than the reference beyond the tie band (a defect against an optimum, a new best against a
best-known value).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import socket
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bilevel_bench import __version__, limits
from bilevel_bench.errors import InputError
from bilevel_bench.experiments import schema
from bilevel_bench.experiments.grid import ExactSpec, Grid, RunSpec
from bilevel_bench.experiments.results import pid_alive
from bilevel_bench.heuristics.evaluator import cpu_count
from bilevel_bench.heuristics.run import run_heuristic
from bilevel_bench.problem import gap_pct, tie_tolerance
from bilevel_bench.registry import get_family
from bilevel_bench.verify import as_row

TIME_COLUMNS = tuple(sorted(schema.time_columns()))
HISTORY_COLUMNS = schema.names(schema.HISTORY)
EXACT_COLUMNS = schema.names(schema.EXACT)
CERTIFIED = ("proven_optimal", "published_optimal")


def run_columns(grid: Grid) -> list[str]:
    """runs.csv's columns for this grid: the schema's, then its param_, size_ and option_ columns."""
    params, sizes, options = set(), {"n_var"}, set()
    for spec in grid.runs():
        params |= set(spec.heuristic.params)
        sizes |= set(spec.instance.size())
        options |= set(spec.options)
    generated = [f"param_{p}" for p in sorted(params)] + [f"size_{s}" for s in sorted(sizes)]
    return schema.names(schema.RUNS) + generated + [f"option_{o}" for o in sorted(options)]


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {
        "bilevel_bench_version": __version__,
        "pymoo_version": version("pymoo"),
        "ortools_version": version("ortools"),
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
    """A missing number is an empty cell, as pandas writes it (not csv's "nan"); JSON for containers."""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    return value


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


def write_frame(path: Path, frame: pd.DataFrame, columns: list[str]) -> None:
    """Write ``frame`` through a temporary file and an atomic rename (fsynced)."""
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


# -- the lock --------------------------------------------------------------------------------------------

LOCK = ".lock"


@contextmanager
def directory_lock(out_dir: Path) -> Iterator[None]:
    """Refuse a second grid in the same output directory. The lock records pid, host and start time; a
    stale lock (its pid dead on this host, or an empty file left by a kill) is taken over with a note."""
    lock = out_dir / LOCK
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            stale = _stale(lock)
            if stale is None:
                owner = lock.read_text(errors="replace").strip()
                raise InputError(
                    str(out_dir),
                    "--out",
                    f"another grid is writing here ({owner}); wait for it, choose another --out, or, if no such "
                    f"process runs any more, delete {lock}",
                ) from None
            print(f"note: taking over a stale lock in {out_dir} ({stale})", file=sys.stderr)
            lock.unlink(missing_ok=True)
    else:  # pragma: no cover - a race with a third process
        raise InputError(str(out_dir), "--out", f"could not take the lock {lock}")
    stamp = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
    os.write(fd, stamp.encode())
    os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _stale(lock: Path) -> str | None:
    """Why ``lock`` is stale, or None if its owner may be alive."""
    try:
        text = lock.read_text(errors="replace").strip()
    except FileNotFoundError:
        return "gone"
    if not text:
        return "empty lock file"
    try:
        owner = json.loads(text)
        pid, host = int(owner["pid"]), str(owner["host"])
    except (ValueError, KeyError, TypeError):
        if text.isdigit():  # written by an older version
            pid, host = int(text), socket.gethostname()
        else:
            return f"unreadable lock file {text[:40]!r}"
    if host != socket.gethostname():
        return None  # another machine's process: cannot tell; the user decides
    if not pid_alive(pid):
        return f"pid {pid} is not running"
    return None


# -- the work done in workers (plain data in, plain rows out) ----------------------------------------------


def execute_exact(task: ExactSpec) -> dict[str, Any]:
    family = get_family(task.family)
    problem = family.make_problem(task.instance, task.tie_break, **task.options)
    row: dict[str, Any] = {
        "problem": task.family,
        "instance": task.instance_spec,
        "sense": problem.sense,
        "warnings": "; ".join(problem.warnings()),
        "time_limit_s": task.time_limit,
    }
    # the baseline's own limit is the deadline of every solver call in it, re-verification included
    with limits.deadline(time.time() + task.time_limit * 1.05 + 1.0):
        result = problem.exact(time_limit=task.time_limit)  # a solver failure comes back as status "error"
    row.update({k: v for k, v in as_row(result).items() if k in EXACT_COLUMNS})
    row["decision"] = result.solution.get("x", "")
    return row


def _host() -> dict[str, Any]:
    return {"host_cpus": cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}


def execute_run(spec: RunSpec) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row: dict[str, Any] = {
        "run_id": spec.run_id,
        "problem": spec.family,
        "instance": spec.instance_spec,
        "heuristic": spec.heuristic.label,
        "algorithm": spec.heuristic.name,
        "seed": spec.seed,
        "tie_break": spec.tie_break,
        "max_evals": spec.budget.max_evals,
        "max_seconds": spec.budget.max_seconds,
        "time_limit_s": spec.time_limit,
        **{f"param_{k}": v for k, v in spec.heuristic.params.items()},
        **{f"size_{k}": v for k, v in spec.instance.size().items()},
        **{f"option_{k}": v for k, v in spec.options.items()},
        **_host(),
    }
    history: list[dict[str, Any]] = []
    try:
        problem = get_family(spec.family).make_problem(spec.instance, spec.tie_break, **spec.options)
        row["sense"] = problem.sense
        row["size_n_var"] = problem.n_var
        row.update({f"option_{k}": v for k, v in problem.options().items()})
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
            "cpu_s": round(result.cpu_s, 4),
            "follower_s": round(counters.follower_s, 4),
            "stop_reason": result.stop_reason,
            "restarts": result.restarts,
            "constraints": result.constraints,
            "sampling": result.sampling,
            "hypervolume": result.hypervolume,
            "front": json.dumps(result.front) if result.front else "",
            "work": json.dumps({k: round(v, 6) for k, v in sorted(counters.work.items())}) if counters.work else "",
        }
    )
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
                "cpu_s": round(checkpoint.cpu_s, 4),
                "best_value": checkpoint.best_value,
                "sense": problem.sense,
            }
        )
    return row, history


def _one_line(exc: BaseException) -> str:
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {Path(where[0].filename).name}:{where[0].lineno}" if where else ""
    return f"{type(exc).__name__}: {exc}{at}".replace("\n", " ")[:500]


# -- references and gaps -----------------------------------------------------------------------------------


def references(runs: pd.DataFrame, exact: pd.DataFrame) -> pd.DataFrame:
    """One reference per (problem, instance): value, kind and sense (see the module docstring)."""
    rows = []
    records: list[dict[str, Any]] = [] if exact.empty else exact.to_dict("records")  # type: ignore[assignment]
    exact_rows = {(r["problem"], r["instance"]): r for r in records}
    keys = set(exact_rows) | (set() if runs.empty else set(zip(runs["problem"], runs["instance"], strict=True)))
    for problem, instance in sorted(keys):
        ex = exact_rows.get((problem, instance), {})
        group = runs[(runs["problem"] == problem) & (runs["instance"] == instance)] if not runs.empty else runs
        sense = ex.get("sense") if isinstance(ex.get("sense"), str) else _first(group, "sense")
        rows.append({"problem": problem, "instance": instance, "sense": sense, **_reference(group, ex, sense)})
    return pd.DataFrame(rows, columns=["problem", "instance", "sense", "reference_value", "reference_kind"])


def _reference(group: pd.DataFrame, exact: dict[str, Any], sense: Any) -> dict[str, Any]:
    kind = exact.get("reference_kind") if isinstance(exact.get("reference_kind"), str) else ""
    value = _number(exact.get("objective"))
    if kind in (*CERTIFIED, "published_best_known") and math.isfinite(value):
        return {"reference_value": value, "reference_kind": kind}
    best = _best_verified(group, sense)
    if kind == "exact_incumbent" and math.isfinite(value) and not _better(best, value, sense):
        return {"reference_value": value, "reference_kind": "exact_incumbent"}
    if math.isfinite(best):
        return {"reference_value": best, "reference_kind": "best_found"}
    return {"reference_value": math.nan, "reference_kind": ""}


def _best_verified(group: pd.DataFrame, sense: Any) -> float:
    if group.empty or "verified" not in group:
        return math.nan
    ok = group[_truthy(group["verified"])]
    values = pd.to_numeric(ok["best_value"], errors="coerce").dropna()
    if values.empty:
        return math.nan
    return float(values.max() if sense == "max" else values.min())


def _better(a: float, b: float, sense: Any) -> bool:
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    band = 2.0 * tie_tolerance(b)
    return a > b + band if sense == "max" else a < b - band


def _truthy(column: pd.Series) -> pd.Series:
    return column.astype(str).str.lower().isin(["true", "1"])


def _first(frame: pd.DataFrame, column: str) -> Any:
    if frame.empty or column not in frame:
        return None
    values = frame[column].dropna()
    return values.iloc[0] if len(values) else None


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def add_gaps(frame: pd.DataFrame, refs: pd.DataFrame, value_column: str) -> pd.DataFrame:
    """``frame`` with reference_value, reference_kind and gap_pct of ``value_column`` (and beats_reference)."""
    frame = frame.drop(columns=[c for c in ("reference_value", "reference_kind", "gap_pct") if c in frame])
    merged = frame.merge(refs.drop(columns=["sense"]), on=["problem", "instance"], how="left")
    values = pd.to_numeric(merged[value_column], errors="coerce")
    reference = pd.to_numeric(merged["reference_value"], errors="coerce")
    sense = merged["sense"] if "sense" in merged else pd.Series(["max"] * len(merged))
    gaps = gap_pct(values.to_numpy(float), reference.to_numpy(float), sense.fillna("max").to_numpy())
    merged["gap_pct"] = gaps
    merged["reference_kind"] = merged["reference_kind"].fillna("")
    return merged


def finalise(out_dir: Path, grid: Grid) -> None:
    """References and gaps for every row, then the files rewritten sorted (atomic renames)."""
    runs = read_rows(out_dir / "runs.csv")
    history = read_rows(out_dir / "history.csv")
    exact = read_rows(out_dir / "exact.csv")
    refs = references(runs, exact)
    if not runs.empty:
        runs = add_gaps(runs, refs, "best_value")
        verified = _truthy(runs["verified"]) if "verified" in runs else pd.Series(False, index=runs.index)
        runs["beats_reference"] = verified & (runs["gap_pct"] < 0)
        if not exact.empty:
            ex = exact.set_index(["problem", "instance"])
            keys = list(zip(runs["problem"], runs["instance"], strict=True))
            for column, source in (("exact_value", "objective"), ("exact_status", "status"), ("exact_bound", "bound")):
                runs[column] = [ex[source].get(k, np.nan) if k in ex.index else np.nan for k in keys]
        write_frame(out_dir / "runs.csv", runs.sort_values(["run_id"], kind="stable"), run_columns(grid))
    if not history.empty:
        history = add_gaps(history, refs, "best_value")
        write_frame(
            out_dir / "history.csv", history.sort_values(["run_id", "checkpoint"], kind="stable"), HISTORY_COLUMNS
        )
    if not exact.empty:
        write_frame(out_dir / "exact.csv", exact.sort_values(["problem", "instance"], kind="stable"), EXACT_COLUMNS)


# -- the grid ---------------------------------------------------------------------------------------------


def run_grid(
    grid: Grid,
    out_dir: Path,
    n_jobs: int | None = None,
    resume: bool = True,
    backend: str = "loky",
    scheduler: str | None = None,
    progress: bool = True,
    formats: tuple[str, ...] = ("csv",),
) -> Path:
    """Run (or resume) ``grid`` into ``out_dir``; returns ``out_dir``. The CSVs are always written (they are
    the crash-safe store); ``"parquet"`` in ``formats`` also writes the tables as Parquet at the end."""
    from bilevel_bench.experiments.grid import prepare_out_dir

    prepare_out_dir(out_dir)
    with directory_lock(out_dir):
        _prepare(out_dir, grid, resume)
        jobs = grid.n_jobs if n_jobs is None else n_jobs
        with _backend(backend, scheduler):
            _run_exact(grid, out_dir, jobs, backend, progress)
            _run_runs(grid, out_dir, jobs, backend, progress)
        finalise(out_dir, grid)
        if "parquet" in formats:
            from bilevel_bench.experiments.results import write_parquet

            write_parquet(out_dir)
    return out_dir


def _prepare(out_dir: Path, grid: Grid, resume: bool) -> None:
    stamp = out_dir / "grid.json"
    if not resume:
        names = ("runs", "history", "exact")
        for name in (*(f"{n}.csv" for n in names), *(f"{n}.parquet" for n in names), "grid.json"):
            (out_dir / name).unlink(missing_ok=True)
    if stamp.exists():
        previous = json.loads(stamp.read_text())
        if previous.get("grid_hash") != grid.hash:
            raise InputError(
                grid.source,
                "<grid>",
                f"{out_dir} holds results of a different grid: {grid.describe_change(previous)}; "
                "use --fresh to start over or --out for another directory",
            )
    for name, columns in (
        ("runs.csv", run_columns(grid)),
        ("history.csv", HISTORY_COLUMNS),
        ("exact.csv", EXACT_COLUMNS),
    ):
        _check_header(out_dir / name, columns)
    if not stamp.exists():
        stamp.write_text(json.dumps(grid.stamp(), indent=1, sort_keys=True) + "\n")


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
    from joblib import parallel_config

    cluster = (
        None
        if scheduler
        else LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None)
    )
    client = Client(scheduler or cluster)
    try:
        with parallel_config(backend="dask"):
            yield
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def effective_jobs(requested: int, n_tasks: int, backend: str = "loky") -> int:
    """Parallel workers: at most one per task, and (locally) at most one per CPU; -1 means all CPUs."""
    if backend != "loky":
        return requested
    cpus = cpu_count()
    wanted = cpus if requested == -1 else requested
    return max(1, min(wanted, cpus, n_tasks))


def _parallel(jobs: int, tasks: list, progress: bool, label: str, backend: str) -> Iterator[Any]:
    if not tasks:
        return iter(())
    from joblib import Parallel
    from tqdm import tqdm

    used = effective_jobs(jobs, len(tasks), backend)
    if backend == "loky" and used < jobs and progress:
        print(
            f"note: {label}: {used} parallel jobs instead of {jobs} ({len(tasks)} tasks, {cpu_count()} CPUs)",
            file=sys.stderr,
        )
    results = (
        Parallel(n_jobs=used, return_as="generator_unordered")(tasks)
        if used != 1 or backend != "loky"
        else (fn(*args, **kwargs) for fn, args, kwargs in tasks)
    )
    return iter(tqdm(results, total=len(tasks), desc=label, disable=not progress, file=sys.stderr))


def _run_exact(grid: Grid, out_dir: Path, jobs: int, backend: str, progress: bool) -> None:
    from joblib import delayed

    path = out_dir / "exact.csv"
    done = read_rows(path)
    known = set(zip(done["problem"], done["instance"], strict=True)) if not done.empty else set()
    todo = [t for t in grid.exact_tasks() if (t.family, t.instance_spec) not in known]
    for row in _parallel(jobs, [delayed(execute_exact)(t) for t in todo], progress, "exact", backend):
        append_rows(path, EXACT_COLUMNS, [row])


def _run_runs(grid: Grid, out_dir: Path, jobs: int, backend: str, progress: bool) -> None:
    from joblib import delayed

    path, history_path = out_dir / "runs.csv", out_dir / "history.csv"
    columns = run_columns(grid)
    done = read_rows(path)
    finished = set(done["run_id"]) if not done.empty else set()
    _drop_orphan_history(history_path, finished)
    todo = [s for s in grid.runs() if s.run_id not in finished]
    stamp = {"grid": grid.name, "grid_hash": grid.hash, **versions()}
    tasks = [delayed(execute_run)(s) for s in todo]
    for row, history in _parallel(jobs, tasks, progress, "runs", backend):
        # history first: a run counts as done only once its row is written, so a kill in between repeats it
        append_rows(history_path, HISTORY_COLUMNS, history)
        append_rows(path, columns, [{**row, **stamp}])


def _drop_orphan_history(history_path: Path, finished: set[str]) -> None:
    """History rows of runs that never got their runs.csv row (killed in between) are removed."""
    history = read_rows(history_path)
    if history.empty or set(history["run_id"]) <= finished:
        return
    write_frame(history_path, history[history["run_id"].isin(finished)], HISTORY_COLUMNS)


# -- the summary ------------------------------------------------------------------------------------------


def summary_table(out_dir: Path) -> pd.DataFrame:
    runs = read_rows(out_dir / "runs.csv")
    if runs.empty:
        return runs
    runs["ok"] = runs["status"] == "ok"
    runs["on_clock"] = runs["status"] == "timeout"
    runs["verified_ok"] = _truthy(runs["verified"])
    runs["gap_ok"] = pd.to_numeric(runs["gap_pct"], errors="coerce").where(runs["ok"])
    grouped = runs.groupby(["problem", "instance", "heuristic"], sort=True)
    table = grouped.agg(
        runs=("run_id", "size"),
        ok=("ok", "sum"),
        timeout=("on_clock", "sum"),
        verified=("verified_ok", "sum"),
        best_median=("best_value", "median"),
        reference=("reference_value", "first"),
        reference_kind=("reference_kind", "first"),
        gap_pct_median=("gap_ok", "median"),
        gap_pct_max=("gap_ok", "max"),
        evals_median=("n_evals", "median"),
        cpu_s_median=("cpu_s", "median"),
    )
    return table.reset_index()
