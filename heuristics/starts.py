"""Bilevel-aware initial populations (``sampling = "hpr"``) and the response polish they use.

**What an ``hpr`` initial sample of n points holds** (:meth:`BilevelStarts.initial_population`), with
k = max(1, n // 4):

1. up to k **relaxation starts**: leader decisions from the family's ``relaxation_starts`` hook (the
   high-point relaxation's optimum first, then the family's variants: see each family's ``relaxation.py``).
   The family is asked once per run for 2k of them (with a seed drawn from the run's generator); every
   restart of the algorithm takes the next k unused ones, so restarts do not repeat them;
2. k **uniform random** leader decisions (integers uniform over their values);
3. the **polish** of each of the points of 1 and 2 whose follower is optimal, where the family declares its
   LP follower (``linear_structure``): :class:`ResponsePolish` re-optimises the leader over the region in
   which the follower's response at that point stays optimal (an LP, below). Duplicates are dropped;
4. the algorithm's own initial sample (its default sampling: for the GA variants the box's anchors and
   uniform points, LHS for PSO and the local searches) fills the remaining n - (points of 1-3).

**Cost, all within the run's budget.** Points 1-3 are evaluated by the run's evaluator like any other
decision (exact follower, counted, cached, checkpointed), in two batches (1+2, then 3) before the
algorithm's first generation; they are handed to the algorithm already evaluated, so none is evaluated
twice. So an ``hpr`` initial population costs exactly n evaluations, as the default one does: at most
2k + 2k <= n of them are the starts and polishes, the rest the algorithm's own sample. Work outside the
budget (LP solves, not follower evaluations) is reported in the run's work counters: ``relaxation_starts``
(decisions the family returned), the family's own counters for its relaxation solves (for example
``relaxation_lp_solves``), ``polish_lp_solves`` (two lexicographic stages of the follower's LP at the
point, plus the polish LP: up to 3 per polished point) and ``polished`` (polished decisions evaluated).

**The polish** (:class:`ResponsePolish`). At a decision x0 with an optimal follower response y0 (the
follower's LP at x0, solved again here with the leader's preference as tie-break, optimistic), fix y0's
active set: the rows of ``A_ub y <= b_ub + B_ub x`` that are tight at (x0, y0), the variables at a bound.
Over (x, w, y) and the follower's duals (lam on the tight rows, mu, alpha on the variables at their lower
bound, beta at their upper bound) the KKT system with that complementarity pattern is linear::

    A_ub,T y - B_ub,T x = b_ub,T (tight rows),   A_ub,S y - B_ub,S x <= b_ub,S (the others),
    A_eq y - B_eq x = b_eq,   y_k = lb_k (k in L),   y_k = ub_k (k in U),   the leader's box and rows,
    c + C x + A_ub,T' lam + A_eq' mu - E_L alpha + E_U beta = 0,   lam, alpha, beta >= 0,

and the leader's objective is linear in it (``rho (C x) @ y`` is replaced by its strong-duality value
``rho (-b_ub,T' lam - b_eq' mu + lb_L' alpha - ub_U' beta - c' y)``, valid at every KKT point, when
``B_ub = B_eq = 0``; with both a leader-dependent right-hand side and ``rho != 0`` there is no polish).
Every feasible point of this LP is a KKT point of the follower, so its y is an optimal response at its x:
the polished x* is bilevel feasible (for the optimistic reading its exact value is at least the LP's
optimum, because the optimistic follower picks the response best for the leader among its optimal ones),
and (x0, y0) with its optimal duals is feasible, so the LP's value is at least the leader's value at
(x0, y0). It is the piecewise structure of linear bilevel problems (the follower's optimal response is
piecewise affine in x, one piece per optimal basis; e.g. Bard 1998, *Practical Bilevel Optimization*,
ch. 5): one LP finds the best point of the piece x0 lies in. Integer leader variables are relaxed in the LP
and rounded by the run's canonical map; the polished decision is then evaluated exactly like any other.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bilevel_bench import kkt
from bilevel_bench.lp import LinearProgram, solve_lexicographic, solve_lp_arrays
from bilevel_bench.problem import OPTIMAL, BilevelProblem

#: A row's slack (or a variable's distance to its bound) below this, relative to 1 + the row's scale, is tight.
ACTIVE_TOL = 1e-7
#: Share of an ``hpr`` initial sample given to relaxation starts and to random decisions (each; see above).
START_SHARE = 0.25
#: The family is asked for this many relaxation starts per k (once per run; restarts take the next ones).
RELAXATION_POOL = 2


def _add_work(counters: Any, key: str, amount: float) -> None:
    counters.work[key] = counters.work.get(key, 0.0) + float(amount)


class ResponsePolish:
    """The best leader decision in the follower's optimal piece at a point (module docstring)."""

    def __init__(self, plp: kkt.AffineLP, spec: kkt.LeaderSpec, tie_break: str = "optimistic") -> None:
        self.plp, self.spec = plp, spec
        self.tie_break = tie_break
        n, p = plp.n, plp.p
        self.p, self.n = p, n
        self.q = 0 if spec.w_lb is None else len(spec.w_lb)
        self.linear_revenue = spec.revenue_weight == 0.0
        self.supported = self.linear_revenue or not (np.any(plp.B_ub) or np.any(plp.B_eq))
        self.obj_x = np.zeros(p) if spec.obj_x is None else np.asarray(spec.obj_x, float)
        self.obj_y = np.zeros(n) if spec.obj_y is None else np.asarray(spec.obj_y, float)
        self.obj_w = np.zeros(self.q) if spec.obj_w is None else np.asarray(spec.obj_w, float)
        r = 0 if spec.rows_rhs is None else len(spec.rows_rhs)
        self.rows_rhs = np.zeros(0) if spec.rows_rhs is None else np.asarray(spec.rows_rhs, float)
        self.rows_x = np.zeros((r, p)) if spec.rows_x is None else np.asarray(spec.rows_x, float)
        self.rows_w = np.zeros((r, self.q)) if spec.rows_w is None else np.asarray(spec.rows_w, float)
        self.rows_y = np.zeros((r, n)) if spec.rows_y is None else np.asarray(spec.rows_y, float)
        self.w_lb = np.zeros(self.q) if spec.w_lb is None else np.asarray(spec.w_lb, float)
        self.w_ub = np.ones(self.q) if spec.w_ub is None else np.asarray(spec.w_ub, float)
        self.maximize = spec.sense == "max"
        self.lp_solves = 0

    def preference(self, x: np.ndarray) -> np.ndarray:
        """What the leader gains per unit of each follower variable at x (the tie-break's preference)."""
        return self.obj_y + self.spec.revenue_weight * (self.plp.C @ x)

    def response(self, x: np.ndarray) -> np.ndarray | None:
        """The follower's optimal response at x, ties broken for the leader (None if there is none)."""
        lp = self.plp.at(x)
        preference = self.preference(x)
        solution, solves = solve_lexicographic(lp, preference if self.maximize else -preference, self.tie_break)
        self.lp_solves += solves
        return solution.y if solution.status == OPTIMAL else None

    def polish(self, x0: np.ndarray, y0: np.ndarray | None = None) -> np.ndarray | None:
        """The leader part (x) of the polish LP's optimum at (x0, y0); None where there is no polish."""
        if not self.supported:
            return None
        x0 = np.asarray(x0, dtype=float)
        if y0 is None:
            y0 = self.response(x0)
            if y0 is None:
                return None
        plp = self.plp
        n, p, q = self.n, self.p, self.q
        rhs = plp.b_ub + plp.B_ub @ x0
        slack = rhs - plp.A_ub @ y0
        tight = slack <= ACTIVE_TOL * (1.0 + np.abs(rhs) + np.abs(plp.A_ub) @ np.abs(y0))
        at_lb = y0 - plp.lb <= ACTIVE_TOL * (1.0 + np.abs(plp.lb))
        finite_ub = np.isfinite(plp.ub)
        at_ub = finite_ub & (np.where(finite_ub, plp.ub, 0.0) - y0 <= ACTIVE_TOL * (1.0 + np.abs(y0)))
        T, L, U = np.flatnonzero(tight), np.flatnonzero(at_lb), np.flatnonzero(at_ub)
        m_eq = len(plp.b_eq)
        # z = (x [p], w [q], y [n], lam [|T|], mu [m_eq], alpha [|L|], beta [|U|])
        sizes = [p, q, n, len(T), m_eq, len(L), len(U)]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        N = int(offsets[-1])

        def block(rows: int, parts: dict[int, np.ndarray]) -> np.ndarray:
            out = np.zeros((rows, N))
            for k, matrix in parts.items():
                out[:, offsets[k] : offsets[k + 1]] = matrix
            return out

        y_lb, y_ub = plp.lb.copy(), plp.ub.copy()
        y_ub[L] = plp.lb[L]
        y_lb[U] = plp.ub[U]
        lb = np.concatenate(
            [self.spec.lb, self.w_lb, y_lb, np.zeros(len(T)), np.full(m_eq, -math.inf), np.zeros(len(L) + len(U))]
        )
        ub = np.concatenate([self.spec.ub, self.w_ub, y_ub, np.full(len(T) + m_eq + len(L) + len(U), math.inf)])
        slack_rows = np.flatnonzero(~tight)
        A_ub = np.vstack(
            [
                block(len(slack_rows), {0: -plp.B_ub[slack_rows], 2: plp.A_ub[slack_rows]}),
                block(len(self.rows_rhs), {0: self.rows_x, 1: self.rows_w, 2: self.rows_y}),
            ]
        )
        b_ub = np.concatenate([plp.b_ub[slack_rows], self.rows_rhs])
        E = np.eye(n)
        A_eq = np.vstack(
            [
                block(len(T), {0: -plp.B_ub[T], 2: plp.A_ub[T]}),
                block(m_eq, {0: -plp.B_eq, 2: plp.A_eq}),
                block(n, {0: plp.C, 3: plp.A_ub[T].T, 4: plp.A_eq.T, 5: -E[:, L], 6: E[:, U]}),
            ]
        )
        b_eq = np.concatenate([plp.b_ub[T], plp.b_eq, -plp.c])
        objective = np.zeros(N)
        objective[offsets[0] : offsets[1]] = self.obj_x
        objective[offsets[1] : offsets[2]] = self.obj_w
        objective[offsets[2] : offsets[3]] = self.obj_y
        rho = self.spec.revenue_weight
        if rho:  # (C x) @ y by strong duality (B = 0 here)
            objective[offsets[2] : offsets[3]] -= rho * plp.c
            objective[offsets[3] : offsets[4]] -= rho * plp.b_ub[T]
            objective[offsets[4] : offsets[5]] -= rho * plp.b_eq
            objective[offsets[5] : offsets[6]] += rho * plp.lb[L]
            objective[offsets[6] : offsets[7]] -= rho * plp.ub[U]
        lp = LinearProgram(objective, A_ub, b_ub, A_eq, b_eq, lb, ub)
        self.lp_solves += 1
        result = solve_lp_arrays(lp, maximize=self.maximize)
        if result.status != OPTIMAL:
            return None
        return np.clip(result.y[:p], self.spec.lb, self.spec.ub)


