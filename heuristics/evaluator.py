"""Batched, cached, parallel evaluation of leader decisions, with the counters every run reports.

One :class:`BatchEvaluator` lives for one heuristic run. A batch (a pymoo population) is first
canonicalised (clipped to bounds, integer variables rounded, the problem's cheap repair applied), then
looked up in the run's cache of exact follower responses keyed by the leader vector; the misses are split
into one chunk per worker and evaluated there.

**Workers keep the problem.** With ``n_jobs > 1`` the run starts one process pool (loky, the joblib
backend) whose workers receive the problem **once**, when they start, and keep it for the whole run. So
whatever a family caches on its problem object in a worker (a solver model kept between calls in a
``transient`` attribute) serves every later batch, as it does serially; chunks carry only the decisions.
Workers build their own OR-Tools models (CP-SAT with ``num_workers=1``). A family whose evaluations share
expensive pieces of work (retail: routing a parcel set) declares them
(:meth:`~bilevel_bench.problem.BilevelProblem.shared_work`): each distinct piece of a batch is then done
once, by one worker, its result kept in this process, and the batch evaluated here on the cached pieces,
so the work done does not depend on the number of workers.

Results do not depend on ``n_jobs``: chunks come back in order, every evaluation is deterministic, and
a family's caches must not change values (only the time to compute them).

**Budget.** The run's budget is a number of leader evaluations (``max_evals``), the same for every
heuristic: a batch that would go past it is cut to the evaluations that remain, and once it is reached the
next call raises :class:`BudgetExhausted` (the run then ends normally). Two clocks are safety nets only:
``max_seconds`` is checked between batches, and the hard ``time_limit`` is a **deadline** that every
solver call inside the run sees (:mod:`bilevel_bench.limits`): candidates still unevaluated when it passes
get the follower status ``limit``, and the run ends with :class:`~bilevel_bench.errors.RunTimeout`. A run
ended by either clock before its budget is a ``timeout``, never ``ok``.

Every evaluated batch is a checkpoint of the history (:attr:`BatchEvaluator.history`): evaluations,
follower solves, wall and CPU seconds so far (CPU time of this process and its workers), best value.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bilevel_bench import limits
from bilevel_bench.errors import RunTimeout
from bilevel_bench.problem import FOLLOWER_FAILURE_VIOLATION, LIMIT, BilevelProblem, Evaluation, FollowerResponse


@dataclasses.dataclass
class Counters:
    n_evals: int = 0  # leader decisions asked for (cache hits included)
    n_unique: int = 0  # leader decisions whose followers were actually solved
    n_follower_solves: int = 0  # solver calls inside followers
    follower_s: float = 0.0  # seconds spent in follower solves (summed over workers)
    cpu_s: float = 0.0  # CPU seconds of the run: this process plus its workers' evaluation time
    cache_hits: int = 0
    n_follower_failures: int = 0  # candidates whose follower was infeasible, unbounded, invalid or at a limit
    work: dict[str, float] = dataclasses.field(default_factory=dict)  # the family's work counters, summed


class BudgetExhausted(Exception):
    """The run's budget of evaluations, or its ``max_seconds`` safety net, is used up."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "max_evals" or "max_seconds"


#: Called with every evaluated batch (canonical decisions and their evaluations), e.g. to keep a front.
BatchObserver = Callable[[np.ndarray, list[Evaluation]], None]


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    n_evals: int
    n_follower_solves: int
    elapsed_s: float
    cpu_s: float
    best_value: float  # leader's sense; nan until a feasible decision is seen


def canonical(problem: BilevelProblem, X: np.ndarray) -> np.ndarray:
    """Clip to bounds, round integer variables, apply the problem's repair (row by row)."""
    lb, ub = problem.bounds()
    X = np.clip(np.atleast_2d(np.asarray(X, dtype=float)), lb, ub)
    mask = problem.integer_mask()
    if mask.any():
        X[:, mask] = np.round(X[:, mask])
    return np.array([problem.repair(x) for x in X]).reshape(X.shape)


# -- the work done in a worker (or serially): plain decisions in, evaluations out -----------------------

_resident: BilevelProblem | None = None  # a worker's problem, installed once when the worker starts


def _install(problem: BilevelProblem) -> None:
    global _resident
    _resident = problem


