"""Exact baseline of the **pessimistic** reading (and, as a cross-check, the optimistic one) on tiny instances.

Method: enumeration of the follower's *lexicographically optimal bases*, one LP per basis: the search over
the follower's optimal bases of linear bilevel programming (Candler and Townsley 1982, "A linear two-level
programming problem", Computers & Operations Research 9(1): 59-76), applied to a follower whose ties are
broken lexicographically, with the textbook optimality condition of lexicographic LP (a basis is
lexicographically optimal when every nonbasic reduced-cost *vector* has the right lexicographic sign; e.g.
Isermann 1982, "Linear lexicographic optimization", OR Spektrum 4: 223-228). The derivation below, for
this family's follower, is ours.

The follower (``follower.py``) is ``min c y`` over ``Y(w) = {A_ub y <= b_ub(w), A_eq y = b_eq(w), 0 <= y
<= u}`` with right-hand sides affine in the leader's w = (x, v) (balance rows: x; demand rows: d0 + Dv v;
space rows: constants) and costs c = (p, 0, 0) fixed. The leader gains ``g y`` from the response, g = (p,
-h, -s). A pessimistic follower (the tie rule of :mod:`bilevel_bench.lp`) returns ``lexmin (c y, g y)`` over Y(w); an
optimistic one ``lexmin (c y, -g y)``. Write the second objective as e (e = g pessimistic, -g optimistic).

1. Standard form with a slack per ``<=`` row: ``[A_ub I; A_eq 0] z = b(w)``, z = (y, s), bounds
   ``0 <= z <= (u, inf)``. A basis B (M of the N columns, nonsingular) with every nonbasic column at a
   bound is **lex-dual feasible** when, with ``pi_c = B^-T c_B`` and ``pi_e = B^-T e_B``, each nonbasic
   column k has reduced costs ``r_k = (c_k - pi_c A_k, e_k - pi_e A_k)`` with ``r_k >=lex 0`` if it sits at
   its lower bound and ``r_k <=lex 0`` at its upper bound. This does not depend on w.
2. If B is lex-dual feasible and its basic solution ``z_B(w) = B^-1 (b(w) - A_U u_U)`` is within its
   bounds at w, then z(w) is the lexicographic optimum at w: the reduced costs certify optimality of c,
   and of e over the face of c-optimal points. Conversely, wherever the lexicographic problem has an
   optimum, a lex-dual-feasible basis attains it (the lexicographic simplex method, or the perturbation
   c + eps e for small eps > 0). So at every leader decision w whose follower is feasible, the tie-broken
   value of the response is ``g z_B(w)`` for every lex-dual-feasible B primal feasible at w.
3. Hence the bilevel optimum is the best, over the lex-dual-feasible bases B (and bound states), of the LP
   ``max F(w, z_B(w))  s.t.  0 <= z_B(w) <= bounds,  w in the leader's box and resources``: z_B is affine
   in w, so F is linear. Each region is closed, so the pessimistic optimum is **attained** (no epsilon is
   needed: here the leader moves only right-hand sides). With ``setup = "decision"`` each region's problem
   is a MILP (x <= xmax z, z binary), solved by SCIP. Regions are solved in decreasing order of a bound
   (F's maximum over the leader's box, the region ignored), and the search stops when that bound cannot
   beat the incumbent; this only skips regions, so the result stays exact.

The evaluation's follower breaks ties within ``tie_tolerance`` of the follower's optimum (not exactly); the
core re-verifies the decision with it, and the two agree within the verification tolerance.

Unbounded reading. If the follower has a ray r (``A_ub r <= 0, A_eq r = 0, r >= 0``, r = 0 on capped
variables, ``c r <= 0``) with ``e r < 0``, the tie-broken response is unbounded at *every* feasible w (one
LP decides it, before any enumeration): the pessimistic reading without caps (hold and subcontract without
limit) returns status ``unbounded`` with the reason. A cap on I, or on S, or a finite warehouse in the last
period (for the products that take space) bounds it.

Size limit (stated): the enumeration visits all ``C(N, M)`` column subsets (numpy, in chunks). Beyond
:data:`MAX_SUBSETS` the result is ``unsupported`` with the count: this is a reference for tiny instances
(for example n = 1 with T <= 4, or n = 2 with T <= 2, without space rows), not a general solver.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from typing import TYPE_CHECKING

import numpy as np
import ortools.linear_solver.pywraplp as pywraplp

from bilevel_bench.limits import solver_seconds
from bilevel_bench.lp import LinearProgram, solve_lp, solve_lp_arrays
from bilevel_bench.problem import OPTIMAL, ExactResult, ExactStatus
from bilevel_bench.problems.inventory.follower import follower_lp, leader_preference

if TYPE_CHECKING:
    from bilevel_bench.problems.inventory.problem import InventoryProblem

#: Largest number of column subsets C(N, M) the enumeration visits.
MAX_SUBSETS = 300_000
#: Column subsets per numpy batch.
CHUNK = 20_000
#: Relative tolerance of the reduced-cost signs.
SIGN_TOL = 1e-9
#: A column subset is a basis when the determinant of its row-scaled matrix (rows of [A_ub I; A_eq 0] scaled
#: to a largest entry of 1) exceeds this. The instances' matrices hold small integers and ratios of them.
SINGULAR_TOL = 1e-10


def solve_pessimistic(problem: InventoryProblem, time_limit: float = 60.0) -> ExactResult:
    """The pessimistic reading's exact baseline (see the module docstring)."""
    return solve_by_bases(problem, "pessimistic", time_limit)


