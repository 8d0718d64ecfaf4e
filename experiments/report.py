"""The benchmark report: one self-contained ``report.html``, ``report.md`` beside it, and every figure as PNG
and as one-column PDF, from the result tables alone.

``make_report(results_dir)`` reads ``runs``, ``history`` and ``exact`` (CSV or Parquet, through
:func:`bilevel_bench.experiments.results.read_results`; nothing else, so results copied from another machine
work) and writes the report into ``results_dir/report``: a link to a directory that holds ``report.html``
(figures embedded, a table of contents, anchored and sortable tables), ``report.md`` and ``figures/`` (PNG
for the Markdown page, PDF at one-column width, 3.5 in). The directory is built beside the old one and the
link is swapped in one atomic rename, so a report killed midway leaves the previous report whole.

**Gaps and references.** The report uses the columns the runner's ``finalise`` wrote, and nothing else:
``reference_value``, ``reference_kind`` and ``gap_pct`` of ``runs`` and ``history``. A gap against a
``best_found`` or ``exact_incumbent`` reference is shown as such in every table and figure. Measures of
success (success rates, ERT, runtime ECDFs, performance profiles) are computed only on instances whose
reference is certified (``proven_optimal``, ``published_optimal``); elsewhere the tables say "no certified
reference".

**Which runs count.** A run that a clock ended before its budget (status ``timeout``) depends on the
machine's load: it is counted and listed apart, and kept out of every gap statistic and measure. A run
that raised (``failed``) is listed apart by cause and counts as unsuccessful in the success measures
(with the evaluations it recorded, if any). A run that ended normally without a feasible decision has an
infinite gap: it counts as unsuccessful, and is left out of the gap medians (the tables count it).

**Measures.** A run *reaches* a target gap g at the first history checkpoint (one per evaluated batch) whose
best-so-far gap is <= g. ERT (COCO's expected running time) for g is the evaluations (or follower solves)
of all runs until they reached g, or until they ended if they did not, divided by the number of runs that
reached g (infinite if none). The fixed-budget gap at a fraction f of the budget is a run's best-so-far gap
at its last checkpoint within f x ``max_evals`` evaluations (infinite before a feasible value). The
statistical comparison ranks the heuristics on the final gap in blocks of (instance, seed): Friedman's test,
Nemenyi's post-hoc test (critical-difference diagram, scikit-posthocs) and pairwise Wilcoxon signed-rank
tests with Holm's correction (scipy, statsmodels).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import html
import io
import json
import math
import os
import re
import shutil
import textwrap
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bilevel_bench.errors import InputError
from bilevel_bench.experiments.results import TABLES, pid_alive, read_results, table_path

TARGETS = (0.1, 1.0, 5.0)  # success rates and ERT (%)
TIME_TARGET = 1.0  # the summary's time and solves to target (%)
ECDF_TARGETS = (50.0, 20.0, 10.0, 5.0, 2.0, 1.0, 0.5, 0.1)
PROFILE_TARGETS = (1.0, 0.1)
BUDGET_FRACTIONS = (0.1, 0.5, 1.0)
GAP_FLOOR = 1e-4  # log-scaled convergence plots: gaps below are drawn here
SYMLOG_LINEAR = 1e-3  # box and size plots: gaps below this (0 included) are on a linear stretch
SUCCESS_TOL = 1e-9  # a gap of 1.0000000001 % still reaches 1 %
TIME_RESOLUTION = 1e-4  # seconds: times are recorded to 4 decimals; profile times are floored here
CERTIFIED = ("proven_optimal", "published_optimal")
NO_CERTIFIED = "no certified reference"
MIN_BLOCKS = 5
ALPHA = 0.05
EXACT = "exact"
FORMATS = ("md", "html", "pdf")
WIDTH = 3.5  # inches: one column
AXES = (("n_evals", "leader evaluations"), ("n_follower_solves", "follower solves"))  # the convergence and ECDF axes
NOT_RUN_EXACT = ("unsupported", "published")  # exact statuses that mean "the baseline did not run here"

REQUIRED = {
    "runs": (
        "run_id",
        "problem",
        "instance",
        "heuristic",
        "seed",
        "status",
        "best_value",
        "reference_value",
        "reference_kind",
        "gap_pct",
        "n_evals",
        "max_evals",
    ),
    "history": ("run_id", "checkpoint", "n_evals", "n_follower_solves", "elapsed_s", "gap_pct"),
    "exact": ("problem", "instance", "status", "objective", "time_s"),
}
OPTIONAL_RUNS: dict[str, Any] = {
    "verified": True,
    "sense": "max",
    "error": "",
    "stop_reason": "",
    "wall_s": np.nan,
    "cpu_s": np.nan,
    "n_follower_solves": np.nan,
    "warnings": "",
    "beats_reference": False,
    "grid": "",
    "size_n_var": np.nan,
}


# -- reading --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Results:
    runs: pd.DataFrame  # plus: gap (final gap, inf for no value or failed), ok, timeout, failed, certified
    history: pd.DataFrame  # plus: gap (best-so-far gap, inf before a value); only rows of runs in ``runs``
    exact: pd.DataFrame
    references: pd.DataFrame  # per (problem, instance): reference_value, reference_kind, certified, sense, size
    sources: dict[str, str] = dataclasses.field(default_factory=dict)  # table -> file read
    filters: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    reach: Reach | None = None  # first checkpoints within each target, computed once per target

    def __post_init__(self) -> None:
        if self.reach is None:
            self.reach = Reach(self.history)


def load_results(
    results_dir: str | Path, problems: Sequence[str] | None = None, heuristics: Sequence[str] | None = None
) -> Results:
    """The tables of ``results_dir``, checked (one InputError for the first defect), filtered, with the
    report's derived columns."""
    directory = Path(results_dir)
    if not directory.is_dir():
        raise InputError(str(directory), "<dir>", "no such results directory")
    sources = {name: table_path(directory, name) for name in TABLES}
    if sources["runs"] is None:
        raise InputError(str(directory), "runs.csv", "no runs.csv (or runs.parquet) in this directory")
    tables = read_results(directory)
    runs, history, exact = tables.runs, tables.history, tables.exact
    runs_file = str(sources["runs"])
    _require(runs, "runs", runs_file)
    if runs.empty:
        raise InputError(runs_file, "<rows>", "no runs in this file (only a header)")
    if sources["history"] is not None and not history.empty:
        _require(history, "history", str(sources["history"]))
    if sources["exact"] is not None and not exact.empty:
        _require(exact, "exact", str(sources["exact"]))
    runs = _select(runs, "problem", problems, "--problems", runs_file)
    runs = _select(runs, "heuristic", heuristics, "--heuristics", runs_file)
    runs = _derive_runs(runs)
    history = _derive_history(history, runs)
    exact = exact if exact.empty else exact[exact["problem"].isin(set(runs["problem"]))].reset_index(drop=True)
    filters = {k: list(v) for k, v in (("problems", problems), ("heuristics", heuristics)) if v}
    files = {k: str(v) for k, v in sources.items() if v is not None}
    return Results(runs, history, exact, references_of(runs), files, filters)


def _require(frame: pd.DataFrame, table: str, source: str) -> None:
    missing = [c for c in REQUIRED[table] if c not in frame.columns]
    if missing:
        raise InputError(
            source,
            ", ".join(missing),
            "missing column(s): written by an older version? run the grid "
            "again with --fresh (or finish it: the runner adds the reference and gap columns)",
        )


def _select(runs: pd.DataFrame, column: str, wanted: Sequence[str] | None, option: str, source: str) -> pd.DataFrame:
    if not wanted:
        return runs
    known = sorted(set(runs[column].dropna()))
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise InputError(
            "<cli>", option, f"no runs of {', '.join(map(repr, unknown))} in {source} (known: {', '.join(known)})"
        )
    return runs[runs[column].isin(list(wanted))].reset_index(drop=True)


def floats(values: Any) -> np.ndarray:
    """Any column (nullable or not) as a float array, missing values as NaN."""
    return pd.to_numeric(pd.Series(values), errors="coerce").astype("float64").to_numpy()


def _derive_runs(runs: pd.DataFrame) -> pd.DataFrame:
    runs = runs.copy()
    for column, default in OPTIONAL_RUNS.items():
        if column not in runs:
            runs[column] = default
    for column in (
        "best_value",
        "gap_pct",
        "reference_value",
        "n_evals",
        "max_evals",
        "n_follower_solves",
        "wall_s",
        "cpu_s",
        "size_n_var",
    ):
        runs[column] = floats(runs[column])
    for column in ("status", "reference_kind", "error", "stop_reason", "warnings", "sense"):
        runs[column] = runs[column].astype(object).where(runs[column].notna(), "").astype(str)
    runs["instance"] = runs["instance"].astype(str)
    runs["verified"] = _bools(runs["verified"], True)
    runs["beats_reference"] = _bools(runs["beats_reference"], False)
    runs["ok"] = runs["status"].eq("ok")
    runs["timeout"] = runs["status"].eq("timeout")
    runs["failed"] = ~runs["ok"] & ~runs["timeout"]
    runs["certified"] = runs["reference_kind"].isin(CERTIFIED)
    gap = runs["gap_pct"].to_numpy(dtype=float).copy()
    gap[np.isnan(gap) | runs["failed"].to_numpy()] = math.inf
    runs["gap"] = gap
    return runs.reset_index(drop=True)


def _bools(values: pd.Series, default: bool) -> pd.Series:
    text = values.astype(object).map(lambda v: str(v).strip().lower() if not pd.isna(v) else "")
    return text.map(lambda v: default if v == "" else v in ("true", "1")).astype(bool)


