"""Routing the chosen deliveries: OR-Tools routing (heuristic, deterministic) or CP-SAT (exact).

A delivery is a **parcel**: the items of one customer for one location (its home, or a store). A parcel
rides on one vehicle; parcels at one store may ride on different vehicles (zero cost between them). With
every customer at home this is the CVRP of the CVRPLIB file (published optima 247 for E-n13-k4, 375 for
E-n22-k4, which the exact mode reaches; see the tests).

- ``heuristic``: the routing library with the matrix API (``RegisterTransitMatrix``,
  ``RegisterUnaryTransitVector``), first solution SAVINGS, then guided local search stopped by a
  **solution limit** (never by its own wall time), so the same parcels always give the same routes. The
  value of a parcel set in this mode is the cost of those routes.
- ``exact``: CP-SAT (``num_workers = 1``, ``linearization_level = 2``) with ``add_multiple_circuit`` and MTZ
  load variables, warm-started from a hint (the heuristic's routes). Its value is the proven optimum; a hint
  changes only the time to prove it. No time limit of its own (for small instances only).

**Time.** Both modes take their time limit from :func:`bilevel_bench.limits.solver_seconds` (the run's
deadline; none outside runs). A search cut by it is reported with status ``limit``: its routes are not the
mode's value, and the follower response that needed them becomes status ``limit``.

Both use ``min(R, parcels)`` vehicles (a vehicle beyond one per parcel can never be used, so the exact
optimum is the same; it keeps absurd vehicle counts from reaching the solver). Weights are scaled to
integers by :data:`WEIGHT_SCALE` (weights are whole hundredths, checked by the instance).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.sat.python import cp_model

from bilevel_bench import limits
from bilevel_bench.problems.retail.instance import RetailInstance

ROUTING_MODES = ("heuristic", "exact")
WEIGHT_SCALE = 100
DEFAULT_SOLUTION_LIMIT = 50

#: Route statuses: ``optimal`` (exact mode, proven), ``feasible`` (heuristic mode: the mode's value),
#: ``infeasible`` (no routes found: proven in exact mode, not found by the heuristic), ``limit`` (cut by the
#: run's deadline: no value).
OPTIMAL, FEASIBLE, INFEASIBLE, LIMIT = "optimal", "feasible", "infeasible", "limit"


@dataclasses.dataclass(frozen=True)
class Parcels:
    """The deliveries of one follower response: routing node and load of each parcel.

    Listed by customer, then by location (home before stores, stores by index): the order is a function of
    the parcels themselves, so equal parcel sets give equal routing models (and equal heuristic routes).
    """

    node: np.ndarray  # [n] index into c (1..K homes, K+1..K+S stores)
    load: np.ndarray  # [n] weight

    def demand(self) -> np.ndarray:
        """Integer loads, as the solvers see them."""
        return np.rint(self.load * WEIGHT_SCALE).astype(np.int64)

    def key(self) -> bytes:
        """A compact exact key of the routing problem (nodes and integer loads)."""
        return self.node.astype(np.int32).tobytes() + b"|" + self.demand().tobytes()


@dataclasses.dataclass(frozen=True)
class Routes:
    status: str  # OPTIMAL, FEASIBLE, INFEASIBLE or LIMIT
    cost: float  # nan unless OPTIMAL or FEASIBLE
    bound: float  # proven lower bound (exact mode), else nan
    routes: tuple[tuple[int, ...], ...]  # node indices into c, depot omitted

    @property
    def ok(self) -> bool:
        return self.status in (OPTIMAL, FEASIBLE)


NO_PARCELS = Routes(OPTIMAL, 0.0, 0.0, ())


def parcel_loads(inst: RetailInstance, option: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(used [K, S+1], load [K, S+1]): which locations each customer uses, and the weight it sends there."""
    onehot = (np.asarray(option)[:, :, None] == np.arange(inst.S + 1)[None, None, :]) & inst.cart[:, :, None]
    return onehot.any(axis=1), np.einsum("kp,kpo->ko", inst.w, onehot)


def parcels_of(inst: RetailInstance, option: np.ndarray) -> Parcels:
    """One parcel per (customer, used location): option [K, P] (0 home, 1+s store s). Vectorised."""
    used, load = parcel_loads(inst, option)
    k, o = np.nonzero(used)  # row-major: by customer, then location
    node = np.where(o == 0, 1 + k, inst.K + o)
    return Parcels(node.astype(np.int64), load[k, o])


