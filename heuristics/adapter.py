"""Any :class:`~bilevel_bench.problem.BilevelProblem` seen as a pymoo ``Problem``, with the run's constraint handling.

pymoo minimises, so a maximised leader value enters as ``F = -value``. The single inequality constraint
``G <= 0`` carries the violation phi of :class:`~bilevel_bench.problem.Evaluation`: the leader's constraint
violation, plus :data:`~bilevel_bench.problem.FOLLOWER_FAILURE_VIOLATION` and the family's graded measure
(``FollowerResponse.infeasibility``) when a follower is not optimal. Every batch goes through the run's
:class:`~heuristics.evaluator.BatchEvaluator`, which evaluates the canonical (clipped, rounded, repaired)
decisions; algorithms whose operators carry :class:`CanonicalRepair` hold those canonical decisions in
their population, so what they report is what was solved.

**Constraint handling** (the run-level parameter ``constraints`` of every shipped heuristic; the run
resolves ``auto`` with :func:`resolve_constraints` and records the mode it used, ``RunResult.constraints``):

- ``feasibility_first``: ``G = phi``. pymoo's constraint domination (Deb 2000, "An efficient constraint
  handling method for genetic algorithms", CMAME 186): a feasible candidate beats an infeasible one, two
  feasible ones compare by F, two infeasible ones by phi. Tournament selection, survival, DE's replacement,
  PSO's personal bests, pattern search and Nelder-Mead all compare this way; CMA-ES (which pymoo gives a
  death penalty) ranks by the same rules (:class:`~heuristics.operators.FeasibilityFirstCMAES`).
- ``repair``: Lamarckian repair by the family's projection (``BilevelProblem.project``). After a batch is
  evaluated, each candidate that is not feasible is handed with its follower response to ``project``; the
  decisions it returns (made canonical) are evaluated as one more batch, with the exact follower, counted
  in the budget, checkpointed and re-verified like any other; a projected decision replaces its candidate,
  in the algorithm's population too (its decision, F and G), unless it is worse by the feasibility-first
  rules. A projected decision that replaced its candidate but is still infeasible (a projection that is only
  first-order exact, e.g. procurement's linearised step) is projected again, at most
  :data:`PROJECTION_ROUNDS` = 3 rounds in all. The number of projected decisions evaluated is the work
  counter ``projections``. The ranking is then feasibility-first.
- ``epsilon``: the epsilon-constrained method (Takahama and Sakai, "Constrained optimization by the
  epsilon constrained differential evolution with gradient-based mutation and feasible elites", IEEE CEC
  2006). A candidate whose phi is at most the level eps counts as feasible and is compared by F; otherwise
  by phi. It is implemented exactly by ``G = max(0, phi - eps)`` under pymoo's feasibility-first comparisons
  (two candidates with the same phi above eps tie as pymoo's comparisons tie them; the paper breaks that tie
  by F). The level follows the budget (:class:`EpsilonLevel`): eps(0) = phi of the
  candidate at rank theta = 0.2 N (by phi) of the run's first batch of N, then
  ``eps(t) = eps(0) (1 - t / T_c)^cp`` with t the share of the budget used before the batch, T_c = 0.5 and
  cp = 5 (the 2006 paper's cp and theta; its T_c is a number of generations, here half the budget), and
  eps = 0 from t = T_c on. When the level changes, the G and CV of every individual the algorithm holds
  (its population, optimum, particles, pattern-search centre ...) are recomputed from their phi, so old and
  new candidates are always compared at the same level. The run's incumbent is always the best truly
  feasible decision (phi = 0), whatever the level.

``auto`` is ``repair`` where the family declares a projection (overrides ``project``), else
``feasibility_first``.

:class:`BiObjectiveProblem` is the family's bi-objective view (``BilevelProblem.objectives``: the leader's
value against the follower's welfare, both maximised) for NSGA-II; it keeps the non-dominated front of
every feasible decision evaluated in the run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pymoo.core.individual import Individual
from pymoo.core.population import Population
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair

from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.evaluator import BatchEvaluator, canonical
from bilevel_bench.heuristics.front import ParetoArchive
from bilevel_bench.problem import BilevelProblem, Evaluation, canonical_value

#: Objective given to candidates with no leader value (follower not optimal). Finite, so that no pymoo
#: operator meets an inf; they are ranked by their violation anyway.
NO_VALUE = 1e30

#: A projection that leaves its candidate infeasible (but not worse) is projected again, at most this many
#: times in all (a projection that is exact at the follower's response needs one round; a linearised one more).
PROJECTION_ROUNDS = 3

#: The run-level constraint handling modes (``auto`` resolves to one of the last three).
CONSTRAINTS = ("auto", "feasibility_first", "repair", "epsilon")


def has_projection(problem: BilevelProblem) -> bool:
    """Whether the family declares a projection (overrides ``BilevelProblem.project``)."""
    return type(problem).project is not BilevelProblem.project


def resolve_constraints(mode: str | None, problem: BilevelProblem) -> str:
    """The mode a run uses: ``auto`` is ``repair`` where the family declares a projection, else
    ``feasibility_first``; a heuristic without the parameter (a plugin) gets ``feasibility_first``."""
    if mode is None:
        return "feasibility_first"
    if mode not in CONSTRAINTS:
        raise InputError("<heuristic>", "constraints", f"{mode!r} is not one of {', '.join(CONSTRAINTS)}")
    if mode == "auto":
        return "repair" if has_projection(problem) else "feasibility_first"
    return mode


class EpsilonLevel:
    """The epsilon level of the epsilon-constrained method over a run's budget (module docstring)."""

    THETA = 0.2  # eps(0) is phi of the candidate at this rank share of the first batch
    CP = 5.0  # the schedule's exponent
    TC = 0.5  # the level is 0 from this share of the budget on

    def __init__(self, max_evals: int | None) -> None:
        self.max_evals = max_evals
        self.eps0: float | None = None

    def start(self, phi: np.ndarray) -> None:
        """Set eps(0) from the run's first batch (phi of each of its candidates)."""
        ordered = np.sort(np.asarray(phi, dtype=float).ravel())
        self.eps0 = float(ordered[min(len(ordered) - 1, int(self.THETA * len(ordered)))]) if len(ordered) else 0.0

    def level(self, n_evals: int) -> float:
        """eps after ``n_evals`` evaluations of the budget."""
        if self.eps0 is None:
            return math.inf
        if not self.max_evals:
            return 0.0
        t = n_evals / self.max_evals
        return self.eps0 * (1.0 - t / self.TC) ** self.CP if t < self.TC else 0.0


