"""The Python API: load a problem, run a heuristic on it, solve its exact baseline, run a grid.

This module sits at the top of the layers, beside the command line (which it mirrors): it may import every
layer. ``import bilevel_bench`` exposes its functions lazily, so importing the package stays cheap::

    import bilevel_bench as bb

    problem = bb.load_problem("inventory", "seed")
    result = bb.solve(problem, "ga", params={"pop_size": 30}, max_evals=2000, seed=1)
    print(result.value, result.verified, result.counters.n_follower_solves)
    print(result.history.tail())
    reference = bb.exact(problem, time_limit=30)
    runs, history, exact = bb.read_results("results/quickstart")  # a grid's tables, with their declared dtypes

A pymoo user can also run any pymoo algorithm with a pymoo termination on :func:`as_pymoo`'s problem and
gets pymoo's own ``Result`` back, with every follower solved exactly and the counters on
``pymoo_problem.evaluator.counters``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bilevel_bench.errors import InputError
from bilevel_bench.experiments.grid import Grid, load_grid, parse_grid
from bilevel_bench.experiments.results import read_results
from bilevel_bench.experiments.runner import run_grid as _run_grid
from bilevel_bench.heuristics.adapter import PymooProblem
from bilevel_bench.heuristics.evaluator import BatchEvaluator, Checkpoint, Counters
from bilevel_bench.heuristics.run import Budget, RunResult, run_heuristic
from bilevel_bench.instance import Instance
from bilevel_bench.problem import BilevelProblem, ExactResult
from bilevel_bench.registry import get_family, resolve_instance


def load_problem(
    family: str, instance: str | Instance, tie_break: str = "optimistic", **options: Any
) -> BilevelProblem:
    """The bilevel problem of ``family`` on ``instance``: a shipped name, a path, a ``generate:`` spec or an
    :class:`~bilevel_bench.instance.Instance`; ``options`` are the family's declared problem options."""
    fam = get_family(family, "<api>", "family")
    inst = instance if isinstance(instance, Instance) else resolve_instance(fam, instance, "<api>", "instance")
    return fam.make_problem(inst, tie_break, **options)


@dataclasses.dataclass
class SolveResult:
    """One heuristic run: the best decision, its re-verified value, the counters and the history."""

    x: np.ndarray | None  # the best flat leader vector (None if the run evaluated nothing)
    decision: dict[str, Any]  # the same, named by the family
    value: float  # its leader value re-evaluated from scratch (leader's sense); nan if infeasible
    verified: bool  # the re-evaluation reproduced the run's own value
    status: str  # "ok" or "timeout"
    stop_reason: str  # "max_evals", "max_seconds", "stalled" or "timeout"
    counters: Counters
    history: pd.DataFrame  # one row per evaluated batch: n_evals, n_follower_solves, elapsed_s, best_value
    wall_s: float
    run: RunResult  # everything else the run recorded


def solve(
    problem: BilevelProblem,
    heuristic: str = "ga",
    params: Mapping[str, Any] | None = None,
    max_evals: int | None = None,
    seed: int = 0,
    max_seconds: float | None = None,
    time_limit: float | None = None,
    n_jobs: int = 1,
) -> SolveResult:
    """Run ``heuristic`` (a registered name, see ``bilevel-bench list``) on ``problem`` under a budget of
    ``max_evals`` leader evaluations (and/or ``max_seconds``); the best decision is re-verified."""
    if max_evals is None:
        raise InputError(
            "<api>", "max_evals", "give a budget: max_evals leader evaluations (max_seconds is a safety net)"
        )
    budget = Budget(max_evals, max_seconds)
    run = run_heuristic(problem, heuristic, dict(params or {}), seed, budget, n_jobs, time_limit)
    return SolveResult(
        x=run.best_x,
        decision=run.decision,
        value=run.verify_value,
        verified=run.verified,
        status=run.status,
        stop_reason=run.stop_reason,
        counters=run.counters,
        history=history_frame(run.history),
        wall_s=run.wall_s,
        run=run,
    )


def history_frame(history: list[Checkpoint]) -> pd.DataFrame:
    columns = [field.name for field in dataclasses.fields(Checkpoint)]
    return pd.DataFrame([dataclasses.astuple(c) for c in history], columns=columns)


def exact(problem: BilevelProblem, time_limit: float = 60.0) -> ExactResult:
    """The family's exact baseline on ``problem``, re-verified with the exact follower."""
    return problem.exact(time_limit=time_limit)


def as_pymoo(problem: BilevelProblem, n_jobs: int = 1) -> PymooProblem:
    """``problem`` as a pymoo ``Problem`` for ``pymoo.optimize.minimize`` with any pymoo termination.

    Every follower is solved exactly; there is no budget of ours (pymoo's termination decides), and the
    counters are on ``.evaluator.counters``. A maximised leader value enters pymoo as ``F = -value``.
    """
    return PymooProblem(BatchEvaluator(problem, n_jobs=n_jobs))


@dataclasses.dataclass
class GridResults:
    out: Path
    runs: pd.DataFrame
    history: pd.DataFrame
    exact: pd.DataFrame


def run_grid(
    grid: str | Path | Mapping[str, Any],
    out: str | Path | None = None,
    jobs: int | None = None,
    resume: bool = True,
    progress: bool = False,
    formats: tuple[str, ...] = ("csv",),
) -> GridResults:
    """Run (or resume) a grid, given as a TOML path or as the same data in a dict, into ``out``
    (default ``results/<name>``); returns its tables, read with their declared dtypes (:func:`read_results`).
    ``formats`` may add ``"parquet"``."""
    parsed: Grid = (
        parse_grid(dict(grid), "<dict>", base_dir=Path.cwd()) if isinstance(grid, Mapping) else load_grid(grid)
    )
    if parsed.study is not None:
        raise InputError(parsed.source, "study", "a study grid runs from the command line: bilevel-bench run GRID")
    out_dir = Path(out) if out is not None else Path("results") / parsed.name
    _run_grid(parsed, out_dir, jobs, resume, progress=progress, formats=formats)
    tables = read_results(out_dir)
    return GridResults(out_dir, tables.runs, tables.history, tables.exact)
