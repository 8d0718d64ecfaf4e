"""The manufacturer (leader) against the customer (follower): the bilevel problem of the family.

Leader vector: production x[j,t] in [0, xmax[j,t]] then advertising v[j,t] in [0, vmax[j,t]], flattened.
Leader objective (to maximise; spec ``inventory.md``)::

    F = sum p d - sum (c x + h I + s S + v) - sum_t r[t] y[t] - sum f z

with z = 1 as data (``setup = "fixed"``) or z[j,t] = [x[j,t] > 0] (``setup = "decision"``; production
below :data:`SNAP` times its bound is set to 0 by :meth:`InventoryProblem.repair`, so a heuristic can
reach "no setup"). Resource constraints ``sum_j a[i,j,t] x[j,t] <= b[i,t]`` are kept by the repair, which
scales a period's production down to its tightest resource; the violation is still computed and reported.

The follower is solved by one persistent :class:`~bilevel_bench.problems.inventory.follower.FollowerModel`
per process (the attribute ``_follower_model``, listed in :attr:`InventoryProblem.transient`: dropped when
the problem is pickled to a worker and rebuilt there on the first evaluation).

Hooks for bilevel-aware heuristics (``relaxation.py``): ``relaxation_starts`` (the high-point relaxation's
optimum and variants of it), ``project`` (a decision whose follower is infeasible, which happens only with
caps, moved to the nearest follower-feasible one by an LP) and ``linear_structure`` (the follower LP and the
leader's part of the KKT baseline).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bilevel_bench.problem import INFEASIBLE, BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.inventory.follower import FollowerModel
from bilevel_bench.problems.inventory.instance import InventoryInstance
from bilevel_bench.problems.inventory.relaxation import Relaxation, project_feasible, relaxation_starts

#: In ``setup = "decision"`` mode, production below SNAP * xmax is no production (and no setup).
SNAP = 1e-3


class InventoryProblem(BilevelProblem):
    family = "inventory"
    sense = "max"
    instance: InventoryInstance
    transient: ClassVar[tuple[str, ...]] = ("_follower_model", "_relaxations")
    _follower_model: FollowerModel | None = None
    _relaxations: dict[bool, Relaxation] | None = None

    def __init__(self, instance: InventoryInstance, tie_break: str = "optimistic") -> None:
        super().__init__(instance, tie_break)
        # Flat views of the data, computed once (plain arrays: the problem stays picklable).
        n, T = instance.n, instance.T
        self._nT = n * T
        self._shape = (n, T)
        self._xmax = instance.production_bound()
        self._resources = np.zeros((instance.q * T, n * T))  # row i*T+t: a[i, :, t] on the products at t
        for i in range(instance.q):
            for t in range(T):
                self._resources[i * T + t, np.arange(n) * T + t] = instance.a[i, :, t]
        self._b = instance.b.ravel().astype(float)
        self._b_scale = 1.0 / np.maximum(self._b, 1.0)  # violation is relative; b may be 0 off-period
        self._q = instance.q
        self._p, self._h, self._s = instance.p.ravel(), instance.h.ravel(), instance.s.ravel()
        self._c, self._f = instance.c.ravel(), instance.f.ravel()
        self._fixed = float(instance.r @ instance.y) + (float(self._f.sum()) if instance.setup == "fixed" else 0.0)
        self._snap = (SNAP * self._xmax).ravel()
        self._period = np.tile(np.arange(T), n)  # the period of each flat index j*T+t
        self._models_built = 0
        self._relaxation_lps = 0  # LPs of relaxation_starts and project (relaxation.py)

    def follower_model(self) -> FollowerModel:
        """This process's persistent follower model (built on first use)."""
        if self._follower_model is None:
            self._follower_model = FollowerModel(self.instance)
            self._models_built += 1
        return self._follower_model

    def work_counters(self) -> dict[str, float]:
        """Follower models built in this process (one per process and problem), their LP solves, and the LPs
        of the relaxation hooks (``relaxation_starts``, ``project``)."""
        model = self._follower_model
        return {
            "follower_models_built": self._models_built,
            "follower_lp_solves": model.lp.n_solves if model else 0,
            "relaxation_lp_solves": self._relaxation_lps,
        }

    def relaxation(self, y_bounds: bool = True) -> Relaxation:
        """The high-point relaxation's rows (``relaxation.py``; with the KKT baseline's primal bounds on y, or
        not), built once per process."""
        if self._relaxations is None:
            self._relaxations = {}
        if y_bounds not in self._relaxations:
            self._relaxations[y_bounds] = Relaxation(self, y_bounds)
            self._relaxation_lps += self._relaxations[y_bounds].setup_lps
        return self._relaxations[y_bounds]

    def relaxation_starts(self, n: int, seed: int) -> np.ndarray:
        """The HPR's optimum, then optima of perturbed or partly fixed HPRs (``relaxation.relaxation_starts``)."""
        starts, solves = relaxation_starts(self.relaxation(), n, seed)
        self._relaxation_lps += solves
        return starts

    def project(self, x: np.ndarray, response: FollowerResponse) -> np.ndarray | None:
        """Where the follower is infeasible (caps): the nearest follower-feasible decision (L1, an LP;
        ``relaxation.project_feasible``). None otherwise: the resource rows are kept by ``repair``."""
        if response.status != INFEASIBLE:
            return None
        self._relaxation_lps += 1
        return project_feasible(self.relaxation(y_bounds=False), np.asarray(x, dtype=float))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        upper = np.concatenate([self._xmax.ravel(), self.instance.vmax.ravel()])
        return np.zeros_like(upper), upper

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = np.asarray(x, dtype=float)
        return flat[: self._nT].reshape(self._shape), flat[self._nT :].reshape(self._shape)

    def resource_use(self, X: np.ndarray) -> np.ndarray:
        """Resource use [q, T] of production X ([n, T] or flat)."""
        return (self._resources @ np.ravel(X)).reshape(self._q, -1)

    def repair(self, x: np.ndarray) -> np.ndarray:
        """Scale each period's production down to its tightest resource (decision setups: snap tiny
        production to 0). Advertising is kept."""
        flat = np.array(x, dtype=float)
        X = flat[: self._nT]
        use = self._resources @ X
        over = use > self._b
        if over.any():
            ratio = np.ones_like(use)
            np.divide(self._b, use, out=ratio, where=over)  # use > b >= 0 there
            X *= ratio.reshape(self._q, -1).min(axis=0)[self._period]
        if self.instance.setup == "decision":
            X[self._snap > X] = 0.0
        return flat

    def setup_indicator(self, X: np.ndarray) -> np.ndarray:
        if self.instance.setup == "fixed":
            return np.ones_like(X)
        return (X > 0).astype(float)

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        X, V = self.split(x)
        return self.follower_model().solve(X, V, self.tie_break)

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        flat = np.asarray(x, dtype=float)
        X, V = flat[: self._nT], flat[self._nT :]
        solution = response.solution
        d, I, S = solution["d"].ravel(), solution["I"].ravel(), solution["S"].ravel()
        value = float(self._p @ d - self._h @ I - self._s @ S - self._c @ X - V.sum()) - self._fixed
        if self.instance.setup == "decision":
            value -= float(self._f @ (X > 0))
        return value

    def objectives(self, x: np.ndarray, response: FollowerResponse) -> tuple[float, float]:
        """Bi-objective view: the manufacturer's profit against minus the customer's cost p.d (both max)."""
        return self.leader_objective(x, response), -float(response.value)

    def leader_violation(self, x: np.ndarray, response: FollowerResponse | None) -> float:
        excess = self._resources @ np.asarray(x, dtype=float)[: self._nT] - self._b
        return float(np.maximum(excess, 0.0) @ self._b_scale)  # relative; b may be 0 off-period

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        X, V = self.split(np.asarray(x, dtype=float))
        return {"production": X.round(6).tolist(), "advertising": V.round(6).tolist()}

    def linear_structure(self) -> Any:
        """The follower LP and the leader's part of ``exact.kkt_inputs`` (without its big-M bounds)."""
        from bilevel_bench.problems.inventory.exact import _affine_follower, _leader

        return _affine_follower(self.instance), _leader(self)

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        """``exact.solve_exact``: the KKT MILP (optimistic), or ``pessimistic.py`` for the pessimistic reading."""
        from bilevel_bench.problems.inventory.exact import solve_exact

        return solve_exact(self, time_limit=time_limit)
