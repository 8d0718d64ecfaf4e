"""The exact single-level baseline of any bilevel problem whose follower is an LP: KKT conditions + big-M.

The follower is a **parametric LP** (:class:`AffineLP`): right-hand sides and costs affine in the
leader's decision x::

    min_y (c + C x) @ y   s.t.  A_ub y <= b_ub + B_ub x      (lam >= 0)
                                A_eq y  = b_eq + B_eq x      (mu free)
                                lb <= y <= ub                (alpha >= 0 at lb, beta >= 0 at a finite ub; lb finite)

The leader (:class:`LeaderSpec`) has a box on x (some entries integer), optional extra variables w (e.g.
setup binaries), linear rows ``G_x x + G_w w + G_y y <= g``, and a linear objective in (x, w, y), plus
optionally ``rho * (C x) @ y``: the leader earns the leader-dependent part of the follower's cost (a toll, a
price). The single-level MILP (Fortuny-Amat and McCarl 1981, "A representation and economic interpretation
of a two-level programming problem", J. Oper. Res. Soc. 32(9)) is::

    (K1) A_ub y <= b_ub + B_ub x,  A_eq y = b_eq + B_eq x,  y_lo <= y <= y_hi          primal feasibility
    (K2) c + C x + A_ub' lam + A_eq' mu - alpha + beta = 0                              stationarity
    (K3) lam_i <= M^lam_i u_i,         s_i := b_ub_i + B_ub_i x - A_ub_i y <= M^s_i (1 - u_i)
    (K4) alpha_k <= M^alpha_k v_k,     y_k - lb_k <= (y_hi_k - lb_k) (1 - v_k)
    (K5) beta_k <= M^beta_k z_k,       ub_k - y_k <= (ub_k - y_lo_k) (1 - z_k)          (finite ub_k only)
    (K6) leader box, integrality and rows                                               u, v, z binary
    (K7) max (or min)  d_x x + d_w w + d_y y + d_0 + rho [ -b_ub' lam - b_eq' mu + lb' alpha - ub' beta - c' y ]

(K3)-(K5) are complementarity, each with one binary. A variable with lb_k = ub_k has one free multiplier
instead of alpha_k and beta_k. (K7) linearises ``(C x) @ y`` exactly by strong duality, which holds at every
KKT point: the follower's cost ``(c + C x) @ y`` equals the dual objective ``-b_ub' lam - b_eq' mu + lb' alpha
- ub' beta`` when ``B_ub = B_eq = 0`` (the dual objective is then linear); this is the linearisation of
Labbé, Marcotte and Savard (1998), "A bilevel model of taxation and its application to optimal highway
pricing", Management Science 44(12), for network pricing. With ``B != 0`` the term would be bilinear and is
refused.

**Optimistic by construction.** The MILP optimises the leader's objective over all KKT points, i.e. over
every follower-optimal response at every x, so it picks the response best for the leader: the optimistic
reading. A pessimistic baseline needs another formulation (the families say ``unsupported``).

**Big-Ms** (:func:`derive_big_ms`; never a guessed 1e6). They must leave, at every x, the leader-preferred
optimal response and at least one optimal dual inside the bounds. Three kinds:

- *derived*: an LP bound over a relaxation of (K1)-(K2), valid at every point of it, so harmless when tight:
  (D1) y_lo, y_hi: min/max y_k over the high-point relaxation P = {(x, w, y): (K1), (K6) without
  integrality}; (D2) M^s_i = max s_i over P; (D3) duals: min/max of each over the dual relaxation D =
  {(x, lam, mu, alpha, beta): (K2), signs, x in its box, the supplied dual bounds} with, when B = 0, the
  value rows ``phi_lo <= dual objective <= phi_hi`` (phi bounds the follower's optimal value over P; every
  optimal dual attains it); when C = 0 and the LP is tiny, the largest components over the vertices of the
  (then fixed) dual polyhedron, enumerated (an optimal vertex exists at every x when A_eq has full row
  rank); (D4) M^alpha, M^beta by interval arithmetic on (K2) (implied by the other bounds).
- *supplied*: the caller's bounds with its proof (a family derives them from its structure: inventory's
  value-function argument, tolls' path lengths). They are widened by 0.1% so that a dual that attains its
  proven bound exactly is not taken for one cut by it.
- *assumed*: neither (the caller's guesses, or ``fallback``). A result that uses one is never certified.

**Check.** After solving, a supplied or assumed bound that is tight at the solution may have cut the
optimum: y at its bound, or a dual that every optimal dual at the solution (x, y) pushes to its bound (an LP,
:func:`interior_duals`: the MILP's own dual values are arbitrary within the optimal face). Tight bounds are
enlarged tenfold and the MILP re-solved, at most ``max_rounds`` times; if that improves the objective, the
bound had cut the optimum and the supplied bounds are known to be wrong. The result is ``optimal`` only if the
MILP is solved to optimality, no supplied or assumed bound is tight at the end, none was refuted, and none is
assumed; otherwise it is ``feasible`` with the reason in the notes and no bound (the MILP's bound is a bound
of the restricted problem only). A non-binding big-M is no proof in itself (Pineda and
Morales 2019, "Solving linear bilevel problems using big-Ms: not all that glitters is gold", IEEE Trans.
Power Syst. 34(3); verifying a big-M is as hard as the bilevel problem: Kleinert, Labbé, Plein and Schmidt
2020, Oper. Res. 68(6)), hence the rule that assumed bounds never certify.

Solver: SCIP through OR-Tools pywraplp, one thread, relative MIP gap 1e-9, presolve off (on inventory's
seed, SCIP presolve on big-M rows cut off the optimum and reported a false 229,258.92 as optimal).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import ortools.linear_solver.pywraplp as pywraplp

from bilevel_bench.limits import solver_seconds
from bilevel_bench.lp import LinearProgram
from bilevel_bench.problem import ExactResult, ExactStatus

MIP_GAP = 1e-9
MIP_SOLVERS = ("SCIP", "HIGHS")
#: Kinds of bound (see the module docstring).
DERIVED, SUPPLIED, ASSUMED = 0, 1, 2
KIND_NAMES = ("derived", "supplied", "assumed")
#: Supplied and assumed bounds are widened by this much (relative, absolute) before use.
SUPPLIED_PAD_REL, SUPPLIED_PAD_ABS = 1e-3, 1e-6
#: LP-derived bounds are padded by this much against the LP solver's tolerances.
DERIVED_PAD_REL, DERIVED_PAD_ABS = 1e-7, 1e-7
#: A value within this of its bound counts as tight (relative to max(1, |bound|)).
TIGHT_TOL = 1e-7
#: Each round multiplies a tight bound's distance from zero by this (at least by 1 unit).
ENLARGE = 10.0
#: Largest number of bases the dual-vertex enumeration (D3, C = 0) tries.
VERTEX_LIMIT = 200_000


# -- the data --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AffineLP:
    """``min (c + C x) @ y  s.t.  A_ub y <= b_ub + B_ub x,  A_eq y = b_eq + B_eq x,  lb <= y <= ub``."""

    c: np.ndarray  # [n]
    C: np.ndarray  # [n, p]
    A_ub: np.ndarray  # [m_ub, n]
    b_ub: np.ndarray  # [m_ub]
    B_ub: np.ndarray  # [m_ub, p]
    A_eq: np.ndarray  # [m_eq, n]
    b_eq: np.ndarray  # [m_eq]
    B_eq: np.ndarray  # [m_eq, p]
    lb: np.ndarray  # [n], finite
    ub: np.ndarray  # [n], may hold inf

    def __post_init__(self) -> None:
        n, p = self.C.shape
        shapes = {
            "c": (self.c.shape, (n,)),
            "A_ub": (self.A_ub.shape, (len(self.b_ub), n)),
            "B_ub": (self.B_ub.shape, (len(self.b_ub), p)),
            "A_eq": (self.A_eq.shape, (len(self.b_eq), n)),
            "B_eq": (self.B_eq.shape, (len(self.b_eq), p)),
            "lb": (self.lb.shape, (n,)),
            "ub": (self.ub.shape, (n,)),
        }
        for name, (got, want) in shapes.items():
            if got != want:
                raise ValueError(f"AffineLP.{name} has shape {got}, expected {want}")
        if not np.isfinite(self.lb).all():
            raise ValueError("AffineLP.lb must be finite (shift or split free follower variables)")
        if np.any(self.ub < self.lb):
            raise ValueError("AffineLP.ub is below lb")

    @property
    def n(self) -> int:
        return len(self.c)

    @property
    def p(self) -> int:
        return int(self.C.shape[1])

    def at(self, x: np.ndarray) -> LinearProgram:
        """The follower's LP at leader decision ``x``."""
        x = np.asarray(x, dtype=float)
        return LinearProgram(
            c=self.c + self.C @ x,
            A_ub=self.A_ub,
            b_ub=self.b_ub + self.B_ub @ x,
            A_eq=self.A_eq,
            b_eq=self.b_eq + self.B_eq @ x,
            lb=self.lb,
            ub=self.ub,
        )

    @classmethod
    def from_function(cls, build: Callable[[np.ndarray], LinearProgram], p: int, seed: int = 0) -> AffineLP:
        """Read the affine map off a family's ``x -> LinearProgram`` by probing it at 0 and at the unit vectors.

        Raises ValueError if a matrix or bound changes with x, or if the map is not affine (checked at a
        random point, relative tolerance 1e-9).
        """
        base = build(np.zeros(p))
        columns = []
        for j in range(p):
            probe = build(np.eye(p)[j])
            for name in ("A_ub", "A_eq", "lb", "ub"):
                if not np.array_equal(getattr(probe, name), getattr(base, name)):
                    raise ValueError(f"the follower's {name} depends on x[{j}]: not a parametric LP of this form")
            columns.append((probe.c - base.c, probe.b_ub - base.b_ub, probe.b_eq - base.b_eq))
        C, B_ub, B_eq = (np.array([col[i] for col in columns]).T.reshape(-1, p) for i in range(3))
        plp = cls(base.c, C, base.A_ub, base.b_ub, B_ub, base.A_eq, base.b_eq, B_eq, base.lb, base.ub)
        x = np.random.default_rng(seed).uniform(0.5, 2.0, p)
        want, got = build(x), plp.at(x)
        for name in ("c", "b_ub", "b_eq"):
            a, b = getattr(want, name), getattr(got, name)
            if not np.allclose(a, b, rtol=1e-9, atol=1e-9 * (1.0 + np.abs(a).max(initial=0.0))):
                raise ValueError(f"the follower's {name} is not affine in x")
        return plp


