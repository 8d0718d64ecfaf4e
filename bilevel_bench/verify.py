"""Re-verification, once for every family: a decision is evaluated again from scratch with the exact follower.

Two users:

- the heuristics' best decisions (:func:`reverify`): a fresh problem object (no cache, no shared state)
  solves the followers of ``x`` again and recomputes the leader value;
- the exact baselines (:func:`verified_exact`): after every exact solve, ``solution["x"]`` is first
  passed through the family's one repair hook (:meth:`BilevelProblem.repair_solver_decision`, for
  decisions that fail only by solver tolerance), then re-evaluated. One rule decides what is reported:

  - the reported objective is the **re-evaluated** value;
  - it agrees with the solver's value within :func:`agree`: the status stands (``verification = agree``);
  - it differs: an ``optimal`` claim becomes ``feasible`` (the re-evaluated decision is feasible, its
    optimality is not proven), the bound is kept, and the notes give both numbers (``mismatch``);
  - the decision is bilevel infeasible: the status becomes ``error``, the objective is nan, the bound is
    kept, and the notes give the solver's value and the follower's status (``infeasible``);
  - the re-evaluation does not finish within its own time limit (as long as the solve's: exact routing of
    a large retail instance can take far longer than the solve): the solver's value is reported, an
    ``optimal`` claim becomes ``feasible``, a result without any value becomes ``error``, and the notes say
    so (``timeout``).
  A ``published`` reference with a decision is verified the same way, and keeps the published value as
  its objective when the decision reproduces it. The re-evaluation uses the problem's options, except
  those the family names in :meth:`BilevelProblem.reference_options` (a baseline that routes exactly is
  verified with exact routing even where the runs route heuristically).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from bilevel_bench import limits
from bilevel_bench.errors import InputError
from bilevel_bench.problem import (
    LIMIT,
    VERIFY_AGREE,
    VERIFY_INFEASIBLE,
    VERIFY_MISMATCH,
    VERIFY_NONE,
    VERIFY_TIMEOUT,
    Evaluation,
    ExactResult,
    ExactStatus,
    tie_tolerance,
)

if TYPE_CHECKING:
    from bilevel_bench.problem import BilevelProblem

#: Relative agreement asked of two computations of the same leader value (beyond the tie band).
VERIFY_TOL = 1e-6


def fresh_copy(problem: BilevelProblem, **overrides: Any) -> BilevelProblem:
    """The same problem rebuilt from its instance and options (``overrides`` replacing some): no cache, no state
    shared with ``problem``."""
    return type(problem)(problem.instance, tie_break=problem.tie_break, **{**problem.options(), **overrides})


def agree(a: float, b: float) -> bool:
    """Whether two computations of one leader value agree: within the follower's tie band (twice the tie
    tolerance at the value's scale, see :func:`bilevel_bench.problem.gap_pct`) or :data:`VERIFY_TOL`
    relative."""
    if math.isnan(a) or math.isnan(b):
        return False
    return abs(a - b) <= max(2.0 * tie_tolerance(b), VERIFY_TOL * max(1.0, abs(b)))


def reevaluate(problem: BilevelProblem, x: np.ndarray, **overrides: Any) -> Evaluation:
    """Evaluate ``x`` on a fresh copy of ``problem`` (with ``overrides`` of its options)."""
    return fresh_copy(problem, **overrides).evaluate(np.asarray(x, dtype=float))


def reverify(problem: BilevelProblem, x: np.ndarray | None, value: float) -> tuple[bool, float, str]:
    """(agrees, re-evaluated value, status) for a heuristic's best decision ``x`` claimed to be worth ``value``."""
    if x is None:
        return False, math.nan, "no_solution"
    evaluation = reevaluate(problem, x)
    if not evaluation.feasible:
        return False, evaluation.value, f"infeasible:{evaluation.follower.status}"
    ok = agree(evaluation.value, value)
    return ok, evaluation.value, "agree" if ok else "mismatch"