def _timed_out(x: np.ndarray) -> Evaluation:
    response = FollowerResponse(LIMIT, math.nan, {}, 0, 0.0, "not evaluated: the run's time limit passed")
    return Evaluation(math.nan, FOLLOWER_FAILURE_VIOLATION, response)


def evaluate_chunk(
    problem: BilevelProblem, X: np.ndarray, deadline: float | None
) -> tuple[list[tuple[Evaluation, float]], float, dict[str, float]]:
    """Evaluate the rows of ``X`` by ``deadline``: (evaluation, seconds) each, CPU seconds, work done."""
    cpu = time.process_time()
    before = problem.work_counters()
    out = []
    with limits.deadline(deadline):
        for x in X:
            if limits.expired():
                out.append((_timed_out(x), 0.0))
                continue
            start = time.perf_counter()
            evaluation = problem.evaluate(x)
            out.append((evaluation, time.perf_counter() - start))
    after = problem.work_counters()
    work = {k: float(v) - float(before.get(k, 0.0)) for k, v in after.items()}
    return out, time.process_time() - cpu, work


def _evaluate_resident(X: np.ndarray, deadline: float | None) -> tuple[list[tuple[Evaluation, float]], float, dict]:
    assert _resident is not None, "the worker was started without its problem"
    return evaluate_chunk(_resident, X, deadline)


def _work_resident(tasks: list[tuple[Any, Any]], deadline: float | None) -> tuple[list[tuple[Any, Any]], float, dict]:
    """Do shared-work tasks in a worker: (key, result) pairs, CPU seconds, work counters."""
    assert _resident is not None, "the worker was started without its problem"
    cpu = time.process_time()
    before = _resident.work_counters()
    with limits.deadline(deadline):
        results = [(key, _resident.do_shared_work(task)) for key, task in tasks]
    after = _resident.work_counters()
    work = {k: float(v) - float(before.get(k, 0.0)) for k, v in after.items()}
    return results, time.process_time() - cpu, work


def shares_work(problem: BilevelProblem) -> bool:
    return type(problem).shared_work is not BilevelProblem.shared_work