@dataclasses.dataclass(frozen=True)
class LeaderSpec:
    """The leader's part of the single-level model (unset arrays are zeros / empty).

    Objective ``obj_x @ x + obj_w @ w + obj_y @ y + constant + revenue_weight * (C x) @ y`` in ``sense``;
    rows ``rows_x @ x + rows_w @ w + rows_y @ y <= rows_rhs``; x in [lb, ub] (finite), integer where
    ``integer``; extra variables w in [w_lb, w_ub], integer where ``w_integer``.
    """

    lb: np.ndarray
    ub: np.ndarray
    sense: str = "max"
    obj_x: np.ndarray | None = None
    obj_y: np.ndarray | None = None
    constant: float = 0.0
    revenue_weight: float = 0.0
    integer: np.ndarray | None = None
    w_lb: np.ndarray | None = None
    w_ub: np.ndarray | None = None
    w_integer: np.ndarray | None = None
    obj_w: np.ndarray | None = None
    rows_x: np.ndarray | None = None
    rows_w: np.ndarray | None = None
    rows_y: np.ndarray | None = None
    rows_rhs: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class SuppliedBounds:
    """Bounds the caller proves (``proven=True``) or guesses (``proven=False``); inf/None = not supplied.

    Primal bounds must hold for the leader-preferred optimal response at every x; dual bounds for at least
    one optimal dual at every x. ``mu_*`` are in this module's sign convention (K2).
    """

    y_lo: np.ndarray | None = None
    y_hi: np.ndarray | None = None
    lam_hi: np.ndarray | None = None
    mu_lo: np.ndarray | None = None
    mu_hi: np.ndarray | None = None
    proven: bool = True
    argument: str = ""


@dataclasses.dataclass(frozen=True)
class BigMs:
    """The bounds the MILP uses, and the kind of each (DERIVED, SUPPLIED or ASSUMED)."""

    y_lo: np.ndarray
    y_hi: np.ndarray
    slack_hi: np.ndarray
    lam_hi: np.ndarray
    mu_lo: np.ndarray
    mu_hi: np.ndarray
    alpha_hi: np.ndarray
    beta_hi: np.ndarray
    kinds: dict[str, np.ndarray]  # "y_lo", "y_hi", "lam_hi", "mu_lo", "mu_hi" -> int8 arrays
    log: tuple[str, ...] = ()

    def n_assumed(self) -> int:
        return int(sum(np.count_nonzero(k == ASSUMED) for k in self.kinds.values()))


@dataclasses.dataclass
class KKTResult:
    """What one :func:`solve` call found, in the leader's sense (plain data)."""

    status: ExactStatus
    objective: float  # the MILP's objective at its incumbent; nan if none
    bound: float  # proven bound (nan unless every bound is proven and none was tight)
    x: np.ndarray | None
    w: np.ndarray | None
    y: np.ndarray | None
    time_s: float
    notes: str
    rounds: int
    n_binaries: int
    big_ms: BigMs | None
    tight: list[str]

    def as_exact(self, views: dict[str, Any] | None = None, method: str = "") -> ExactResult:
        """The :class:`ExactResult` a family returns: ``solution["x"]`` the flat leader vector, plus ``views``."""
        solution: dict[str, Any] = {} if self.x is None else {**(views or {}), "x": self.x.tolist()}
        return ExactResult(
            objective=self.objective,
            bound=self.bound,
            status=self.status,
            time_s=self.time_s,
            solution=solution,
            method=method or f"KKT big-M MILP (bilevel_bench.kkt, {self.n_binaries} binaries)",
            notes=self.notes,
        )


# -- bounds ----------------------------------------------------------------------------------------


