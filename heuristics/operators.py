"""Operators and algorithm pieces that pymoo does not ship in the form the benchmark needs.

- :class:`AnchoredSampling`: uniform sampling plus the box's lower corner and centre (GA variants' default).
- :class:`BilevelStartSampling`: ``sampling = "hpr"``, the bilevel-aware starts of :mod:`heuristics.starts`
  (relaxation starts, random decisions and their polish, evaluated within the budget), then the
  algorithm's own sampling for the rest.
- :class:`FeasibilityFirstCMAES`: pymoo's CMA-ES ranking a generation by the feasibility-first rules (pymoo
  gives infeasible candidates F = inf, so all of them tie and the search has no slope among them).
- :class:`MixedIntegerSampling` and :class:`IntegerStepMutation`: the mixed-integer GA's operators.
  Integer variables are sampled uniformly over their integer values (rounding uniform floats would give
  the bounds half the weight), and a mutated integer variable moves by at least one unit (polynomial
  mutation alone mostly rounds back to the parent).
- :class:`MemeticGA`: the GA plus a short compass search on its best individual every ``ls_every``
  generations. The search's evaluations are ordinary batches of the run's evaluator: counted, cached,
  checkpointed, and the follower is solved exactly for each of them.
- :class:`SeededPatternSearch`: pymoo's Hooke-Jeeves with its random coordinate order drawn from the
  run's seeded generator (pymoo 0.6.2 draws it from an unseeded one, so runs did not repeat).
- :class:`StepTermination`: pattern search has converged when its step is below a tolerance.
- :class:`StallTermination`: an algorithm that asks for no evaluation for many iterations has stalled.
  The run then restarts the algorithm (see :mod:`heuristics.run`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymoo.algorithms.soo.nonconvex.cmaes import CMAES
from pymoo.algorithms.soo.nonconvex.ga import GA
from pymoo.algorithms.soo.nonconvex.pattern import PatternSearch, calc_sign, exploration_move, pattern_move
from pymoo.core.population import Population
from pymoo.core.replacement import is_better
from pymoo.core.sampling import Sampling
from pymoo.core.termination import Termination
from pymoo.operators.mutation.pm import PM

from bilevel_bench.heuristics.adapter import NO_VALUE
from bilevel_bench.problem import FOLLOWER_FAILURE_VIOLATION


def integer_range(problem: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mask of integer variables and their smallest and largest integer values within the bounds."""
    mask = np.asarray(problem.integer_mask, dtype=bool)
    return mask, np.ceil(problem.xl[mask]), np.floor(problem.xu[mask])