def _derive_history(history: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    if history.empty:
        numbers = {c: pd.Series(dtype=float) for c in ("checkpoint", *Reach.COLUMNS, "gap")}
        labels = {c: pd.Series(dtype=object) for c in ("run_id", "problem", "instance", "heuristic")}
        return pd.DataFrame({**labels, **numbers})
    history = history[history["run_id"].isin(set(runs["run_id"]))]
    out = pd.DataFrame({"run_id": history["run_id"].astype(str).to_numpy()})
    for column in ("checkpoint", "n_evals", "n_follower_solves", "elapsed_s"):
        out[column] = floats(history[column])
    gap = floats(history["gap_pct"])
    out["gap"] = np.where(np.isnan(gap), math.inf, gap)
    keys = runs.set_index("run_id")[["problem", "instance", "heuristic"]]
    out = out.join(keys, on="run_id")
    return out.sort_values(["run_id", "checkpoint"], kind="stable").reset_index(drop=True)


def references_of(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (problem, instance): the reference the runs' gaps are against, its kind, the sense, size."""
    grouped = runs.groupby(["problem", "instance"], sort=True)
    table = grouped.agg(
        sense=("sense", _first),
        reference_value=("reference_value", _first),
        reference_kind=("reference_kind", _first),
        size_n_var=("size_n_var", _first),
    ).reset_index()
    table["reference_kind"] = table["reference_kind"].fillna("").astype(str)
    table["certified"] = table["reference_kind"].isin(CERTIFIED)
    return table


def reference_kinds(references: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(problem, instance) -> the reference kind of its gaps ("no reference" if none)."""
    return {
        (str(p), str(i)): str(k) or "no reference"
        for p, i, k in zip(references["problem"], references["instance"], references["reference_kind"], strict=True)
    }


def _first(values: pd.Series) -> Any:
    present = values[values.notna() & values.astype(str).ne("")]
    return present.iloc[0] if len(present) else np.nan


# -- per-run measures ------------------------------------------------------------------------------------------


def counted(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that enter the statistics: all but timeouts."""
    return runs[~runs["timeout"]]


class Reach:
    """When the runs of one history first reached each target gap, computed once per target."""

    COLUMNS = ("n_evals", "n_follower_solves", "elapsed_s")

    def __init__(self, history: pd.DataFrame) -> None:
        self.history = history
        self._hits: dict[float, pd.DataFrame] = {}
        self._last: pd.DataFrame | None = None

    def hits(self, target: float) -> pd.DataFrame:
        """Per run_id (index): the runtime columns at its first checkpoint whose gap is <= target."""
        if target not in self._hits:
            hit = self.history[self.history["gap"] <= target + SUCCESS_TOL]
            self._hits[target] = hit.drop_duplicates("run_id").set_index("run_id")[list(self.COLUMNS)].astype(float)
        return self._hits[target]

    def runtimes(self, runs: pd.DataFrame, target: float, column: str) -> pd.Series:
        """``column`` at the first checkpoint within ``target`` for every run in ``runs`` (inf if never)."""
        found = self.hits(target)[column].reindex(runs["run_id"].to_numpy())
        return pd.Series(found.fillna(math.inf).to_numpy(dtype=float), index=runs["run_id"].to_numpy())

    def last(self, column: str) -> pd.Series:
        """Per run_id: the largest value of a runtime column (its last checkpoint)."""
        if self._last is None:
            self._last = self.history.groupby("run_id", sort=False)[list(self.COLUMNS)].max().astype(float)
        return self._last[column]


def _reach(history: pd.DataFrame | Reach) -> Reach:
    return history if isinstance(history, Reach) else Reach(history)


def time_to_target(history: pd.DataFrame, target: float, column: str = "elapsed_s") -> pd.Series:
    """Per run_id of ``history``: ``column`` at the first checkpoint whose gap is <= target (inf if never)."""
    if history.empty:
        return pd.Series(dtype=float)
    found = Reach(history).hits(target)[column]
    return found.reindex(history["run_id"].unique(), fill_value=math.inf)


def runtimes(runs: pd.DataFrame, history: pd.DataFrame | Reach, target: float, column: str) -> pd.Series:
    """Like :func:`time_to_target` for every run in ``runs`` (failed or history-less runs: inf)."""
    return _reach(history).runtimes(runs, target, column)


def success_rate(gaps: Iterable[float], target: float) -> float:
    array = np.asarray(list(gaps), dtype=float)
    return float(np.mean(array <= target + SUCCESS_TOL)) if len(array) else math.nan


def ert(
    runs: pd.DataFrame, history: pd.DataFrame | Reach, target: float, column: str = "n_evals"
) -> tuple[float, int, int]:
    """COCO's expected running time to ``target`` in ``column`` (``n_evals`` or ``n_follower_solves``) over
    ``runs``: (ERT, runs that reached it, runs). A run that reached the target contributes ``column`` at its
    first checkpoint within it, one that did not its total (runs.csv; else its last checkpoint; else 0)."""
    if runs.empty:
        return math.nan, 0, 0
    reach = _reach(history)
    reached = reach.runtimes(runs, target, column).to_numpy(dtype=float)
    totals = floats(runs[column])
    fallback = reach.last(column).reindex(runs["run_id"].to_numpy()).to_numpy(dtype=float)
    totals = np.where(np.isnan(totals), fallback, totals)
    totals = np.where(np.isnan(totals), 0.0, totals)
    success = np.isfinite(reached)
    spent = float(np.where(success, reached, totals).sum())
    n_success = int(success.sum())
    return (spent / n_success if n_success else math.inf), n_success, len(runs)


def gap_at_budget(runs: pd.DataFrame, history: pd.DataFrame, fraction: float) -> pd.Series:
    """Per run: the best-so-far gap at its last checkpoint within ``fraction`` x max_evals (inf if none)."""
    budgets = pd.Series(floats(runs["max_evals"]), index=runs["run_id"].to_numpy())
    if history.empty:
        return pd.Series(math.inf, index=budgets.index)
    mine = history[history["run_id"].isin(budgets.index)]
    last_evals = mine.groupby("run_id", sort=False)["n_evals"].max()
    budgets = budgets.fillna(last_evals.reindex(budgets.index))
    limit = mine["run_id"].map(budgets) * fraction * (1 + 1e-12)
    within = mine[mine["n_evals"] <= limit]
    gaps = within.groupby("run_id", sort=False)["gap"].last()
    return gaps.reindex(budgets.index, fill_value=math.inf).fillna(math.inf)


# -- Dolan-More performance profiles ---------------------------------------------------------------------------


def performance_ratios(times: pd.DataFrame) -> pd.DataFrame:
    """times[instance, method] (inf = not solved, NaN = not run) -> ratio to the best method on each instance
    among those that ran there (NaN stays NaN: the method is absent from that instance)."""
    floored = times.where(times.isna() | (times >= TIME_RESOLUTION), TIME_RESOLUTION)
    best = floored.min(axis=1, skipna=True)
    ratios = floored.div(best.where(np.isfinite(best)), axis=0)
    ratios = ratios.where(~np.isinf(floored), math.inf)
    return ratios.where(times.notna())


def performance_profile(times: pd.DataFrame, taus: Sequence[float] | np.ndarray) -> pd.DataFrame:
    """rho[tau, method]: the fraction of the instances a method ran on where it is within a factor tau of the
    best method on that instance (instances where it did not run are absent from its denominator)."""
    ratios = performance_ratios(times)
    profile = {}
    for method in ratios:
        present = ratios[method].dropna().to_numpy(dtype=float)
        profile[method] = [float((present <= tau * (1 + 1e-12)).mean()) if len(present) else math.nan for tau in taus]
    return pd.DataFrame(profile, index=list(taus))


def profile_times(
    runs: pd.DataFrame, history: pd.DataFrame | Reach, exact: pd.DataFrame, target: float
) -> pd.DataFrame:
    """Per certified instance and method: the median over seeds of the wall seconds to reach ``target`` (inf
    when the median run does not reach it; NaN where the heuristic did not run, or only timed out), and the
    exact solver's time to proven optimality (inf if it ran without proving it; NaN where it did not run)."""
    runs = counted(runs[runs["certified"]])
    if runs.empty:
        return pd.DataFrame()
    runs = runs.assign(t=runs["run_id"].map(runtimes(runs, history, target, "elapsed_s")).to_numpy(dtype=float))
    times = runs.pivot_table(index=["problem", "instance"], columns="heuristic", values="t", aggfunc=_median_inf)
    times.columns = [str(c) for c in times.columns]
    exact_times = [_exact_time(exact, p, i) for p, i in times.index]
    if any(not math.isnan(t) for t in exact_times):
        times[EXACT] = exact_times
    return times


def _median_inf(values: pd.Series) -> float:
    return float(np.median(np.asarray(values, dtype=float))) if len(values) else math.nan


def _exact_row(exact: pd.DataFrame, problem: str, instance: str) -> dict[str, Any] | None:
    if exact.empty:
        return None
    rows = exact[(exact["problem"] == problem) & (exact["instance"].astype(str) == instance)]
    return None if rows.empty else {str(k): v for k, v in rows.iloc[0].items()}


def _exact_time(exact: pd.DataFrame, problem: str, instance: str) -> float:
    """Seconds to proven optimality; inf if the baseline ran without proving it; NaN if it did not run."""
    row = _exact_row(exact, problem, instance)
    status = "" if row is None or pd.isna(row.get("status")) else str(row["status"])
    if row is None or status in NOT_RUN_EXACT or not status:
        return math.nan
    seconds = _number(row.get("time_s"))
    return seconds if status == "optimal" and math.isfinite(seconds) else math.inf


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# -- statistics -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class FamilyStats:
    problem: str
    blocks: pd.DataFrame  # (instance, seed) x heuristic: final gaps (inf: no feasible value)
    dropped: int  # blocks left out: some heuristic has no counted run there (failed, timed out, not run)
    message: str = ""  # why a test was not run (too few heuristics or blocks)
    friedman: tuple[float, float] | None = None  # statistic, p
    ranks: pd.Series | None = None  # average rank per heuristic (1 = smallest gap)
    nemenyi: pd.DataFrame | None = None  # p-values
    cd: float = math.nan  # Nemenyi's critical difference of average ranks at ALPHA
    wilcoxon: pd.DataFrame | None = None


def gap_blocks(runs: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Final gaps as blocks (instance, seed) x heuristic, keeping the blocks where every heuristic has a run
    that ended normally; returns the table and how many blocks were left out. A run without a feasible value
    has gap inf (ranked last)."""
    ok = runs[runs["ok"]]
    table = ok.pivot_table(index=["instance", "seed"], columns="heuristic", values="gap", aggfunc="first")
    all_blocks = runs.groupby(["instance", "seed"]).ngroups
    heuristics = sorted(set(runs["heuristic"]))
    table = table.reindex(columns=heuristics).dropna(axis=0, how="any")
    table.columns = [str(c) for c in table.columns]
    return table, all_blocks - len(table)


def finite_for_ranks(blocks: pd.DataFrame) -> pd.DataFrame:
    """Infinite gaps replaced by a value above every finite one, far enough that every difference involving it
    is larger than every difference between finite gaps (ranks and signed ranks are unchanged)."""
    values = blocks.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    big = 3.0 * (float(np.abs(finite).max()) if len(finite) else 1.0) + 1.0
    return blocks.where(np.isfinite(blocks), big)


def family_stats(runs: pd.DataFrame, problem: str) -> FamilyStats:
    """Friedman, Nemenyi and Holm-corrected pairwise Wilcoxon tests on the final gaps of one family."""
    from scipy import stats

    blocks, dropped = gap_blocks(runs[runs["problem"] == problem])
    result = FamilyStats(problem, blocks, dropped)
    k, n = blocks.shape[1], blocks.shape[0]
    if k < 2:
        result.message = f"too few heuristics for a test ({k}; at least 2)"
        return result
    if n < MIN_BLOCKS:
        result.message = (
            f"too few blocks for a test: {n} (instance, seed) pairs where every heuristic ended "
            f"normally; at least {MIN_BLOCKS}"
        )
        return result
    data = finite_for_ranks(blocks)
    result.ranks = data.rank(axis=1, method="average").mean(axis=0).sort_values()
    if (data.nunique(axis=1) == 1).all():
        result.message = "every heuristic has the same final gap on every block: nothing to test"
        return result
    result.wilcoxon = pairwise_wilcoxon(data, blocks)
    if k < 3:
        result.message = "Friedman's test needs at least 3 heuristics; the Wilcoxon test compares the two"
        return result
    statistic, p = stats.friedmanchisquare(*(data[c].to_numpy() for c in data.columns))
    result.friedman = (float(statistic), float(p))
    import scikit_posthocs as sp

    result.nemenyi = sp.posthoc_nemenyi_friedman(data.reset_index(drop=True))
    result.cd = critical_difference(k, n)
    return result


def critical_difference(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference of average ranks (Demšar 2006): q_alpha sqrt(k (k + 1) / (6 n)), with
    q_alpha the studentized range quantile over sqrt(2)."""
    from scipy import stats

    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n)))


def pairwise_wilcoxon(data: pd.DataFrame, gaps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Wilcoxon signed-rank test (scipy, two-sided, zero differences dropped) for every pair of columns over
    the rows, with Holm's correction over all pairs (statsmodels). ``data`` is what is tested (infinite gaps
    made finite, :func:`finite_for_ranks`); the median difference is read from ``gaps`` (default ``data``),
    where a block with no value on one side differs by +-inf and one with no value on either side by 0."""
    from scipy import stats
    from statsmodels.stats.multitest import multipletests  # type: ignore[import-untyped]

    rows = []
    columns = list(data.columns)
    for a_index, a in enumerate(columns):
        for b in columns[a_index + 1 :]:
            x, y = data[a].to_numpy(dtype=float), data[b].to_numpy(dtype=float)
            differences = x - y
            nonzero = int(np.count_nonzero(differences))
            if nonzero == 0:
                statistic, p = math.nan, 1.0
            else:
                test = stats.wilcoxon(x, y)
                statistic, p = float(test.statistic), float(test.pvalue)
            rows.append(
                {
                    "heuristic A": a,
                    "heuristic B": b,
                    "blocks": len(x),
                    "non-zero differences": nonzero,
                    "A better": int((differences < 0).sum()),
                    "B better": int((differences > 0).sum()),
                    "median gap difference A - B (%)": _median_difference((gaps if gaps is not None else data), a, b),
                    "W": statistic,
                    "p": p,
                }
            )
    table = pd.DataFrame(rows)
    table["p (Holm)"] = multipletests(table["p"].to_numpy(dtype=float), method="holm")[1]
    table[f"significant at {ALPHA:g}"] = np.where(table["p (Holm)"] < ALPHA, "yes", "no")
    return table


def _median_difference(gaps: pd.DataFrame, a: str, b: str) -> float:
    with np.errstate(invalid="ignore"):
        differences = gaps[a].to_numpy(dtype=float) - gaps[b].to_numpy(dtype=float)
    return float(np.median(np.where(np.isnan(differences), 0.0, differences)))


# -- tables -----------------------------------------------------------------------------------------------------


def rate_column(target: float) -> str:
    return f"≤{target:g}% rate"


def summary_rows(runs: pd.DataFrame, history: pd.DataFrame | Reach, keys: list[str]) -> pd.DataFrame:
    reach = _reach(history)
    rows = []
    for key, group in runs.groupby(keys, sort=True):
        values = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, values, strict=True)), **_summary(group, reach)})
    return pd.DataFrame(rows)


def _summary(group: pd.DataFrame, history: Reach) -> dict[str, Any]:
    ok = group[group["ok"]]
    finite = ok["gap"][np.isfinite(ok["gap"])]
    trials = counted(group[group["certified"]])
    seconds = runtimes(trials, history, TIME_TARGET, "elapsed_s")
    solves = runtimes(trials, history, TIME_TARGET, "n_follower_solves")
    q1, median, q3 = (finite.quantile(q) if len(finite) else math.nan for q in (0.25, 0.5, 0.75))
    row: dict[str, Any] = {
        "runs": len(group),
        "ok": int(group["ok"].sum()),
        "timeout": int(group["timeout"].sum()),
        "failed": int(group["failed"].sum()),
        "no feasible": int((group["ok"] & group["best_value"].isna()).sum()),
        "unverified": int((~group["verified"] & group["best_value"].notna() & ~group["failed"]).sum()),
        "gap % median": median,
        "gap % IQR": q3 - q1,
        "gaps vs": reference_note(group),
        "certified runs": len(trials),
    }
    for target in TARGETS:
        row[rate_column(target)] = success_rate(trials["gap"], target)
    row[f"s to {TIME_TARGET:g}% (median of reached)"] = _median_finite(seconds)
    row[f"solves to {TIME_TARGET:g}% (median of reached)"] = _median_finite(solves)
    row["wall s median"] = float(ok["wall_s"].median()) if len(ok) else math.nan
    return row


def _median_finite(values: pd.Series) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.median()) if len(finite) else math.nan


def reference_note(runs: pd.DataFrame) -> str:
    """Which reference kinds the gaps of ``runs`` are against, with instance counts."""
    instances = runs.drop_duplicates(["problem", "instance"])
    kinds = sorted(
        instances["reference_kind"].replace("", "none").value_counts().items(), key=lambda kv: (-kv[1], kv[0])
    )
    if len(kinds) == 1:
        return str(kinds[0][0])
    return ", ".join(f"{kind} ({count}/{len(instances)})" for kind, count in kinds)


def ert_rows(runs: pd.DataFrame, history: pd.DataFrame | Reach, targets: Sequence[float] = TARGETS) -> pd.DataFrame:
    """Per problem x heuristic, pooled over the problem's certified instances: ERT in evaluations and in
    follower solves to each target, with the runs that reached it."""
    history = _reach(history)
    rows = []
    for (problem, heuristic), group in runs.groupby(["problem", "heuristic"], sort=True):
        trials = counted(group[group["certified"]])
        row: dict[str, Any] = {"problem": problem, "heuristic": heuristic}
        if trials.empty:
            row["certified instances"] = NO_CERTIFIED
            rows.append(row)
            continue
        row["certified instances"] = trials["instance"].nunique()
        for target in targets:
            evals, hits, n = ert(trials, history, target, "n_evals")
            solves, _, _ = ert(trials, history, target, "n_follower_solves")
            row[f"ERT {target:g}% (evals)"] = evals
            row[f"ERT {target:g}% (solves)"] = solves
            row[f"reached {target:g}%"] = f"{hits}/{n}"
        row["gaps vs"] = reference_note(trials)
        rows.append(row)
    return pd.DataFrame(rows)


def fixed_budget_rows(
    runs: pd.DataFrame, history: pd.DataFrame, fractions: Sequence[float] = BUDGET_FRACTIONS
) -> pd.DataFrame:
    """Per problem x heuristic: the median best-so-far gap at each fraction of the budget over the runs that
    ended normally (inf: more than half had no feasible value yet)."""
    ok_runs = runs[runs["ok"]]
    at = {f: gap_at_budget(ok_runs, history, f) for f in fractions}
    rows = []
    for (problem, heuristic), group in runs.groupby(["problem", "heuristic"], sort=True):
        ok = group[group["ok"]]
        row: dict[str, Any] = {"problem": problem, "heuristic": heuristic, "runs": len(ok)}
        for fraction in fractions:
            gaps = at[fraction].reindex(ok["run_id"].to_numpy()).to_numpy(dtype=float)
            row[f"median gap % at {100 * fraction:g}% budget"] = float(np.median(gaps)) if len(gaps) else math.nan
        row["gaps vs"] = reference_note(group)
        rows.append(row)
    return pd.DataFrame(rows)


def reference_rows(results: Results) -> pd.DataFrame:
    """Per instance: the reference of its gaps and the exact baseline's result."""
    rows = []
    beats = results.runs[results.runs["beats_reference"]].groupby(["problem", "instance"]).size()
    for ref in results.references.itertuples(index=False):
        row = _exact_row(results.exact, str(ref.problem), str(ref.instance)) or {}
        rows.append(
            {
                "problem": ref.problem,
                "instance": ref.instance,
                "leader variables": ref.size_n_var,
                "sense": ref.sense,
                "reference": _full(ref.reference_value),
                "reference kind": ref.reference_kind or "none",
                "exact status": row.get("status", "not run"),
                "exact objective": _full(row.get("objective")),
                "exact bound": _full(row.get("bound")),
                "exact gap %": _number(row.get("gap_pct")),
                "exact s": _number(row.get("time_s")),
                "exact method": row.get("method", ""),
                "runs beating it": int(beats.get((ref.problem, ref.instance), 0)),
            }
        )
    return pd.DataFrame(rows)


def _full(value: Any) -> str:
    number = _number(value)
    return fmt(number) if not math.isfinite(number) else f"{number:.10g}"


TIMING = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?\s*(?:s|sec|secs|seconds?|ms|min|minutes?)\b", re.I)
EVALS = re.compile(r"after \d+ of (\d+) evaluations")


def error_cause(message: Any) -> str:
    """An error message with its timing numbers (and the evaluations done so far) replaced, so that one
    cause is one group."""
    text = "" if message is None or (isinstance(message, float) and math.isnan(message)) else str(message)
    text = TIMING.sub("<t> s", text)
    text = EVALS.sub(r"after <n> of \1 evaluations", text)
    return text.strip()[:300] or "(no message)"


def failure_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Failed runs grouped by problem, heuristic and cause (timing stripped from the messages)."""
    bad = runs[runs["failed"]]
    if bad.empty:
        return pd.DataFrame()
    bad = bad.assign(cause=bad["error"].map(error_cause))
    table = bad.groupby(["problem", "heuristic", "status", "cause"], sort=True).agg(
        runs=("run_id", "size"),
        instances=("instance", lambda s: ", ".join(sorted(set(map(str, s))))),
        seeds=("seed", lambda s: ", ".join(str(v) for v in sorted(set(s)))),
    )
    return table.reset_index()


def timeout_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs a clock ended before their budget, one row each."""
    late = runs[runs["timeout"]]
    if late.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "problem": late["problem"],
            "instance": late["instance"],
            "heuristic": late["heuristic"],
            "seed": late["seed"].astype(str),
            "evaluations": [f"{fmt(a)} of {fmt(b)}" for a, b in zip(late["n_evals"], late["max_evals"], strict=True)],
            "stop reason": late["stop_reason"],
            "cause": late["error"].map(error_cause),
            "wall s": late["wall_s"],
            "gap % (not counted)": late["gap"],
            "gaps vs": late["reference_kind"].replace("", "none"),
        }
    ).sort_values(["problem", "instance", "heuristic", "seed"])


