"""The benchmark report: ``report.md`` and ``report.html`` with PNG figures, from the CSVs alone.

``make_report(results_dir)`` reads ``runs.csv``, ``history.csv`` and ``exact.csv`` (nothing else, so
results copied from another machine work) and writes into ``results_dir``:

- a summary table per problem x heuristic: runs, failed runs, timeouts, unverified runs; median and IQR
  of the gap in %; the success rates within 0.1 %, 1 % and 5 %; the median time and follower solves to
  reach 1 % (over the runs that reach it); the median wall time; and the same per instance;
- convergence curves per instance: the best gap so far against leader evaluations, follower solves and
  wall seconds, median and quartile band across seeds, one line per heuristic;
- ECDFs of the runtime to reach the target gaps (COCO / IOHprofiler style), per problem, aggregated over
  its instances, seeds and targets; the exact solver's time to optimality is drawn on the seconds axis;
- Dolan-More performance profiles over all instances, for the wall time to reach 1 % and 0.1 %, with the
  exact solver as one more method (its time to proven optimality);
- the exact baseline per instance (status, objective, bound, gap, time) and which reference each gap uses;
- if ``runs.csv`` has ``front`` (JSON pairs) columns (bi-objective runs): hypervolumes against one
  reference point per instance, and the fronts.

**The gap.** Values are in the leader's sense (``sense`` = max or min). An instance's reference is the
exact optimum when the exact status is ``optimal``; otherwise (time limit, error, unsupported, missing)
it is the best value known: the best verified value any run found, or the exact solver's incumbent if
that is better. The tables say which. The gap of a value v is
``100 * (ref - v) / max(|ref|, 1e-9)`` for max (``v - ref`` for min): >= 0 unless v beats the reference.
A failed run, or one with no feasible decision, has an infinite gap (it counts as a failure everywhere).
A run "reaches" a target g when its gap is <= g; its time to the target is the first history checkpoint
where that holds (``elapsed_s``, ``n_follower_solves``, ``n_evals``).
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bilevel_bench.experiments.runner import read_rows
from bilevel_bench.problem import gap_pct as core_gap_pct

TARGETS = (0.1, 1.0, 5.0)  # success rates (%)
TIME_TARGET = 1.0  # the summary's time and solves to target (%)
ECDF_TARGETS = (50.0, 20.0, 10.0, 5.0, 2.0, 1.0, 0.5, 0.1)
PROFILE_TARGETS = (1.0, 0.1)
GAP_FLOOR = 1e-4  # convergence plots: gaps below are drawn here (log scale)
GAP_CAP = 1e6  # stands for "no value yet" in quantiles (never shown: the axis stops below)
SUCCESS_TOL = 1e-9  # a gap of 1.0000000001 % still reaches 1 %
EXACT = "exact"
AXES = (("n_evals", "leader evaluations"), ("n_follower_solves", "follower solves"), ("elapsed_s", "wall seconds"))


# -- reading ------------------------------------------------------------------------------------------------


def read_csv(path: Path) -> pd.DataFrame:
    """Read a results CSV without touching it; a partial last line (killed writer) is ignored."""
    return read_rows(path, repair=False)


@dataclasses.dataclass
class Results:
    runs: pd.DataFrame  # runs.csv plus "gap"
    history: pd.DataFrame  # history.csv plus "gap"
    exact: pd.DataFrame  # exact.csv
    references: pd.DataFrame  # one row per (problem, instance): reference, kind, sense


def load_results(results_dir: Path) -> Results:
    runs = read_csv(results_dir / "runs.csv")
    if runs.empty:
        raise ValueError(f"{results_dir / 'runs.csv'} has no runs")
    history = read_csv(results_dir / "history.csv")
    exact = read_csv(results_dir / "exact.csv")
    runs = _normalise_runs(runs)
    refs = references(runs, exact)
    runs = runs.merge(refs[["problem", "instance", "reference", "sense_ref", "kind"]], on=["problem", "instance"])
    runs["gap"] = gap_pct(runs["best_value"], runs["reference"], runs["sense_ref"])
    runs.loc[runs["status"] == "failed", "gap"] = math.inf
    history = _history_gaps(history, runs)
    return Results(runs, history, exact, refs)


def _normalise_runs(runs: pd.DataFrame) -> pd.DataFrame:
    runs = runs.copy()
    for column, default in (("status", "ok"), ("verified", True), ("sense", "max")):
        if column not in runs:
            runs[column] = default
    runs["verified"] = runs["verified"].astype(str).str.lower().eq("true")
    runs["best_value"] = pd.to_numeric(runs.get("best_value"), errors="coerce")
    runs["wall_s"] = pd.to_numeric(runs.get("wall_s"), errors="coerce")
    return runs


def _history_gaps(history: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    if history.empty:
        return pd.DataFrame(columns=["run_id", "problem", "instance", "heuristic", "gap", *[a for a, _ in AXES]])
    history = history.merge(runs[["run_id", "reference", "sense_ref"]], on="run_id", how="inner")
    history["gap"] = gap_pct(pd.to_numeric(history["best_value"], errors="coerce"), history["reference"],
                             history["sense_ref"])  # fmt: skip
    return history.sort_values(["run_id", "checkpoint"], kind="stable").reset_index(drop=True)


# -- the reference of each instance and the gaps ----------------------------------------------------------------


def references(runs: pd.DataFrame, exact: pd.DataFrame) -> pd.DataFrame:
    """Per (problem, instance): the reference value, what it is, and the leader's sense."""
    rows = []
    keys = runs[["problem", "instance"]].drop_duplicates()
    exact_rows = {} if exact.empty else {(r["problem"], str(r["instance"])): r for r in exact.to_dict("records")}
    for problem, instance in keys.itertuples(index=False):
        mine = runs[(runs["problem"] == problem) & (runs["instance"] == instance)]
        row = exact_rows.get((problem, instance), {})
        senses = [str(row["sense"])] if isinstance(row.get("sense"), str) else []
        sense = (senses + [str(s) for s in mine["sense"].dropna()] + ["max"])[0]
        rows.append({"problem": problem, "instance": instance, "sense_ref": sense, **_reference(mine, row, sense)})
    return pd.DataFrame(rows)


