"""A matheuristic baseline for LP followers: the penalty alternating direction method (PADM).

Source: T. Kleinert and M. Schmidt, "Computing feasible points of bilevel problems with a penalty
alternating direction method", INFORMS Journal on Computing 33(1), 2021; the method itself is the
PADM of B. Geißler, A. Morsi, L. Schewe and M. Schmidt, "Penalty alternating direction methods for
mixed-integer optimization: a new view on feasibility pumps", SIAM J. Optim. 27(3), 2017.

**The model.** A family declares its LP follower through ``BilevelProblem.linear_structure()``: an
:class:`~bilevel_bench.kkt.AffineLP` (the follower ``min (c + C x) @ y  s.t.  A_ub y <= b_ub + B_ub x,
A_eq y = b_eq + B_eq x,  lb <= y <= ub``) and a :class:`~bilevel_bench.kkt.LeaderSpec` (box, integrality,
extra variables w, rows, objective ``F``, optionally ``rho (C x) @ y``). With the follower's duals
``pi = (lam >= 0, mu, alpha >= 0, beta >= 0)`` in the sign convention of :mod:`bilevel_bench.kkt` the
single-level strong-duality reformulation is::

    max F(x, w, y)  s.t.  P(x): y primal feasible,  D(x): c + C x + A_ub' lam + A_eq' mu - alpha + beta = 0,
                          leader box, integrality, rows,  G(x, y, pi) := (c + C x) @ y - Phi(x, pi) <= 0

with the dual objective ``Phi(x, pi) = -(b_ub + B_ub x) @ lam - (b_eq + B_eq x) @ mu + lb @ alpha - ub @ beta``.
By weak duality ``G >= 0`` whenever y is primal and pi dual feasible, and ``G = 0`` exactly when y is an
optimal response to x. PADM penalises the duality gap: it minimises ``Psi = -F + nu G`` (``+F`` for a
minimising leader) by alternating exact minimisations over two blocks of variables, each an LP (GLOP) or,
with integer leader variables, a MILP (SCIP, one thread), and multiplies ``nu`` by ``penalty_factor``
whenever the alternation has stalled at a point with a positive gap:

- follower with x in its right-hand sides only (``C = 0``; e.g. inventory), the split of Kleinert and
  Schmidt: block U = (x, w, y) under P(x) and the leader's rows, block V = pi under D (the follower's dual LP
  at the current x: only the penalty term depends on pi);
- follower with x in its costs only (``B = 0``; e.g. network pricing, tolls): the mirror split, block U =
  (x, w, pi) under D(x) and the leader's rows on (x, w), block V = y under P and the rows on y (the
  follower's LP at x, the leader's objective as a preference weighted against ``nu``). Every block problem
  is again linear: the bilinear terms of G and of ``rho (C x) @ y`` couple only x with y.

A follower with x in both its costs and its right-hand sides, or (cost split) a leader row mixing y with
(x, w), has no such split; the matheuristic then refuses the problem with an :class:`InputError`.

**One attempt** starts from a leader decision x0, solves V at x0, then alternates U and V. The first
attempt starts from the high-point relaxation's optimum where that is an LP/MILP (``rho = 0`` or ``C = 0``;
``hpr_start``), otherwise from the box's centre. Later attempts (the run's restarts; this multi-start is ours,
not the paper's) start alternately from a uniform random point of the box and, once a feasible decision is
known, from the run's incumbent plus a normal step of ``restart_sigma`` times each variable's range (integers
rounded), both drawn from the attempt's seed. The penalty starts at ``nu = |rho| + penalty``: with a
revenue term, a penalty at or below ``rho`` leaves the penalty function indifferent to (or rewarding) a gap
along the revenue, and a penalty just above it lets the first rounds explore responses the leader prefers.
The inner loop stops when a U-V round lowers Psi by less than 1e-9 relative (a partial minimum: neither
block can improve it) or after ``max_inner`` rounds. If the gap is then at most ``gap_tol`` (relative to
the follower's cost) the attempt has found a feasible point of the reformulation and ends; otherwise ``nu``
grows and the alternation goes on, at most ``max_penalty_updates`` times in all. A block without an optimum
(unbounded while ``nu`` is small, or infeasible) also makes ``nu`` grow, within the same count; in the
right-hand-side split a follower dual LP without optimum (the follower has no response at x0) ends the
attempt at once, since ``nu`` only scales that block.

**What the run sees.** Every leader decision the method produces (x0 and the x of every U step that
differs from the previous one) is handed, as a batch of one, to the run's evaluator: the family's exact
follower evaluates it (ties broken by the run's reading), so the budget, the counters, the history, the
re-verification and the restarts are those of every heuristic, and every value reported is the exact
follower's, never the block model's. An attempt that ends before the budget ends the pymoo algorithm; the
run restarts it (a new attempt, as above). The block solves are not evaluations; their number is
reported in the run's work counters (``matheuristic_block_solves``, ``matheuristic_attempts``,
``matheuristic_gap_closed``: attempts ended at a zero gap).

**What it guarantees** (the PADM theory of Geißler et al. 2017, applied to bilevel problems by Kleinert
and Schmidt 2021), and what is checked here: an inner loop that ends because a round no longer lowers Psi
(by 1e-9 relative) ends at a partial minimum of the penalty function: each block's solve is an exact LP/MILP
optimum given the other block (an inner loop cut by ``max_inner`` need not). An attempt that ends with a
gap of at most ``gap_tol`` ends at a point of the strong-duality reformulation, i.e. (up to that tolerance
and the solvers') a bilevel feasible point of the optimistic problem. Nothing more: no global optimality, no
bound, and an attempt may end at a positive gap (its x is still evaluated exactly). With the optimistic
reading the exact evaluation of a zero-gap x is at least the block model's leader value, up to tolerances
(the follower then picks, among its optimal responses, the best for the leader); with the pessimistic reading the search still aims at the optimistic
point and the evaluation is the pessimistic value, which may be worse. Deterministic for a seed: no answer
depends on time (solver time limits are only the run's deadline, :func:`bilevel_bench.limits.solver_seconds`).
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import ortools.linear_solver.pywraplp as pywraplp
from pymoo.core.algorithm import Algorithm
from pymoo.core.population import Population
from pymoo.core.termination import Termination

from bilevel_bench import kkt, limits
from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.evaluator import BatchEvaluator
from bilevel_bench.heuristics.registry import Heuristic, ProblemInfo
from bilevel_bench.lp import LinearProgram, solve_lp_arrays
from bilevel_bench.problem import OPTIMAL

#: The two splits (module docstring): x in the follower's right-hand sides, or in its costs.
RHS, COST = "rhs", "cost"
#: A U-V round that lowers the penalty function by less than this (relative) ends the inner loop.
STALL_TOL = 1e-9
#: Two leader decisions closer than this (absolute, per coordinate) are the same decision.
SAME_X = 1e-9


def _refuse(message: str) -> InputError:
    return InputError("<heuristic>", "heuristic", f"matheuristic {message}")


@dataclasses.dataclass
class Block:
    """One block problem: ``min obj @ z + 0`` over ``lb <= z <= ub`` (integer where ``integer``),
    ``A_ub z <= b_ub``, ``A_eq z = b_eq``."""

    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    A_ub: np.ndarray
    b_ub: np.ndarray
    A_eq: np.ndarray
    b_eq: np.ndarray


class Structure:
    """The reformulation's data for one problem, and its two block problems (module docstring)."""

    def __init__(self, plp: kkt.AffineLP, spec: kkt.LeaderSpec, family: str) -> None:
        self.plp = plp
        leader = kkt._Leader(spec, plp.n)  # the core's reading of a LeaderSpec (arrays filled in)
        self.leader = leader
        self.sign = 1.0 if spec.sense == "max" else -1.0  # F in the max sense is sign * F
        self.rho = float(spec.revenue_weight)
        self.constant = float(spec.constant)
        has_b, has_c = bool(np.any(plp.B_ub) or np.any(plp.B_eq)), bool(np.any(plp.C))
        if has_b and has_c:
            raise _refuse(
                f"cannot split family {family!r}: its follower has the leader's decision in both its costs and its "
                "right-hand sides (bilinear in both blocks), so no block problem would be linear"
            )
        if self.rho and has_b:
            raise _refuse(f"cannot split family {family!r}: revenue_weight needs B_ub = B_eq = 0")
        self.case = COST if has_c else RHS
        p, q, n = leader.p, leader.q, plp.n
        self.p, self.q, self.n = p, q, n
        self.m_ub, self.m_eq = len(plp.b_ub), len(plp.b_eq)
        self.finite = np.flatnonzero(np.isfinite(plp.ub))  # columns with a beta
        self.ub_finite = plp.ub[self.finite]
        uses_y = np.any(leader.rows_y != 0, axis=1)
        uses_xw = np.any(leader.rows_x != 0, axis=1) | np.any(leader.rows_w != 0, axis=1)
        if self.case == COST and np.any(uses_y & uses_xw):
            raise _refuse(
                f"cannot split family {family!r}: a leader row mixes the follower's variables with the leader's, "
                "and the follower has the leader's decision in its costs: the blocks do not separate"
            )
        self.rows_y_only, self.rows_xw = uses_y & ~uses_xw, ~uses_y
        # the dual constraints' matrix over pi = (lam, mu, alpha, beta): A_ub' lam + A_eq' mu - alpha + E beta
        E = np.eye(n)[:, self.finite]
        self.dual_matrix = np.hstack([plp.A_ub.T, plp.A_eq.T, -np.eye(n), E])
        self.n_pi = self.dual_matrix.shape[1]
        self.pi_lb = np.concatenate([np.zeros(self.m_ub), np.full(self.m_eq, -math.inf), np.zeros(n + len(E.T))])
        self.integer_u = bool(leader.integer.any() or leader.w_integer.any())

    # -- values ------------------------------------------------------------------------------------
    def leader_value(self, x: np.ndarray, w: np.ndarray, y: np.ndarray) -> float:
        """F in the leader's own sense."""
        L = self.leader
        value = L.obj_x @ x + L.obj_w @ w + L.obj_y @ y + self.constant
        if self.rho:
            value += self.rho * float((self.plp.C @ x) @ y)
        return float(value)

    def split_pi(self, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        a, b, c = self.m_ub, self.m_ub + self.m_eq, self.m_ub + self.m_eq + self.n
        return pi[:a], pi[a:b], pi[b:c], pi[c:]

    def dual_value(self, x: np.ndarray, pi: np.ndarray) -> float:
        """Phi(x, pi), the follower's dual objective."""
        plp = self.plp
        lam, mu, alpha, beta = self.split_pi(pi)
        b_ub, b_eq = plp.b_ub + plp.B_ub @ x, plp.b_eq + plp.B_eq @ x
        return float(-b_ub @ lam - b_eq @ mu + plp.lb @ alpha - self.ub_finite @ beta)

    def gap(self, x: np.ndarray, y: np.ndarray, pi: np.ndarray) -> tuple[float, float]:
        """(G, the follower's cost (c + C x) @ y)."""
        cost = float((self.plp.c + self.plp.C @ x) @ y)
        return cost - self.dual_value(x, pi), cost

    def penalty_value(self, x: np.ndarray, w: np.ndarray, y: np.ndarray, pi: np.ndarray, nu: float) -> float:
        return -self.sign * self.leader_value(x, w, y) + nu * self.gap(x, y, pi)[0]

    # -- the blocks --------------------------------------------------------------------------------
    def primal_block(self, with_leader: bool) -> Block:
        """Over (x, w, y) (``with_leader``) or y alone: P(x), the leader's rows that apply, the boxes."""
        plp, L = self.plp, self.leader
        if with_leader:
            lb = np.concatenate([L.lb, L.w_lb, plp.lb])
            ub = np.concatenate([L.ub, L.w_ub, plp.ub])
            integer = np.concatenate([L.integer, L.w_integer, np.zeros(self.n, bool)])
            zw_ub, zw_eq = np.zeros((self.m_ub, self.q)), np.zeros((self.m_eq, self.q))
            A_ub = np.vstack([np.hstack([-plp.B_ub, zw_ub, plp.A_ub]), np.hstack([L.rows_x, L.rows_w, L.rows_y])])
            b_ub = np.concatenate([plp.b_ub, L.rows_rhs])
            A_eq, b_eq = np.hstack([-plp.B_eq, zw_eq, plp.A_eq]), plp.b_eq
        else:
            rows = self.rows_y_only
            lb, ub, integer = plp.lb, plp.ub, np.zeros(self.n, bool)
            A_ub, b_ub = np.vstack([plp.A_ub, L.rows_y[rows]]), np.concatenate([plp.b_ub, L.rows_rhs[rows]])
            A_eq, b_eq = plp.A_eq, plp.b_eq
        return Block(lb, ub, integer, A_ub, b_ub, A_eq, b_eq)

    def dual_block(self, with_leader: bool) -> Block:
        """Over (x, w, pi) (``with_leader``: D(x) and the leader's rows on (x, w)) or pi alone (D, C = 0)."""
        plp, L = self.plp, self.leader
        pi_ub = np.full(self.n_pi, math.inf)
        if with_leader:
            rows = self.rows_xw
            lb = np.concatenate([L.lb, L.w_lb, self.pi_lb])
            ub = np.concatenate([L.ub, L.w_ub, pi_ub])
            integer = np.concatenate([L.integer, L.w_integer, np.zeros(self.n_pi, bool)])
            A_eq = np.hstack([plp.C, np.zeros((self.n, self.q)), self.dual_matrix])
            A_ub = np.hstack([L.rows_x[rows], L.rows_w[rows], np.zeros((int(rows.sum()), self.n_pi))])
            b_ub = L.rows_rhs[rows]
        else:
            lb, ub, integer = self.pi_lb, pi_ub, np.zeros(self.n_pi, bool)
            A_eq, A_ub, b_ub = self.dual_matrix, np.zeros((0, self.n_pi)), np.zeros(0)
        return Block(lb, ub, integer, A_ub, b_ub, A_eq, -plp.c)


def solve_block(block: Block, objective: np.ndarray) -> np.ndarray | None:
    """The block's optimum (GLOP, or SCIP with one thread where some variable is integer); None if it has none
    (infeasible, unbounded, or cut by the run's deadline). Time limit: the run's deadline only."""
    if not block.integer.any():
        lp = LinearProgram(objective, block.A_ub, block.b_ub, block.A_eq, block.b_eq, block.lb, block.ub)
        result = solve_lp_arrays(lp)
        return result.y if result.status == OPTIMAL else None
    solver = pywraplp.Solver.CreateSolver("SCIP")
    inf = solver.infinity()

    def bound(value: float) -> float:
        return -inf if value == -math.inf else inf if value == math.inf else float(value)

    z = [
        solver.IntVar(bound(lo), bound(hi), "") if integer else solver.NumVar(bound(lo), bound(hi), "")
        for lo, hi, integer in zip(block.lb, block.ub, block.integer, strict=True)
    ]
    for A, lows, highs in ((block.A_ub, None, block.b_ub), (block.A_eq, block.b_eq, block.b_eq)):
        for i, row in enumerate(A):
            ct = solver.Constraint(-inf if lows is None else float(lows[i]), float(highs[i]), "")
            for j in np.flatnonzero(row):
                ct.SetCoefficient(z[j], float(row[j]))
    obj = solver.Objective()
    for j in np.flatnonzero(objective):
        obj.SetCoefficient(z[j], float(objective[j]))
    obj.SetMinimization()
    solver.SetNumThreads(1)
    seconds = limits.solver_seconds()
    if math.isfinite(seconds):
        solver.SetTimeLimit(max(1, math.ceil(1000.0 * seconds)))
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, kkt.MIP_GAP)
    if solver.Solve(params) != pywraplp.Solver.OPTIMAL:
        return None
    return np.array([v.solution_value() for v in z])