class MixedIntegerSampling(Sampling):
    """Uniform over the box for real variables, uniform over the integer values for integer ones."""

    def _do(self, problem: Any, n_samples: int, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
        X = problem.xl + (problem.xu - problem.xl) * random_state.random((n_samples, problem.n_var))
        mask, low, high = integer_range(problem)
        if mask.any():
            X[:, mask] = random_state.integers(low, high + 1, size=(n_samples, int(mask.sum())))
        return X


class AnchoredSampling(MixedIntegerSampling):
    """:class:`MixedIntegerSampling` whose first two points are the box's lower corner and its centre.

    Why: in bilevel pricing and production the leader's best decision often sits on a face of its box (a
    price or an advertising level at a bound), where uniform sampling almost never lands, and a GA with SBX
    creeps towards a face slowly. Two deterministic anchors cost two evaluations and give selection a point
    on the boundary and one in the middle. Integer variables are rounded onto their integer range.
    """

    def _do(self, problem: Any, n_samples: int, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
        X = super()._do(problem, n_samples, *args, random_state=random_state, **kwargs)
        anchors = np.vstack([problem.xl, (problem.xl + problem.xu) / 2.0])[: min(2, n_samples)]
        mask, low, high = integer_range(problem)
        if mask.any():
            anchors[:, mask] = np.clip(np.round(anchors[:, mask]), low, high)
        X[: len(anchors)] = anchors
        return X


class BilevelStartSampling(Sampling):
    """``sampling = "hpr"``: the run's bilevel-aware starts (evaluated), then ``fill`` for the rest.

    The starts (:meth:`heuristics.starts.BilevelStarts.initial_population`) are the family's relaxation
    starts, uniform random decisions (integers uniform over their values) and the polish of both; they come
    back already evaluated through the run's evaluator, so the algorithm does not evaluate them again. The
    remaining points are ``fill``'s (the algorithm's default sampling: anchors and uniform points for the GA
    variants, LHS for PSO and the local searches), evaluated by the algorithm as usual. A problem that is
    not a :class:`~heuristics.adapter.PymooProblem` gets ``fill`` alone.
    """

    def __init__(self, fill: Sampling) -> None:
        super().__init__()
        self.fill = fill

    def do(self, problem: Any, n_samples: int, *args: Any, random_state: Any = None, **kwargs: Any) -> Population:
        random_state = np.random.default_rng() if random_state is None else random_state
        starts = getattr(problem, "bilevel_starts", None)
        if starts is None or n_samples < 1:
            return self.fill.do(problem, n_samples, *args, random_state=random_state, **kwargs)

        def uniform(k: int) -> np.ndarray:
            return MixedIntegerSampling()._do(problem, k, random_state=random_state)

        pop = starts().initial_population(n_samples, random_state, uniform)
        rest = n_samples - len(pop)
        if rest > 0:
            pop = Population.merge(pop, self.fill.do(problem, rest, *args, random_state=random_state, **kwargs))
        return pop

    def _do(self, problem: Any, n_samples: int, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError("BilevelStartSampling overrides do()")  # pragma: no cover


class FeasibilityFirstCMAES(CMAES):
    """pymoo's CMA-ES, each generation ranked by the feasibility-first rules instead of a death penalty.

    CMA-ES uses its generation's ranking (and, for some stopping tests, the values' spread). pymoo gives
    every infeasible candidate F = inf. Here a feasible candidate keeps its F and an infeasible one gets
    ``f_max + CV`` (plus a relative sliver), f_max being the worst finite F among the generation's feasible
    candidates (0 if none): feasible before infeasible, infeasible ones by their violation (the graded one
    of the run's constraint handling), exactly the order of pymoo's constraint domination. The
    individuals keep their own F.
    """

    def _advance(self, infills: Population | None = None, **kwargs: Any) -> None:
        if infills is None:
            self.termination.force_termination = True
            return
        F = np.asarray(infills.get("F"), dtype=float)[:, 0].copy()
        CV = np.asarray(infills.get("CV"), dtype=float)[:, 0]
        feasible = CV <= 0.0
        finite = feasible & (F < NO_VALUE)  # NO_VALUE marks a missing value
        worst = float(F[finite].max()) if finite.any() else 0.0
        F[~feasible] = worst + 1e-9 * abs(worst) + CV[~feasible]
        ranked = F.tolist() if self.send_array_to_yield else F[0]
        try:
            self.next_X = self.es.send(ranked)
        except Exception:  # pymoo's own wrapper ends the search on any error of cma (e.g. its stop tests)
            self.next_X = None
        if self.next_X is None:
            self.termination.force_termination = True


class IntegerStepMutation(PM):
    """Polynomial mutation for real variables; integer variables take integer steps of at least one unit.

    Each integer variable is mutated with probability ``prob_var`` (default ``1 / n_var``, as PM). It moves
    by polynomial mutation's step rounded, but by at least one unit, in PM's direction (random when PM left
    it alone), and the other way if that leaves the bounds.
    """

    def _do(self, problem: Any, X: np.ndarray, *args: Any, random_state: Any = None, **kwargs: Any) -> np.ndarray:
        Xp = super()._do(problem, X, *args, random_state=random_state, **kwargs)
        mask, low, high = integer_range(problem)
        if not mask.any():
            return Xp
        before, proposal = np.round(X[:, mask]), Xp[:, mask]
        selected = random_state.random(before.shape) < self.get_prob_var(problem, size=len(X))[:, None]
        direction = np.sign(proposal - before)
        direction[direction == 0] = random_state.choice([-1.0, 1.0], size=int((direction == 0).sum()))
        step = np.maximum(np.abs(np.round(proposal - before)), 1.0)
        moved = before + direction * step
        outside = (moved < low) | (moved > high)
        moved = np.clip(np.where(outside, before - direction * step, moved), low, high)
        Xp[:, mask] = np.where(selected, moved, before)
        return Xp


def compass_candidates(x: np.ndarray, step: np.ndarray, xl: np.ndarray, xu: np.ndarray) -> np.ndarray:
    """x +- step along every coordinate (within the bounds), skipping moves a bound makes empty."""
    n = len(x)
    moves = np.vstack([np.diag(step), -np.diag(step)])
    candidates = np.clip(x[None, :] + moves, xl, xu)
    keep = np.any(candidates != x[None, :], axis=1)
    return candidates[keep] if keep.any() else np.zeros((0, n))


class MemeticGA(GA):
    """GA plus a Lamarckian local search: a compass search on the best individual every ``ls_every``
    generations (``local_search = "compass"``), or the polish of every offspring (``"polish"``).

    Compass: each search makes ``ls_iters`` moves: a move evaluates x +- step along every coordinate in one
    batch and goes to the best improvement, or halves the step when there is none. The step is relative to
    each variable's range, starts at ``ls_step``, carries over from one search to the next (so later
    searches refine), and is reset to ``ls_step`` once it falls below ``ls_step / 1000``. An integer
    variable's step is at least one unit. The improved point replaces the best individual in the population.

    Polish (families that declare their LP follower, ``linear_structure``; elsewhere the compass search is
    used): every generation, each evaluated offspring x is polished (:class:`heuristics.starts.ResponsePolish`:
    the best leader decision of the follower's optimal piece at x, one LP after the follower's LP at x); the
    polished decisions that are new (not the offspring itself, not in the population, not repeated) are
    evaluated in one batch by the run's evaluator (counted, exact follower), and each replaces its offspring
    before survival when it is better by the feasibility-first rules. An offspring then costs up to two
    evaluations. The GA searches over the pieces of the follower's response; the polish finds the best point
    of each. ``ls_every``, ``ls_iters`` and ``ls_step`` are the compass search's.
    """

    def __init__(
        self, ls_every: int, ls_iters: int, ls_step: float, local_search: str = "compass", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.ls_every, self.ls_iters, self.ls_step = ls_every, ls_iters, ls_step
        self.local_search = local_search
        self._step = ls_step

    def _polisher(self) -> Any:
        starts = getattr(self.problem, "bilevel_starts", None)
        return None if starts is None or self.local_search != "polish" else starts().polisher

    def _advance(self, infills: Population | None = None, **kwargs: Any) -> Any:
        polisher = self._polisher()
        if polisher is not None and infills is not None and len(infills):
            self._polish(infills)
        result = super()._advance(infills=infills, **kwargs)
        if polisher is None and self.n_iter % self.ls_every == 0:
            self._local_search()
        return result

    def _polish(self, infills: Population) -> None:
        X = infills.get("X")
        phi = [float(np.ravel(ind.data.get("PHI", [0.0]))[0]) for ind in infills]
        feasible_follower = np.array(phi) < FOLLOWER_FAILURE_VIOLATION  # the follower is optimal
        each = self.problem.bilevel_starts().polish_each(X, feasible_follower)
        rows = [i for i, x in enumerate(each) if x is not None]
        polished = [x for x in each if x is not None]
        work = self.problem.evaluator.counters.work
        if not rows:
            return
        from bilevel_bench.heuristics.evaluator import canonical

        P = canonical(self.problem.evaluator.problem, np.array(polished))
        known = {x.tobytes() for x in np.vstack([X, self.pop.get("X")])}
        keep, fresh = [], []
        for i, x in zip(rows, P, strict=True):
            if x.tobytes() not in known:
                known.add(x.tobytes())
                keep.append(i)
                fresh.append(x)
        if not fresh:
            return
        trial = Population.new("X", np.array(fresh))
        self.evaluator.eval(self.problem, trial, algorithm=self)
        work["polished"] = work.get("polished", 0.0) + len(fresh)
        for i, individual in zip(keep, trial, strict=True):
            if is_better(individual, infills[i]):
                infills[i] = individual

    def _local_search(self) -> None:
        problem = self.problem
        F, CV = self.pop.get("F", "CV")
        best = int(np.lexsort((F[:, 0], CV[:, 0]))[0])
        if CV[best, 0] > 0:
            return  # no feasible point to refine yet
        incumbent = self.pop[best]
        mask = np.asarray(problem.integer_mask, dtype=bool)
        for _ in range(self.ls_iters):
            if self._step < self.ls_step / 1000:
                self._step = self.ls_step
            step = self._step * (problem.xu - problem.xl)
            step[mask] = np.maximum(np.round(step[mask]), 1.0)
            X = compass_candidates(incumbent.X, step, problem.xl, problem.xu)
            if len(X) == 0:
                break
            trial = Population.new("X", X)
            self.evaluator.eval(problem, trial, algorithm=self)
            F, CV = trial.get("F", "CV")
            k = int(np.lexsort((F[:, 0], CV[:, 0]))[0])
            if CV[k, 0] <= 0 and F[k, 0] < incumbent.F[0]:
                incumbent = trial[k]
            else:
                self._step /= 2.0
        self.pop[best] = incumbent


class SeededPatternSearch(PatternSearch):
    """pymoo's ``PatternSearch._next`` with ``random_state=self.random_state`` passed to the exploration."""

    # pymoo sets these in its own methods; declared here for the type checker
    _explr: Any
    _center: Any
    _sign: Any
    _direction: Any
    _trial: Any

    def _next(self) -> Any:
        if not is_better(self._explr, self._center):
            self.n_not_improved += 1
            self._rho = self.init_rho**self.n_not_improved
            self._explr = yield from exploration_move(
                self.problem, self._center, self._sign, self._delta, self._rho, random_state=self.random_state
            )
        else:
            self._direction = self._explr.X - self._center.X
            self._center = self._explr
            self._trial = yield pattern_move(self.problem, self._center, self._direction, self.step_size)
            self._sign = calc_sign(self._direction)
            self._explr = yield from exploration_move(
                self.problem, self._trial, self._sign, self._delta, self._rho, random_state=self.random_state
            )
        self.pop = Population.create(self._center, self._explr)


class StepTermination(Termination):
    """Pattern search has converged: its exploration step is below ``tol`` of every variable's range."""

    def __init__(self, tol: float) -> None:
        super().__init__()
        self.tol = tol

    def _update(self, algorithm: Any) -> float:
        rho = getattr(algorithm, "_rho", None)
        delta = getattr(algorithm, "init_delta", None)
        if rho is None or delta is None:
            return 0.0
        return min(1.0, self.tol / max(rho * delta, 1e-300))


class StallTermination(Termination):
    """No new evaluation in ``patience`` iterations: the algorithm has stalled (e.g. no unique offspring).

    It reads the run's counters through the algorithm's problem (a termination is deep-copied by pymoo, so
    it must not hold the counters itself).
    """

    def __init__(self, patience: int = 50) -> None:
        super().__init__()
        self.patience = patience
        self._last, self._idle = -1, 0

    def _update(self, algorithm: Any) -> float:
        current = algorithm.problem.evaluator.counters.n_evals
        self._idle = self._idle + 1 if current == self._last else 0
        self._last = current
        return min(1.0, self._idle / self.patience)