def _reference(runs: pd.DataFrame, exact: dict[str, Any], sense: str) -> dict[str, Any]:
    status = str(exact.get("status", "")) if exact else ""
    objective = _number(exact.get("objective")) if exact else math.nan
    if status == "optimal" and math.isfinite(objective):
        return {"reference": objective, "kind": "exact optimum", "exact_status": status}
    trusted = runs[runs["verified"] & runs["status"].ne("failed")]["best_value"].dropna()
    candidates = [(v, "best run") for v in trusted] + (
        [(objective, "exact incumbent")] if math.isfinite(objective) else []
    )
    if not candidates:
        return {"reference": math.nan, "kind": "none known", "exact_status": status or "missing"}
    value, source = (max if sense == "max" else min)(candidates, key=lambda c: c[0])
    return {"reference": value, "kind": f"best known ({source})", "exact_status": status or "missing"}


def gap_pct(value: Any, reference: Any, sense: Any) -> Any:
    """:func:`bilevel_bench.problem.gap_pct`, with inf where there is no value (a run that found nothing)."""
    gap = core_gap_pct(value, reference, sense)
    return np.where(np.isnan(gap), math.inf, gap)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# -- per-run measures ------------------------------------------------------------------------------------------


def time_to_target(history: pd.DataFrame, target: float, column: str = "elapsed_s") -> pd.Series:
    """Per run_id: ``column`` at the first checkpoint whose gap is <= target (inf if never)."""
    if history.empty:
        return pd.Series(dtype=float)
    hit = history[history["gap"] <= target + SUCCESS_TOL]
    first = hit.groupby("run_id", sort=False)[column].first().astype(float)
    return first.reindex(history["run_id"].unique(), fill_value=math.inf)


def runtimes(runs: pd.DataFrame, history: pd.DataFrame, target: float, column: str) -> pd.Series:
    """Like :func:`time_to_target` for every run in ``runs`` (failed or history-less runs: inf)."""
    found = time_to_target(history[history["run_id"].isin(runs["run_id"])], target, column)
    return found.reindex(runs["run_id"], fill_value=math.inf).fillna(math.inf)


def success_rate(gaps: Iterable[float], target: float) -> float:
    gaps = np.asarray(list(gaps), dtype=float)
    return float(np.mean(gaps <= target + SUCCESS_TOL)) if len(gaps) else math.nan