@dataclasses.dataclass
class RunState:
    """What the attempts of one run share (kept per evaluator): the structure and the counts."""

    structure: Structure
    attempts: int = 0


#: One state per run (keyed by the run's evaluator; forgotten with it).
_STATES: weakref.WeakKeyDictionary[BatchEvaluator, RunState] = weakref.WeakKeyDictionary()


class PADM(Algorithm):
    """One PADM attempt as a pymoo algorithm: each ``_infill`` is the next leader decision it produces."""

    def __init__(
        self,
        penalty: float,
        penalty_factor: float,
        max_penalty_updates: int,
        max_inner: int,
        gap_tol: float,
        hpr_start: bool,
        restart_sigma: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.penalty, self.penalty_factor = penalty, penalty_factor
        self.max_penalty_updates, self.max_inner = max_penalty_updates, max_inner
        self.gap_tol, self.hpr_start, self.restart_sigma = gap_tol, hpr_start, restart_sigma
        self.over = False  # the attempt has ended (read by AttemptOver)
        self.nu, self.updates, self.nu_changed = penalty, 0, False  # the attempt's penalty and its updates

    def _setup(self, problem: Any, **kwargs: Any) -> None:
        evaluator: BatchEvaluator = problem.evaluator
        state = _STATES.get(evaluator)
        if state is None:
            bilevel = evaluator.problem
            structure = bilevel.linear_structure()
            if structure is None:
                raise _refuse(f"needs an LP follower: family {bilevel.family!r} declares no linear_structure")
            plp, spec = structure
            state = RunState(Structure(plp, spec, bilevel.family))
            _STATES[evaluator] = state
        self.state, self.structure, self.evaluator_ = state, state.structure, evaluator
        self.attempt = state.attempts
        state.attempts += 1
        self._count("matheuristic_attempts")
        self._steps = self._padm()

    # -- pymoo's infill/advance ---------------------------------------------------------------------
    def _initialize_infill(self) -> Population:
        return self._next_population()

    def _infill(self) -> Population | None:
        return self._next_population()

    def _next_population(self) -> Population | None:
        x = next(self._steps, None)
        if x is None:
            self.over = True
            return None
        return Population.new("X", np.atleast_2d(x))

    def _initialize_advance(self, infills: Population | None = None, **kwargs: Any) -> None:
        self.pop = infills

    def _advance(self, infills: Population | None = None, **kwargs: Any) -> None:
        if infills is not None:
            self.pop = infills

    # -- the method --------------------------------------------------------------------------------
    def _count(self, key: str) -> None:
        work = self.evaluator_.counters.work
        work[key] = work.get(key, 0.0) + 1.0

    def _solve(self, block: Block, objective: np.ndarray) -> np.ndarray | None:
        self._count("matheuristic_block_solves")
        with limits.deadline(self.evaluator_.deadline):
            return solve_block(block, objective)

    def _start(self) -> np.ndarray:
        S = self.structure
        L = S.leader
        if self.attempt == 0 and self.hpr_start and not (S.rho and S.case == COST):
            hpr = S.primal_block(with_leader=True)  # the high-point relaxation: max F over all constraints
            objective = -S.sign * np.concatenate([L.obj_x, L.obj_w, L.obj_y])
            z = self._solve(hpr, objective)
            if z is not None:
                return z[: S.p]
        rng, width = self.random_state, L.ub - L.lb
        best = self.evaluator_.best_x if self.evaluator_.best_violation == 0 else None
        if self.attempt == 0:
            x = (L.lb + L.ub) / 2.0
        elif best is not None and self.restart_sigma > 0 and self.attempt % 2 == 0:
            x = np.clip(best + self.restart_sigma * width * rng.standard_normal(S.p), L.lb, L.ub)
        else:
            x = L.lb + width * rng.random(S.p)
        return np.where(L.integer, np.round(x), x)

    def _padm(self) -> Iterator[np.ndarray]:
        """The attempt: yields every new leader decision; returns when it ends (module docstring)."""
        S = self.structure
        p, q = S.p, S.q
        x = self._start()
        yield x
        last = x
        self.nu, self.updates = abs(S.rho) + float(self.penalty), 0
        u_block = S.primal_block(True) if S.case == RHS else S.dual_block(True)
        v_block = S.dual_block(False) if S.case == RHS else S.primal_block(False)
        v = self._v_step(v_block, x)
        if v is None:
            return
        psi, rounds = math.inf, 0
        while True:
            u = self._solve(u_block, self._u_objective(v, self.nu))
            if u is None:  # no optimum at this nu (a ray that the penalty does not yet outweigh): raise nu
                if not self._raise_penalty():
                    return
                psi, rounds = math.inf, 0
                continue
            x, w = u[:p], u[p : p + q]
            if np.max(np.abs(x - last), initial=0.0) > SAME_X:
                yield x
                last = x
            v_new = self._v_step(v_block, x)
            if v_new is None:
                return
            if self.nu_changed:
                psi, rounds = math.inf, 0
            v = v_new
            y, pi = (u[p + q :], v) if S.case == RHS else (v, u[p + q :])
            value = S.penalty_value(x, w, y, pi, self.nu)
            rounds += 1
            improved = math.isinf(psi) or value < psi - STALL_TOL * max(1.0, abs(psi))
            if improved and rounds < self.max_inner:
                psi = value
                continue
            gap, cost = S.gap(x, y, pi)  # a partial minimum (or the round limit): is the gap closed?
            if gap <= self.gap_tol * max(1.0, abs(cost)):
                self._count("matheuristic_gap_closed")
                return
            if not self._raise_penalty():
                return
            psi, rounds = math.inf, 0

    def _raise_penalty(self) -> bool:
        """nu times penalty_factor; False once that has happened max_penalty_updates times."""
        self.updates += 1
        if self.updates > self.max_penalty_updates:
            return False
        self.nu *= self.penalty_factor
        return True

    def _v_step(self, v_block: Block, x: np.ndarray) -> np.ndarray | None:
        """Block V at the leader's decision x. Right-hand-side split: the follower's dual LP, whose optimum does
        not depend on nu (None: the follower has no response at x). Cost split: the follower's LP with the
        leader's preference, unbounded while that outweighs nu: nu is then raised until it has an optimum."""
        self.nu_changed = False
        while True:
            v = self._solve(v_block, self._v_objective(x, self.nu))
            if v is not None or self.structure.case == RHS or not self._raise_penalty():
                return v
            self.nu_changed = True

    def _u_objective(self, v: np.ndarray, nu: float) -> np.ndarray:
        """Psi over block U with block V fixed at ``v`` (constants dropped)."""
        S, plp, L = self.structure, self.structure.plp, self.structure.leader
        s = S.sign
        if S.case == RHS:  # U = (x, w, y), v = pi: nu G = nu (c y + lam (b_ub + B_ub x) + mu (b_eq + B_eq x)) + ...
            lam, mu, _, _ = S.split_pi(v)
            x_part = -s * L.obj_x + nu * (plp.B_ub.T @ lam + plp.B_eq.T @ mu)
            return np.concatenate([x_part, -s * L.obj_w, -s * L.obj_y + nu * plp.c])
        # U = (x, w, pi), v = y; -s F = -s (obj_x x + rho (C x) @ y) + ..., nu G = nu ((C x) @ y - Phi(pi)) + ...
        Cy = plp.C.T @ v
        x_part = -s * (L.obj_x + S.rho * Cy) + nu * Cy
        minus_phi = np.concatenate([plp.b_ub, plp.b_eq, -plp.lb, S.ub_finite])
        return np.concatenate([x_part, -s * L.obj_w, nu * minus_phi])

    def _v_objective(self, x: np.ndarray, nu: float) -> np.ndarray:
        """Psi over block V with the leader's decision at ``x`` (constants dropped)."""
        S, plp, L = self.structure, self.structure.plp, self.structure.leader
        if S.case == RHS:  # V = pi: -nu Phi(x, pi); the leader's objective does not depend on pi
            b_ub, b_eq = plp.b_ub + plp.B_ub @ x, plp.b_eq + plp.B_eq @ x
            return nu * np.concatenate([b_ub, b_eq, -plp.lb, S.ub_finite])
        cost = plp.c + plp.C @ x  # V = y: -s (obj_y + rho C x) @ y + nu (c + C x) @ y
        return -S.sign * (L.obj_y + S.rho * (plp.C @ x)) + nu * cost


class AttemptOver(Termination):
    """The PADM attempt has ended (converged, or out of penalty updates): the run restarts it."""

    def _update(self, algorithm: Any) -> float:
        return 1.0 if getattr(algorithm, "over", False) else 0.0


def _build(p: dict[str, Any], info: ProblemInfo) -> Algorithm:
    return PADM(
        penalty=p["penalty"],
        penalty_factor=p["penalty_factor"],
        max_penalty_updates=p["max_penalty_updates"],
        max_inner=p["max_inner"],
        gap_tol=p["gap_tol"],
        hpr_start=p["hpr_start"],
        restart_sigma=p["restart_sigma"],
    )


def _converged(p: dict[str, Any]) -> Termination:
    return AttemptOver()


MATHEURISTIC = Heuristic(
    "matheuristic",
    "penalty alternating direction method (Kleinert and Schmidt 2021) on the strong-duality reformulation of an "
    "LP follower (families with linear_structure); every decision evaluated by the exact follower",
    _build,
    {
        "penalty": 1.0,
        "penalty_factor": 10.0,
        "max_penalty_updates": 12,
        "max_inner": 100,
        "gap_tol": 1e-6,
        "hpr_start": True,
        "restart_sigma": 0.05,
    },
    ranges={
        "restart_sigma": (0.0, 1.0),
        "penalty_factor": (1.01, 1e4),
        "gap_tol": (1e-12, 1e-2),
        "max_penalty_updates": (0, 100),
    },
    convergence=_converged,
    variables=("real", "integer", "binary"),
    needs_linear=True,
)