class PymooProblem(Problem):
    def __init__(self, evaluator: BatchEvaluator, n_obj: int = 1, constraints: str = "feasibility_first") -> None:
        lb, ub = evaluator.problem.bounds()
        # A fixed variable (lb == ub) gets a sliver of width, so that no algorithm divides by a zero range
        # (pymoo's PSO and Nelder-Mead do); the canonical map clips it back before any evaluation.
        ub = np.where(ub > lb, ub, lb + 1e-9 * np.maximum(1.0, np.abs(lb)))
        # requires_kwargs: pymoo passes the algorithm to _evaluate (the epsilon level refreshes its individuals)
        super().__init__(n_var=len(lb), n_obj=n_obj, n_ieq_constr=1, xl=lb, xu=ub, vtype=float, requires_kwargs=True)
        if constraints not in CONSTRAINTS[1:]:
            raise InputError("<heuristic>", "constraints", f"{constraints!r} is not a resolved constraint mode")
        self.evaluator = evaluator
        self.integer_mask = np.asarray(evaluator.problem.integer_mask(), dtype=bool)
        self.sign = -1.0 if evaluator.problem.sense == "max" else 1.0
        self.constraints = constraints
        self.epsilon = EpsilonLevel(evaluator.max_evals) if constraints == "epsilon" else None
        self._level = math.inf  # the epsilon level the algorithm's individuals were last refreshed to
        #: the canonical decisions of the last batch and their evaluations (after any projection)
        self.last_batch: tuple[np.ndarray, list[Evaluation]] = (np.zeros((0, len(lb))), [])
        self.starts: Any = None  # the run's bilevel-aware starts (heuristics.starts.BilevelStarts), on first use

    def __deepcopy__(self, memo: dict[int, Any]) -> PymooProblem:
        # pymoo copies the algorithm (and so this problem) for ``save_history``; the evaluator holds the run's
        # cache, counters and workers, which belong to the run, not to a snapshot: copies share it.
        return self

    def bilevel_starts(self) -> Any:
        """The run's :class:`~heuristics.starts.BilevelStarts` (one per run: restarts share it)."""
        if self.starts is None:
            from bilevel_bench.heuristics.starts import BilevelStarts

            self.starts = BilevelStarts(self)
        return self.starts

    # -- evaluation with the run's constraint handling --------------------------------------------
    def evaluate_batch(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Evaluation]]:
        """(decisions for the population, canonical decisions evaluated, their evaluations).

        The first is ``X`` itself except where a projection replaced a candidate (``repair`` mode), so that
        algorithms without :class:`CanonicalRepair` keep their own (unclipped) coordinates elsewhere."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        Xc, evaluations = self.evaluator.evaluate(X)
        held = X.copy()
        if self.constraints == "repair":
            self._project(held, Xc, evaluations)
        return held, Xc, evaluations

    def _project(self, held: np.ndarray, Xc: np.ndarray, evaluations: list[Evaluation]) -> None:
        pending = [i for i, evaluation in enumerate(evaluations) if not evaluation.feasible]
        for _ in range(PROJECTION_ROUNDS):
            pending = self._projection_round(pending, held, Xc, evaluations)
            if not pending:
                return

    def _projection_round(
        self, pending: list[int], held: np.ndarray, Xc: np.ndarray, evaluations: list[Evaluation]
    ) -> list[int]:
        """Project the candidates ``pending``; return those replaced by a projection that is still infeasible."""
        problem = self.evaluator.problem
        rows, projected = [], []
        before = problem.work_counters()  # the family's projection LPs, reported with the run's work
        for i in pending:
            candidate = problem.project(Xc[i], evaluations[i].follower)
            if candidate is None:
                continue
            candidate = canonical(problem, np.asarray(candidate, dtype=float).reshape(1, -1))[0]
            if not np.array_equal(candidate, Xc[i]) and np.all(np.isfinite(candidate)):
                rows.append(i)
                projected.append(candidate)
        work = self.evaluator.counters.work
        for key, value in problem.work_counters().items():
            work[key] = work.get(key, 0.0) + float(value) - float(before.get(key, 0.0))
        if not rows:
            return []
        work["projections"] = work.get("projections", 0.0) + len(rows)
        Xp, evaluations_p = self.evaluator.evaluate(np.array(projected))
        again = []
        for i, xp, ep in zip(rows, Xp, evaluations_p, strict=True):
            if not _worse(ep, evaluations[i], self.sign):
                held[i], Xc[i], evaluations[i] = xp, xp, ep
                if not ep.feasible:
                    again.append(i)
        return again

    def constraint_values(self, evaluations: list[Evaluation], algorithm: Any = None) -> np.ndarray:
        """G for a batch: phi, or max(0, phi - eps) in ``epsilon`` mode (refreshing the algorithm's individuals)."""
        phi = violations(evaluations)
        if self.epsilon is None:
            return phi
        if self.epsilon.eps0 is None:
            self.epsilon.start(phi)
        level = self.epsilon.level(self.evaluator.counters.n_evals - len(evaluations))
        if level != self._level:
            self._level = level
            refresh(algorithm, level)
        return np.maximum(phi - level, 0.0)

    def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, algorithm: Any = None, **kwargs: Any) -> None:
        held, Xc, evaluations = self.evaluate_batch(X)
        self.last_batch = (Xc, evaluations)
        out["F"] = self.objective_values(Xc, evaluations)
        out["G"] = self.constraint_values(evaluations, algorithm)
        out["PHI"] = violations(evaluations)  # kept on each individual (its data) for the epsilon refresh
        if not np.array_equal(held, X):
            out["X"] = held  # Lamarckian: the population holds the projected decision

    def objective_values(self, X: np.ndarray, evaluations: list[Evaluation]) -> np.ndarray:
        values = np.array([e.value for e in evaluations], dtype=float)
        return np.where(np.isnan(values), NO_VALUE, self.sign * values)[:, None]


