"""The retailer (leader) against its K customers (followers): the bilevel problem of the family.

Leader vector: discounts z[s,p] in [0, zmax[p]], flattened row-major (``s * P + p``), in currency units.
Discounts are priced in whole cents: :meth:`RetailProblem.repair` rounds them, so every follower value is
an exact integer number of cents and the customers' optimal sets are exact (``follower.py``).

Leader objective (source eq. 1a, to maximise)::

    F = sum_k revenue_k - routing cost,   revenue_k = sum_{p in P_k} (z_base[p] - z[i_kp, p])

where i_kp is customer k's chosen option for p (z = 0 at home) and the routing cost is that of the chosen
parcels in the declared routing mode (``routing.py``): OR-Tools routing with a solution limit
(``routing="heuristic"``, the default) or CP-SAT (``routing="exact"``). Which of the customers' optimal
choices count is decided on F itself (optimistic: best F, pessimistic: worst; ``ties.py``), so the
follower response already carries its routing, and the leader's value is read from it.

Heuristic routing costs at least the optimum on every parcel set, so a value found with it is at most the
exact-routing value of the same discounts (in both tie readings; ``ties.py``).

**Violation.** The customers' programs are always feasible (``follower.py``). The retailer's routing can
fail: heuristic routing may find no routes for the chosen parcels on R vehicles of capacity q (exact
routing always can, because the instance's home parcels fit by first-fit decreasing and a response only
splits parcels). Such a candidate gets the leader violation ``1 + shortfall``: 1 for the failure plus the
weight that first-fit decreasing leaves outside R vehicles, in vehicle loads (``routing.shortfall``), so
candidates that overload the fleet more rank further behind.

**Caches and counters.** Routes are cached per parcel set in a plain dict on the problem (values never
depend on the cache: equal parcels give equal routes in both modes, and routes cut by a deadline are not
cached). No warm start from nearby cached routes: in heuristic mode it would change the value (the
routes found depend on the start), and in exact mode, measured on generated K = 10 and 14 instances, an
adapted cached route made CP-SAT no faster than the heuristic's own routes as hint. The problem holds no
solver objects, so it pickles whole: a worker that receives it once keeps its cache for the whole run.
:meth:`work_counters` reports routings, cache hits, tie work and seconds.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.problem import LIMIT, OPTIMAL, BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.retail import routing, ties
from bilevel_bench.problems.retail.follower import choice_table, to_cents
from bilevel_bench.problems.retail.instance import RetailInstance
from bilevel_bench.problems.retail.routing import DEFAULT_SOLUTION_LIMIT, ROUTING_MODES, Parcels, Routes

#: Violation of a candidate whose parcels the routing could not place on the vehicles (plus the shortfall).
ROUTING_FAILURE_VIOLATION = 1.0
#: Most parcel sets kept in the route cache (it is emptied when full; values do not depend on it).
MAX_CACHED_ROUTES = 100_000


class RetailProblem(BilevelProblem):
    family = "retail"
    sense = "max"
    instance: RetailInstance

    def __init__(
        self,
        instance: RetailInstance,
        tie_break: str = "optimistic",
        routing: str = "heuristic",
        routing_solutions: int = DEFAULT_SOLUTION_LIMIT,
        max_tie_combinations: int = ties.DEFAULT_MAX_COMBINATIONS,
    ) -> None:
        super().__init__(instance, tie_break)
        if routing not in ROUTING_MODES:
            raise InputError("<problem>", "routing", f"{routing!r} is not one of {ROUTING_MODES}")
        for key, value in (("routing_solutions", routing_solutions), ("max_tie_combinations", max_tie_combinations)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1_000_000:
                raise InputError("<problem>", key, f"must be an integer in 1..1000000, got {value!r}")
        self.routing = routing
        self.routing_solutions = routing_solutions
        self.max_tie_combinations = max_tie_combinations
        self.table = choice_table(instance)  # plain numpy arrays: picklable
        self._routes: dict[bytes, Routes] = {}
        self.timing: dict[str, float] = dict.fromkeys(
            (
                "follower_s",
                "routing_s",
                "routing_calls",
                "route_cache_hits",
                "tied_evaluations",
                "combinations_valued",
            ),
            0.0,
        )

    def options(self) -> dict[str, Any]:
        return {
            "routing": self.routing,
            "routing_solutions": self.routing_solutions,
            "max_tie_combinations": self.max_tie_combinations,
        }

    def reference_options(self) -> dict[str, Any]:
        """The exact baseline routes exactly: its decision is re-verified with exact routing, whatever routing
        the runs use (under heuristic routing a run's value is a lower bound of the same discounts' value)."""
        return {"routing": "exact"}

    def warnings(self) -> list[str]:
        if self.routing == "heuristic":
            return [
                f"heuristic runs route heuristically (OR-Tools GLS, solution_limit={self.routing_solutions}): "
                "their values are at most the exact-routing values of the same discounts"
            ]
        return []

    def work_counters(self) -> dict[str, float]:
        """Routings done (``routing_calls``), served from the cache (``route_cache_hits``), their seconds,
        and how many evaluations had tied customers (``tied_evaluations``, ``combinations_valued``)."""
        return dict(self.timing)

    # -- the leader's space -------------------------------------------------------------------------
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        upper = np.tile(self.instance.zmax, self.instance.S).astype(float)
        return np.zeros_like(upper), upper

    def repair(self, x: np.ndarray) -> np.ndarray:
        """Discounts in whole cents (rounded to the nearest cent; the bounds are in cents, so clipping is exact)."""
        lb, ub = self.bounds()
        return np.asarray(np.clip(np.round(np.asarray(x, dtype=float) * 100) / 100, lb, ub))

    def discounts_cents(self, x: np.ndarray) -> np.ndarray:
        inst = self.instance
        upper = np.tile(to_cents(inst.zmax), inst.S)
        return np.clip(to_cents(x), 0, upper).reshape(inst.S, inst.P)

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        return {"z": (self.discounts_cents(np.asarray(x, dtype=float)) / 100).tolist()}

    # -- followers, routing and the leader's value --------------------------------------------------
    def route(self, parcels: Parcels) -> Routes:
        """The parcels' routes in the declared mode, from the cache when they were routed before."""
        key = parcels.key()
        cached = self._routes.get(key)
        if cached is not None:
            self.timing["route_cache_hits"] += 1
            return cached
        start = time.perf_counter()
        routes = routing.route(self.instance, parcels, self.routing, self.routing_solutions)
        self.timing["routing_s"] += time.perf_counter() - start
        self.timing["routing_calls"] += 1
        if routes.status != routing.LIMIT:  # a cut search is not the mode's value: never cache it
            if len(self._routes) >= MAX_CACHED_ROUTES:
                self._routes.clear()
            self._routes[key] = routes
        return routes

    # -- routing as shared work: with several workers each parcel set of a batch is routed once ---------
    def shared_work(self, x: np.ndarray) -> list[tuple[Any, Any]]:
        """The parcel sets evaluating ``x`` will route that this process has not routed yet (the cheap
        followers are solved here; the routings are the expensive, shared part)."""
        todo = []
        for parcels in ties.parcel_sets(
            self.instance, self.table, self.discounts_cents(x), self.tie_break, self.max_tie_combinations
        ):
            key = parcels.key()
            if key not in self._routes:
                todo.append((key, parcels))
        return todo

    def do_shared_work(self, task: Any) -> Any:
        return self.route(task)

    def absorb_shared_work(self, key: Any, result: Any) -> None:
        if result.status != routing.LIMIT:
            if len(self._routes) >= MAX_CACHED_ROUTES:
                self._routes.clear()
            self._routes[key] = result

    def respond(self, x: np.ndarray) -> ties.Response:
        """The followers' response under the tie rule, with its routes (``ties.respond``)."""
        return ties.respond(
            self.instance,
            self.table,
            self.discounts_cents(x),
            self.tie_break,
            self.route,
            self.max_tie_combinations,
            joint=self.routing == "exact",
        )

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        start = time.perf_counter()
        calls = self.timing["routing_calls"]
        routing_s = self.timing["routing_s"]
        response = self.respond(x)
        seconds = time.perf_counter() - start
        self.timing["follower_s"] += seconds - (self.timing["routing_s"] - routing_s)
        if response.tied:
            self.timing["tied_evaluations"] += 1
            self.timing["combinations_valued"] += response.valued
        routes = response.routes
        solution = {
            "option": response.option,
            "index": response.index,
            "value_cents": response.value,
            "revenue_cents": response.revenue,
            "routing_cost": np.array(routes.cost),
            "routing_ok": np.array(routes.ok),
            "shortfall": np.array(self._shortfall(response) if routes.status == routing.INFEASIBLE else 0.0),
            "tied_customers": np.array(response.tied),
            "combinations": np.array(response.combinations),
        }
        status = OPTIMAL if response.status == "optimal" else LIMIT
        value = float(response.value.sum()) / 100.0 if status == OPTIMAL else math.nan
        n_solves = self.instance.K + int(self.timing["routing_calls"] - calls)
        return FollowerResponse(status, value, solution, n_solves, seconds, response.detail)

    def _shortfall(self, response: ties.Response) -> float:
        parcels = routing.parcels_of(self.instance, response.option)
        return routing.shortfall(parcels.load, self.instance.q, self.instance.R)

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        revenue = float(response.solution["revenue_cents"].sum()) / 100.0
        return revenue - float(response.solution["routing_cost"])

    def leader_violation(self, x: np.ndarray, response: FollowerResponse | None) -> float:
        if response is None or not response.ok or bool(response.solution["routing_ok"]):
            return 0.0
        return ROUTING_FAILURE_VIOLATION + float(response.solution["shortfall"])

    def objectives(self, x: np.ndarray, response: FollowerResponse) -> tuple[float, float]:
        """Bi-objective view: the retailer's profit against the customers' total utility (both max)."""
        return self.leader_objective(x, response), float(response.value)

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        from bilevel_bench.problems.retail.exact import solve_exact

        return solve_exact(self, time_limit=time_limit)