class _GLOP:
    """One GLOP model whose objective is changed between solves (for the many bounding LPs)."""

    def __init__(self, lower: np.ndarray, upper: np.ndarray) -> None:
        self.solver = pywraplp.Solver.CreateSolver("GLOP")
        inf = self.solver.infinity()
        self.vars = [
            self.solver.NumVar(-inf if math.isinf(lo) else float(lo), inf if math.isinf(hi) else float(hi), "")
            for lo, hi in zip(lower, upper, strict=True)
        ]

    def rows(self, A: np.ndarray, lo: np.ndarray | float, hi: np.ndarray | float, offset: int = 0) -> None:
        inf = self.solver.infinity()
        lows = np.broadcast_to(np.asarray(lo, dtype=float), (len(A),))
        highs = np.broadcast_to(np.asarray(hi, dtype=float), (len(A),))
        for i, row in enumerate(A):
            low, high = float(lows[i]), float(highs[i])
            ct = self.solver.Constraint(-inf if low == -math.inf else low, inf if high == math.inf else high, "")
            for j in np.flatnonzero(row):
                ct.SetCoefficient(self.vars[offset + j], float(row[j]))

    def feasible(self) -> bool:
        self.solver.Objective().Clear()
        return bool(self.solver.Solve() == pywraplp.Solver.OPTIMAL)

    def extreme(self, coefs: np.ndarray, maximize: bool) -> float:
        """max (or min) coefs @ vars; +-inf when unbounded or when GLOP cannot say (no bound is safe)."""
        objective = self.solver.Objective()
        objective.Clear()
        for j in np.flatnonzero(coefs):
            objective.SetCoefficient(self.vars[j], float(coefs[j]))
        objective.SetMaximization() if maximize else objective.SetMinimization()
        if self.solver.Solve() != pywraplp.Solver.OPTIMAL:
            return math.inf if maximize else -math.inf
        return float(objective.Value())


def _pad(value: np.ndarray, rel: float, absolute: float, up: bool) -> np.ndarray:
    step = rel * np.abs(value) + absolute
    return np.where(np.isfinite(value), value + step if up else value - step, value)


def _padded(value: float, up: bool) -> float:
    """An LP-derived bound moved outward by the LP solver's tolerance."""
    step = DERIVED_PAD_REL * abs(value) + DERIVED_PAD_ABS
    return value + step if up else value - step


def _unit(size: int, index: int) -> np.ndarray:
    e = np.zeros(size)
    e[index] = 1.0
    return e


def _given(value: np.ndarray | None, size: int, default: float) -> np.ndarray:
    return np.full(size, default) if value is None else np.asarray(value, dtype=float).copy()


class _Leader:
    """A :class:`LeaderSpec` with every array filled in for a follower of size n."""

    def __init__(self, spec: LeaderSpec, n: int) -> None:
        self.spec = spec
        self.lb, self.ub = np.asarray(spec.lb, float), np.asarray(spec.ub, float)
        p = len(self.lb)
        if not (np.isfinite(self.lb).all() and np.isfinite(self.ub).all()):
            raise ValueError("the leader's box must be finite")
        if spec.sense not in ("max", "min"):
            raise ValueError(f"sense {spec.sense!r} is not 'max' or 'min'")
        self.integer = np.zeros(p, bool) if spec.integer is None else np.asarray(spec.integer, bool)
        self.w_lb = np.zeros(0) if spec.w_lb is None else np.asarray(spec.w_lb, float)
        q = len(self.w_lb)
        self.w_ub = _given(spec.w_ub, q, 1.0)
        self.w_integer = np.zeros(q, bool) if spec.w_integer is None else np.asarray(spec.w_integer, bool)
        self.obj_x, self.obj_w, self.obj_y = (
            _given(spec.obj_x, p, 0.0),
            _given(spec.obj_w, q, 0.0),
            _given(spec.obj_y, n, 0.0),
        )
        r = 0 if spec.rows_rhs is None else len(spec.rows_rhs)
        self.rows_rhs = np.zeros(0) if spec.rows_rhs is None else np.asarray(spec.rows_rhs, float)
        self.rows_x = np.zeros((r, p)) if spec.rows_x is None else np.asarray(spec.rows_x, float)
        self.rows_w = np.zeros((r, q)) if spec.rows_w is None else np.asarray(spec.rows_w, float)
        self.rows_y = np.zeros((r, n)) if spec.rows_y is None else np.asarray(spec.rows_y, float)
        self.p, self.q = p, q


def _hpr(plp: AffineLP, leader: _Leader, y_lo: np.ndarray, y_hi: np.ndarray) -> _GLOP:
    """The high-point relaxation P over z = (x, w, y): (K1) and the leader's rows, integrality dropped."""
    q = leader.q
    model = _GLOP(np.concatenate([leader.lb, leader.w_lb, y_lo]), np.concatenate([leader.ub, leader.w_ub, y_hi]))
    model.rows(np.hstack([-plp.B_ub, np.zeros((len(plp.b_ub), q)), plp.A_ub]), -math.inf, plp.b_ub)
    model.rows(np.hstack([-plp.B_eq, np.zeros((len(plp.b_eq), q)), plp.A_eq]), plp.b_eq, plp.b_eq)
    if len(leader.rows_rhs):
        model.rows(np.hstack([leader.rows_x, leader.rows_w, leader.rows_y]), -math.inf, leader.rows_rhs)
    return model


class InfeasibleRelaxation(Exception):
    """The high-point relaxation is empty: no leader decision has a feasible follower (within the bounds)."""