def all_home(inst: RetailInstance) -> Parcels:
    return parcels_of(inst, np.zeros((inst.K, inst.P), dtype=np.int64))


def _scaled(inst: RetailInstance, parcels: Parcels) -> tuple[np.ndarray, list[int], int, int]:
    """Cost matrix over depot + parcels, integer demands, capacity and the vehicles worth using."""
    nodes = np.concatenate([[0], parcels.node])
    matrix = np.asarray(inst.c, dtype=np.int64)[np.ix_(nodes, nodes)]
    demand = [0, *parcels.demand().tolist()]
    return matrix, demand, round(inst.q * WEIGHT_SCALE), min(inst.R, len(parcels.node))


def route(
    inst: RetailInstance,
    parcels: Parcels,
    mode: str = "heuristic",
    solution_limit: int = DEFAULT_SOLUTION_LIMIT,
    hint: Routes | None = None,
) -> Routes:
    """The parcels' routes in ``mode`` (``hint``: a warm start for the exact mode only)."""
    if len(parcels.node) == 0:
        return NO_PARCELS
    if mode == "heuristic":
        return route_heuristic(inst, parcels, solution_limit)
    return route_exact(inst, parcels, hint)


def route_heuristic(inst: RetailInstance, parcels: Parcels, solution_limit: int = DEFAULT_SOLUTION_LIMIT) -> Routes:
    if len(parcels.node) == 0:
        return NO_PARCELS
    start = time.perf_counter()
    matrix, demand, capacity, vehicles = _scaled(inst, parcels)
    n = len(demand)
    manager = pywrapcp.RoutingIndexManager(n, vehicles, 0)
    model = pywrapcp.RoutingModel(manager)
    arc = model.RegisterTransitMatrix(matrix.tolist())
    model.SetArcCostEvaluatorOfAllVehicles(arc)
    load = model.RegisterUnaryTransitVector(demand)
    model.AddDimensionWithVehicleCapacity(load, 0, [capacity] * vehicles, True, "load")
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.SAVINGS
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.solution_limit = solution_limit  # the deterministic budget
    seconds = limits.solver_seconds()  # the run's deadline only: inf outside runs
    if math.isfinite(seconds):
        params.time_limit.FromMilliseconds(max(1, int(seconds * 1000)))
    solution = model.SolveWithParameters(params)
    # Stopped by the clock rather than by its solution limit: fewer solutions than the limit, and the time
    # used (OR-Tools counts from the model's creation) close to the limit. GLS ends by itself only on tiny
    # parcel sets, in far less time.
    found = model.solver().Solutions()
    if math.isfinite(seconds) and found < solution_limit and time.perf_counter() - start >= 0.5 * seconds:
        return Routes(LIMIT, math.nan, math.nan, ())
    if solution is None:
        return Routes(INFEASIBLE, math.nan, math.nan, ())
    routes = []
    for v in range(vehicles):
        index, tour = model.Start(v), []
        while not model.IsEnd(index):
            node = manager.IndexToNode(index)
            if node:
                tour.append(int(parcels.node[node - 1]))
            index = solution.Value(model.NextVar(index))
        if tour:
            routes.append(tuple(tour))
    return Routes(FEASIBLE, float(solution.ObjectiveValue()), math.nan, tuple(routes))


def route_exact(inst: RetailInstance, parcels: Parcels, hint: Routes | None = None) -> Routes:
    """CP-SAT vehicle-flow model: circuit through the depot, MTZ loads, at most R vehicles.

    ``hint``: routes to start from (any routes over these parcels' nodes; default: the heuristic's).
    """
    if len(parcels.node) == 0:
        return NO_PARCELS
    matrix, demand, capacity, vehicles = _scaled(inst, parcels)
    n = len(demand)
    model = cp_model.CpModel()
    arcs = {(i, j): model.new_bool_var(f"x{i}_{j}") for i in range(n) for j in range(n) if i != j}
    model.add_multiple_circuit([(i, j, lit) for (i, j), lit in arcs.items()])
    model.add(sum(arcs[0, j] for j in range(1, n)) <= vehicles)
    add_loads(model, arcs, demand, capacity)
    model.minimize(sum(int(matrix[i, j]) * lit for (i, j), lit in arcs.items()))
    if hint is None or not hint.ok:
        hint = route_heuristic(inst, parcels)
    hint_routes(model, arcs, parcels.node, hint)
    solver = cpsat_solver()
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        return Routes(INFEASIBLE, math.nan, math.nan, ())
    if status != cp_model.OPTIMAL:  # cut by the deadline (the only limit)
        return Routes(LIMIT, math.nan, float(solver.best_objective_bound), ())
    routes = read_routes(solver, arcs, parcels.node)
    return Routes(OPTIMAL, float(solver.objective_value), float(solver.best_objective_bound), routes)