def ecdf(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted finite values and the fraction of *all* values (infinite ones too) at or below each."""
    values = np.asarray(values, dtype=float)
    finite = np.sort(values[np.isfinite(values)])
    return finite, np.arange(1, len(finite) + 1) / max(len(values), 1)


# -- Dolan-More performance profiles ------------------------------------------------------------------------------


def performance_ratios(times: pd.DataFrame) -> pd.DataFrame:
    """times[instance, method] (inf = not solved) -> ratio to the best method on each instance."""
    best = times.min(axis=1)
    ratios = times.div(best.where(best > 0, np.nan).where(np.isfinite(best), np.nan), axis=0)
    ratios[times == 0] = 1.0  # solved in no time: as good as the best
    return ratios.where(np.isfinite(times), math.inf).fillna(math.inf)


def performance_profile(times: pd.DataFrame, taus: Sequence[float]) -> pd.DataFrame:
    """rho[tau, method]: the fraction of instances on which a method is within a factor tau of the best."""
    ratios = performance_ratios(times)
    return pd.DataFrame({m: [float((ratios[m] <= tau).mean()) for tau in taus] for m in ratios}, index=list(taus))


def profile_times(runs: pd.DataFrame, history: pd.DataFrame, exact: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per instance and method: the median over seeds of the seconds to reach ``target`` (inf when the
    median run does not reach it), and the exact solver's time when it proved optimality."""
    runs = runs.assign(t=runs["run_id"].map(runtimes(runs, history, target, "elapsed_s")))
    times = runs.pivot_table(index=["problem", "instance"], columns="heuristic", values="t", aggfunc=_median_inf)
    times = times.fillna(math.inf)  # a heuristic that did not run on an instance did not solve it
    times[EXACT] = [_exact_time(exact, p, i) for p, i in times.index]
    return times


def _median_inf(values: pd.Series) -> float:
    return float(np.median(np.asarray(values, dtype=float))) if len(values) else math.inf


def _exact_time(exact: pd.DataFrame, problem: str, instance: str) -> float:
    if exact.empty:
        return math.inf
    row = exact[(exact["problem"] == problem) & (exact["instance"].astype(str) == instance)]
    if row.empty or str(row["status"].iloc[0]) != "optimal":
        return math.inf
    return float(row["time_s"].iloc[0])


# -- tables ---------------------------------------------------------------------------------------------------------


def summary_rows(runs: pd.DataFrame, history: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    rows = []
    for key, group in runs.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, key, strict=True)), **_summary(group, history)})
    return pd.DataFrame(rows)


def _summary(group: pd.DataFrame, history: pd.DataFrame) -> dict[str, Any]:
    finite = group["gap"][np.isfinite(group["gap"])]
    seconds = runtimes(group, history, TIME_TARGET, "elapsed_s")
    solves = runtimes(group, history, TIME_TARGET, "n_follower_solves")
    q1, median, q3 = (finite.quantile(q) if len(finite) else math.nan for q in (0.25, 0.5, 0.75))
    row: dict[str, Any] = {
        "runs": len(group),
        "failed": int((group["status"] == "failed").sum()),
        "timeout": int((group["status"] == "timeout").sum()),
        "no feasible": int((group["best_value"].isna() & group["status"].ne("failed")).sum()),
        "unverified": int((~group["verified"] & group["best_value"].notna()).sum()),
        "gap % median": median,
        "gap % IQR": q3 - q1,
    }
    for target in TARGETS:
        row[f"≤{target:g}% rate"] = success_rate(group["gap"], target)
    row[f"s to {TIME_TARGET:g}% (median of reached)"] = _median_finite(seconds)
    row[f"solves to {TIME_TARGET:g}% (median of reached)"] = _median_finite(solves)
    row["wall s median"] = group["wall_s"].median()
    row["gap vs"] = _reference_note(group)
    return row


def _median_finite(values: pd.Series) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.median()) if len(finite) else math.nan


def _reference_note(group: pd.DataFrame) -> str:
    instances = group.drop_duplicates(["problem", "instance"])
    kinds = instances["kind"].value_counts() if "kind" in instances else pd.Series(dtype=int)
    if len(kinds) == 1 and kinds.index[0] == "exact optimum":
        return "exact optimum"
    return ", ".join(f"{kind} ({count}/{len(instances)})" for kind, count in kinds.items())