def derive_big_ms(
    plp: AffineLP,
    leader_spec: LeaderSpec,
    supplied: SuppliedBounds | None = None,
    fallback: float | None = None,
    vertex_limit: int = VERTEX_LIMIT,
) -> BigMs:
    """Every big-M of (K3)-(K5) by (D1)-(D4), with the kind of each; see the module docstring.

    ``fallback``: the value (assumed, never certified) for a dual bound that cannot be derived or was not
    supplied; without it such a dual raises ValueError.
    """
    supplied = supplied or SuppliedBounds()
    n, m_ub, m_eq = plp.n, len(plp.b_ub), len(plp.b_eq)
    leader = _Leader(leader_spec, n)
    given_kind = SUPPLIED if supplied.proven else ASSUMED
    log: list[str] = []

    # (D1) primal bounds: the LP's own, the supplied ones (widened), then the high-point relaxation
    s_lo = _pad(_given(supplied.y_lo, n, -math.inf), SUPPLIED_PAD_REL, SUPPLIED_PAD_ABS, up=False)
    s_hi = _pad(_given(supplied.y_hi, n, math.inf), SUPPLIED_PAD_REL, SUPPLIED_PAD_ABS, up=True)
    y_lo, y_hi = np.maximum(plp.lb, s_lo), np.minimum(plp.ub, s_hi)
    kind_lo = np.where(s_lo > plp.lb, given_kind, DERIVED).astype(np.int8)
    kind_hi = np.where(s_hi < plp.ub, given_kind, DERIVED).astype(np.int8)
    hpr = _hpr(plp, leader, y_lo, y_hi)
    if not hpr.feasible():
        raise InfeasibleRelaxation("the high-point relaxation is infeasible")
    off = leader.p + leader.q
    for k in range(n):
        if y_lo[k] == y_hi[k]:
            continue
        hi = _padded(hpr.extreme(_unit(off + n, off + k), True), up=True)
        if hi < y_hi[k]:
            y_hi[k], kind_hi[k] = max(hi, y_lo[k]), DERIVED
        lo = _padded(hpr.extreme(_unit(off + n, off + k), False), up=False)
        if lo > y_lo[k]:
            y_lo[k], kind_lo[k] = min(lo, y_hi[k]), DERIVED
    free = np.flatnonzero(~np.isfinite(y_hi))
    if len(free):
        raise ValueError(
            f"follower variable y[{free[0]}] is unbounded over the high-point relaxation: supply an upper bound "
            "(SuppliedBounds.y_hi) valid for the leader-preferred optimal response"
        )
    hpr = _hpr(plp, leader, y_lo, y_hi)  # again, with the final primal box

    # (D2) slack bounds
    slack_hi = np.zeros(m_ub)
    for i in range(m_ub):
        coefs = np.concatenate([plp.B_ub[i], np.zeros(leader.q), -plp.A_ub[i]])
        slack_hi[i] = max(0.0, hpr.extreme(coefs, True) + plp.b_ub[i])
    slack_hi = _pad(slack_hi, DERIVED_PAD_REL, DERIVED_PAD_ABS, up=True)
    if not np.isfinite(slack_hi).all():
        raise ValueError("a follower row's slack is unbounded over the high-point relaxation")

    # (D3) dual bounds
    lam_s = _pad(_given(supplied.lam_hi, m_ub, math.inf), SUPPLIED_PAD_REL, SUPPLIED_PAD_ABS, up=True)
    mu_s_lo = _pad(_given(supplied.mu_lo, m_eq, -math.inf), SUPPLIED_PAD_REL, SUPPLIED_PAD_ABS, up=False)
    mu_s_hi = _pad(_given(supplied.mu_hi, m_eq, math.inf), SUPPLIED_PAD_REL, SUPPLIED_PAD_ABS, up=True)
    lam_hi, mu_lo, mu_hi = lam_s.copy(), mu_s_lo.copy(), mu_s_hi.copy()
    kinds = {
        "lam_hi": np.where(np.isfinite(lam_s), given_kind, DERIVED).astype(np.int8),
        "mu_lo": np.where(np.isfinite(mu_s_lo), given_kind, DERIVED).astype(np.int8),
        "mu_hi": np.where(np.isfinite(mu_s_hi), given_kind, DERIVED).astype(np.int8),
    }
    value_rows = not (np.any(plp.B_ub) or np.any(plp.B_eq))
    phi = _value_bounds(plp, leader, hpr, y_lo, y_hi) if value_rows else None
    dual = _dual_relaxation(plp, leader, lam_s, mu_s_lo, mu_s_hi, phi)
    if dual is None and np.isfinite(np.concatenate([lam_s, mu_s_lo, mu_s_hi])).any():
        # no dual-feasible point within the supplied bounds meets the value rows: they are wrong; drop them
        log.append("supplied dual bounds contradict the dual relaxation (no optimal dual within them): dropped")
        lam_s, mu_s_lo, mu_s_hi = np.full(m_ub, math.inf), np.full(m_eq, -math.inf), np.full(m_eq, math.inf)
        lam_hi, mu_lo, mu_hi = lam_s.copy(), mu_s_lo.copy(), mu_s_hi.copy()
        for name in ("lam_hi", "mu_lo", "mu_hi"):
            kinds[name][:] = DERIVED
        dual = _dual_relaxation(plp, leader, lam_s, mu_s_lo, mu_s_hi, phi)
    if dual is not None:
        base = leader.p
        for i in range(m_ub):
            hi = dual.extreme(_unit(len(dual.vars), base + i), True)
            if _padded(hi, up=True) < lam_hi[i]:
                lam_hi[i], kinds["lam_hi"][i] = max(0.0, _padded(hi, up=True)), DERIVED
        for j in range(m_eq):
            e = _unit(len(dual.vars), base + m_ub + j)
            hi, lo = dual.extreme(e, True), dual.extreme(e, False)
            if _padded(hi, up=True) < mu_hi[j]:
                mu_hi[j], kinds["mu_hi"][j] = _padded(hi, up=True), DERIVED
            if _padded(lo, up=False) > mu_lo[j]:
                mu_lo[j], kinds["mu_lo"][j] = _padded(lo, up=False), DERIVED
        log.append("duals: LP bounds over the dual relaxation" + (" with value rows" if phi else ""))
    missing = not (np.isfinite(lam_hi).all() and np.isfinite(mu_lo).all() and np.isfinite(mu_hi).all())
    none_supplied = not (np.isfinite(lam_s).any() or np.isfinite(mu_s_lo).any() or np.isfinite(mu_s_hi).any())
    # Vertex bounds hold for *some* optimal dual, as supplied ones do: the two cannot be intersected, so
    # the enumeration serves only when nothing was supplied (intersecting with D's bounds, which hold for
    # every optimal dual, is valid).
    if missing and none_supplied and not np.any(plp.C):
        vertex = vertex_dual_bounds(plp, vertex_limit)
        if vertex is not None:
            for name, current, new in (("lam_hi", lam_hi, vertex[0]), ("mu_hi", mu_hi, vertex[2])):
                better = new < current
                current[better], kinds[name][better] = new[better], DERIVED
            better = vertex[1] > mu_lo
            mu_lo[better], kinds["mu_lo"][better] = vertex[1][better], DERIVED
            log.append("duals: largest components over the enumerated vertices of the dual polyhedron")
    for name, arr, sign in (("lam_hi", lam_hi, 1.0), ("mu_lo", mu_lo, -1.0), ("mu_hi", mu_hi, 1.0)):
        bad = ~np.isfinite(arr)
        if bad.any():
            if fallback is None:
                raise ValueError(
                    f"no bound for dual {name}[{np.flatnonzero(bad)[0]}] could be derived: supply one "
                    "(SuppliedBounds) or pass fallback= (assumed, never certified)"
                )
            arr[bad], kinds[name][bad] = sign * abs(fallback), ASSUMED
            log.append(f"duals: {int(bad.sum())} {name} bounds assumed = {sign * abs(fallback):g}")

    # (D4) alpha, beta from (K2) by interval arithmetic
    r_lo, r_hi = _reduced_cost_range(plp, leader, lam_hi, mu_lo, mu_hi)
    alpha_hi = _pad(np.maximum(r_hi, 0.0), DERIVED_PAD_REL, DERIVED_PAD_ABS, up=True)
    beta_hi = _pad(np.maximum(-r_lo, 0.0), DERIVED_PAD_REL, DERIVED_PAD_ABS, up=True)
    beta_hi = np.where(np.isfinite(plp.ub), beta_hi, 0.0)
    kinds.update({"y_lo": kind_lo, "y_hi": kind_hi})
    return BigMs(y_lo, y_hi, slack_hi, lam_hi, mu_lo, mu_hi, alpha_hi, beta_hi, kinds, tuple(log))


