"""Exact single-level baseline: follower optimality by enumeration of choice sets, exact routing, CP-SAT.

Everything is in integer cents, discounts z[s,p] in 0..zmax[p] (integer variables), so CP-SAT is exact.

Followers (source eq. 1i with 2a-2d). Customer k's choice set Y_k is finite (``follower.ChoiceTable``):
choices m with f_k(m; z) = const[k,m] + g_m(z), g_m(z) = sum_{(s,p) taken by m} z[s,p]. One binary
x[k,m] per choice, sum_m x[k,m] = 1. Optimality is the finite family f_k(chosen) >= f_k(m') for all m' in
Y_k. We impose it on the **tie-rule key** that the evaluator uses, which refines f_k lexicographically::

    key_k(m; z) = ((f_k(m; z) * (G+1) + T_m(z)) * M + (M-1-m)),   T_m = G - g_m (optimistic) or g_m (pessimistic)

with G = sum_p zmax[p] >= g_m and M = |choices|; since 0 <= T_m <= G and 0 <= M-1-m < M, comparing keys
compares f_k first, then revenue (optimistic: more; pessimistic: less), then the lower index, and keys of
distinct choices differ. So the model's follower response is exactly the evaluator's, for every z::

    Phi_k >= key_k(m'; z)                  for every m' in Y_k          (optimality, eq. 1i)
    Phi_k == key_k(m; z)   if x[k,m]       (the chosen key; exact linearisation of the products x * z)
    rev_k == base_k - g_m(z) if x[k,m]     (revenue, eq. 1a's first term)

The enforced equalities are CP-SAT's exact form of the big-M linearisation of x[k,m] * z (M = the key's
range, finite because z is bounded). Their LP relaxation is weak, so the same facts are added once more in
McCormick form (redundant and exact, because x is binary; it lowered the 60 s bound on ``medium`` from
391.9 to 375.1)::

    v[k,m,s,p] = x[k,m] * z[s,p]:  v <= z,  v <= zmax x,  v >= z - zmax (1 - x),  v >= 0
    sum_m (const[k,m] x[k,m] + sum_{(s,p) in m} v[k,m,s,p]) >= f_k(m'; z)   for every m' in Y_k
    rev_k == base_k - sum_{m,s,p} v[k,m,s,p]

Nothing here relies on LP duality (the reference code's per-customer strong duality is not exact; spec
``retail.md``).

Routing (eq. 1b-1g, as a vehicle-flow model): one optional node per possible parcel (customer k at home,
or at an available store s), present iff some choice of k that uses the location is taken. CP-SAT's
``AddMultipleCircuit`` (absent nodes take their self-loop) gives the degree constraints (1b) and subtour
elimination (1c); MTZ load variables with the parcel's variable weight give capacity (1d-1g); at most R arcs
leave the depot. Objective (1a): sum_k rev_k - 100 * routing cost, maximised.

CP-SAT (one worker, linearisation level 2) starts from a complete hint: z = 0, the followers' response and
heuristic routes of it. The result is re-verified: the followers are solved again for z* and the parcels routed exactly; that value
is the reported objective (the model's own objective is in the notes). Status "optimal" when CP-SAT proves
it, else "feasible" with CP-SAT's bound.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import TYPE_CHECKING

import numpy as np
from ortools.sat.python import cp_model

from bilevel_bench.problem import ExactResult
from bilevel_bench.problems.retail.follower import to_cents
from bilevel_bench.problems.retail.routing import WEIGHT_SCALE, add_loads, cpsat_solver, parcels_of, route_heuristic

if TYPE_CHECKING:
    from bilevel_bench.problems.retail.problem import RetailProblem


def solve_exact(problem: RetailProblem, time_limit: float = 60.0) -> ExactResult:
    start = time.perf_counter()
    inst, table = problem.instance, problem.table
    model = cp_model.CpModel()
    zmax_c = to_cents(inst.zmax)
    z = [[model.NewIntVar(0, int(zmax_c[p]), f"z{s}_{p}") for p in range(inst.P)] for s in range(inst.S)]
    g = [_taken(table.takes[m], z) for m in range(len(table.choices))]
    x, revenue = _followers(model, problem, z, g, int(zmax_c.sum()))
    route_cost, arcs, parcel_nodes = _routing(model, problem, x)
    model.Maximize(sum(revenue) - 100 * route_cost)
    _hint(model, problem, z, x, arcs, parcel_nodes)
    solver = cpsat_solver(time_limit)
    status = solver.Solve(model)
    elapsed = time.perf_counter() - start
    method = "CP-SAT (cents): choice-set enumeration with the exact tie-rule key + vehicle-flow routing (AddMultipleCircuit, MTZ)"
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        name = "infeasible" if status == cp_model.INFEASIBLE else "feasible"
        return ExactResult(math.nan, math.nan, name, elapsed, {}, method, f"CP-SAT {solver.StatusName(status)}")
    z_star = np.array([[solver.Value(v) for v in row] for row in z], dtype=float) / 100.0
    verify = _reverify(problem, z_star.ravel())
    model_value = solver.ObjectiveValue() / 100.0
    notes = (f"model objective {model_value:.2f}; re-verified with exact routing {verify:.2f}; "
             f"CP-SAT {solver.StatusName(status)}, {solver.NumBranches()} branches, tie rule {problem.tie_break}")
    return ExactResult(
        objective=verify,
        bound=solver.BestObjectiveBound() / 100.0,
        status="optimal" if status == cp_model.OPTIMAL else "feasible",
        time_s=time.perf_counter() - start,
        solution={**problem.decode(z_star.ravel()), "x": z_star.ravel().tolist()},
        method=method,
        notes=notes,
    )


def _taken(takes: np.ndarray, z: list) -> cp_model.LinearExpr:
    """g_m(z): the discounts a choice takes (takes [S, P] bool)."""
    return sum((z[s][p] for s, p in np.argwhere(takes)), cp_model.LinearExpr.Sum([]))


def _followers(model: cp_model.CpModel, problem: RetailProblem, z: list, g: list, G: int) -> tuple[dict, list]:
    """Choice binaries x[k,m], optimality on the tie-rule key, and each customer's revenue."""
    table = problem.table
    M = len(table.choices)
    optimistic = problem.tie_break == "optimistic"
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    revenue = []
    for k in range(problem.instance.K):
        valid = np.flatnonzero(table.const[k] > np.iinfo(np.int64).min // 8)

        def key(m: int, k: int = k) -> cp_model.LinearExpr:
            tie = (G - g[m]) if optimistic else g[m]
            return ((int(table.const[k, m]) + g[m]) * (G + 1) + tie) * M + (M - 1 - int(m))

        low, high = int(table.const[k, valid].min()), int(table.const[k, valid].max()) + G
        phi = model.NewIntVar(low * (G + 1) * M, ((high * (G + 1) + G) * M + M), f"phi{k}")
        rev = model.NewIntVar(int(table.base_revenue[k]) - G, int(table.base_revenue[k]), f"rev{k}")
        for m in valid:
            x[k, int(m)] = model.NewBoolVar(f"x{k}_{m}")
            model.Add(phi >= key(int(m)))
            model.Add(phi == key(int(m))).OnlyEnforceIf(x[k, int(m)])
            model.Add(rev == int(table.base_revenue[k]) - g[m]).OnlyEnforceIf(x[k, int(m)])
        model.AddExactlyOne(x[k, int(m)] for m in valid)
        _mccormick(model, problem, k, valid, x, z, g, rev)
        revenue.append(rev)
    return x, revenue


def _mccormick(model: cp_model.CpModel, problem: RetailProblem, k: int, valid: np.ndarray, x: dict, z: list, g: list,
               rev: cp_model.IntVar) -> None:
    """Redundant and exact, but stronger in the LP relaxation than the enforced equalities: the products
    v = x[k,m] * z[s,p] by McCormick (exact because x is binary), f_k of the chosen choice above f_k of
    every choice (the plain optimality family), and the revenue as base - sum v."""
    table, zmax = problem.table, to_cents(problem.instance.zmax)
    taken, fixed = [], []
    for m in (int(i) for i in valid):
        for s, p in np.argwhere(table.takes[m]):
            v = model.NewIntVar(0, int(zmax[p]), f"v{k}_{m}_{s}_{p}")
            model.Add(v <= z[s][p])
            model.Add(v <= int(zmax[p]) * x[k, m])
            model.Add(v >= z[s][p] - int(zmax[p]) * (1 - x[k, m]))
            taken.append(v)
        fixed.append(int(table.const[k, m]) * x[k, m])
    chosen_value = sum(fixed) + sum(taken)
    for m in (int(i) for i in valid):
        model.Add(chosen_value >= int(table.const[k, m]) + g[m])
    model.Add(rev == int(table.base_revenue[k]) - sum(taken))


def _routing(model: cp_model.CpModel, problem: RetailProblem, x: dict) -> tuple:
    """Optional parcel nodes, circuit through the depot, MTZ loads.

    Returns the routing cost, the arc literals and each model node's parcel (customer, option).
    """
    inst, table = problem.instance, problem.table
    nodes = [0]  # index into c
    parcel_nodes: list[tuple[int, int]] = [(-1, -1)]
    demand: list = [0]
    present: list = [None]
    for k in range(inst.K):
        for option in [0, *(1 + np.flatnonzero(inst.avail[k]))]:
            weight_of = {}
            for (kk, m), _ in x.items():
                if kk == k:
                    on = inst.cart[k] & (table.choices[m] == option)
                    if on.any():
                        weight_of[m] = round(float(inst.w[k][on].sum()) * WEIGHT_SCALE)
            if not weight_of:
                continue
            lit = model.NewBoolVar(f"visit{k}_{option}")
            model.Add(lit == sum(x[k, m] for m in weight_of))
            nodes.append(inst.node_of(k, int(option)))
            parcel_nodes.append((k, int(option)))
            demand.append(sum(w * x[k, m] for m, w in weight_of.items()))
            present.append(lit)
    n = len(nodes)
    arcs = {(i, j): model.NewBoolVar(f"a{i}_{j}") for i in range(n) for j in range(n) if i != j}
    circuit = [(i, j, lit) for (i, j), lit in arcs.items()]
    circuit += [(i, i, present[i].Not()) for i in range(1, n)]
    model.AddMultipleCircuit(circuit)
    model.Add(sum(arcs[0, j] for j in range(1, n)) <= inst.R)
    add_loads(model, arcs, demand, round(inst.q * WEIGHT_SCALE))
    cost = sum(int(inst.c[nodes[i], nodes[j]]) * lit for (i, j), lit in arcs.items())
    return cost, arcs, parcel_nodes


def _hint(model: cp_model.CpModel, problem: RetailProblem, z: list, x: dict, arcs: dict, parcel_nodes: list) -> None:
    """A complete start: z = 0, the followers' response to it, and heuristic routes of its parcels."""
    for row in z:
        for v in row:
            model.AddHint(v, 0)
    response = problem.follower_response(np.zeros(problem.n_var))
    option = response.solution["option"]
    index = problem.table.choices.tolist()
    for k in range(problem.instance.K):
        m = index.index(option[k].tolist())
        for (kk, mm), lit in x.items():
            if kk == k:
                model.AddHint(lit, mm == m)
    # the routes visit c-nodes; give each visit the parcel of a customer served there (same location,
    # same cost), in the order the parcels were listed
    waiting: dict[int, list[int]] = {}
    for i, (k, o) in enumerate(parcel_nodes[1:], start=1):
        if o in option[k][problem.instance.cart[k]]:
            waiting.setdefault(problem.instance.node_of(k, o), []).append(i)
    used = set()
    for tour in route_heuristic(problem.instance, parcels_of(problem.instance, option)).routes:
        seq = [0, *(waiting[node].pop(0) for node in tour), 0]
        used.update(itertools.pairwise(seq))
    for key, lit in arcs.items():
        model.AddHint(lit, key in used)


def _reverify(problem: RetailProblem, x: np.ndarray) -> float:
    from bilevel_bench.problems.retail.problem import RetailProblem

    fresh = RetailProblem(problem.instance, tie_break=problem.tie_break, routing="exact")
    return fresh.evaluate(x).value