def _worse(new: Evaluation, old: Evaluation, sign: float) -> bool:
    """Whether ``new`` is worse than ``old`` by the feasibility-first rules (values in the leader's sense)."""
    if new.feasible != old.feasible:
        return old.feasible
    if not new.feasible:
        return new.violation > old.violation
    return sign * new.value > sign * old.value


def refresh(algorithm: Any, level: float) -> None:
    """Recompute G and CV of every individual the algorithm holds at the epsilon ``level`` (from its phi)."""
    if algorithm is None:
        return
    seen: set[int] = set()
    for value in vars(algorithm).values():
        if isinstance(value, Individual):
            individuals: Any = [value]
        elif isinstance(value, Population):
            individuals = value
        else:
            continue
        for individual in individuals:
            phi = individual.data.get("PHI") if isinstance(individual, Individual) else None
            if phi is None or id(individual) in seen:
                continue
            seen.add(id(individual))
            individual.G = np.maximum(np.asarray(phi, dtype=float) - level, 0.0)
            individual.CV = None  # recomputed from G on its next use


def violations(evaluations: list[Evaluation]) -> np.ndarray:
    return np.array([e.violation for e in evaluations], dtype=float)[:, None]


def has_objectives(problem: BilevelProblem) -> bool:
    """Whether the family declares a bi-objective view (overrides ``BilevelProblem.objectives``)."""
    return type(problem).objectives is not BilevelProblem.objectives