def _value_bounds(
    plp: AffineLP, leader: _Leader, hpr: _GLOP, y_lo: np.ndarray, y_hi: np.ndarray
) -> tuple[float, float]:
    """phi_lo <= follower's optimal value <= phi_hi at every x of the box (for the value rows of D3)."""
    Cp, Cn = np.maximum(plp.C, 0.0), np.minimum(plp.C, 0.0)
    q_lo = plp.c + Cp @ leader.lb + Cn @ leader.ub
    q_hi = plp.c + Cp @ leader.ub + Cn @ leader.lb
    if np.all(y_lo >= 0):  # then q_lo @ y <= (c + Cx) @ y <= q_hi @ y: two LPs over P
        pad = np.zeros(leader.p + leader.q)
        lo = hpr.extreme(np.concatenate([pad, q_lo]), False)
        hi = hpr.extreme(np.concatenate([pad, q_hi]), True)
        return lo, hi
    corners = np.array([q_lo * y_lo, q_lo * y_hi, q_hi * y_lo, q_hi * y_hi])
    return float(corners.min(axis=0).sum()), float(corners.max(axis=0).sum())


def _dual_relaxation(
    plp: AffineLP,
    leader: _Leader,
    lam_hi: np.ndarray,
    mu_lo: np.ndarray,
    mu_hi: np.ndarray,
    phi: tuple[float, float] | None,
) -> _GLOP | None:
    """D over (x, lam, mu, alpha, beta, gamma): (K2), signs, the box, and the value rows when B = 0."""
    n, m_ub, p = plp.n, len(plp.b_ub), leader.p
    fixed = plp.lb == plp.ub
    has_beta = np.isfinite(plp.ub) & ~fixed
    lower = np.concatenate(
        [leader.lb, np.zeros(m_ub), mu_lo, np.zeros(n), np.zeros(n), np.where(fixed, -math.inf, 0.0)]
    )
    upper = np.concatenate(
        [
            leader.ub,
            lam_hi,
            mu_hi,
            np.where(fixed, 0.0, math.inf),
            np.where(has_beta, math.inf, 0.0),
            np.where(fixed, math.inf, 0.0),
        ]
    )
    model = _GLOP(lower, upper)
    eye = np.eye(n)
    stationarity = np.hstack([plp.C, plp.A_ub.T, plp.A_eq.T, -eye, eye, -eye])
    model.rows(stationarity, -plp.c, -plp.c)
    if phi is not None and math.isfinite(phi[0]) and math.isfinite(phi[1]):
        finite_ub = np.where(np.isfinite(plp.ub), plp.ub, 0.0)
        value = np.concatenate([np.zeros(p), -plp.b_ub, -plp.b_eq, plp.lb, -finite_ub, plp.lb])
        model.rows(value[None, :], phi[0], phi[1])
    if not model.feasible():
        return None
    return model


