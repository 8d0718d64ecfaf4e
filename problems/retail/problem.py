"""The retailer (leader) against its K customers (followers): the bilevel problem of the family.

Leader vector: discounts z[s,p] in [0, zmax[p]], flattened row-major (``s * P + p``), in currency units.
Discounts are priced in whole cents: :meth:`RetailProblem.repair` rounds them, so every follower value is
an exact integer number of cents and the tie rule is exact (``follower.py``).

Leader objective (source eq. 1a, to maximise)::

    F = sum_k revenue_k - routing cost,   revenue_k = sum_{p in P_k} (z_base[p] - z[i_kp, p])

where i_kp is customer k's chosen option for p (z = 0 at home) and the routing cost is that of the chosen
parcels (``routing.py``): OR-Tools routing with a solution limit (``routing="heuristic"``, the default) or
CP-SAT (``routing="exact"``). Heuristic routing can only overestimate the routing cost, so a value found
with it is a lower bound of the true value of the same discounts. Routes are cached per parcel set.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.problem import BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.retail.follower import choice_table, follower_response, to_cents
from bilevel_bench.problems.retail.instance import RetailInstance
from bilevel_bench.problems.retail.routing import DEFAULT_SOLUTION_LIMIT, ROUTING_MODES, Routes, parcels_of, route

#: Violation of a candidate whose parcels the routing could not place on the vehicles.
ROUTING_FAILURE_VIOLATION = 1.0
MAX_CACHED_ROUTES = 50_000


class RetailProblem(BilevelProblem):
    family = "retail"
    sense = "max"
    instance: RetailInstance

    def __init__(self, instance: RetailInstance, tie_break: str = "optimistic", routing: str = "heuristic",
                 routing_solutions: int = DEFAULT_SOLUTION_LIMIT) -> None:
        super().__init__(instance, tie_break)
        if routing not in ROUTING_MODES:
            raise InputError("<problem>", "routing", f"{routing!r} is not one of {ROUTING_MODES}")
        if not isinstance(routing_solutions, int) or routing_solutions < 1:
            raise InputError("<problem>", "routing_solutions", f"must be a positive integer, got {routing_solutions!r}")
        self.routing = routing
        self.routing_solutions = routing_solutions
        self.table = choice_table(instance)  # plain numpy arrays: picklable
        self._routes: dict[tuple, Routes] = {}
        self.timing = {"follower_s": 0.0, "routing_s": 0.0, "routing_calls": 0}

    def options(self) -> dict[str, Any]:
        return {"routing": self.routing, "routing_solutions": self.routing_solutions}

    def warnings(self) -> list[str]:
        if self.routing == "heuristic":
            return [f"heuristic runs route heuristically (OR-Tools GLS, solution_limit={self.routing_solutions}): "
                    "their values are lower bounds of the same discounts' true values; exact() routes exactly"]
        return []

    # -- the leader's space -------------------------------------------------------------------------
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        upper = np.tile(self.instance.zmax, self.instance.S).astype(float)
        return np.zeros_like(upper), upper

    def repair(self, x: np.ndarray) -> np.ndarray:
        """Discounts in whole cents (rounded to the nearest cent; the bounds are in cents, so clipping is exact)."""
        lb, ub = self.bounds()
        return np.clip(np.round(np.asarray(x, dtype=float) * 100) / 100, lb, ub)

    def discounts_cents(self, x: np.ndarray) -> np.ndarray:
        inst = self.instance
        return np.clip(to_cents(x), 0, to_cents(inst.zmax)[None, :].repeat(inst.S, 0).ravel()).reshape(inst.S, inst.P)

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        return {"z": (self.discounts_cents(np.asarray(x, dtype=float)) / 100).tolist()}

    # -- followers, routing and the leader's value --------------------------------------------------
    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        start = time.perf_counter()
        response = follower_response(self.instance, self.table, self.discounts_cents(x), self.tie_break)
        self.timing["follower_s"] += time.perf_counter() - start
        return response

    def routes(self, response: FollowerResponse) -> Routes:
        parcels = parcels_of(self.instance, response.solution["option"])
        key = parcels.key()
        if key not in self._routes:
            start = time.perf_counter()
            if len(self._routes) >= MAX_CACHED_ROUTES:
                self._routes.clear()
            self._routes[key] = route(self.instance, parcels, self.routing, self.routing_solutions)
            self.timing["routing_s"] += time.perf_counter() - start
            self.timing["routing_calls"] += 1
        return self._routes[key]

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        revenue = float(response.solution["revenue_cents"].sum()) / 100.0
        return revenue - self.routes(response).cost

    def leader_violation(self, x: np.ndarray, response: FollowerResponse | None) -> float:
        if response is None or not response.ok:
            return 0.0
        return ROUTING_FAILURE_VIOLATION if np.isnan(self.routes(response).cost) else 0.0

    def objectives(self, x: np.ndarray, response: FollowerResponse) -> tuple[float, float]:
        """Bi-objective view: the retailer's profit against the customers' total utility (both max)."""
        return self.leader_objective(x, response), float(response.value)

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        from bilevel_bench.problems.retail.exact import solve_exact

        return solve_exact(self, time_limit=time_limit)