class BatchEvaluator:
    """Evaluate populations of leader decisions; track counters, the incumbent and its history."""

    def __init__(
        self,
        problem: BilevelProblem,
        n_jobs: int = 1,
        use_cache: bool = True,
        time_limit: float | None = None,
        max_evals: int | None = None,
        max_seconds: float | None = None,
    ) -> None:
        self.problem = problem
        # at most one worker per CPU: more would only share the same cores (results do not depend on it)
        self.n_jobs = max(1, min(cpu_count() if n_jobs < 1 else n_jobs, cpu_count()))
        self.use_cache = use_cache
        self.time_limit = time_limit
        self.max_evals = max_evals
        self.max_seconds = max_seconds
        self.observers: list[BatchObserver] = []
        self.counters = Counters()
        self.history: list[Checkpoint] = []
        self.best_x: np.ndarray | None = None
        self.best_value = math.nan
        self.best_violation = math.inf
        self._cache: dict[bytes, Evaluation] = {}
        self._pool: Any = None
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()
        self._worker_cpu = 0.0
        self.deadline: float | None = None

    # -- lifetime: one pool per run, started with the problem ----------------------------------------
    def __enter__(self) -> BatchEvaluator:
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()
        self.deadline = None if self.time_limit is None else time.time() + self.time_limit
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _workers(self) -> Any:
        if self._pool is None:
            from joblib.externals.loky import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=self.n_jobs, initializer=_install, initargs=(self.problem,))
        return self._pool

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    @property
    def cpu_seconds(self) -> float:
        return time.process_time() - self._cpu_start + self._worker_cpu

    # -- evaluation ---------------------------------------------------------------------------------
    def evaluate(self, X: np.ndarray) -> tuple[np.ndarray, list[Evaluation]]:
        """Canonical decisions and their evaluations, in the order given."""
        self._check_clocks()
        exhausted = self.exhausted()
        if exhausted:
            raise BudgetExhausted(exhausted)
        X = canonical(self.problem, X)
        if self.max_evals is not None and self.counters.n_evals + len(X) > self.max_evals:
            X = X[: self.max_evals - self.counters.n_evals]  # the last batch is cut: same budget for all
        keys = [x.tobytes() for x in X]
        todo: dict[bytes, np.ndarray] = {}
        for key, x in zip(keys, X, strict=True):
            if key not in self._cache and key not in todo:
                todo[key] = x
        fresh = self._solve(np.array(list(todo.values())).reshape(len(todo), X.shape[1]))
        for key, evaluation in zip(todo, fresh, strict=True):
            self._cache[key] = evaluation
        evaluations = [self._cache[key] for key in keys]
        if not self.use_cache:
            self._cache.clear()
        self.counters.n_evals += len(X)
        self.counters.cache_hits += len(X) - len(todo)
        for x, evaluation in zip(X, evaluations, strict=True):
            self._consider(x, evaluation)
        self.counters.cpu_s = self.cpu_seconds
        self.history.append(
            Checkpoint(
                self.counters.n_evals,
                self.counters.n_follower_solves,
                self.elapsed,
                self.counters.cpu_s,
                self.best_value,
            )
        )
        for observer in self.observers:
            observer(X, evaluations)
        self._check_clocks()  # a batch cut by the deadline ends the run as a timeout
        if self.max_evals is not None and self.counters.n_evals >= self.max_evals:
            raise BudgetExhausted("max_evals")  # the caller never sees a cut batch
        return X, evaluations

    def _check_clocks(self) -> None:
        if self.deadline is not None and time.time() >= self.deadline:
            raise RunTimeout(f"hard time limit of {self.time_limit:g} s reached after {self.elapsed:.1f} s")

    def exhausted(self) -> str:
        """Which limit is used up ("max_evals", "max_seconds") or "" if neither."""
        if self.max_evals is not None and self.counters.n_evals >= self.max_evals:
            return "max_evals"
        if self.max_seconds is not None and self.elapsed >= self.max_seconds:
            return "max_seconds"
        return ""

    def _solve(self, X: np.ndarray) -> list[Evaluation]:
        if len(X) == 0:
            return []
        if self.n_jobs == 1 or len(X) == 1:
            results, _, work = evaluate_chunk(self.problem, X, self.deadline)  # CPU: this process's own clock
        elif shares_work(self.problem):
            self._share_work(X)
            results, _, work = evaluate_chunk(self.problem, X, self.deadline)  # on the pieces just cached
        else:
            chunks = np.array_split(X, min(len(X), self.n_jobs))
            pool = self._workers()
            futures = [pool.submit(_evaluate_resident, chunk, self.deadline) for chunk in chunks]
            results, work = [], {}
            for future in futures:  # in order: results do not depend on n_jobs
                part, cpu, part_work = future.result()
                results.extend(part)
                self._add_worker(cpu, part_work)
        self._add_work(work)
        self.counters.n_unique += len(results)
        for evaluation, seconds in results:
            self.counters.n_follower_solves += evaluation.follower.n_solves
            self.counters.follower_s += evaluation.follower.seconds or seconds
            self.counters.n_follower_failures += not evaluation.follower.ok
        return [evaluation for evaluation, _ in results]

    def _share_work(self, X: np.ndarray) -> None:
        """Each distinct piece of shared work the batch needs, done once by one worker, kept here."""
        tasks: dict[Any, Any] = {}
        for x in X:
            for key, task in self.problem.shared_work(x):
                tasks.setdefault(key, task)
        if not tasks:
            return
        items = list(tasks.items())
        pool = self._workers()
        size = -(-len(items) // self.n_jobs)  # ceil: one chunk per worker
        futures = [pool.submit(_work_resident, items[i : i + size], self.deadline) for i in range(0, len(items), size)]
        for future in futures:
            done, cpu, work = future.result()
            for key, result in done:
                self.problem.absorb_shared_work(key, result)
            self._add_worker(cpu, work)

    def _add_worker(self, cpu: float, work: dict[str, float]) -> None:
        self._worker_cpu += cpu
        self._add_work(work)

    def _add_work(self, work: dict[str, float]) -> None:
        for k, v in work.items():
            self.counters.work[k] = self.counters.work.get(k, 0.0) + v

    def _consider(self, x: np.ndarray, evaluation: Evaluation) -> None:
        """Keep the incumbent: feasible beats infeasible, then the better value, then lower violation."""
        if evaluation.feasible:
            if self.best_violation > 0 or self.problem.is_better(evaluation.value, self.best_value):
                self.best_x, self.best_value, self.best_violation = x.copy(), evaluation.value, 0.0
        elif self.best_violation > 0 and evaluation.violation < self.best_violation:
            self.best_x, self.best_violation = x.copy(), evaluation.violation


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