def split_warnings(text: str) -> list[str]:
    """The warnings of a '; '-joined ``warnings`` cell (a '; ' inside parentheses does not separate)."""
    out: list[str] = []
    for part in text.split("; "):
        if out and out[-1].count("(") > out[-1].count(")"):
            out[-1] += "; " + part
        else:
            out.append(part)
    return [w.strip() for w in out if w.strip()]


def warning_rows(results: Results) -> pd.DataFrame:
    """The modelling warnings of the runs (and of the exact baseline) per instance."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add(problem: str, instance: str, text: Any, source: str) -> None:
        if not isinstance(text, str) or not text.strip():
            return
        for warning in split_warnings(text):
            if warning:
                entry = rows.setdefault((problem, instance, warning), {"runs": 0, "exact baseline": "no"})
                if source == "run":
                    entry["runs"] += 1
                else:
                    entry["exact baseline"] = "yes"

    for problem, instance, text in zip(
        results.runs["problem"], results.runs["instance"], results.runs["warnings"], strict=True
    ):
        add(problem, instance, text, "run")
    if not results.exact.empty and "warnings" in results.exact:
        for problem, instance, text in zip(
            results.exact["problem"], results.exact["instance"].astype(str), results.exact["warnings"], strict=True
        ):
            add(problem, instance, text, "exact")
    return pd.DataFrame([{"problem": p, "instance": i, "warning": w, **v} for (p, i, w), v in sorted(rows.items())])


# -- figures ----------------------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


STYLE = {
    "font.size": 7,
    "axes.titlesize": 7,
    "axes.labelsize": 7,
    "xtick.labelsize": 6,
    "ytick.labelsize": 6,
    "legend.fontsize": 6,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.1,
    "pdf.fonttype": 42,
    "figure.dpi": 100,
    "savefig.dpi": 150,
}


def colours(labels: Iterable[str]) -> dict[str, Any]:
    plt = _pyplot()
    ordered = sorted(set(labels))
    cmap = plt.get_cmap("tab10" if len(ordered) <= 10 else "tab20")
    return {label: cmap(k % cmap.N) for k, label in enumerate(ordered)} | {EXACT: "black"}


def step_values(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The step function through (x, y) (value held from each x on) at ``grid``; inf before x[0]."""
    index = np.searchsorted(x, grid, side="right") - 1
    return np.where(index >= 0, y[np.clip(index, 0, None)], math.inf)