def exact_rows(results: Results) -> pd.DataFrame:
    refs = results.references
    exact = results.exact
    table = refs[["problem", "instance"]].copy()
    if not exact.empty:
        exact = exact.assign(instance=exact["instance"].astype(str))
        table = table.merge(exact, on=["problem", "instance"], how="left")
    for column in ("status", "objective", "bound", "gap_pct", "time_s", "method"):
        if column not in table:
            table[column] = math.nan
    table["status"] = table["status"].astype(object).fillna("missing")
    table = table.merge(refs[["problem", "instance", "reference", "kind"]], on=["problem", "instance"])
    better = results.runs[results.runs["gap"] < -1e-6].groupby(["problem", "instance"]).size()
    table["runs beating it"] = [
        int(better.get((p, i), 0)) for p, i in zip(table["problem"], table["instance"], strict=True)
    ]
    columns = ["problem", "instance", "status", "objective", "bound", "gap_pct", "time_s", "method", "reference", "kind",
               "runs beating it"]  # fmt: skip
    for column in ("objective", "bound", "reference"):  # full precision: these are the numbers to check
        table[column] = [fmt(v) if not math.isfinite(_number(v)) else f"{_number(v):.10g}" for v in table[column]]
    return table[columns].rename(columns={"kind": "gaps measured against", "gap_pct": "gap (%)"})


# -- figures -----------------------------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colours(labels: Iterable[str]) -> dict[str, Any]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if len(set(labels)) <= 10 else "tab20")
    ordered = sorted(set(labels))
    return {label: cmap(k % cmap.N) for k, label in enumerate(ordered)} | {EXACT: "black"}