def verified_exact(problem: BilevelProblem, time_limit: float) -> ExactResult:
    """Run the family's exact baseline, then re-verify its decision by the rule above."""
    start = time.perf_counter()
    try:
        result = problem.solve_exact(time_limit=time_limit)
    except InputError:
        raise
    except Exception as exc:  # a solver failure is a result, never a crash of the grid
        return ExactResult(math.nan, math.nan, ExactStatus.ERROR, time.perf_counter() - start, {}, notes=_one_line(exc))
    return verify_exact(problem, result, time_limit)


def verify_exact(problem: BilevelProblem, result: ExactResult, time_limit: float | None = None) -> ExactResult:
    """Apply the re-verification rule to ``result`` (in place) and return it; the re-evaluation gets
    ``time_limit`` seconds (None: no limit)."""
    x = result.x
    if x is None:
        if result.status in (ExactStatus.OPTIMAL, ExactStatus.FEASIBLE):
            _downgrade(result, ExactStatus.ERROR, "the baseline returned no decision to verify")
        result.verification = VERIFY_NONE
        return result
    lb, ub = problem.bounds()
    x = np.asarray(problem.repair_solver_decision(np.clip(x, lb, ub)), dtype=float)
    if not np.array_equal(x, np.asarray(result.solution["x"], dtype=float)):
        result.solution = {**result.solution, "x": x.tolist()}
        result.notes = _join(result.notes, "decision repaired within solver tolerance before verification")
    with limits.deadline(None if time_limit is None else time.time() + time_limit):
        evaluation = reevaluate(problem, x, **problem.reference_options())
    claimed = result.objective
    if evaluation.follower.status == LIMIT:
        result.verification = VERIFY_TIMEOUT
        within = "its time limit" if time_limit is None else f"its {time_limit:g} s limit"
        why = f"not re-verified: the re-evaluation did not finish within {within}"
        if math.isnan(claimed):  # no value at all: the solver found none and the decision could not be valued
            _downgrade(result, ExactStatus.ERROR, f"no incumbent value: {why}")
        elif result.status is ExactStatus.OPTIMAL:
            _downgrade(result, ExactStatus.FEASIBLE, why)
        else:
            result.notes = _join(result.notes, why)
        return result
    if not evaluation.feasible:
        why = evaluation.follower.status if not evaluation.follower.ok else f"violation {evaluation.violation:.3g}"
        result.verification = VERIFY_INFEASIBLE
        result.objective = math.nan
        _downgrade(
            result,
            ExactStatus.ERROR,
            f"the solver's decision (value {claimed:.10g}) is not bilevel feasible under the exact follower ({why})",
        )
        return result
    if agree(evaluation.value, claimed) or math.isnan(claimed):
        result.verification = VERIFY_AGREE
        if result.status is not ExactStatus.PUBLISHED:
            result.objective = evaluation.value
        return result
    result.verification = VERIFY_MISMATCH
    result.objective = evaluation.value
    note = f"solver value {claimed:.10g}, re-evaluated {evaluation.value:.10g}"
    if result.status is ExactStatus.PUBLISHED:
        result.objective = claimed
        _downgrade(result, ExactStatus.ERROR, f"the published decision does not reproduce the published value: {note}")
    elif result.status is ExactStatus.OPTIMAL:
        _downgrade(result, ExactStatus.FEASIBLE, f"optimality not certified: {note}")
    else:
        result.notes = _join(result.notes, note)
    return result


def _downgrade(result: ExactResult, status: ExactStatus, why: str) -> None:
    if result.status is not status:
        why = f"{why} (solver status {result.status.value})"
    result.status = status
    result.notes = _join(result.notes, why)


def _join(notes: str, more: str) -> str:
    return f"{notes}; {more}" if notes else more


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]


def as_row(result: ExactResult) -> dict[str, Any]:
    """The result's columns for ``exact.csv`` (no solution)."""
    row = result.as_dict()
    row.pop("solution")
    return row