def convergence_bands(history: pd.DataFrame, column: str, grid: np.ndarray) -> dict[str, np.ndarray]:
    """Per heuristic: quartiles (3 x len(grid)) of the best gap so far across its runs; inf or NaN where the
    quantile involves a run without a value yet."""
    out = {}
    for label, group in history.groupby("heuristic", sort=True):
        curves = [
            step_values(run[column].to_numpy(dtype=float), run["gap"].to_numpy(dtype=float), grid)
            for _, run in group.groupby("run_id", sort=False)
        ]
        with np.errstate(invalid="ignore"):
            out[str(label)] = np.quantile(np.array(curves), [0.25, 0.5, 0.75], axis=0)
    return out


def _visible(values: np.ndarray) -> np.ndarray:
    """Gaps as drawn on a log axis: no value yet (inf or NaN) hidden, gaps below the floor at the floor."""
    return np.where(np.isfinite(values), np.maximum(values, GAP_FLOOR), np.nan)


def _log_limits(values: Iterable[np.ndarray], pad: float = 1.4) -> tuple[float, float]:
    """Limits of a log axis around the positive finite ``values``: padded, at least a factor 4 wide."""
    arrays = [np.ravel(np.asarray(v, dtype=float)) for v in values]
    finite = np.concatenate([a[np.isfinite(a) & (a > 0)] for a in arrays]) if arrays else np.array([])
    if not len(finite):
        return GAP_FLOOR, 100.0
    low, high = float(finite.min()) / pad, float(finite.max()) * pad
    if high / low < 4:
        middle = math.sqrt(low * high)
        low, high = middle / 2, middle * 2
    return low, high


def nice_ticks(low: float, high: float, base: float = 10) -> list[float]:
    """Tick values for a log axis from ``low`` to ``high`` (> 0): 1-2-5 steps, or 1-2-3-5, powers of ten or all
    mantissas, whichever first gives 3 to 7 ticks (else 2)."""
    if base == 2:
        return [
            2.0**k for k in range(math.floor(math.log2(low)), math.ceil(math.log2(high)) + 1) if low <= 2.0**k <= high
        ]
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    options = [
        [float(f"{m}e{d}") for d in decades for m in mantissas if low <= float(f"{m}e{d}") <= high]
        for mantissas in ((1, 2, 5), (1, 2, 3, 5), (1,), (1, 2, 3, 4, 5, 6, 7, 8, 9))
    ]
    for wanted in ((range(3, 8), range(3, 8), range(3, 8), range(3, 6)), (range(2, 8),) * 4):
        for ticks, counts in zip(options, wanted, strict=True):
            if len(ticks) in counts:
                return ticks
    powers = options[2]
    if len(powers) > 7:  # many decades: every k-th power of ten
        return powers[:: math.ceil(len(powers) / 6)]
    return options[3]


def _plain(value: float, _: Any = None) -> str:
    return "0" if value == 0 else f"{value:g}"


def log_axis(ax: Any, axis: str, low: float, high: float, base: float = 10) -> None:
    """A log axis from ``low`` to ``high`` with plain-number ticks (no mathtext, no minor labels)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=base)
    (ax.set_xlim if axis == "x" else ax.set_ylim)(low, high)
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator(nice_ticks(low, high, base)))
    target.set_major_formatter(FuncFormatter(_plain))
    target.set_minor_locator(LogLocator(base=10, subs="auto") if base == 10 else NullLocator())
    target.set_minor_formatter(NullFormatter())


def gap_axis(ax: Any, axis: str, values: np.ndarray) -> None:
    """A gap axis around ``values``: log if every gap is positive, else symlog (linear below SYMLOG_LINEAR,
    so 0 and negative gaps show), with data-driven limits and plain-number ticks."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    if len(finite) and finite.min() > 0:
        log_axis(ax, axis, *_log_limits([finite]))
        return
    low = float(finite.min()) if len(finite) else 0.0
    high = max(float(finite.max()) if len(finite) else 1.0, SYMLOG_LINEAR)
    top = high * 1.5 if high > SYMLOG_LINEAR else SYMLOG_LINEAR * 1.5
    bottom = low * 1.5 if low < 0 else -SYMLOG_LINEAR * 0.15
    (ax.set_xscale if axis == "x" else ax.set_yscale)("symlog", linthresh=SYMLOG_LINEAR, linscale=0.8)
    (ax.set_xlim if axis == "x" else ax.set_ylim)(bottom, top)
    ticks = [0.0] + (nice_ticks(SYMLOG_LINEAR, top) if top > SYMLOG_LINEAR * 2 else [SYMLOG_LINEAR])
    if low < -SYMLOG_LINEAR:
        ticks = [-t for t in nice_ticks(SYMLOG_LINEAR, -bottom)[::-1]] + ticks
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator(ticks))
    target.set_major_formatter(FuncFormatter(_plain))
    target.set_minor_locator(NullLocator())


