"""One heuristic run on one problem: budget, evaluation, and re-verification of the best decision.

Termination is the same for every heuristic: a budget of leader evaluations and/or wall seconds (whichever
comes first; the run ends normally). A separate hard ``time_limit`` makes a run end with status
``timeout``, keeping its incumbent.

At the end the best decision is **re-verified**: a fresh problem object (no cache, no shared state) solves
its followers again from scratch and recomputes the leader value; ``verified`` says whether the two agree
within :data:`VERIFY_TOL` (relative).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
from pymoo.core.termination import Termination
from pymoo.optimize import minimize
from pymoo.termination.collection import TerminationCollection
from pymoo.termination.max_eval import MaximumFunctionCallTermination
from pymoo.termination.max_time import TimeBasedTermination

from bilevel_bench.errors import InputError, RunTimeout
from bilevel_bench.problem import BilevelProblem
from heuristics.adapter import PymooProblem
from heuristics.evaluator import BatchEvaluator, Checkpoint, Counters
from heuristics.registry import ProblemInfo, get_heuristic

VERIFY_TOL = 1e-6


@dataclasses.dataclass(frozen=True)
class Budget:
    max_evals: int | None = None
    max_seconds: float | None = None

    def termination(self) -> Termination:
        parts: list[Termination] = []
        if self.max_evals is not None:
            parts.append(MaximumFunctionCallTermination(self.max_evals))
        if self.max_seconds is not None:
            parts.append(TimeBasedTermination(self.max_seconds))
        if not parts:
            raise InputError("<budget>", "budget", "needs max_evals and/or max_seconds")
        return TerminationCollection(*parts)


@dataclasses.dataclass
class RunResult:
    status: str  # "ok" or "timeout" (a run that raises is the caller's "failed")
    error: str
    best_x: np.ndarray | None
    best_value: float
    best_violation: float
    verified: bool
    verify_value: float
    verify_status: str
    counters: Counters
    wall_s: float
    history: list[Checkpoint]
    decision: dict[str, Any]


def run_heuristic(
    problem: BilevelProblem,
    heuristic: str,
    params: dict[str, Any] | None,
    seed: int,
    budget: Budget,
    n_jobs: int = 1,
    time_limit: float | None = None,
) -> RunResult:
    spec = get_heuristic(heuristic)
    resolved = spec.parameters(params)
    info = ProblemInfo(problem.n_var, int(problem.integer_mask().sum()))
    start = time.perf_counter()
    status, error = "ok", ""
    with BatchEvaluator(problem, n_jobs=n_jobs, time_limit=time_limit) as evaluator:
        algorithm = spec.build(resolved, info)
        try:
            minimize(
                PymooProblem(evaluator), algorithm, budget.termination(), seed=seed, verbose=False,
                copy_algorithm=False,
            )
        except RunTimeout as exc:
            status, error = "timeout", str(exc)
    verify = reverify(problem, evaluator.best_x, evaluator.best_value)
    return RunResult(
        status=status,
        error=error,
        best_x=evaluator.best_x,
        best_value=evaluator.best_value if evaluator.best_violation == 0 else math.nan,
        best_violation=evaluator.best_violation,
        verified=verify[0],
        verify_value=verify[1],
        verify_status=verify[2],
        counters=evaluator.counters,
        wall_s=time.perf_counter() - start,
        history=evaluator.history,
        decision=problem.decode(evaluator.best_x) if evaluator.best_x is not None else {},
    )


def reverify(problem: BilevelProblem, x: np.ndarray | None, value: float) -> tuple[bool, float, str]:
    """Solve the followers of ``x`` again on a fresh problem object and compare the leader value."""
    if x is None:
        return False, math.nan, "no_solution"
    fresh = type(problem)(problem.instance, tie_break=problem.tie_break, **problem_options(problem))
    evaluation = fresh.evaluate(x)
    if not evaluation.feasible:
        return False, evaluation.value, f"infeasible:{evaluation.follower.status}"
    agree = not math.isnan(value) and abs(evaluation.value - value) <= VERIFY_TOL * max(1.0, abs(value))
    return agree, evaluation.value, "agree" if agree else "mismatch"


def problem_options(problem: BilevelProblem) -> dict[str, Any]:
    """Constructor options of a problem beyond instance and tie-break (families declare ``options()``)."""
    options = getattr(problem, "options", None)
    return dict(options()) if callable(options) else {}
