"""Routing the chosen deliveries: OR-Tools routing (heuristic, deterministic) or CP-SAT (exact).

A delivery is a **parcel**: the items of one customer for one location (its home, or a store). A parcel
rides on one vehicle; parcels at one store may ride on different vehicles (zero cost between them). With
every customer at home this is the CVRP of the CVRPLIB file (published optima 247 for E-n13-k4, 375 for
E-n22-k4, which the exact mode reaches; see the tests).

- ``heuristic``: the routing library with the matrix API (``RegisterTransitMatrix``,
  ``RegisterUnaryTransitVector``), first solution SAVINGS, then guided local search stopped by a
  **solution limit** (never by wall time), so the same parcels always give the same routes.
- ``exact``: CP-SAT (``num_workers = 1``, ``linearization_level = 2``) with ``AddMultipleCircuit`` and MTZ load variables, warm-started
  from the heuristic's routes. Exact when it reports OPTIMAL; for small instances only.

Weights are scaled to integers by :data:`WEIGHT_SCALE` (weights are integers or simple fractions).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2
from ortools.sat.python import cp_model

from bilevel_bench.problems.retail.instance import RetailInstance

ROUTING_MODES = ("heuristic", "exact")
WEIGHT_SCALE = 100
DEFAULT_SOLUTION_LIMIT = 50


@dataclasses.dataclass(frozen=True)
class Parcels:
    """The deliveries of one follower response: routing node and load of each parcel."""

    node: np.ndarray  # [n] index into c (1..K homes, K+1..K+S stores)
    load: np.ndarray  # [n] weight

    def key(self) -> tuple:
        return (tuple(self.node.tolist()), tuple(self.load.tolist()))


@dataclasses.dataclass(frozen=True)
class Routes:
    status: str  # "optimal", "feasible" (heuristic or limit), "infeasible"
    cost: float  # nan if infeasible
    bound: float
    routes: tuple[tuple[int, ...], ...]  # node indices into c, depot omitted


def parcels_of(inst: RetailInstance, option: np.ndarray) -> Parcels:
    """One parcel per (customer, used location): option [K, P] (0 home, 1+s store s)."""
    nodes, loads = [], []
    for k in range(inst.K):
        for o in np.unique(option[k][inst.cart[k]]):
            nodes.append(inst.node_of(k, int(o)))
            loads.append(float(inst.w[k][inst.cart[k] & (option[k] == o)].sum()))
    return Parcels(np.array(nodes, dtype=np.int64), np.array(loads))


def all_home(inst: RetailInstance) -> Parcels:
    return parcels_of(inst, np.zeros((inst.K, inst.P), dtype=np.int64))


def _scaled(inst: RetailInstance, parcels: Parcels) -> tuple[np.ndarray, list[int], int]:
    """Cost matrix over depot + parcels, integer demands and capacity."""
    nodes = np.concatenate([[0], parcels.node])
    matrix = np.asarray(inst.c, dtype=np.int64)[np.ix_(nodes, nodes)]
    demand = [0, *np.rint(parcels.load * WEIGHT_SCALE).astype(np.int64).tolist()]
    return matrix, demand, round(inst.q * WEIGHT_SCALE)


def route(inst: RetailInstance, parcels: Parcels, mode: str = "heuristic", solution_limit: int = DEFAULT_SOLUTION_LIMIT,
          time_limit: float | None = None) -> Routes:
    if len(parcels.node) == 0:
        return Routes("optimal", 0.0, 0.0, ())
    if mode == "heuristic":
        return route_heuristic(inst, parcels, solution_limit)
    return route_exact(inst, parcels, time_limit)


def route_heuristic(inst: RetailInstance, parcels: Parcels, solution_limit: int = DEFAULT_SOLUTION_LIMIT) -> Routes:
    matrix, demand, capacity = _scaled(inst, parcels)
    n = len(demand)
    manager = pywrapcp.RoutingIndexManager(n, inst.R, 0)
    model = pywrapcp.RoutingModel(manager)
    arc = model.RegisterTransitMatrix(matrix.tolist())
    model.SetArcCostEvaluatorOfAllVehicles(arc)
    load = model.RegisterUnaryTransitVector(demand)
    model.AddDimensionWithVehicleCapacity(load, 0, [capacity] * inst.R, True, "load")
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.SAVINGS
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.solution_limit = solution_limit  # deterministic budget: no time limit
    solution = model.SolveWithParameters(params)
    if solution is None:
        return Routes("infeasible", float("nan"), float("nan"), ())
    routes = []
    for v in range(inst.R):
        index, tour = model.Start(v), []
        while not model.IsEnd(index):
            node = manager.IndexToNode(index)
            if node:
                tour.append(int(parcels.node[node - 1]))
            index = solution.Value(model.NextVar(index))
        if tour:
            routes.append(tuple(tour))
    return Routes("feasible", float(solution.ObjectiveValue()), float("nan"), tuple(routes))


def route_exact(inst: RetailInstance, parcels: Parcels, time_limit: float | None = None) -> Routes:
    """CP-SAT vehicle-flow model: circuit through the depot, MTZ loads, at most R vehicles."""
    matrix, demand, capacity = _scaled(inst, parcels)
    n = len(demand)
    model = cp_model.CpModel()
    arcs = {(i, j): model.NewBoolVar(f"x{i}_{j}") for i in range(n) for j in range(n) if i != j}
    model.AddMultipleCircuit([(i, j, lit) for (i, j), lit in arcs.items()])
    model.Add(sum(arcs[0, j] for j in range(1, n)) <= inst.R)
    add_loads(model, arcs, demand, capacity)
    model.Minimize(sum(int(matrix[i, j]) * lit for (i, j), lit in arcs.items()))
    hint = route_heuristic(inst, parcels)
    _hint_routes(model, arcs, parcels, hint)
    solver = cpsat_solver(time_limit)
    status = solver.Solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Routes("infeasible" if status == cp_model.INFEASIBLE else "limit", float("nan"), float("nan"), ())
    routes = _read_routes(solver, arcs, n, parcels)
    return Routes("optimal" if status == cp_model.OPTIMAL else "feasible", float(solver.ObjectiveValue()),
                  float(solver.BestObjectiveBound()), routes)


def cpsat_solver(time_limit: float | None = None) -> cp_model.CpSolver:
    """One worker; linearisation level 2, which makes CP-SAT cut the circuit's LP relaxation (E-n22-k4
    is proven optimal in under a second with it, not in two minutes without)."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.linearization_level = 2
    if time_limit is not None:
        solver.parameters.max_time_in_seconds = time_limit
    return solver


