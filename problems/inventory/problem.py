"""The manufacturer (leader) against the customer (follower): the bilevel problem of the family.

Leader vector: production x[j,t] in [0, xmax[j,t]] then advertising v[j,t] in [0, vmax[j,t]], flattened.
Leader objective (to maximise; spec ``inventory.md``)::

    F = sum p d - sum (c x + h I + s S + v) - sum_t r[t] y[t] - sum f z

with z = 1 as data (``setup = "fixed"``) or z[j,t] = [x[j,t] > 0] (``setup = "decision"``; production
below :data:`SNAP` times its bound is set to 0 by :meth:`InventoryProblem.repair`, so a heuristic can
reach "no setup"). Resource constraints ``sum_j a[i,j,t] x[j,t] <= b[i,t]`` are kept by the repair, which
scales a period's production down to its tightest resource; the violation is still computed and reported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bilevel_bench.problem import BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.inventory.follower import solve_follower
from bilevel_bench.problems.inventory.instance import InventoryInstance

#: In ``setup = "decision"`` mode, production below SNAP * xmax is no production (and no setup).
SNAP = 1e-3


class InventoryProblem(BilevelProblem):
    family = "inventory"
    sense = "max"
    instance: InventoryInstance

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        inst = self.instance
        upper = np.concatenate([inst.production_bound().ravel(), inst.vmax.ravel()])
        return np.zeros_like(upper), upper

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shape = (self.instance.n, self.instance.T)
        half = self.instance.n * self.instance.T
        return np.asarray(x[:half]).reshape(shape), np.asarray(x[half:]).reshape(shape)

    def resource_use(self, X: np.ndarray) -> np.ndarray:
        return np.einsum("ijt,jt->it", self.instance.a, X)

    def repair(self, x: np.ndarray) -> np.ndarray:
        X, V = self.split(x)
        use = self.resource_use(X)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(use > self.instance.b, self.instance.b / use, 1.0)
        X = X * ratio.min(axis=0)[None, :]
        if self.instance.setup == "decision":
            X = np.where(SNAP * self.instance.production_bound() > X, 0.0, X)
        return np.concatenate([X.ravel(), V.ravel()])

    def setup_indicator(self, X: np.ndarray) -> np.ndarray:
        if self.instance.setup == "fixed":
            return np.ones_like(X)
        return (X > 0).astype(float)

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        X, V = self.split(x)
        return solve_follower(self.instance, X, V, self.tie_break)

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        inst = self.instance
        X, V = self.split(x)
        d, I, S = (response.solution[k] for k in ("d", "I", "S"))
        revenue = float(np.sum(inst.p * d))
        variable = float(np.sum(inst.c * X + inst.h * I + inst.s * S + V))
        fixed = float(inst.r @ inst.y) + float(np.sum(inst.f * self.setup_indicator(X)))
        return revenue - variable - fixed

    def objectives(self, x: np.ndarray, response: FollowerResponse) -> tuple[float, float]:
        """Bi-objective view: the manufacturer's profit against minus the customer's cost p.d (both max)."""
        return self.leader_objective(x, response), -float(response.value)

    def leader_violation(self, x: np.ndarray, response: FollowerResponse | None) -> float:
        X, _ = self.split(x)
        excess = np.maximum(self.resource_use(X) - self.instance.b, 0.0)
        return float(np.sum(excess / np.maximum(self.instance.b, 1.0)))  # relative; b may be 0 off-period

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        X, V = self.split(np.asarray(x, dtype=float))
        return {"production": X.round(6).tolist(), "advertising": V.round(6).tolist()}

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        from bilevel_bench.problems.inventory.exact import solve_kkt

        return solve_kkt(self, time_limit=time_limit)
