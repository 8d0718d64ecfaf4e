"""One heuristic run on one problem: budget, evaluation, and re-verification of the best decision.

Termination is the same for every heuristic: a budget of leader evaluations (``max_evals``). The run's
:class:`~bilevel_bench.heuristics.evaluator.BatchEvaluator` enforces it, so every heuristic uses exactly
``max_evals`` evaluations (its last batch is cut if need be), and results do not depend on machine load.
Clocks are safety nets: ``max_seconds`` (checked between batches) and the hard ``time_limit`` (a deadline
every solver call sees) end a run early with status ``timeout``, keeping its incumbent. An algorithm that
stops by itself before the budget is used up (Nelder-Mead or pattern search converged, CMA-ES out of
restarts, a GA that can breed no new offspring) is **restarted** with a new seed derived from the run's
seed, on the same evaluator, so its counters, cache and history go on.

The constraint handling (``constraints``: feasibility-first, Lamarckian repair by the family's projection, or
the epsilon-constrained method; :mod:`heuristics.adapter`) and the initial sample (``sampling``: the
algorithm's own or the bilevel-aware starts of :mod:`heuristics.starts`) are parameters of the heuristic;
the run resolves ``constraints = "auto"`` for the problem and records both (``RunResult.constraints``,
``RunResult.sampling``).

At the end the best decision is **re-verified** (:func:`bilevel_bench.verify.reverify`): a fresh problem
object (no cache, no shared state) solves its followers again from scratch and recomputes the leader value;
``verified`` says whether the two agree.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from typing import Any

import numpy as np
from pymoo.core.termination import Termination
from pymoo.optimize import minimize
from pymoo.termination.collection import TerminationCollection
from pymoo.termination.max_eval import MaximumFunctionCallTermination
from pymoo.termination.max_time import TimeBasedTermination

from bilevel_bench import limits
from bilevel_bench.errors import InputError, RunTimeout
from bilevel_bench.heuristics.adapter import BiObjectiveProblem, PymooProblem, resolve_constraints
from bilevel_bench.heuristics.evaluator import BatchEvaluator, BudgetExhausted, Checkpoint, Counters
from bilevel_bench.heuristics.operators import StallTermination
from bilevel_bench.heuristics.registry import Heuristic, ProblemInfo, get_heuristic
from bilevel_bench.problem import BilevelProblem
from bilevel_bench.verify import reverify


@dataclasses.dataclass(frozen=True)
class Budget:
    """``max_evals`` is the budget; ``max_seconds`` a safety net whose firing makes the run a timeout."""

    max_evals: int | None = None
    max_seconds: float | None = None

    def check(self) -> None:
        if self.max_evals is None or self.max_evals <= 0:
            raise InputError("<budget>", "max_evals", "the budget is a positive number of leader evaluations")

    def termination(self) -> Termination:
        """The budget as a pymoo termination (runs use the evaluator's exact budget instead)."""
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
    status: str  # "ok", or "timeout" when a clock ended it before its budget (a run that raises: "failed")
    error: str
    best_x: np.ndarray | None
    best_value: float
    best_violation: float
    verified: bool
    verify_value: float
    verify_status: str
    counters: Counters
    wall_s: float
    cpu_s: float  # process time of the run, its workers' included
    history: list[Checkpoint]
    decision: dict[str, Any]
    stop_reason: str = ""  # "max_evals", "max_seconds", "stalled" or "timeout"
    restarts: int = 0  # times the algorithm was started again after stopping by itself
    front: list[list[float]] = dataclasses.field(default_factory=list)  # bi-objective runs: (leader, welfare)
    hypervolume: float = math.nan  # of ``front``, against the run's worst values seen (heuristics/README.md)
    #: the constraint handling the run used: feasibility_first, repair or epsilon ("auto" resolved)
    constraints: str = ""
    #: the initial sample: "default" (the algorithm's own) or "hpr" (bilevel-aware starts, heuristics/starts.py)
    sampling: str = ""


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
    budget.check()
    info = ProblemInfo.of(problem)
    spec.check_problem(info)
    constraints = resolve_constraints(resolved.get("constraints"), problem)
    sampling = str(resolved.get("sampling", "default"))
    start = time.perf_counter()
    status, error = "ok", ""
    restarts: list[int] = []  # one entry per restart, kept when the budget's exception ends the run
    with BatchEvaluator(
        problem,
        n_jobs=n_jobs,
        time_limit=time_limit,
        max_evals=budget.max_evals,
        max_seconds=budget.max_seconds,
    ) as evaluator:
        if spec.objectives:
            pymoo_problem: PymooProblem = BiObjectiveProblem(evaluator, constraints)
        else:
            pymoo_problem = PymooProblem(evaluator, constraints=constraints)
        try:
            optimise(spec, resolved, info, pymoo_problem, seed, restarts)
            reason = "stalled"
        except BudgetExhausted as exc:
            reason = exc.reason
            if reason == "max_seconds" and budget.max_evals is not None:
                status = "timeout"
                error = f"max_seconds = {budget.max_seconds:g} ended the run after {evaluator.counters.n_evals} of "
                error += f"{budget.max_evals} evaluations"
        except RunTimeout as exc:
            status, error, reason = "timeout", str(exc), "timeout"
    with limits.deadline(_grace(time_limit, start)):  # re-verification may overrun the limit by little only
        verify = reverify(problem, evaluator.best_x, evaluator.best_value)
    front, hv = bi_objective_outcome(pymoo_problem)
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
        cpu_s=evaluator.cpu_seconds,
        history=evaluator.history,
        decision=problem.decode(evaluator.best_x) if evaluator.best_x is not None else {},
        stop_reason=reason,
        restarts=len(restarts),
        front=front,
        hypervolume=hv,
        constraints=constraints,
        sampling=sampling,
    )