def _legend_below(fig: Any, axes: Iterable[Any]) -> None:
    """One legend under the panels (constrained layout makes room), with every label once."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        longest = max(len(label) for label in seen)
        columns = 3 if longest <= 16 else 2 if longest <= 28 else 1
        fig.legend(
            list(seen.values()),
            list(seen),
            loc="outside lower center",
            ncol=min(columns, len(seen)),
            frameon=False,
            handlelength=1.8,
            columnspacing=1.0,
        )


def wrap(text: str, width: int = 54) -> str:
    """A title wrapped to fit one-column figures."""
    return textwrap.fill(text, width, break_long_words=True, break_on_hyphens=False)


def _figure(rows: int, height: float, **kwargs: Any) -> tuple[Any, Any]:
    plt = _pyplot()
    fig, axes = plt.subplots(rows, 1, figsize=(WIDTH, height), squeeze=False, layout="constrained", **kwargs)
    return fig, axes[:, 0]


def _axis_range(values: np.ndarray) -> tuple[float, float]:
    """Positive range of a runtime axis (evaluations, solves, seconds), at least a factor 2 wide."""
    positive = values[np.isfinite(values) & (values > 0)]
    low = float(positive.min()) if len(positive) else 1.0
    high = float(positive.max()) if len(positive) else 10.0
    return low, max(high, low * 2)


def convergence_figure(history: pd.DataFrame, title: str, palette: dict) -> Any:
    """Best-so-far gap (median, quartile band) against evaluations and follower solves."""
    fig, axes = _figure(len(AXES), 1.9 * len(AXES) + 0.6)
    for ax, (column, label) in zip(axes, AXES, strict=True):
        low, high = _axis_range(history[column].to_numpy(dtype=float))
        grid = np.geomspace(low, high, 300)
        drawn = []
        for name, (q1, med, q3) in convergence_bands(history, column, grid).items():
            low_q, middle, high_q = _visible(q1), _visible(med), _visible(q3)
            band = np.isfinite(low_q) & np.isfinite(high_q)
            legend = name if np.isfinite(middle).any() else f"{name} (median run: no value)"
            ax.plot(grid, middle, color=palette[name], label=legend)
            ax.fill_between(grid, low_q, high_q, where=band, color=palette[name], alpha=0.15, lw=0)
            drawn += [middle, low_q[band], high_q[band]]
        log_axis(ax, "x", low, high)
        log_axis(ax, "y", *_log_limits(drawn))
        ax.set_xlabel(label, labelpad=1)
        ax.set_ylabel("best gap so far (%)")
        ax.grid(True, alpha=0.3, lw=0.4)
    axes[0].set_title(wrap(title))
    _legend_below(fig, axes)
    return fig


def ecdf(values: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted finite values and the fraction of *all* values (infinite ones too) at or below each."""
    array = np.asarray(values, dtype=float)
    finite = np.sort(array[np.isfinite(array)])
    return finite, np.arange(1, len(finite) + 1) / max(len(array), 1)


def ecdf_figure(runs: pd.DataFrame, history: pd.DataFrame | Reach, title: str, palette: dict) -> Any:
    """Per heuristic, the ECDF of the runtimes of its (run, target) pairs on the runtime axes."""
    reach = _reach(history)
    fig, axes = _figure(len(AXES), 1.9 * len(AXES) + 0.6)
    mine = reach.history[reach.history["run_id"].isin(runs["run_id"])]
    for ax, (column, label) in zip(axes, AXES, strict=True):
        left, right = _axis_range(mine[column].to_numpy(dtype=float))
        for name, group in runs.groupby("heuristic", sort=True):
            pooled = np.concatenate([reach.runtimes(group, g, column).to_numpy() for g in ECDF_TARGETS])
            x, y = ecdf(pooled)
            if len(x):
                ax.step(
                    np.concatenate([[left], x, [right]]),
                    np.concatenate([[0.0], y, [y[-1]]]),
                    where="post",
                    color=palette[str(name)],
                    label=str(name),
                )
            else:
                ax.plot([], [], color=palette[str(name)], label=f"{name} (never)")
        log_axis(ax, "x", left, right)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"{label} to reach the target", labelpad=1)
        ax.set_ylabel("fraction of (run, target) pairs")
        ax.grid(True, alpha=0.3, lw=0.4)
    axes[0].set_title(wrap(title))
    _legend_below(fig, axes)
    return fig


def profile_taus(all_times: Iterable[pd.DataFrame]) -> np.ndarray:
    """tau from 1 to twice the largest finite ratio seen (at least 4)."""
    largest = 2.0
    for times in all_times:
        ratios = performance_ratios(times).to_numpy(dtype=float)
        finite = ratios[np.isfinite(ratios)]
        largest = max(largest, float(finite.max()) if len(finite) else 2.0)
    return np.geomspace(1, 2 * largest, 400)


def profile_figure(profiles: dict[float, pd.DataFrame], counts: dict[float, pd.Series], palette: dict) -> Any:
    fig, axes = _figure(len(profiles), 2.0 * len(profiles) + 0.5)
    for ax, (target, profile) in zip(axes, profiles.items(), strict=True):
        for method in profile.columns:
            n = int(counts[target].get(method, 0))
            ax.step(
                profile.index,
                profile[method],
                where="post",
                color=palette.get(method, "grey"),
                label=f"{method} ({n} inst.)",
                ls="--" if method == EXACT else "-",
                lw=1.5 if method == EXACT else 1.1,
            )
        log_axis(ax, "x", 1.0, float(profile.index.max()), base=2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("τ (time / fastest time on the instance)", labelpad=1)
        ax.set_ylabel("fraction of its instances")
        ax.set_title(f"wall seconds to reach {target:g}% (exact: to proven optimality)")
        ax.grid(True, alpha=0.3, lw=0.4)
    _legend_below(fig, axes)
    return fig


def gap_box_figure(runs: pd.DataFrame, references: pd.DataFrame, problem: str, palette: dict) -> Any:
    """Final gaps per heuristic (boxes over seeds), one panel per instance of ``problem``."""
    instances = sorted(set(runs["instance"]))
    heuristics = sorted(set(runs["heuristic"]))
    heights = [0.5 + 0.14 * len(heuristics) for _ in instances]
    fig, axes = _figure(len(instances), sum(heights) + 0.35, gridspec_kw={"height_ratios": heights})
    ok = runs[runs["ok"]]
    all_gaps = ok["gap"].to_numpy(dtype=float)
    kinds = reference_kinds(references)
    for ax, instance in zip(axes, instances, strict=True):
        mine = ok[ok["instance"] == instance]
        data, labels, colors = [], [], []
        for position, heuristic in enumerate(heuristics):
            gaps = mine.loc[mine["heuristic"] == heuristic, "gap"].to_numpy(dtype=float)
            finite = gaps[np.isfinite(gaps)]
            data.append(finite if len(finite) else np.array([np.nan]))
            missing = len(gaps) - len(finite)
            labels.append(heuristic + (f" ({missing} none)" if missing else "") + ("" if len(gaps) else " (no run)"))
            colors.append(palette[heuristic])
            if len(finite):
                ax.scatter(finite, np.full(len(finite), position + 1), s=3, color=palette[heuristic], zorder=3, lw=0)
        boxes = ax.boxplot(
            data,
            orientation="horizontal",
            widths=0.6,
            showfliers=False,
            patch_artist=True,
            medianprops={"color": "black", "lw": 0.8},
            whiskerprops={"lw": 0.6},
            capprops={"lw": 0.6},
            boxprops={"lw": 0.6},
        )
        for patch, colour in zip(boxes["boxes"], colors, strict=True):
            patch.set_facecolor((*colour[:3], 0.35))
        ax.set_yticks(range(1, len(heuristics) + 1), labels)
        ax.set_ylim(len(heuristics) + 0.6, 0.4)
        gap_axis(ax, "x", all_gaps)
        kind = kinds.get((problem, str(instance)), "no reference")
        ax.set_title(wrap(f"{problem} / {instance} (gaps vs {kind})", 34), loc="left")
        ax.grid(True, axis="x", alpha=0.3, lw=0.4)
    axes[-1].set_xlabel("final gap (%), runs that ended normally")
    return fig


def size_figure(runs: pd.DataFrame, problem: str, palette: dict) -> Any:
    """Median final gap per instance and heuristic against the instance's leader variables."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

    fig, (ax,) = _figure(1, 2.8)
    ok = runs[runs["ok"] & np.isfinite(runs["gap"])]
    medians = ok.groupby(["heuristic", "instance"]).agg(gap=("gap", "median"), size=("size_n_var", "first"))
    medians = medians.reset_index().dropna(subset=["size"])
    sizes = medians["size"].to_numpy(dtype=float)
    log_x = bool(len(sizes)) and sizes.min() > 0 and sizes.max() / sizes.min() > 8
    span = (float(np.ptp(sizes)) or max(float(sizes.max()) * 0.2, 1.0)) if len(sizes) else 1.0
    heuristics = sorted(set(medians["heuristic"]))
    for j, heuristic in enumerate(heuristics):
        mine = medians[medians["heuristic"] == heuristic].sort_values("size")
        shift = (j - (len(heuristics) - 1) / 2) * 0.012
        x = mine["size"].to_numpy(dtype=float)
        x = x * (1 + 2 * shift) if log_x else x + shift * span
        ax.plot(x, mine["gap"], marker="o", ms=3, lw=0.8, color=palette[heuristic], label=heuristic)
    if log_x:
        log_axis(ax, "x", sizes.min() / 1.3, sizes.max() * 1.3)
    elif len(sizes):
        ax.set_xlim(sizes.min() - 0.15 * span, sizes.max() + 0.15 * span)
        unique = [float(v) for v in np.unique(sizes)]
        ax.xaxis.set_major_locator(FixedLocator(unique) if len(unique) <= 8 else MaxNLocator(nbins=6, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(_plain))
    gap_axis(ax, "y", medians["gap"].to_numpy(dtype=float))
    ax.set_xlabel("leader variables (size_n_var)")
    ax.set_ylabel("median final gap (%)")
    ax.set_title(wrap(f"{problem}: gaps vs {reference_note(runs)}", 50), loc="left")
    ax.grid(True, alpha=0.3, lw=0.4)
    _legend_below(fig, [ax])
    return fig


def cd_figure(stats_: FamilyStats, palette: dict) -> Any:
    """Nemenyi critical-difference diagram (scikit-posthocs)."""
    import scikit_posthocs as sp

    assert stats_.ranks is not None and stats_.nemenyi is not None
    k = len(stats_.ranks)
    fig, (ax,) = _figure(1, 0.8 + 0.16 * k)
    sp.critical_difference_diagram(
        stats_.ranks.to_dict(),
        stats_.nemenyi,
        ax=ax,
        alpha=ALPHA,
        color_palette={h: palette[h] for h in stats_.ranks.index},
        label_props={"fontsize": 6},
        label_fmt_left="{label} ({rank:.2f})",
        label_fmt_right="({rank:.2f}) {label}",
    )
    fig.suptitle(
        wrap(
            f"{stats_.problem}: average rank of the final gap (1 = best) over {len(stats_.blocks)} blocks; "
            f"Nemenyi CD = {stats_.cd:.2f}; a bar joins heuristics not significantly different at "
            f"{ALPHA:g}",
            60,
        ),
        fontsize=7,
    )
    return fig


# -- the document: blocks rendered as Markdown and as HTML -------------------------------------------------------


@dataclasses.dataclass
class Block:
    kind: str  # "h1", "h2", "h3", "p", "table", "figure"
    content: Any
    caption: str = ""
    anchor: str = ""
    png: bytes = b""


def fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return "–"
        if math.isinf(number):
            return "∞" if number > 0 else "-∞"
        if number == 0:
            return "0"
        if abs(number) >= 1e6:
            return f"{number:.6g}"
        return f"{number:.0f}" if abs(number) >= 1000 else f"{number:.4g}"
    if value is None or value is pd.NA:
        return "–"
    return str(value)


def rates_as_text(table: pd.DataFrame) -> pd.DataFrame:
    """Rate columns as "50% (1/2)", or "no certified reference"."""
    table = table.copy()
    n = table["certified runs"] if "certified runs" in table else pd.Series(0, index=table.index)
    for column in [c for c in table.columns if c.endswith("rate")]:
        table[column] = [_rate_text(float(rate), int(count)) for rate, count in zip(table[column], n, strict=True)]
    return table.drop(columns=["certified runs"], errors="ignore")


def _rate_text(rate: float, count: int) -> str:
    return NO_CERTIFIED if not count or math.isnan(rate) else f"{100 * rate:.0f}% ({round(rate * count)}/{count})"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:80] or "x"


def to_markdown(blocks: list[Block]) -> str:
    out = []
    toc = [b for b in blocks if b.kind in ("h2", "h3")]
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            out.append(f'<a id="{block.anchor}"></a>\n\n' + "#" * int(block.kind[1]) + " " + block.content)
            if block.kind == "h1" and toc:
                out.append("\n".join(("  " if b.kind == "h3" else "") + f"- [{b.content}](#{b.anchor})" for b in toc))
        elif block.kind == "p":
            out.append(block.content)
        elif block.kind == "table":
            out.append((f"*{block.caption}*\n\n" if block.caption else "") + _markdown_table(block.content))
        elif block.kind == "figure":
            out.append(f"![{block.caption}](figures/{block.content}.png)\n\n*{block.caption}*")
    return "\n\n".join(out) + "\n"


def _markdown_table(table: pd.DataFrame) -> str:
    cells = [[fmt(v).replace("|", "\\|") for v in row] for row in table.itertuples(index=False)]
    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    return "\n".join([header, rule, *("| " + " | ".join(row) + " |" for row in cells)])


SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.title = 'click to sort'; th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0], col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var dir = th.dataset.dir === 'asc' ? 'desc' : 'asc'; th.dataset.dir = dir;
    var key = function (row) { var s = row.children[col].textContent.trim().replace('∞', 'Infinity').replace('%', '');
      var n = Number(s.split(' ')[0]); return isNaN(n) ? s : n; };
    var rows = Array.prototype.slice.call(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b), c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === 'number' ? -1 : 1);
      return dir === 'asc' ? c : -c; });
    rows.forEach(function (r) { body.appendChild(r); }); }); });
"""
STYLE_CSS = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em;line-height:1.4}"
    "table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}td,th{border:1px solid #bbb;padding:2px 6px;"
    "text-align:right}th{background:#eee;cursor:pointer}td:first-child,td:nth-child(2){text-align:left}"
    "figure{margin:1em 0}figure img{width:520px;max-width:100%}figcaption{font-size:13px;color:#333;max-width:700px}"
    "code{background:#f3f3f3}nav{background:#f7f7f7;padding:0.5em 1em;border:1px solid #ddd}nav ul{margin:0}"
    "caption{text-align:left;font-style:italic;padding:2px}a.anchor{color:#999;text-decoration:none;font-size:80%}"
)