def _reduced_cost_range(
    plp: AffineLP, leader: _Leader, lam_hi: np.ndarray, mu_lo: np.ndarray, mu_hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Range of r = c + C x + A_ub' lam + A_eq' mu over the boxes of x, lam, mu (interval arithmetic)."""

    def span(M: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        P, N = np.maximum(M, 0.0), np.minimum(M, 0.0)
        with np.errstate(invalid="ignore"):
            low = np.nan_to_num(P * lo, nan=0.0) + np.nan_to_num(N * hi, nan=0.0)
            high = np.nan_to_num(P * hi, nan=0.0) + np.nan_to_num(N * lo, nan=0.0)
        return low.sum(axis=1), high.sum(axis=1)

    parts = [
        span(plp.C, leader.lb, leader.ub),
        span(plp.A_ub.T, np.zeros(len(lam_hi)), lam_hi),
        span(plp.A_eq.T, mu_lo, mu_hi),
    ]
    return plp.c + sum(p[0] for p in parts), plp.c + sum(p[1] for p in parts)


def dual_vertices(plp: AffineLP, limit: int = VERTEX_LIMIT) -> np.ndarray | None:
    """Every vertex (lam, mu, alpha, beta) of the dual polyhedron {(K2) with C = 0, lam, alpha, beta >= 0}
    (beta for the finite ub only), by brute force over bases; None when C != 0, when A_eq lacks full row rank
    (the polyhedron then has no vertex), or when there are more than ``limit`` bases to try.
    """
    if np.any(plp.C):
        return None
    n, m_ub, m_eq = plp.n, len(plp.b_ub), len(plp.b_eq)
    if m_eq and np.linalg.matrix_rank(plp.A_eq) < m_eq:
        return None
    has_beta = np.isfinite(plp.ub)
    signed = np.hstack([plp.A_ub.T, -np.eye(n), np.eye(n)[:, has_beta]])  # lam, alpha, beta (all >= 0)
    n_signed, basic_signed = signed.shape[1], n - m_eq
    if basic_signed < 0 or math.comb(n_signed, basic_signed) > limit:
        return None
    combos = itertools.combinations(range(n_signed), basic_signed)
    found: list[np.ndarray] = []
    while True:
        chunk = np.array(list(itertools.islice(combos, 20000)), dtype=np.int64).reshape(-1, basic_signed)
        if len(chunk) == 0:
            break
        free = np.broadcast_to(plp.A_eq.T, (len(chunk), n, m_eq))
        mats = np.concatenate([free, signed[:, chunk].transpose(1, 0, 2)], axis=2)
        norms = np.linalg.norm(mats, axis=1, keepdims=True)
        ok = np.abs(np.linalg.det(mats / np.where(norms > 0, norms, 1.0))) > 1e-10
        if not ok.any():
            continue
        rhs = np.broadcast_to(-plp.c, (int(ok.sum()), n))[..., None]
        sol = np.linalg.solve(mats[ok], rhs)[..., 0]
        feasible = np.all(sol[:, m_eq:] >= -1e-9, axis=1)
        if not feasible.any():
            continue
        sol, idx = sol[feasible], chunk[ok][feasible]
        full = np.zeros((len(sol), m_eq + n_signed))
        full[:, m_ub : m_ub + m_eq] = sol[:, :m_eq]
        signed_pos = np.where(idx < m_ub, idx, idx + m_eq)  # (lam, mu, alpha, beta) layout
        np.put_along_axis(full, signed_pos, np.maximum(sol[:, m_eq:], 0.0), axis=1)
        found.append(full)
    if not found:
        return None
    return np.unique(np.round(np.concatenate(found), 9), axis=0)


def vertex_dual_bounds(plp: AffineLP, limit: int = VERTEX_LIMIT) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(lam_hi, mu_lo, mu_hi): the largest components over :func:`dual_vertices` (padded); None as there.

    Valid as big-Ms because the polyhedron does not depend on x (C = 0) and is pointed (A_eq of full row
    rank), so at every x with a follower optimum some optimal dual is a vertex.
    """
    vertices = dual_vertices(plp, limit)
    if vertices is None:
        return None
    m_ub, m_eq = len(plp.b_ub), len(plp.b_eq)
    lam, mu = vertices[:, :m_ub], vertices[:, m_ub : m_ub + m_eq]
    return (
        _pad(lam.max(axis=0, initial=0.0), DERIVED_PAD_REL, DERIVED_PAD_ABS, up=True),
        _pad(mu.min(axis=0, initial=math.inf), DERIVED_PAD_REL, DERIVED_PAD_ABS, up=False),
        _pad(mu.max(axis=0, initial=-math.inf), DERIVED_PAD_REL, DERIVED_PAD_ABS, up=True),
    )


def solve_by_vertices(
    plp: AffineLP, leader_spec: LeaderSpec, limit: int = VERTEX_LIMIT, solver_name: str = "SCIP"
) -> KKTResult:
    """An independent exact method for tiny followers with C = 0 (no KKT, no big-M): the follower's value is
    ``phi(x) = max_k pi_k' b(x)`` over the dual vertices pi_k (:func:`dual_vertices`), so the optimistic
    bilevel optimum is the best over k of the single-level problem with the row ``(c @ y) <= pi_k' b(x)``
    (which, with weak duality, makes y optimal). One LP per vertex (a MILP if the leader has integers).
    Raises ValueError where :func:`dual_vertices` gives None.
    """
    start = time.perf_counter()
    vertices = dual_vertices(plp, limit)
    if vertices is None:
        raise ValueError("no dual vertex enumeration for this follower (C != 0, rank, or too many bases)")
    n, m_ub, m_eq = plp.n, len(plp.b_ub), len(plp.b_eq)
    leader = _Leader(leader_spec, n)
    integer = bool(leader.integer.any() or leader.w_integer.any())
    finite_ub = np.flatnonzero(np.isfinite(plp.ub))
    best: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
    sign = 1.0 if leader_spec.sense == "max" else -1.0
    for pi in vertices:
        lam, mu = pi[:m_ub], pi[m_ub : m_ub + m_eq]
        alpha, beta = pi[m_ub + m_eq : m_ub + m_eq + n], pi[m_ub + m_eq + n :]
        constant = -lam @ plp.b_ub - mu @ plp.b_eq + alpha @ plp.lb - beta @ plp.ub[finite_ub]
        solver = pywraplp.Solver.CreateSolver(solver_name if integer else "GLOP")
        inf = solver.infinity()
        x = [
            solver.IntVar(lo, hi, "") if i else solver.NumVar(lo, hi, "")
            for lo, hi, i in zip(leader.lb, leader.ub, leader.integer, strict=True)
        ]
        w = [
            solver.IntVar(lo, hi, "") if i else solver.NumVar(lo, hi, "")
            for lo, hi, i in zip(leader.w_lb, leader.w_ub, leader.w_integer, strict=True)
        ]
        y = [
            solver.NumVar(float(lo), inf if math.isinf(hi) else float(hi), "")
            for lo, hi in zip(plp.lb, plp.ub, strict=True)
        ]
        rows: list[tuple[np.ndarray, Any, Any]] = [
            (np.hstack([-plp.B_ub, np.zeros((m_ub, leader.q)), plp.A_ub]), -inf, plp.b_ub),
            (np.hstack([-plp.B_eq, np.zeros((m_eq, leader.q)), plp.A_eq]), plp.b_eq, plp.b_eq),
            (np.hstack([leader.rows_x, leader.rows_w, leader.rows_y]), -inf, leader.rows_rhs),
            (np.concatenate([lam @ plp.B_ub + mu @ plp.B_eq, np.zeros(leader.q), plp.c])[None, :], -inf, [constant]),
        ]
        variables = x + w + y
        for A, lo, hi in rows:
            lows = np.broadcast_to(np.asarray(lo, dtype=float), (len(A),))
            highs = np.broadcast_to(np.asarray(hi, dtype=float), (len(A),))
            for i, row in enumerate(A):
                ct = solver.Constraint(float(lows[i]), float(highs[i]), "")
                for j in np.flatnonzero(row):
                    ct.SetCoefficient(variables[j], float(row[j]))
        objective = solver.Objective()
        for var, coef in zip(variables, np.concatenate([leader.obj_x, leader.obj_w, leader.obj_y]), strict=True):
            if coef:
                objective.SetCoefficient(var, float(coef))
        objective.SetOffset(float(leader_spec.constant))
        objective.SetMaximization() if leader_spec.sense == "max" else objective.SetMinimization()
        if integer:
            solver.SetNumThreads(1)
        if solver.Solve() != pywraplp.Solver.OPTIMAL:
            continue
        value = float(objective.Value())
        if best is None or sign * value > sign * best[0]:
            values = [np.array([v.solution_value() for v in group]) for group in (x, w, y)]
            best = (value, values[0], values[1], values[2])
    elapsed = time.perf_counter() - start
    note = f"one {'MILP' if integer else 'LP'} per dual vertex ({len(vertices)} vertices)"
    if best is None:
        return KKTResult(ExactStatus.INFEASIBLE, math.nan, math.nan, None, None, None, elapsed, note, 0, 0, None, [])
    return KKTResult(ExactStatus.OPTIMAL, best[0], best[0], best[1], best[2], best[3], elapsed, note, 0, 0, None, [])


# -- the MILP --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Handles:
    """The MILP's variables by role (pywraplp variables)."""

    x: list
    w: list
    y: list
    lam: list
    mu: list
    n_binaries: int


def build_model(
    plp: AffineLP, leader_spec: LeaderSpec, big_ms: BigMs, solver_name: str = "SCIP"
) -> tuple[pywraplp.Solver, Handles]:
    """The MILP (K1)-(K7) as an OR-Tools model (not solved)."""
    if solver_name not in MIP_SOLVERS:
        raise ValueError(f"solver {solver_name!r} is not one of {MIP_SOLVERS}")
    n, m_ub, m_eq = plp.n, len(plp.b_ub), len(plp.b_eq)
    leader = _Leader(leader_spec, n)
    rho = float(leader_spec.revenue_weight)
    if rho and (np.any(plp.B_ub) or np.any(plp.B_eq)):
        raise ValueError("revenue_weight needs B_ub = B_eq = 0: with x in the right-hand side (C x) @ y is bilinear")
    ms = big_ms
    solver = pywraplp.Solver.CreateSolver(solver_name)
    if solver is None:
        raise RuntimeError(f"OR-Tools has no {solver_name} solver here")
    inf = solver.infinity()

    def var(lo: float, hi: float, integer: bool = False) -> Any:
        lo_, hi_ = (-inf if lo == -math.inf else lo), (inf if hi == math.inf else hi)
        return solver.IntVar(lo_, hi_, "") if integer else solver.NumVar(lo_, hi_, "")

    def row(terms: list[tuple[Any, float]], lo: float, hi: float) -> None:
        ct = solver.Constraint(-inf if lo == -math.inf else lo, inf if hi == math.inf else hi, "")
        for v, coef in terms:
            if coef:
                ct.SetCoefficient(v, float(coef))

    x = [var(leader.lb[j], leader.ub[j], bool(leader.integer[j])) for j in range(leader.p)]
    w = [var(leader.w_lb[j], leader.w_ub[j], bool(leader.w_integer[j])) for j in range(leader.q)]
    y = [var(ms.y_lo[k], ms.y_hi[k]) for k in range(n)]
    lam = [var(0.0, ms.lam_hi[i]) for i in range(m_ub)]
    mu = [var(ms.mu_lo[j], ms.mu_hi[j]) for j in range(m_eq)]
    fixed = plp.lb == plp.ub
    n_bin = 0

    def sparse(vars_: list, coefs: np.ndarray) -> list[tuple[Any, float]]:
        return [(vars_[j], float(coefs[j])) for j in np.flatnonzero(coefs)]

    # (K1)
    for i in range(m_ub):
        row(sparse(y, plp.A_ub[i]) + sparse(x, -plp.B_ub[i]), -math.inf, float(plp.b_ub[i]))
    for i in range(m_eq):
        row(sparse(y, plp.A_eq[i]) + sparse(x, -plp.B_eq[i]), float(plp.b_eq[i]), float(plp.b_eq[i]))
    # (K3)
    for i in range(m_ub):
        if ms.lam_hi[i] <= 0.0:
            lam[i].SetBounds(0.0, 0.0)
            continue
        if ms.slack_hi[i] <= 0.0:
            continue
        u = solver.BoolVar("")
        n_bin += 1
        row([(lam[i], 1.0), (u, -ms.lam_hi[i])], -math.inf, 0.0)
        row(
            sparse(y, plp.A_ub[i]) + sparse(x, -plp.B_ub[i]) + [(u, -ms.slack_hi[i])],
            plp.b_ub[i] - ms.slack_hi[i],
            math.inf,
        )
    # (K2), (K4), (K5)
    obj: dict[Any, float] = {}
    for k in range(n):
        terms = sparse(x, plp.C[k]) + sparse(lam, plp.A_ub[:, k]) + sparse(mu, plp.A_eq[:, k])
        if fixed[k]:
            gamma = var(-math.inf, math.inf)
            row([*terms, (gamma, -1.0)], -plp.c[k], -plp.c[k])
            obj[gamma] = obj.get(gamma, 0.0) + rho * plp.lb[k]
            continue
        alpha = var(0.0, ms.alpha_hi[k])
        extra = [(alpha, -1.0)]
        obj[alpha] = rho * plp.lb[k]
        if ms.alpha_hi[k] > 0.0 and ms.y_hi[k] > plp.lb[k]:
            v = solver.BoolVar("")
            n_bin += 1
            row([(alpha, 1.0), (v, -ms.alpha_hi[k])], -math.inf, 0.0)
            row([(y[k], 1.0), (v, ms.y_hi[k] - plp.lb[k])], -math.inf, ms.y_hi[k])
        if math.isfinite(plp.ub[k]):
            beta = var(0.0, ms.beta_hi[k])
            extra.append((beta, 1.0))
            obj[beta] = -rho * plp.ub[k]
            if ms.beta_hi[k] > 0.0 and ms.y_lo[k] < plp.ub[k]:
                z = solver.BoolVar("")
                n_bin += 1
                row([(beta, 1.0), (z, -ms.beta_hi[k])], -math.inf, 0.0)
                row([(y[k], -1.0), (z, plp.ub[k] - ms.y_lo[k])], -math.inf, -ms.y_lo[k])
        row(terms + extra, -plp.c[k], -plp.c[k])
    # (K6)
    for i in range(len(leader.rows_rhs)):
        terms = sparse(x, leader.rows_x[i]) + sparse(w, leader.rows_w[i]) + sparse(y, leader.rows_y[i])
        row(terms, -math.inf, float(leader.rows_rhs[i]))
    # (K7)
    objective = solver.Objective()
    coefs = list(zip(x, leader.obj_x, strict=True)) + list(zip(w, leader.obj_w, strict=True))
    coefs += list(zip(y, leader.obj_y - rho * plp.c, strict=True))
    coefs += list(zip(lam, -rho * plp.b_ub, strict=True)) + list(zip(mu, -rho * plp.b_eq, strict=True))
    for v, coef in [*coefs, *obj.items()]:
        if coef:
            objective.SetCoefficient(v, float(coef))
    objective.SetOffset(float(leader_spec.constant))
    objective.SetMaximization() if leader_spec.sense == "max" else objective.SetMinimization()
    return solver, Handles(x, w, y, lam, mu, n_bin)


def interior_duals(
    plp: AffineLP, big_ms: BigMs, x: np.ndarray, y: np.ndarray, lam: np.ndarray, mu: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal duals at the solution (x, y) as far inside the supplied and assumed bounds as they can be.

    The MILP may return any optimal dual, and one at a bound says nothing when another lies inside: only a
    dual that *every* optimal dual at (x, y) pushes to its bound can mean the bound cut something. One LP:
    (K2) at x, complementarity fixed by (x, y), maximise t in [0, 1] with every non-derived dual bound
    kept ``t * 10 * TIGHT_TOL * max(1, |bound|)`` away. Falls back to the MILP's (lam, mu) if it fails.
    """
    n, m_ub, m_eq = plp.n, len(plp.b_ub), len(plp.b_eq)
    fixed = plp.lb == plp.ub
    finite = np.isfinite(plp.ub)
    slack = plp.b_ub + plp.B_ub @ x - plp.A_ub @ y
    lam_free = slack <= 1e-6 * np.maximum(1.0, big_ms.slack_hi)
    alpha_free = ~fixed & (y - plp.lb <= 1e-6 * np.maximum(1.0, big_ms.y_hi - plp.lb))
    beta_free = (
        ~fixed
        & finite
        & (np.where(finite, plp.ub, 0.0) - y <= 1e-6 * np.maximum(1.0, np.where(finite, plp.ub, 0.0) - big_ms.y_lo))
    )
    lower = np.concatenate(
        [np.zeros(m_ub), big_ms.mu_lo, np.zeros(n), np.zeros(n), np.where(fixed, -math.inf, 0.0), [0.0]]
    )
    upper = np.concatenate(
        [
            np.where(lam_free, big_ms.lam_hi, 0.0),
            big_ms.mu_hi,
            np.where(alpha_free, big_ms.alpha_hi, 0.0),
            np.where(beta_free, big_ms.beta_hi, 0.0),
            np.where(fixed, math.inf, 0.0),
            [1.0],
        ]
    )
    model = _GLOP(lower, upper)
    eye = np.eye(n)
    model.rows(
        np.hstack([plp.A_ub.T, plp.A_eq.T, -eye, eye, -eye, np.zeros((n, 1))]),
        -(plp.c + plp.C @ x),
        -(plp.c + plp.C @ x),
    )
    size = m_ub + m_eq + 3 * n + 1
    for name, offset, bound, sign in (
        ("lam_hi", 0, big_ms.lam_hi, 1.0),
        ("mu_hi", m_ub, big_ms.mu_hi, 1.0),
        ("mu_lo", m_ub, big_ms.mu_lo, -1.0),
    ):
        for i in np.flatnonzero(big_ms.kinds[name] != DERIVED):
            if name == "lam_hi" and not lam_free[i]:
                continue
            row = np.zeros(size)
            row[offset + i], row[-1] = sign, 10.0 * TIGHT_TOL * max(1.0, abs(float(bound[i])))
            model.rows(row[None, :], -math.inf, sign * float(bound[i]))
    if math.isinf(model.extreme(_unit(size, size - 1), True)):
        return lam, mu
    values = np.array([v.solution_value() for v in model.vars])
    return values[:m_ub], values[m_ub : m_ub + m_eq]


def tight_bounds(big_ms: BigMs, y: np.ndarray, lam: np.ndarray, mu: np.ndarray) -> list[str]:
    """Supplied or assumed bounds that the solution attains (each may have cut the optimum)."""
    tight = []
    checks = (
        ("y_hi", y, big_ms.y_hi, True),
        ("y_lo", y, big_ms.y_lo, False),
        ("lam_hi", lam, big_ms.lam_hi, True),
        ("mu_hi", mu, big_ms.mu_hi, True),
        ("mu_lo", mu, big_ms.mu_lo, False),
    )
    for name, value, bound, upper in checks:
        tol = TIGHT_TOL * np.maximum(1.0, np.abs(bound))
        at = value >= bound - tol if upper else value <= bound + tol
        for k in np.flatnonzero(at & (big_ms.kinds[name] != DERIVED)):
            tight.append(f"{name}[{k}]={bound[k]:.6g} ({KIND_NAMES[big_ms.kinds[name][k]]})")
    return tight


def _enlarged(supplied: SuppliedBounds, big_ms: BigMs, tight: list[str]) -> SuppliedBounds:
    """The supplied bounds with every tight one moved ENLARGE times further from zero (at least by 1)."""
    arrays = {
        "y_lo": big_ms.y_lo,
        "y_hi": big_ms.y_hi,
        "lam_hi": big_ms.lam_hi,
        "mu_lo": big_ms.mu_lo,
        "mu_hi": big_ms.mu_hi,
    }
    given = {
        name: _given(getattr(supplied, name), len(arr), -math.inf if name.endswith("lo") else math.inf)
        for name, arr in arrays.items()
    }
    for item in tight:
        name, _, rest = item.partition("[")
        k = int(rest.split("]")[0])
        value = arrays[name][k]
        step = (ENLARGE - 1.0) * max(abs(value), 1.0)
        given[name][k] = value - step if name.endswith("lo") else value + step
    return dataclasses.replace(
        supplied,
        y_lo=given["y_lo"],
        y_hi=given["y_hi"],
        lam_hi=given["lam_hi"],
        mu_lo=given["mu_lo"],
        mu_hi=given["mu_hi"],
    )


_STATUS = {
    pywraplp.Solver.OPTIMAL: "optimal",
    pywraplp.Solver.FEASIBLE: "feasible",
    pywraplp.Solver.INFEASIBLE: "infeasible",
    pywraplp.Solver.UNBOUNDED: "unbounded",
    pywraplp.Solver.NOT_SOLVED: "not_solved",
}


def solve(
    plp: AffineLP,
    leader: LeaderSpec,
    supplied: SuppliedBounds | None = None,
    time_limit: float = 60.0,
    solver_name: str = "SCIP",
    max_rounds: int = 3,
    presolve: bool = False,
    fallback: float | None = None,
) -> KKTResult:
    """Solve the KKT MILP, check its big-Ms, enlarge and re-solve where one is tight (see the module docstring)."""
    start = time.perf_counter()
    supplied = supplied or SuppliedBounds()
    notes: list[str] = []
    if supplied.argument:
        notes.append(f"supplied bounds: {supplied.argument}")
    rounds = 0
    previous: float | None = None
    refuted = False
    while True:
        try:
            ms = derive_big_ms(plp, leader, supplied, fallback=fallback)
        except InfeasibleRelaxation as exc:
            infeasible = ExactStatus.INFEASIBLE if supplied.proven else ExactStatus.ERROR
            why = f"{exc}; no leader decision has a feasible follower"
            return KKTResult(
                infeasible, math.nan, math.nan, None, None, None, time.perf_counter() - start, why, rounds, 0, None, []
            )
        solver, h = build_model(plp, leader, ms, solver_name)
        left = solver_seconds(time_limit) - (time.perf_counter() - start)
        solver.SetTimeLimit(max(1, int(1000 * min(left, 1e7))))
        solver.SetNumThreads(1)
        params = pywraplp.MPSolverParameters()
        params.SetDoubleParam(params.RELATIVE_MIP_GAP, MIP_GAP)
        if solver_name == "SCIP" and not presolve:
            solver.SetSolverSpecificParametersAsString("presolving/maxrounds = 0\n")
        code = solver.Solve(params)
        status = _STATUS.get(code, "error")
        rounds += 1
        has_incumbent = status in ("optimal", "feasible")
        values = (
            {name: np.array([v.solution_value() for v in getattr(h, name)]) for name in ("x", "w", "y", "lam", "mu")}
            if has_incumbent
            else {}
        )
        tight = []
        if has_incumbent:
            lam, mu = interior_duals(plp, ms, values["x"], values["y"], values["lam"], values["mu"])
            tight = tight_bounds(ms, values["y"], lam, mu)
            value = float(solver.Objective().Value())
            if (
                previous is not None
                and (value - previous) * (1 if leader.sense == "max" else -1) > 1e-9 * max(1.0, abs(value)) + 1e-7
            ):
                refuted = True  # enlarging a bound improved the optimum: that bound had cut it
            previous = value
        if status == "optimal" and tight and rounds <= max_rounds:
            notes.append(f"round {rounds}: {len(tight)} bound(s) tight ({', '.join(tight[:3])}), enlarged")
            supplied = _enlarged(supplied, ms, tight)
            continue
        break
    elapsed = time.perf_counter() - start
    notes.extend(ms.log)
    certified = ms.n_assumed() == 0 and not tight and not refuted
    if refuted:
        notes.append("an enlarged supplied bound improved the optimum, so it had cut it: the supplied bounds are wrong")
    if ms.n_assumed():
        notes.append(f"{ms.n_assumed()} big-M(s) assumed, not proven: optimality not certified")
    if tight:
        listed = ", ".join(tight[:5])
        notes.append(f"optimality not certified: {len(tight)} bound(s) still tight after {rounds} round(s): {listed}")
    if not has_incumbent:
        exact_status = {
            "infeasible": ExactStatus.INFEASIBLE if certified else ExactStatus.ERROR,
            "unbounded": ExactStatus.UNBOUNDED,
            "not_solved": ExactStatus.FEASIBLE,
        }.get(status, ExactStatus.ERROR)
        notes.append(f"MILP status {status} ({solver_name})")
        bound = solver.Objective().BestBound() if status == "not_solved" and certified else math.nan
        text = "; ".join(notes)
        return KKTResult(
            exact_status, math.nan, bound, None, None, None, elapsed, text, rounds, h.n_binaries, ms, tight
        )
    value = float(solver.Objective().Value())
    best = float(solver.Objective().BestBound())
    if status == "optimal" and certified:
        exact_status, bound = ExactStatus.OPTIMAL, (max(best, value) if leader.sense == "max" else min(best, value))
    else:
        exact_status, bound = ExactStatus.FEASIBLE, (best if certified else math.nan)
    notes.insert(0, f"MILP objective {value:.10g} ({solver_name}, {h.n_binaries} binaries, {rounds} round(s))")
    text = "; ".join(notes)
    return KKTResult(
        exact_status,
        value,
        bound,
        values["x"],
        values["w"],
        values["y"],
        elapsed,
        text,
        rounds,
        h.n_binaries,
        ms,
        tight,
    )