def solve_by_bases(problem: InventoryProblem, reading: str, time_limit: float = 60.0) -> ExactResult:
    """The bilevel optimum under ``reading`` ("pessimistic" or "optimistic") by lexicographic bases."""
    start = time.perf_counter()
    method = f"enumeration of the follower's lexicographically optimal bases ({reading}), one LP per basis"
    structure = _Structure(problem, reading)
    if structure.ray_gain < 0.0:
        why = (
            f"the {reading} follower's tie-broken response is unbounded at every leader decision: it can hold "
            "inventory and subcontract without limit (no caps on I and S), at no cost to itself"
        )
        return ExactResult(math.nan, math.nan, ExactStatus.UNBOUNDED, time.perf_counter() - start, {}, method, why)
    subsets = math.comb(structure.N, structure.M)
    if subsets > MAX_SUBSETS:
        why = (
            f"{subsets:,} candidate bases (C({structure.N}, {structure.M})) exceed this tiny-instance "
            f"enumeration's limit of {MAX_SUBSETS:,}"
        )
        return ExactResult(math.nan, math.nan, ExactStatus.UNSUPPORTED, time.perf_counter() - start, {}, method, why)
    regions = sorted(
        (structure.region(basis, at_upper) for basis, at_upper in structure.lex_optimal_bases()),
        key=lambda region: -region.box_bound,
    )
    best_value, best_w = -math.inf, None
    solved = 0
    for region in regions:  # best box bound first: the rest cannot beat the incumbent once one's bound does not
        if region.box_bound <= best_value + 1e-9 * max(1.0, abs(best_value)):
            break
        left = time_limit - (time.perf_counter() - start)
        if left <= 0 or solver_seconds(left) <= 0.001:
            notes = f"time limit after {solved} of {len(regions)} region problems; no bound"
            return _result(problem, best_value, best_w, ExactStatus.FEASIBLE, math.nan, start, method, notes)
        value, w = structure.region_optimum(region, left)
        solved += 1
        if w is not None and value > best_value:
            best_value, best_w = value, w
    notes = (
        f"{subsets:,} column subsets, {len(regions)} lexicographically optimal bases (with bound states), "
        f"{solved} region problems solved (the others pruned by a box bound)"
    )
    if best_w is None:
        return ExactResult(
            math.nan,
            math.nan,
            ExactStatus.INFEASIBLE,
            time.perf_counter() - start,
            {},
            method,
            notes + "; no leader decision has a feasible follower",
        )
    return _result(problem, best_value, best_w, ExactStatus.OPTIMAL, best_value, start, method, notes)


def _result(
    problem: InventoryProblem,
    value: float,
    w: np.ndarray | None,
    status: ExactStatus,
    bound: float,
    start: float,
    method: str,
    notes: str,
) -> ExactResult:
    if w is None:
        return ExactResult(math.nan, bound, status, time.perf_counter() - start, {}, method, notes)
    x = np.clip(w, *problem.bounds())
    return ExactResult(
        value, bound, status, time.perf_counter() - start, {**problem.decode(x), "x": x.tolist()}, method, notes
    )