def to_html(blocks: list[Block], title: str) -> str:
    body = []
    toc = [b for b in blocks if b.kind in ("h2", "h3")]
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            link = f' <a class="anchor" href="#{block.anchor}">#</a>' if block.kind != "h1" else ""
            body.append(f'<{block.kind} id="{block.anchor}">{html.escape(block.content)}{link}</{block.kind}>')
            if block.kind == "h1" and toc:
                body.append(_html_toc(toc))
        elif block.kind == "p":
            body.append(f"<p>{_inline_html(block.content)}</p>")
        elif block.kind == "table":
            body.append(_html_table(block.content, block.anchor, block.caption))
        elif block.kind == "figure":
            data = base64.b64encode(block.png).decode("ascii")
            body.append(
                f'<figure id="{block.anchor}"><img src="data:image/png;base64,{data}" '
                f'alt="{html.escape(block.caption)}"><figcaption>{html.escape(block.caption)}</figcaption>'
                "</figure>"
            )
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE_CSS}</style></head><body>\n" + "\n".join(body) + f"\n<script>{SORT_JS}</script>\n"
        "</body></html>\n"
    )


def _html_toc(toc: list[Block]) -> str:
    items, open_sub = [], False
    for block in toc:
        link = f'<a href="#{block.anchor}">{html.escape(block.content)}</a>'
        if block.kind == "h3":
            items.append(("" if open_sub else "<ul>") + f"<li>{link}</li>")
            open_sub = True
        else:
            items.append(("</ul></li>" if open_sub else "</li>" if items else "") + f"<li>{link}")
            open_sub = False
    items.append("</ul></li>" if open_sub else "</li>")
    return "<nav><strong>Contents</strong><ul>" + "".join(items) + "</ul></nav>"


def _inline_html(text: str) -> str:
    """The Markdown the report's paragraphs use: `code` and *emphasis*."""
    parts = html.escape(text).split("`")
    out = "".join(
        f"<code>{p}</code>" if k % 2 else re.sub(r"\*([^*\s][^*]*)\*", r"<em>\1</em>", p) for k, p in enumerate(parts)
    )
    return out.replace("\n", "<br>")


def _html_table(table: pd.DataFrame, anchor: str, caption: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class="sortable" id="{anchor}">{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


# -- building the report --------------------------------------------------------------------------------------------


class Builder:
    """Collects the blocks and renders each figure once, into the formats asked for."""

    def __init__(self, figures_dir: Path, formats: Sequence[str]) -> None:
        self.blocks: list[Block] = []
        self.figures_dir = figures_dir
        self.formats = set(formats)
        self.anchors: set[str] = set()
        self.written: list[Path] = []

    def anchor(self, text: str) -> str:
        base = slug(text)
        name, k = base, 2
        while name in self.anchors:
            name, k = f"{base}-{k}", k + 1
        self.anchors.add(name)
        return name

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(Block(f"h{level}", text, anchor=self.anchor(text)))

    def text(self, text: str) -> None:
        self.blocks.append(Block("p", text))

    def table(self, table: pd.DataFrame, name: str, caption: str = "") -> None:
        self.blocks.append(Block("table", table, caption, anchor=self.anchor(f"table {name}")))

    def figure(self, fig: Any, name: str, caption: str) -> None:
        plt = _pyplot()
        png = b""
        if self.formats & {"md", "html"}:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png")
            png = buffer.getvalue()
            fig.set_layout_engine("none")  # laid out once: the PDF keeps the same positions
            if "md" in self.formats:
                self._write(f"{name}.png", png)
        if "pdf" in self.formats:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="pdf")
            self._write(f"{name}.pdf", buffer.getvalue())
        plt.close(fig)
        self.blocks.append(Block("figure", name, caption, anchor=self.anchor(f"figure {name}"), png=png))

    def _write(self, filename: str, data: bytes) -> None:
        path = self.figures_dir / filename
        path.write_bytes(data)
        self.written.append(path)


def make_report(
    results_dir: str | Path,
    problems: Sequence[str] | None = None,
    heuristics: Sequence[str] | None = None,
    formats: Sequence[str] = FORMATS,
    out: str | Path | None = None,
) -> list[Path]:
    """Write the report of ``results_dir`` (see the module docstring) and return the paths of its files,
    under the report's link (``out``, default ``results_dir/report``). Every input is checked before
    anything is written."""
    results_dir = Path(results_dir)
    formats = check_formats(formats)
    link = Path(out) if out is not None else results_dir / "report"
    if link.exists() and not link.is_symlink():
        raise InputError(
            str(link),
            "--out",
            "exists and is not a report link made by this command; move it away or choose another --out",
        )
    results = load_results(results_dir, problems, heuristics)
    plt = _pyplot()
    stamp = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"
    building = link.parent / f".{link.name}-{stamp}.tmp"
    final = link.parent / f".{link.name}-{stamp}"
    link.parent.mkdir(parents=True, exist_ok=True)
    building.mkdir()
    try:
        (building / "figures").mkdir()
        builder = Builder(building / "figures", formats)
        with plt.rc_context(STYLE):
            build(builder, results, results_dir)
        title = f"bilevel-bench report: {results_dir.resolve().name}"
        pages = []
        if "md" in formats:
            pages.append(("report.md", to_markdown(builder.blocks)))
        if "html" in formats:
            pages.append(("report.html", to_html(builder.blocks, title)))
        for name, text in pages:
            (building / name).write_text(text, encoding="utf-8")
        _fsync_tree(building)
        building.rename(final)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    _swap_link(link, final)
    _remove_stale(link)
    names = [name for name, _ in pages] + [f"figures/{p.name}" for p in builder.written]
    return [link / name for name in names]


def check_formats(formats: Sequence[str] | str) -> list[str]:
    items = [f.strip() for f in (formats.split(",") if isinstance(formats, str) else formats) if f.strip()]
    unknown = [f for f in items if f not in FORMATS]
    if unknown or not items:
        raise InputError("<cli>", "--format", f"{', '.join(unknown) or 'nothing'}: choose from {', '.join(FORMATS)}")
    return list(dict.fromkeys(items))


def _fsync_tree(root: Path) -> None:
    for path in [*root.rglob("*"), root]:
        if path.is_file():
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())