def cpsat_solver(own_limit: float = math.inf) -> cp_model.CpSolver:
    """One worker; linearisation level 2, which makes CP-SAT cut the circuit's LP relaxation (E-n22-k4
    is proven optimal in under a second with it, not in two minutes without). The time limit is
    ``own_limit`` capped by the run's deadline."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.linearization_level = 2
    seconds = limits.solver_seconds(own_limit)
    if math.isfinite(seconds):
        solver.parameters.max_time_in_seconds = seconds
    return solver


def add_loads(
    model: cp_model.CpModel, arcs: dict[tuple[int, int], Any], demand: Sequence[Any], capacity: int
) -> list[Any]:
    """MTZ: load after node j >= load after i + demand j on every used arc i -> j (j != depot).

    ``demand`` entries may be ints or CP-SAT expressions (the exact bilevel model's variable parcels).
    """
    n = len(demand)
    loads = [model.new_int_var(0, capacity, f"load{j}") for j in range(n)]
    model.add(loads[0] == 0)
    for j in range(1, n):
        model.add(loads[j] >= demand[j])
        for i in range(n):
            if i != j and (i, j) in arcs:
                model.add(loads[j] >= loads[i] + demand[j]).only_enforce_if(arcs[i, j])
    return loads


def hint_routes(
    model: cp_model.CpModel,
    arcs: dict[tuple[int, int], Any],
    node_of: Sequence[int] | np.ndarray,
    hint: Routes,
    present: Sequence[bool] | None = None,
) -> None:
    """Hint the arcs of ``hint``'s tours; model node i (1..) visits c-node ``node_of[i-1]``.

    Several model nodes may share a c-node (parcels at one store, or optional copies): each visit of the
    c-node takes the next model node of it that is ``present`` (all by default).
    """
    if not hint.ok:
        return
    waiting: dict[int, list[int]] = {}
    for i, node in enumerate(np.asarray(node_of).tolist(), start=1):
        if present is None or present[i - 1]:
            waiting.setdefault(int(node), []).append(i)
    used: set[tuple[int, int]] = set()
    for tour in hint.routes:
        if any(len(waiting.get(node, ())) < tour.count(node) for node in set(tour)):
            return  # the hint visits a node these parcels do not have: no hint rather than a wrong one
        seq = [0, *(waiting[node].pop(0) for node in tour), 0]
        used.update(itertools.pairwise(seq))
    for key, lit in arcs.items():
        model.add_hint(lit, key in used)


def read_routes(
    solver: cp_model.CpSolver, arcs: dict[tuple[int, int], Any], node_of: Sequence[int] | np.ndarray
) -> tuple:
    """Tours (c-nodes, depot omitted) of a solved circuit model; model node i visits ``node_of[i-1]``."""
    succ: dict[int, list[int]] = {}
    for (i, j), lit in arcs.items():
        if solver.value(lit):
            succ.setdefault(i, []).append(j)
    routes = []
    for start in sorted(succ.get(0, [])):
        tour, node = [], start
        while node != 0:
            tour.append(int(node_of[node - 1]))
            node = succ[node][0]
        routes.append(tuple(tour))
    return tuple(routes)


def shortfall(loads: np.ndarray, capacity: float, vehicles: int) -> float:
    """Graded measure of a capacity failure: the weight that first-fit decreasing leaves outside the
    ``vehicles`` fullest bins, in vehicle loads (0 when first-fit decreasing fits everything)."""
    bins: list[float] = []
    for load in sorted(np.asarray(loads, dtype=float).tolist(), reverse=True):
        for i, used in enumerate(bins):
            if used + load <= capacity + 1e-9:
                bins[i] = used + load
                break
        else:
            bins.append(load)
    extra = sorted(bins, reverse=True)[vehicles:]
    return float(sum(extra)) / capacity if capacity > 0 else float(sum(extra))