class _Structure:
    """The follower in standard form, with w = (x, v) entering the right-hand side affinely."""

    def __init__(self, problem: InventoryProblem, reading: str) -> None:
        inst = problem.instance
        self.problem = problem
        n, T = inst.n, inst.T
        self.nT = nT = n * T
        lp = follower_lp(inst, np.zeros((n, T)), np.zeros((n, T)))
        self.lp = lp
        m_ub, m_eq, ny = len(lp.b_ub), len(lp.b_eq), lp.n
        self.M, self.N = m_ub + m_eq, ny + m_ub
        self.A = np.zeros((self.M, self.N))  # [A_ub I; A_eq 0]
        self.A[:m_ub, :ny], self.A[:m_ub, ny:] = lp.A_ub, np.eye(m_ub)
        self.A[m_ub:, :ny] = lp.A_eq
        self.upper = np.concatenate([lp.ub, np.full(m_ub, np.inf)])
        gain = leader_preference(inst)
        self.gain = np.concatenate([gain, np.zeros(m_ub)])  # the leader's gain from z
        self.c = np.concatenate([lp.c, np.zeros(m_ub)])
        self.e = self.gain if reading == "pessimistic" else -self.gain
        # b(w) = b0 + G w, w = (x, v): space rows constant, demand rows -(d0 + Dv v), balance rows x
        n_space = m_ub - len(inst.d0)
        self.b0 = np.concatenate([lp.b_ub[:n_space], -inst.d0, np.zeros(m_eq)])
        self.G = np.zeros((self.M, 2 * nT))
        self.G[n_space:m_ub, nT:] = -inst.Dv
        self.G[m_ub:, :nT] = np.eye(nT)
        self.ray_gain = self._ray()

    def _ray(self) -> float:
        """min e r over the follower's recession directions that keep it optimal (0 if none improves)."""
        capped = np.isfinite(self.upper)
        lp = LinearProgram(
            c=self.e,
            A_ub=self.c[None, :],  # c r <= 0
            b_ub=np.zeros(1),
            A_eq=self.A,
            b_eq=np.zeros(self.M),
            lb=np.zeros(self.N),
            ub=np.where(capped, 0.0, 1.0),
        )
        result = solve_lp(lp)
        if result.status != OPTIMAL:
            raise ValueError(f"the recession LP of the follower is {result.status}")
        return result.value if result.value < -1e-9 else 0.0

    def lex_optimal_bases(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every lex-dual-feasible basis with its nonbasic bound states: (basic columns, nonbasic at upper)."""
        A, c, e, upper = self.A, self.c, self.e, self.upper
        scaled = A / np.abs(A).max(axis=1, keepdims=True)  # row scaling keeps (non)singularity
        tol_c = SIGN_TOL * max(1.0, float(np.abs(c).max()))
        tol_e = SIGN_TOL * max(1.0, float(np.abs(e).max()))
        found: list[tuple[np.ndarray, np.ndarray]] = []
        combos = itertools.combinations(range(self.N), self.M)
        while True:
            chunk = np.array(list(itertools.islice(combos, CHUNK)), dtype=np.int64)
            if len(chunk) == 0:
                break
            ok = np.abs(np.linalg.det(scaled[:, chunk].transpose(1, 0, 2))) > SINGULAR_TOL
            chunk = chunk[ok]
            mats = A[:, chunk].transpose(1, 0, 2)  # [k, M, M]
            if len(chunk) == 0:
                continue
            rhs = np.stack([c[chunk], e[chunk]], axis=2)  # [k, M, 2]
            duals = np.linalg.solve(mats.transpose(0, 2, 1), rhs)  # B' pi = (c_B, e_B)
            r_c = c[None, :] - duals[:, :, 0] @ A  # [k, N]
            r_e = e[None, :] - duals[:, :, 1] @ A
            basic = np.zeros((len(chunk), self.N), dtype=bool)
            np.put_along_axis(basic, chunk, True, axis=1)
            zero_c = np.abs(r_c) <= tol_c
            lex_pos = (r_c > tol_c) | (zero_c & (r_e > tol_e))
            lex_neg = (r_c < -tol_c) | (zero_c & (r_e < -tol_e))
            lex_zero = zero_c & (np.abs(r_e) <= tol_e)
            at_lower_ok = lex_pos | lex_zero  # every column has a finite lower bound (0)
            at_upper_ok = (lex_neg | lex_zero) & np.isfinite(upper)[None, :]
            feasible = np.all(basic | at_lower_ok | at_upper_ok, axis=1)
            for row in np.flatnonzero(feasible):
                must_upper = ~basic[row] & ~at_lower_ok[row]
                either = ~basic[row] & at_lower_ok[row] & at_upper_ok[row]
                free = np.flatnonzero(either)
                for states in itertools.product((False, True), repeat=len(free)):
                    at_upper = must_upper.copy()
                    at_upper[free] = states
                    found.append((chunk[row], at_upper))
        return found

    def region(self, basis: np.ndarray, at_upper: np.ndarray) -> _Region:
        """The leader's problem where ``basis`` (nonbasic columns at ``at_upper``) is the follower's
        lexicographic optimum: z_B(w) = const + slope w must stay within its bounds; F is linear in w."""
        inst, nT = self.problem.instance, self.nT
        B_inv = np.linalg.inv(self.A[:, basis])
        fixed = np.where(at_upper, self.upper, 0.0)  # nonbasic values (finite where at_upper)
        fixed[basis] = 0.0
        const = B_inv @ (self.b0 - self.A @ fixed)
        slope = B_inv @ self.G
        gain_B = self.gain[basis]
        # F(w) = gain . z(w) - c x - sum v - r y - (setup costs)
        objective = slope.T @ gain_B - np.concatenate([inst.c.ravel(), np.ones(nT)])
        offset = float(gain_B @ const + self.gain @ fixed) - float(inst.r @ inst.y)
        if inst.setup == "fixed":
            offset -= float(inst.f.sum())
        lb, ub = self.problem.bounds()
        box_bound = offset + float(np.maximum(objective * lb, objective * ub).sum())  # setup costs only lower it
        return _Region(basis, const, slope, objective, offset, box_bound)

    def region_optimum(self, region: _Region, time_limit: float) -> tuple[float, np.ndarray | None]:
        """max F over the leader decisions of ``region`` (-inf, None if there are none)."""
        problem, inst, nT = self.problem, self.problem.instance, self.nT
        const, slope = region.const, region.slope.copy()
        slope[np.abs(slope) <= 1e-12 * max(1.0, float(np.abs(slope).max()))] = 0.0  # round-off of B^-1
        lo, hi = np.zeros(len(region.basis)), self.upper[region.basis]
        constant = ~slope.any(axis=1)  # rows that do not move with w: checked here
        tol = 1e-9 * (1.0 + np.abs(const))
        if np.any(constant & ((const < lo - tol) | (const > hi + tol))):
            return -math.inf, None
        slope, const, lo, hi = slope[~constant], const[~constant], lo[~constant], hi[~constant]
        resources = np.zeros((inst.q * inst.T, 2 * nT))
        resources[:, :nT] = problem._resources
        finite = np.isfinite(hi)
        A_ub = np.vstack([resources, -slope, slope[finite]])  # resources; z_B(w) >= lo; z_B(w) <= hi
        b_ub = np.concatenate([problem._b, const - lo, hi[finite] - const[finite]])
        lb, ub = problem.bounds()
        if inst.setup == "fixed":
            lp = LinearProgram(-region.objective, A_ub, b_ub, np.zeros((0, 2 * nT)), np.zeros(0), lb, ub)
            result = solve_lp_arrays(lp, time_limit=time_limit)
            if result.status != OPTIMAL:
                return -math.inf, None
            return -result.value + region.offset, result.y
        return _setup_milp(region.objective, region.offset, A_ub, b_ub, lb, ub, inst.f.ravel(), nT, time_limit)


@dataclasses.dataclass(frozen=True)
class _Region:
    basis: np.ndarray
    const: np.ndarray  # z_B(w) = const + slope w
    slope: np.ndarray
    objective: np.ndarray  # F(w) = objective . w + offset (before setup costs in "decision" mode)
    offset: float
    box_bound: float  # max of F over the leader's box, ignoring the region and the resources


def _setup_milp(
    objective: np.ndarray,
    offset: float,
    A_ub: np.ndarray,
    b_ub: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    f: np.ndarray,
    nT: int,
    time_limit: float,
) -> tuple[float, np.ndarray | None]:
    """The region problem with setup decisions: max objective w - f z, x <= xmax z, z binary (SCIP)."""
    solver = pywraplp.Solver.CreateSolver("SCIP")
    solver.SetNumThreads(1)
    w = [solver.NumVar(float(lo), float(hi), "") for lo, hi in zip(lb, ub, strict=True)]
    z = [solver.BoolVar("") for _ in range(nT)]
    for k in range(nT):
        solver.Add(w[k] <= float(ub[k]) * z[k])
    for row, bound in zip(A_ub, b_ub, strict=True):
        cols = np.flatnonzero(row)
        if len(cols):
            solver.Add(solver.Sum([float(row[j]) * w[j] for j in cols]) <= float(bound))
        elif bound < 0:
            return -math.inf, None
    solver.Maximize(
        solver.Sum([float(objective[j]) * w[j] for j in np.flatnonzero(objective)])
        - solver.Sum([float(f[k]) * z[k] for k in range(nT)])
    )
    solver.SetTimeLimit(max(1, math.ceil(solver_seconds(time_limit) * 1000)))
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(params.RELATIVE_MIP_GAP, 1e-9)
    if solver.Solve(params) != pywraplp.Solver.OPTIMAL:
        return -math.inf, None
    return solver.Objective().Value() + offset, np.array([var.solution_value() for var in w])