def add_loads(model: cp_model.CpModel, arcs: dict, demand: list, capacity: int) -> list:
    """MTZ: load after node j >= load after i + demand j on every used arc i -> j (j != depot).

    ``demand`` entries may be ints or CP-SAT expressions (the exact bilevel model's variable parcels).
    """
    n = len(demand)
    loads = [model.NewIntVar(0, capacity, f"load{j}") for j in range(n)]
    model.Add(loads[0] == 0)
    for j in range(1, n):
        model.Add(loads[j] >= demand[j])
        for i in range(n):
            if i != j:
                model.Add(loads[j] >= loads[i] + demand[j]).OnlyEnforceIf(arcs[i, j])
    return loads


def _hint_routes(model: cp_model.CpModel, arcs: dict, parcels: Parcels, hint: Routes) -> None:
    if hint.status == "infeasible":
        return
    position = {}
    for i, node in enumerate(parcels.node.tolist(), start=1):
        position.setdefault(node, []).append(i)
    used = set()
    for tour in hint.routes:
        seq = [0] + [position[node].pop(0) for node in tour] + [0]
        used.update(itertools.pairwise(seq))
    for key, lit in arcs.items():
        model.AddHint(lit, key in used)


def _read_routes(solver: cp_model.CpSolver, arcs: dict, n: int, parcels: Parcels) -> tuple:
    succ: dict[int, list[int]] = {}
    for (i, j), lit in arcs.items():
        if solver.Value(lit):
            succ.setdefault(i, []).append(j)
    routes = []
    for start in sorted(succ.get(0, [])):
        tour, node = [], start
        while node != 0:
            tour.append(int(parcels.node[node - 1]))
            node = succ[node][0]
        routes.append(tuple(tour))
    return tuple(routes)