def step_values(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The step function through (x, y) (value held from each x on) at ``grid``; GAP_CAP before x[0]."""
    index = np.searchsorted(x, grid, side="right") - 1
    return np.where(index >= 0, y[np.clip(index, 0, None)], GAP_CAP)


def convergence_bands(history: pd.DataFrame, column: str, grid: np.ndarray) -> dict[str, np.ndarray]:
    """Per heuristic: quartiles (3 x len(grid)) of the best gap so far across its runs."""
    out = {}
    for label, group in history.groupby("heuristic", sort=True):
        curves = []
        for _, run in group.groupby("run_id", sort=False):
            gaps = np.minimum(run["gap"].to_numpy(dtype=float), GAP_CAP)
            curves.append(step_values(run[column].to_numpy(dtype=float), gaps, grid))
        out[label] = np.quantile(np.array(curves), [0.25, 0.5, 0.75], axis=0)
    return out


def convergence_figure(history: pd.DataFrame, title: str, path: Path, palette: dict, exact_s: float) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    for ax, (column, label) in zip(axes, AXES, strict=True):
        values = history[column].to_numpy(dtype=float)
        positive = values[values > 0]
        low = float(positive.min()) if len(positive) else 1e-3
        grid = np.geomspace(low, max(float(np.nanmax(values)), low * 1.01), 300)
        for name, (q1, med, q3) in convergence_bands(history, column, grid).items():
            ax.plot(grid, np.maximum(med, GAP_FLOOR), color=palette[name], label=name, lw=1.6)
            ax.fill_between(grid, np.maximum(q1, GAP_FLOOR), np.maximum(q3, GAP_FLOOR), color=palette[name], alpha=0.15)
        if column == "elapsed_s" and math.isfinite(exact_s):
            ax.axvline(exact_s, color="black", ls="--", lw=1, label="exact: proven optimal")
        _gap_axes(ax, label, history)
    _legend(fig, axes)
    fig.suptitle(title)
    return _save(fig, path)


def _gap_axes(ax: Any, label: str, history: pd.DataFrame) -> None:
    finite = history["gap"][np.isfinite(history["gap"]) & (history["gap"] < GAP_CAP)]
    top = max(float(finite.max()) * 2 if len(finite) else 100.0, 1.0)
    bottom = max(float(finite.clip(lower=GAP_FLOOR).min()) / 2 if len(finite) else GAP_FLOOR, GAP_FLOOR / 2)
    _log_x(ax)
    ax.set_yscale("log")
    ax.set_ylim(min(bottom, top / 10), top)
    ax.set_xlabel(label)
    ax.set_ylabel("best gap so far (%)")
    ax.grid(True, which="major", alpha=0.3)


def _log_x(ax: Any, base: float = 10) -> None:
    """Log x axis labelled at 1, 2, 5 x 10^k in plain numbers (or at powers of ``base``)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log", base=base)
    if base == 10:
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _legend(fig: Any, axes: Iterable[Any]) -> None:
    """One legend for the figure, right of the panels, with every label once."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    fig.legend(list(seen.values()), list(seen), loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)


def _ecdf_line(ax: Any, values: Sequence[float], right: float, **style: Any) -> None:
    """An ECDF as a step line from 0 at the smallest value to ``right``."""
    x, y = ecdf(values)
    if len(x) == 0:
        ax.plot([], [], **style)  # in the legend all the same: it never reaches a target
        return
    ax.step(np.concatenate([[x[0]], x, [max(right, x[-1])]]), np.concatenate([[0.0], y, [y[-1]]]), where="post",
            **style)  # fmt: skip


def ecdf_figure(runs: pd.DataFrame, history: pd.DataFrame, exact_s: list[float], title: str, path: Path,
                palette: dict) -> Path:  # fmt: skip
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    for ax, (column, label) in zip(axes, AXES, strict=True):
        right = float(history[column].max()) if len(history) else 1.0
        for name, group in runs.groupby("heuristic", sort=True):
            pooled = np.concatenate([runtimes(group, history, g, column).to_numpy() for g in ECDF_TARGETS])
            _ecdf_line(ax, pooled, right, color=palette[name], label=name)
        if column == "elapsed_s" and exact_s:
            _ecdf_line(ax, exact_s, right, color="black", ls="--", label="exact: instances proven optimal")
        _log_x(ax)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"{label} to reach the target")
        ax.set_ylabel("fraction of (run, target) pairs")
        ax.grid(True, alpha=0.3)
    _legend(fig, axes)
    fig.suptitle(f"{title}: targets {', '.join(f'{g:g}%' for g in ECDF_TARGETS)}")
    return _save(fig, path)


def profile_taus(profile_times_: Iterable[pd.DataFrame]) -> np.ndarray:
    """tau from 1 to twice the largest finite ratio seen (at least 4)."""
    largest = 2.0
    for times in profile_times_:
        ratios = performance_ratios(times).to_numpy(dtype=float)
        finite = ratios[np.isfinite(ratios)]
        largest = max(largest, float(finite.max()) if len(finite) else 2.0)
    return np.geomspace(1, 2 * largest, 400)


def profile_figure(profiles: dict[float, pd.DataFrame], path: Path, palette: dict) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(profiles), figsize=(7.5 * len(profiles), 4.5), squeeze=False)
    for ax, (target, profile) in zip(axes[0], profiles.items(), strict=True):
        for method in profile.columns:
            ax.step(profile.index, profile[method], where="post", color=palette.get(method, "grey"), label=method,
                    ls="--" if method == EXACT else "-", lw=2 if method == EXACT else 1.5)  # fmt: skip
        _log_x(ax, base=2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("τ (time / fastest time on the instance)")
        ax.set_ylabel("fraction of instances within τ")
        ax.set_title(f"wall time to reach {target:g}% (exact: to proven optimality)")
        ax.grid(True, alpha=0.3)
    _legend(fig, axes[0])
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


# -- bi-objective fronts (optional columns) -------------------------------------------------------------------------


def front_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Hypervolume of each bi-objective run's front against one reference per instance (the worst point of
    the union of all fronts on it), median per instance and heuristic."""
    from bilevel_bench.heuristics.front import hypervolume

    has_front = runs[runs["front"].notna() & runs["front"].astype(str).ne("[]")] if "front" in runs else runs.iloc[:0]
    rows = []
    for (problem, instance), group in has_front.groupby(["problem", "instance"], sort=True):
        fronts = {r: np.array(json.loads(f), dtype=float).reshape(-1, 2) for r, f in zip(group["run_id"], group["front"],
                                                                                        strict=True)}  # fmt: skip
        reference = np.vstack(list(fronts.values())).min(axis=0)
        for label, runs_h in group.groupby("heuristic"):
            hv = [hypervolume(fronts[r], reference) for r in runs_h["run_id"]]
            sizes = [len(fronts[r]) for r in runs_h["run_id"]]
            rows.append({"problem": problem, "instance": instance, "heuristic": label, "runs": len(hv),
                         "hypervolume median": float(np.median(hv)), "front size median": float(np.median(sizes)),
                         "reference (leader, welfare)": f"({reference[0]:.6g}, {reference[1]:.6g})"})  # fmt: skip
    return pd.DataFrame(rows)


# -- the document: blocks rendered both as Markdown and as HTML ------------------------------------------------------


@dataclasses.dataclass
class Block:
    kind: str  # "h1", "h2", "h3", "p", "table", "figure"
    content: Any
    caption: str = ""


def fmt(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if value == 0:
            return "0"
        if abs(value) >= 1e6:
            return f"{value:.6g}"
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def _rate_columns(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    for column in table.columns:
        if column.endswith("rate"):
            table[column] = [("–" if math.isnan(v) else f"{100 * v:.0f}%") for v in table[column]]
    return table


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            out.append("#" * int(block.kind[1]) + " " + block.content)
        elif block.kind == "p":
            out.append(block.content)
        elif block.kind == "table":
            out.append(_markdown_table(block.content))
        elif block.kind == "figure":
            out.append(f"![{block.caption}]({block.content})\n\n*{block.caption}*")
    return "\n\n".join(out) + "\n"


def _markdown_table(table: pd.DataFrame) -> str:
    cells = [[fmt(v).replace("|", "\\|") for v in row] for row in table.itertuples(index=False)]
    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    return "\n".join([header, rule, *("| " + " | ".join(row) + " |" for row in cells)])


def to_html(blocks: list[Block], title: str) -> str:
    body = []
    for block in blocks:
        if block.kind in ("h1", "h2", "h3"):
            body.append(f"<{block.kind}>{html.escape(block.content)}</{block.kind}>")
        elif block.kind == "p":
            body.append(f"<p>{_inline_html(block.content)}</p>")
        elif block.kind == "table":
            body.append(_html_table(block.content))
        elif block.kind == "figure":
            body.append(f'<figure><img src="{html.escape(block.content)}" alt="{html.escape(block.caption)}">'
                        f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")  # fmt: skip
    style = ("body{font-family:sans-serif;max-width:1500px;margin:auto;padding:1em}table{border-collapse:collapse;"
             "font-size:13px;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 6px;text-align:right}"
             "th{background:#eee}td:first-child,td:nth-child(2){text-align:left}img{max-width:100%}"
             "code{background:#f3f3f3}")  # fmt: skip
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")  # fmt: skip


def _inline_html(text: str) -> str:
    """The Markdown the report's paragraphs use: `code` and *emphasis*."""
    parts = html.escape(text).split("`")
    out = "".join(f"<code>{p}</code>" if k % 2 else re.sub(r"\*([^*\s][^*]*)\*", r"<em>\1</em>", p)
                  for k, p in enumerate(parts))  # fmt: skip
    return out.replace("\n", "<br>")


def _html_table(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


# -- the report ----------------------------------------------------------------------------------------------------------


def make_report(results_dir: Path) -> list[Path]:
    """Write report.md, report.html and figures/*.png into ``results_dir``; return the paths written."""
    results_dir = Path(results_dir)
    results = load_results(results_dir)
    figures_dir = results_dir / "figures"
    figures_dir.mkdir(exist_ok=True)
    for stale in figures_dir.glob("*.png"):  # the report owns figures/: no figure of an older grid survives
        stale.unlink()
    palette = colours(results.runs["heuristic"])
    written: list[Path] = []
    blocks = _introduction(results, results_dir)
    blocks += _summary_section(results)
    blocks += _exact_section(results)
    blocks += _failure_section(results)
    for section in (_convergence_section, _ecdf_section, _profile_section, _front_section):
        section_blocks, paths = section(results, figures_dir, palette)
        blocks += section_blocks
        written += paths
    md, page = results_dir / "report.md", results_dir / "report.html"
    md.write_text(to_markdown(blocks), encoding="utf-8")
    page.write_text(to_html(blocks, f"bilevel-bench report: {results_dir.name}"), encoding="utf-8")
    return [md, page, *written]


def _introduction(results: Results, results_dir: Path) -> list[Block]:
    runs = results.runs
    budget = ", ".join(
        f"{column} = {', '.join(fmt(v) for v in sorted(runs[column].dropna().unique()))}"
        for column in ("max_evals", "max_seconds") if column in runs and runs[column].notna().any()
    )  # fmt: skip
    versions = ", ".join(
        f"{c.removesuffix('_version')} {runs[c].dropna().iloc[0]}" for c in runs.columns if c.endswith("_version")
        and runs[c].notna().any()
    )  # fmt: skip
    grids = ", ".join(sorted(runs["grid"].dropna().astype(str).unique())) if "grid" in runs else "?"
    text = (
        f"Grid(s): {grids}. {len(runs)} runs of {runs['heuristic'].nunique()} heuristics on "
        f"{len(results.references)} instances of {runs['problem'].nunique()} problem(s); budget per run: "
        f"{budget or 'see runs.csv'}. Versions: {versions or 'not recorded'}. Built from "
        f"`{results_dir / 'runs.csv'}`, `history.csv` and `exact.csv` alone."
    )
    definitions = (
        "The gap of a run is `100 * (reference - value) / |reference|` in the leader's sense (min: the other "
        "way round), so 0 is the reference and a positive gap is a shortfall; values within twice the "
        "follower's tie tolerance (1e-6 + 1e-9 |reference|) of the reference count as equal (gap 0). The "
        "reference is the exact "
        "optimum where the exact baseline proved optimality; elsewhere it is the best value known (the best "
        "verified run, or the exact solver's incumbent if better), and the tables say so in *gap vs*. Failed "
        "runs and runs without a feasible decision have an infinite gap: they count in the success rates as "
        "failures and are left out of the gap median and IQR. A run reaches a target gap at the first history "
        "checkpoint (one per evaluated batch) where its best value is within it; its time and follower solves "
        "to the target are read there. *no feasible*: runs that never found a decision meeting the leader's "
        "constraints. *unverified*: the best (feasible) decision did not reproduce its value when its "
        "followers were solved again from scratch."
    )
    return [Block("h1", "Benchmark report"), Block("p", text), Block("h2", "Definitions"), Block("p", definitions)]


def _summary_section(results: Results) -> list[Block]:
    runs, history = results.runs, results.history
    per_problem = _rate_columns(summary_rows(runs, history, ["problem", "heuristic"]))
    per_instance = _rate_columns(summary_rows(runs, history, ["problem", "instance", "heuristic"]))
    return [
        Block("h2", "Summary per problem and heuristic"),
        Block("p", "All instances and seeds of a problem pooled. Rates are over all runs, failed ones included."),
        Block("table", per_problem),
        Block("h3", "Per instance"),
        Block("table", per_instance),
    ]


def _exact_section(results: Results) -> list[Block]:
    return [
        Block("h2", "Exact baseline"),
        Block("p", "One exact solve per instance (exact.csv). *runs beating it* counts runs whose value is better "
              "than the reference by more than 1e-6 %: with a proven optimum that would be a defect."),
        Block("table", exact_rows(results)),
    ]  # fmt: skip


def failure_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Failed and timed-out runs grouped by problem, heuristic, status and error message."""
    bad = runs[runs["status"].isin(["failed", "timeout"])]
    if bad.empty:
        return pd.DataFrame()
    errors = bad.assign(error=bad.get("error", pd.Series("", index=bad.index)).fillna("").astype(str).str[:200])
    table = errors.groupby(["problem", "heuristic", "status", "error"], sort=True).agg(
        runs=("run_id", "size"), instances=("instance", lambda s: ", ".join(sorted(set(map(str, s)))))
    )
    return table.reset_index()


def _failure_section(results: Results) -> list[Block]:
    table = failure_rows(results.runs)
    if table.empty:
        return [Block("h2", "Failed runs"), Block("p", "None: every run ended normally.")]
    text = "Runs that raised (failed) or hit the hard wall-clock limit (timeout, incumbent kept), by message."
    return [Block("h2", "Failed runs"), Block("p", text), Block("table", table)]


def _convergence_section(results: Results, figures: Path, palette: dict) -> tuple[list[Block], list[Path]]:
    blocks, paths = [Block("h2", "Convergence")], []
    blocks.append(Block("p", f"Best gap so far, median (line) and quartiles (band) across seeds, against leader "
                        f"evaluations, follower solves and wall seconds (log scales; gaps below {GAP_FLOOR:g}% are "
                        "drawn at that floor). The dashed line is the exact solver's time to proven optimality. "
                        "Failed runs have no history and are not drawn."))  # fmt: skip
    for (problem, instance), history in results.history.groupby(["problem", "instance"], sort=True):
        path = figures / f"convergence_{_slug(problem)}_{_slug(instance)}.png"
        exact_s = _exact_time(results.exact, problem, instance)
        ref = results.references.set_index(["problem", "instance"]).loc[(problem, instance), "kind"]
        title = f"{problem} / {instance} (gap vs {ref})"
        paths.append(convergence_figure(history, title, path, palette, exact_s))
        blocks.append(Block("figure", f"figures/{path.name}", f"Convergence on {problem} / {instance}"))
    return blocks, paths


def _ecdf_section(results: Results, figures: Path, palette: dict) -> tuple[list[Block], list[Path]]:
    blocks, paths = [Block("h2", "Runtime ECDFs")], []
    blocks.append(Block("p", "For each heuristic, the fraction of (run, target) pairs, over all instances and seeds "
                        f"of a problem and the targets {', '.join(f'{g:g}%' for g in ECDF_TARGETS)}, whose target "
                        "was reached within a given budget (COCO/IOHprofiler style). Failed runs count as never "
                        "reaching. Dashed: the fraction of instances the exact solver proved optimal by then."))  # fmt: skip
    for problem, runs in results.runs.groupby("problem", sort=True):
        path = figures / f"ecdf_{_slug(problem)}.png"
        instances = runs["instance"].unique()
        exact_s = [_exact_time(results.exact, problem, i) for i in instances]
        history = results.history[results.history["problem"] == problem]
        paths.append(ecdf_figure(runs, history, exact_s, f"{problem} ({len(instances)} instances)", path, palette))
        blocks.append(Block("figure", f"figures/{path.name}", f"Runtime ECDFs on {problem}"))
    return blocks, paths


def _profile_section(results: Results, figures: Path, palette: dict) -> tuple[list[Block], list[Path]]:
    all_times = {t: profile_times(results.runs, results.history, results.exact, t) for t in PROFILE_TARGETS}
    taus = profile_taus(all_times.values())
    profiles, tables = {}, []
    for target, times in all_times.items():
        profiles[target] = performance_profile(times, taus)
        at = performance_profile(times, [1, 10, 100, 1000])
        at.index = [f"ρ(τ={t:g}), {target:g}%" for t in at.index]
        tables.append(at.T)
    table = pd.concat(tables, axis=1).reset_index(names="method")
    table = table.map(lambda v: f"{100 * v:.0f}%" if isinstance(v, float) else v)
    path = profile_figure(profiles, figures / "performance_profiles.png", palette)
    text = ("Dolan-Moré performance profiles over all instances. A heuristic's time on an instance is the median "
            "over its seeds of the wall seconds to reach the target gap (∞ if the median seed does not reach it); "
            "the exact solver's is its time to proven optimality (∞ if it did not prove it). ρ(τ) is the fraction "
            "of instances on which a method is within a factor τ of the fastest; ρ(1) is how often it is the "
            "fastest, the right end how often it succeeds at all.")  # fmt: skip
    blocks = [Block("h2", "Performance profiles"), Block("p", text), Block("figure", f"figures/{path.name}",
              "Performance profiles"), Block("table", table)]  # fmt: skip
    return blocks, [path]


def _front_section(results: Results, figures: Path, palette: dict) -> tuple[list[Block], list[Path]]:
    table = front_rows(results.runs)
    if table.empty:
        return [], []
    text = ("Bi-objective runs (leader value against follower welfare, both maximised). Hypervolumes are "
            "recomputed from the fronts in runs.csv against one reference point per instance: the worst value of "
            "each objective over the union of all fronts on it, so they compare across runs.")  # fmt: skip
    return [Block("h2", "Bi-objective fronts"), Block("p", text), Block("table", table)], []


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text)).strip("_")[:80] or "x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make report.md/report.html with figures from a results dir.")
    parser.add_argument("results_dir", type=Path)
    args = parser.parse_args(argv)
    for path in make_report(args.results_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