class BiObjectiveProblem(PymooProblem):
    """(leader value, follower welfare), both maximised, as two pymoo objectives to minimise."""

    def __init__(self, evaluator: BatchEvaluator, constraints: str = "feasibility_first") -> None:
        problem = evaluator.problem
        if not has_objectives(problem):
            raise InputError(
                "<heuristic>",
                "objectives",
                f"family {problem.family!r} declares no bi-objective view (BilevelProblem.objectives)",
            )
        super().__init__(evaluator, n_obj=2, constraints=constraints)
        self.archive = ParetoArchive()
        evaluator.observers.append(self._observe)  # sees every batch, the last cut one too

    def pairs(self, X: np.ndarray, evaluations: list[Evaluation]) -> np.ndarray:
        """Both objectives in the max sense; nan rows where the follower is not optimal."""
        out = np.full((len(X), 2), np.nan)
        for row, (x, evaluation) in enumerate(zip(X, evaluations, strict=True)):
            if evaluation.follower.ok:
                pair = self.evaluator.problem.objectives(x, evaluation.follower)
                if pair is not None:  # rounded as leader values are (bilevel_bench.problem.canonical_value)
                    out[row] = [canonical_value(v) for v in pair]
        return out

    def _observe(self, X: np.ndarray, evaluations: list[Evaluation]) -> None:
        values = self.pairs(X, evaluations)
        feasible = np.array([e.feasible for e in evaluations], dtype=bool) & ~np.isnan(values).any(axis=1)
        self.archive.add(values[feasible])

    def objective_values(self, X: np.ndarray, evaluations: list[Evaluation]) -> np.ndarray:
        values = self.pairs(X, evaluations)
        return np.where(np.isnan(values), NO_VALUE, -values)


class CanonicalRepair(Repair):
    """pymoo repair operator that applies the problem's canonical map (bounds, integers, repair)."""

    def _do(self, problem: PymooProblem, X: np.ndarray, **kwargs: Any) -> np.ndarray:
        return canonical(problem.evaluator.problem, X)
