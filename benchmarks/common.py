"""What every benchmark script shares: the machine's load, side-by-side timing, and the naive nesting.

Speed is measured here, never in timed unit tests. The machine is shared and noisy, so every script
measures the things it compares **side by side in one run** (interleaved repetitions, the best of each
kept) and prints ratios, with the load average before and after.

The **naive nesting** is what a pymoo user would write without this project: an ``ElementwiseProblem`` whose
``_evaluate`` builds and solves the follower from scratch for every evaluation (``naive_evaluate``), run by
pymoo's GA with the same population, seed and budget as our loop (``BatchEvaluator`` with its cache and
batched, persistent follower models). The operators are pymoo's defaults on both sides (SBX, polynomial
mutation); ours also seeds the box's lower corner and centre (the GA's documented anchors) and rounds
integers, so the two best values may differ: the ratio compares the time for the same number of evaluations.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def header(title: str) -> None:
    print(f"# {title}")
    print(f"# {load_average()}")


def footer() -> None:
    print(f"# after: {load_average()}")


def timed(function: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process, result) of one call of ``function``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def best_of(functions: dict[str, Callable[[], Any]], repeats: int = 3) -> dict[str, float]:
    """Seconds of each function, the best of ``repeats`` interleaved rounds (so load hits both sides)."""
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def ratio_line(label: str, ours_s: float, other_s: float, work: str = "") -> str:
    return (
        f"{label}: ours {ours_s:.3f} s, other {other_s:.3f} s -> {other_s / ours_s:.2f}x{(' ' + work) if work else ''}"
    )


def ga_loop_ratio(
    problem: Any,
    naive_evaluate: Callable[[np.ndarray], tuple[float, float]],
    max_evals: int,
    seed: int = 1,
    pop_size: int = 40,
) -> tuple[float, float, float, float]:
    """The whole GA loop: ours (the project's run) against the naive nesting, same GA, seed and budget.

    ``naive_evaluate(x) -> (F, G)`` builds and solves the follower from scratch (F in pymoo's minimisation
    sense, G the violation). Returns (ours seconds, naive seconds, ours best value, naive best value).
    """
    from pymoo.algorithms.soo.nonconvex.ga import GA
    from pymoo.core.problem import ElementwiseProblem
    from pymoo.optimize import minimize

    from bilevel_bench.heuristics.run import Budget, run_heuristic

    lb, ub = problem.bounds()

    class Naive(ElementwiseProblem):
        def __init__(self) -> None:
            super().__init__(n_var=len(lb), n_obj=1, n_ieq_constr=1, xl=lb, xu=np.maximum(ub, lb + 1e-9))

        def _evaluate(self, x: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            out["F"], out["G"] = naive_evaluate(x)

    start = time.perf_counter()
    run = run_heuristic(problem, "ga", {"pop_size": pop_size}, seed, Budget(max_evals=max_evals))
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    result = minimize(Naive(), GA(pop_size=pop_size), ("n_evals", max_evals), seed=seed)
    naive_s = time.perf_counter() - start
    naive_best = float(result.F[0]) if result.F is not None else float("nan")
    return ours_s, naive_s, run.best_value, naive_best