def linear_polish(problem: BilevelProblem) -> ResponsePolish | None:
    """The family's polish, or None where it declares no LP follower (or one the polish cannot handle)."""
    structure = problem.linear_structure()
    if structure is None:
        return None
    plp, spec = structure
    polish = ResponsePolish(plp, spec, problem.tie_break)
    return polish if polish.supported else None


class BilevelStarts:
    """The bilevel-aware starts of one run (kept on its pymoo problem, so restarts share them)."""

    def __init__(self, pymoo_problem: Any) -> None:
        self.pymoo_problem = pymoo_problem
        self.evaluator = pymoo_problem.evaluator
        self.problem: BilevelProblem = self.evaluator.problem
        self._pool: np.ndarray | None = None
        self._next = 0
        self._polish: ResponsePolish | bool | None = False  # False: not looked up yet

    @property
    def polisher(self) -> ResponsePolish | None:
        if self._polish is False:
            self._polish = linear_polish(self.problem)
        return self._polish  # type: ignore[return-value]

    def relaxation(self, k: int, random_state: np.random.Generator) -> np.ndarray:
        """The next k unused relaxation starts (canonical, distinct); fewer or none once they run out."""
        from bilevel_bench.heuristics.evaluator import canonical

        if self._pool is None:
            seed = int(random_state.integers(2**31 - 1))
            before = self.problem.work_counters()
            starts = np.asarray(self.problem.relaxation_starts(RELAXATION_POOL * k, seed), dtype=float)
            after = self.problem.work_counters()
            for key, value in after.items():
                _add_work(self.evaluator.counters, key, float(value) - float(before.get(key, 0.0)))
            starts = starts.reshape(-1, self.problem.n_var)
            starts = starts[np.all(np.isfinite(starts), axis=1)]
            self._pool = _distinct(canonical(self.problem, starts)) if len(starts) else starts
            _add_work(self.evaluator.counters, "relaxation_starts", len(self._pool))
        chosen = self._pool[self._next : self._next + k]
        self._next += len(chosen)
        return chosen

    def polish_each(self, X: np.ndarray, mask: np.ndarray | None = None) -> list[np.ndarray | None]:
        """The polish of each row of X (None where there is none, or where ``mask`` is False), counted."""
        polisher = self.polisher
        if polisher is None:
            return [None] * len(X)
        before = polisher.lp_solves
        out = [polisher.polish(x) if mask is None or mask[i] else None for i, x in enumerate(X)]
        _add_work(self.evaluator.counters, "polish_lp_solves", polisher.lp_solves - before)
        return out

    def polish(self, X: np.ndarray, evaluations: list[Any]) -> np.ndarray:
        """Polished decisions of the rows whose follower is optimal (canonical, distinct, not rows of X)."""
        from bilevel_bench.heuristics.evaluator import canonical

        ok = np.array([evaluation.follower.ok for evaluation in evaluations], dtype=bool)
        out = [x for x in self.polish_each(X, ok) if x is not None]
        if not out:
            return np.zeros((0, X.shape[1]))
        P = _distinct(canonical(self.problem, np.array(out)))
        return P[~_rows_in(P, X)]

    def initial_population(self, n: int, random_state: np.random.Generator, sample: Any) -> Any:
        """Up to n evaluated starts (module docstring) as a pymoo population; ``sample(k)`` draws k uniform
        random decisions."""
        from pymoo.core.evaluator import Evaluator
        from pymoo.core.population import Population

        k = max(1, n // 4)
        relaxed = self.relaxation(k, random_state)
        random = sample(k)
        first = _distinct(np.vstack([relaxed, random]))[:n]
        pop = Population.new("X", first)
        Evaluator().eval(self.pymoo_problem, pop)
        X, evaluations = self.pymoo_problem.last_batch
        polished = self.polish(X, evaluations)[: n - len(pop)]
        if len(polished):
            extra = Population.new("X", polished)
            Evaluator().eval(self.pymoo_problem, extra)
            _add_work(self.evaluator.counters, "polished", len(polished))
            pop = Population.merge(pop, extra)
        return pop


def _distinct(X: np.ndarray) -> np.ndarray:
    """The rows of X without repeats, in their first order."""
    if len(X) == 0:
        return X
    _, first = np.unique(X, axis=0, return_index=True)
    return X[np.sort(first)]


def _rows_in(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Which rows of A are also rows of B."""
    keys = {row.tobytes() for row in np.asarray(B, dtype=float)}
    return np.array([row.tobytes() in keys for row in np.asarray(A, dtype=float)], dtype=bool)