def _swap_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` in one atomic rename of a new symbolic link over the old one."""
    tmp = link.parent / f".{link.name}-link-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(target.name, tmp)
    os.replace(tmp, link)
    directory = os.open(link.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


STALE = re.compile(r"^\.(?P<name>.+)-(?P<stamp>\d{8}T\d{6})-(?P<pid>\d+)(?:\.tmp)?$")


def _remove_stale(link: Path) -> None:
    """Remove report directories beside ``link`` that it no longer points to (left by earlier reports or by
    a killed one), unless the process that made them is still running."""
    current = os.readlink(link) if link.is_symlink() else ""
    for path in link.parent.glob(f".{link.name}-*"):
        match = STALE.match(path.name)
        if not match or match["name"] != link.name or path.name == current or not path.is_dir():
            continue
        pid = int(match["pid"])
        if pid != os.getpid() and pid_alive(pid):
            continue
        shutil.rmtree(path, ignore_errors=True)


# -- the sections ------------------------------------------------------------------------------------------------


def build(b: Builder, results: Results, results_dir: Path) -> None:
    palette = colours(results.runs["heuristic"])
    _introduction(b, results, results_dir)
    _references_section(b, results)
    _warnings_section(b, results)
    _abnormal_section(b, results)
    _summary_section(b, results)
    _gap_figures_section(b, results, palette)
    _anytime_section(b, results)
    _convergence_section(b, results, palette)
    _ecdf_section(b, results, palette)
    _profile_section(b, results, palette)
    _statistics_section(b, results, palette)
    _front_section(b, results)


def _introduction(b: Builder, results: Results, results_dir: Path) -> None:
    runs = results.runs
    budget = ", ".join(
        f"{column} = {', '.join(fmt(float(v)) for v in sorted(runs[column].dropna().unique()))}"
        for column in ("max_evals", "max_seconds", "time_limit_s")
        if column in runs and runs[column].notna().any()
    )
    versions = ", ".join(
        f"{c.removesuffix('_version')} {runs[c].dropna().iloc[0]}"
        for c in runs.columns
        if c.endswith("_version") and runs[c].notna().any()
    )
    grids = ", ".join(sorted(set(runs["grid"].dropna().astype(str)) - {""})) or "?"
    host = ""
    if "host_cpus" in runs and runs["host_cpus"].notna().any():
        loads = floats(runs["load_avg_1m"]) if "load_avg_1m" in runs else np.array([np.nan])
        host = (
            f" Hosts: {', '.join(str(v) for v in sorted(set(runs['host_cpus'].dropna())))} CPUs; 1-minute load "
            f"average at the runs' starts {fmt(float(np.nanmin(loads)))}–{fmt(float(np.nanmax(loads)))}."
        )
    filters = "; ".join(f"{k}: {', '.join(v)}" for k, v in results.filters.items())
    files = ", ".join(f"`{Path(p).name}`" for p in results.sources.values())
    b.heading(1, "Benchmark report")
    b.text(
        f"Grid(s): {grids}. {len(runs)} runs of {runs['heuristic'].nunique()} heuristic(s) on "
        f"{len(results.references)} instance(s) of {runs['problem'].nunique()} problem(s); budget per run: "
        f"{budget or 'see runs.csv'}. Versions: {versions or 'not recorded'}.{host} Built from {files} in "
        f"`{results_dir}` alone"
        + (f", filtered to {filters}." if filters else ".")
        + (
            " Every figure is also in `figures/` beside this page as a one-column PDF (3.5 in wide)."
            if "pdf" in b.formats
            else ""
        )
    )
    b.heading(2, "Definitions")
    b.text(
        "*Gap*: `100 (reference - value) / max(|reference|, 1)` in the leader's sense (min: the other way round), the "
        "`gap_pct` column of runs.csv and history.csv: 0 is the reference, a positive gap a shortfall; values "
        "within twice the followers' tie tolerance of the reference count as equal. *Reference kinds*: "
        "`proven_optimal` (the exact baseline proved it), `published_optimal` (a library's optimum) are "
        "*certified*; `published_best_known`, `exact_incumbent` (the baseline's incumbent at its limit) and "
        "`best_found` (the best verified value of any run of the grid) are not, and a gap against them says how "
        "far a run is from the best known value, not from the optimum. Every table and figure says which kind "
        "its gaps are against (*gaps vs*). Success rates, ERT, runtime ECDFs and performance profiles use "
        f"certified instances only; elsewhere they say *{NO_CERTIFIED}*."
    )
    b.text(
        "*Which runs count*: a run a clock ended before its budget (status `timeout`) is counted and listed "
        "apart and kept out of every gap statistic. A run that raised (`failed`) is listed by cause and counts "
        "as unsuccessful in success rates, ERT and ECDFs. A run that ended normally without a feasible decision "
        "(*no feasible*) has an infinite gap: unsuccessful, and left out of gap medians. *unverified*: the best "
        "decision did not reproduce its value when its followers were solved again from scratch. A run reaches "
        "a target gap at the first history checkpoint (one per evaluated batch) within it."
    )


def _references_section(b: Builder, results: Results) -> None:
    b.heading(2, "References and the exact baseline")
    b.text(
        "One row per instance: the reference its gaps are against and the exact baseline's result (exact.csv; "
        "*not run* where the grid had no exact row). *runs beating it*: runs whose verified value is better than "
        "the reference beyond the tie band (with a certified reference this is a defect; against a best-known "
        "value, a new best)."
    )
    b.table(reference_rows(results), "references")


def _warnings_section(b: Builder, results: Results) -> None:
    b.heading(2, "Modelling warnings")
    table = warning_rows(results)
    if table.empty:
        b.text("No run or exact baseline reported a modelling warning.")
        return
    b.text(
        "What the problems say about their own values (the `warnings` column), per instance: *runs* counts "
        "the runs that carry the warning."
    )
    b.table(table, "warnings")


def _abnormal_section(b: Builder, results: Results) -> None:
    runs = results.runs
    n_timeout, n_failed = int(runs["timeout"].sum()), int(runs["failed"].sum())
    b.heading(2, "Runs that did not end normally")
    b.text(
        f"{n_timeout} of {len(runs)} runs ended on a clock before their budget (status `timeout`) and {n_failed} "
        "failed. Timed-out runs are kept out of every gap statistic below; their budgets depend on the "
        "machine's load, not on the heuristic."
    )
    b.heading(3, "Timeouts")
    timeouts = timeout_rows(runs)
    if timeouts.empty:
        b.text("None: no run ended on a clock.")
    else:
        b.table(timeouts, "timeouts", "Runs ended by max_seconds or time_limit_s, one row each (not counted).")
    b.heading(3, "Failed runs")
    failures = failure_rows(runs)
    if failures.empty:
        b.text("None: no run raised an error.")
    else:
        b.text("Runs that raised, grouped by cause (timing numbers in the messages replaced by `<t> s`).")
        b.table(failures, "failures")


def _summary_section(b: Builder, results: Results) -> None:
    runs, history = results.runs, results.reach
    assert history is not None
    b.heading(2, "Summary")
    b.text(
        "Final gaps (median and IQR) over the runs that ended normally with a feasible value, against the "
        f"reference kinds in *gaps vs*. Success rates (≤ target) over the runs on certified instances, failed "
        f"runs included as unsuccessful, timeouts excluded; *s / solves to {TIME_TARGET:g}%*: medians over the "
        "runs that reached it."
    )
    b.heading(3, "Per problem and heuristic")
    b.table(rates_as_text(summary_rows(runs, history, ["problem", "heuristic"])), "summary")
    b.heading(3, "Per instance")
    b.table(rates_as_text(summary_rows(runs, history, ["problem", "instance", "heuristic"])), "summary per instance")


def _gap_figures_section(b: Builder, results: Results, palette: dict) -> None:
    b.heading(2, "Final gaps")
    b.text(
        f"Per instance, the final gap of every run that ended normally (dots) and their box (quartiles, whiskers "
        f"to 1.5 IQR); the axis is logarithmic above {SYMLOG_LINEAR:g}% and linear below (0 included). "
        "*(k none)*: runs without a feasible value (not drawn)."
    )
    for problem, runs in results.runs.groupby("problem", sort=True):
        name = f"gaps_{slug(str(problem))}"
        fig = gap_box_figure(runs, results.references, str(problem), palette)
        b.figure(fig, name, f"Final gap per heuristic and instance, {problem} (gaps vs {reference_note(runs)}).")
    b.heading(3, "Gap against instance size")
    b.text(
        "Median final gap per instance and heuristic (runs that ended normally with a feasible value) against "
        "the number of leader variables (`size_n_var`); points of one size are set slightly apart."
    )
    for problem, runs in results.runs.groupby("problem", sort=True):
        if runs["size_n_var"].notna().any():
            fig = size_figure(runs, str(problem), palette)
            b.figure(
                fig,
                f"size_{slug(str(problem))}",
                f"Median final gap against size, {problem} (gaps vs {reference_note(runs)}).",
            )
        else:
            b.text(f"{problem}: no `size_n_var` recorded.")


def _anytime_section(b: Builder, results: Results) -> None:
    runs, history = results.runs, results.history
    b.heading(2, "Anytime performance")
    b.heading(3, "Expected running time")
    b.text(
        "ERT (COCO) to each target gap, per problem and heuristic pooled over the problem's certified instances: "
        "the evaluations (or follower solves) of all runs until they reached the target, or until they ended "
        "if they did not, divided by the number of runs that reached it (∞: none did). Timed-out runs are left "
        "out; failed runs count as unsuccessful with the evaluations they recorded. Evaluations are counted at "
        "history checkpoints (one per batch), so ERT is exact to a batch."
    )
    assert results.reach is not None
    b.table(ert_rows(runs, results.reach), "ert")
    b.heading(3, "Fixed budget")
    b.text(
        "Median best-so-far gap at 10%, 50% and 100% of each run's evaluation budget (`max_evals`), over the "
        "runs that ended normally (∞: more than half had no feasible value yet)."
    )
    b.table(fixed_budget_rows(runs, history), "fixed budget")


def _convergence_section(b: Builder, results: Results, palette: dict) -> None:
    b.heading(2, "Convergence")
    b.text(
        f"Best gap so far, median (line) and quartiles (band) across the seeds that ended normally, against "
        f"leader evaluations and follower solves, the budget's units (log scales; gaps below {GAP_FLOOR:g}% are "
        "drawn at that floor; a line starts where the median run has a feasible value; axis limits follow the "
        "data). Wall-clock comparisons, the exact solver's included, are in the performance profiles."
    )
    counted_ids = set(results.runs.loc[results.runs["ok"], "run_id"])
    history = results.history[results.history["run_id"].isin(counted_ids)]
    kinds = reference_kinds(results.references)
    for (problem, instance), group in history.groupby(["problem", "instance"], sort=True):
        kind = kinds.get((str(problem), str(instance)), "no reference")
        fig = convergence_figure(group, f"{problem} / {instance} (gaps vs {kind})", palette)
        b.figure(
            fig,
            f"convergence_{slug(str(problem))}_{slug(str(instance))}",
            f"Convergence on {problem} / {instance} (gaps vs {kind}).",
        )


def _ecdf_section(b: Builder, results: Results, palette: dict) -> None:
    b.heading(2, "Runtime ECDFs")
    targets = ", ".join(f"{g:g}%" for g in ECDF_TARGETS)
    b.text(
        f"COCO-style: for each heuristic, the fraction of its (run, target) pairs, over the runs on the problem's "
        f"certified instances and the targets {targets}, whose target was reached within a given budget. Each "
        "line's denominator is its own number of pairs (runs × targets, given in the caption): one denominator "
        "per line, the same on every axis. Failed runs count as never reaching; timeouts are left out. The "
        "exact solver is not drawn here (its times are in the references table and the profiles)."
    )
    for problem, runs in results.runs.groupby("problem", sort=True):
        trials = counted(runs[runs["certified"]])
        if trials.empty:
            b.text(f"{problem}: {NO_CERTIFIED} (no ECDF).")
            continue
        pairs = ", ".join(f"{h} {n} × {len(ECDF_TARGETS)}" for h, n in trials.groupby("heuristic").size().items())
        assert results.reach is not None
        fig = ecdf_figure(
            trials, results.reach, f"{problem}: {trials['instance'].nunique()} certified instance(s)", palette
        )
        b.figure(
            fig,
            f"ecdf_{slug(str(problem))}",
            f"Runtime ECDFs on {problem} (gaps vs {reference_note(trials)}); pairs per heuristic: {pairs}.",
        )


def _profile_section(b: Builder, results: Results, palette: dict) -> None:
    b.heading(2, "Performance profiles")
    assert results.reach is not None
    all_times = {t: profile_times(results.runs, results.reach, results.exact, t) for t in PROFILE_TARGETS}
    if all(times.empty for times in all_times.values()):
        b.text(f"No profiles: {NO_CERTIFIED} on any instance.")
        return
    taus = profile_taus(all_times.values())
    profiles = {t: performance_profile(times, taus) for t, times in all_times.items()}
    counts = {t: times.notna().sum() for t, times in all_times.items()}
    tables = []
    for target, times in all_times.items():
        at = performance_profile(times, [1, 10, 100, 1000])
        at.index = [f"ρ(τ={t:g}), {target:g}%" for t in at.index]
        tables.append(at.T)
    table = pd.concat(tables, axis=1)
    table.insert(0, "instances", counts[PROFILE_TARGETS[0]].reindex(table.index).fillna(0).astype(int))
    table = table.reset_index(names="method")
    for column in table.columns[2:]:
        table[column] = [fmt(v) if math.isnan(v) else f"{100 * v:.0f}%" for v in table[column]]
    b.text(
        "Dolan–Moré profiles over the certified instances. A heuristic's time on an instance is the median over "
        "its seeds of the wall seconds to reach the target gap (∞ if the median seed does not reach it); the "
        "exact solver's is its time to proven optimality (∞ if it ran without proving it). A method is a "
        "member of an instance's profile only where it ran: a heuristic not run there, or whose runs there all "
        "timed out, and the exact solver where it was not run (disabled, unsupported, published value), are "
        "absent, never counted as failing; each method's fraction is over its own instances (the legend's "
        "count). ρ(1) is how often a method is the fastest, the right end how often it succeeds at all. Wall "
        "seconds depend on the machine's load."
    )
    b.figure(
        profile_figure(profiles, counts, palette),
        "performance_profiles",
        "Performance profiles (certified instances only).",
    )
    b.table(table, "profiles")


def _statistics_section(b: Builder, results: Results, palette: dict) -> None:
    b.heading(2, "Statistical comparison")
    b.text(
        f"Per problem, the heuristics are compared on the final gap in blocks of (instance, seed): each block "
        f"holds one run of every heuristic on the same instance with the same seed, so blocking removes the "
        f"instances' difficulty; only blocks where every heuristic ended normally are used (a run without a "
        f"feasible value ranks last). The seeds of an instance are replicates: the conclusions hold for these "
        f"instances, not for the family at large. Friedman's test (scipy) asks whether the ranks differ at "
        f"all; Nemenyi's post-hoc test (scikit-posthocs) draws the critical-difference diagram (heuristics "
        f"joined by a bar are not significantly different at {ALPHA:g}; rank 1 = smallest gap); pairwise "
        f"Wilcoxon signed-rank tests (scipy, two-sided, zero differences dropped) with Holm's correction over "
        f"the pairs (statsmodels). At least {MIN_BLOCKS} blocks and 2 heuristics are needed; with n blocks the "
        f"smallest two-sided Wilcoxon p-value is 2/2^n."
    )
    for problem in sorted(set(results.runs["problem"])):
        stats_ = family_stats(results.runs, str(problem))
        runs = results.runs[results.runs["problem"] == problem]
        b.heading(3, f"{problem}")
        head = (
            f"{len(stats_.blocks)} block(s) of {stats_.blocks.shape[1]} heuristic(s) (gaps vs "
            f"{reference_note(runs)}); {stats_.dropped} block(s) left out (a heuristic failed, timed out or "
            "did not run there)."
        )
        if stats_.friedman is not None:
            statistic, p = stats_.friedman
            head += (
                f" Friedman χ² = {statistic:.3g}, p = {p:.3g}: the heuristics' ranks "
                f"{'differ' if p < ALPHA else 'do not differ significantly'} at {ALPHA:g}. Nemenyi's critical "
                f"difference: {stats_.cd:.3g} ranks."
            )
        if stats_.message:
            head += f" {stats_.message[0].upper()}{stats_.message[1:]}."
        b.text(head)
        if stats_.ranks is not None:
            ranks = stats_.ranks.rename("average rank").rename_axis("heuristic").reset_index()
            b.table(ranks, f"ranks {problem}")
        if stats_.friedman is not None and stats_.nemenyi is not None:
            b.figure(
                cd_figure(stats_, palette),
                f"cd_{slug(str(problem))}",
                f"Critical-difference diagram, {problem} (Nemenyi, α = {ALPHA:g}; gaps vs {reference_note(runs)}).",
            )
        if stats_.wilcoxon is not None:
            b.table(stats_.wilcoxon, f"wilcoxon {problem}", "Pairwise Wilcoxon signed-rank tests, Holm-corrected.")


def front_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Hypervolume of each bi-objective run's front against one reference per instance (the worst point of
    the union of all fronts on it), median per instance and heuristic."""
    from bilevel_bench.heuristics.front import hypervolume

    if "front" not in runs:
        return pd.DataFrame()
    text = runs["front"].astype(object)
    has_front = runs[text.notna() & ~text.astype(str).isin(["", "[]", "nan"])]
    rows = []
    for (problem, instance), group in has_front.groupby(["problem", "instance"], sort=True):
        fronts = {
            r: np.array(json.loads(f), dtype=float).reshape(-1, 2)
            for r, f in zip(group["run_id"], group["front"], strict=True)
        }
        reference = np.vstack(list(fronts.values())).min(axis=0)
        for label, runs_h in group.groupby("heuristic"):
            hv = [hypervolume(fronts[r], reference) for r in runs_h["run_id"]]
            sizes = [len(fronts[r]) for r in runs_h["run_id"]]
            rows.append(
                {
                    "problem": problem,
                    "instance": instance,
                    "heuristic": label,
                    "runs": len(hv),
                    "hypervolume median": float(np.median(hv)),
                    "front size median": float(np.median(sizes)),
                    "reference (leader, welfare)": f"({reference[0]:.6g}, {reference[1]:.6g})",
                }
            )
    return pd.DataFrame(rows)


def _front_section(b: Builder, results: Results) -> None:
    table = front_rows(counted(results.runs))
    if table.empty:
        return
    b.heading(2, "Bi-objective fronts")
    b.text(
        "Bi-objective runs (leader value against follower welfare, both maximised). Hypervolumes are recomputed "
        "from the fronts in runs.csv against one reference point per instance: the worst value of each "
        "objective over the union of all fronts on it, so they compare across runs."
    )
    b.table(table, "fronts")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make the report of a results directory.")
    parser.add_argument("results_dir", type=Path)
    args = parser.parse_args(argv)
    for path in make_report(args.results_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