#: A timed-out run's re-verification may take this share of its time limit more (or GRACE_MIN_S).
GRACE_SHARE, GRACE_MIN_S = 0.05, 1.0


def _grace(time_limit: float | None, start: float) -> float | None:
    if time_limit is None:
        return None
    wall_start = time.time() - (time.perf_counter() - start)
    return wall_start + time_limit + max(GRACE_SHARE * time_limit, GRACE_MIN_S)


def optimise(
    spec: Heuristic,
    params: dict[str, Any],
    info: ProblemInfo,
    pymoo_problem: PymooProblem,
    seed: int,
    restarts: list[int],
) -> None:
    """Run the algorithm, restarting it whenever it stops by itself, until the evaluator's budget ends it.

    Each restart is appended to ``restarts``. Returns normally only if an algorithm made no evaluation at
    all (nothing left that it could try), which the run reports as "stalled".
    """
    counters = pymoo_problem.evaluator.counters
    for attempt in itertools.count():
        if attempt:
            restarts.append(attempt)
        before = counters.n_evals
        parts: list[Termination] = [StallTermination()]
        if spec.convergence is not None:
            parts.append(spec.convergence(params))
        algorithm = spec.build(params, info)
        termination = TerminationCollection(*parts)
        minimize(pymoo_problem, algorithm, termination, seed=restart_seed(seed, attempt), copy_algorithm=False)
        if counters.n_evals == before:
            return


def restart_seed(seed: int, restart: int) -> int:
    """The run's own seed first, then seeds derived from (seed, restart): reproducible, distinct."""
    if restart == 0:
        return seed
    return int(np.random.SeedSequence([seed, restart]).generate_state(1)[0])


def bi_objective_outcome(pymoo_problem: PymooProblem) -> tuple[list[list[float]], float]:
    if not isinstance(pymoo_problem, BiObjectiveProblem):
        return [], math.nan
    archive = pymoo_problem.archive
    return archive.front.tolist(), archive.hypervolume()
