"""Exact single-level baseline: follower optimality by enumeration of choice sets, exact routing, CP-SAT.

Everything is in integer cents, discounts z[s,p] in 0..zmax[p] (integer variables), so CP-SAT is exact.
The tie rule is the evaluator's (``ties.py``): among the customers' optimal choices, the combination best
(optimistic) or worst (pessimistic) for the leader's whole objective, revenue minus exact routing cost.

**The master model** (source eq. 1a-1i). Customer k's choice set Y_k is finite (``follower.ChoiceTable``):
choices m with f_k(m; z) = const[k,m] + g_m(z), g_m(z) = sum_{(s,p) taken by m} z[s,p]. One binary x[k,m]
per choice, sum_m x[k,m] = 1, and follower optimality as the finite family (eq. 1i)::

    phi_k >= f_k(m'; z)             for every m' in Y_k      (phi_k is then max_m f_k(m; z))
    phi_k == f_k(m; z)    if x[k,m]                           (the chosen choice is optimal)
    rev_k == base_k - g_m(z)  if x[k,m]                       (revenue, eq. 1a's first term)

The enforced equalities are CP-SAT's exact form of the big-M linearisation of x[k,m] * z. Their LP
relaxation is weak, so the same facts are added once more in McCormick form (redundant and exact, because
x is binary)::

    v[k,m,s,p] = x[k,m] * z[s,p]:  v <= z,  v <= zmax x,  v >= z - zmax (1 - x),  v >= 0
    sum_m (const[k,m] x[k,m] + sum_{(s,p) in m} v[k,m,s,p]) >= f_k(m'; z)   for every m' in Y_k
    rev_k == base_k - sum_{m,s,p} v[k,m,s,p]

Nothing here relies on LP duality (the reference code's per-customer strong duality is not exact; spec
``retail.md``).

Routing (eq. 1b-1g, as a vehicle-flow model): one optional node per possible parcel (customer k at home,
or at an available store s), present iff some choice of k that uses the location is taken. CP-SAT's
``add_multiple_circuit`` (absent nodes take their self-loop) gives the degree constraints (1b) and subtour
elimination (1c); MTZ load variables with the parcel's variable weight give capacity (1d-1g); at most R arcs
leave the depot. The master maximises F <= sum_k rev_k - 100 * routing cost.

**Optimistic** (one solve). The master chooses z, any combination of optimal choices and its routes, so
its optimum is max_z max_{c in T(z)} [revenue(c) - optimal routing(c)]: exactly the optimistic value.

**Pessimistic** (a max-min; constraint generation). The master is a relaxation of
max_z min_{c in T(z)} V(c, z): for every z, taking the worst tied combination as x satisfies it. Each round
solves the master, then computes the pessimistic value of its z* exactly (``ties``: every combination of
alternatives, each routed exactly, the worst kept; the incumbent is the best such value). If it equals
the master's value, z* is optimal. Otherwise, for every tied combination c found at z* whose value is
below the master's, a cut is added::

    t[k,m] <=> f_k(m; z) >= phi_k          (m is optimal for k at z; phi_k is the max)
    b_c  >=  AND_k t[k, c_k]               (c is a combination of optimal choices at z)
    F <= sum_k (base_k - g_{c_k}(z)) - 100 * route(c)     if b_c

valid because whenever c is tied at z, the pessimistic value of z is at most V(c, z). Cuts only remove
master solutions whose value is not the pessimistic one, so the loop ends (finitely many combinations),
and the master's bound is a bound on the pessimistic optimum at every round.

Status ``optimal`` when CP-SAT proves the (last) master optimal and its value is attained; ``feasible``
with the master's bound at the time limit (the own limit and the run's deadline, whichever is first, cut
every solve and routing inside). The routing of the combinations uses exact routing. Under
``routing="heuristic"`` the baseline still solves the exact-routing problem; the core's re-evaluation of
its decision then uses heuristic routing, and reports that value (``feasible`` with both numbers in the
notes when the heuristic does not reproduce the optimal routes; the bound holds for both modes).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from ortools.sat.python import cp_model

from bilevel_bench import limits
from bilevel_bench.problem import ExactResult, ExactStatus
from bilevel_bench.problems.retail import routing, ties
from bilevel_bench.problems.retail.follower import INFEASIBLE_VALUE, solve_all, to_cents
from bilevel_bench.problems.retail.routing import WEIGHT_SCALE, Routes

if TYPE_CHECKING:
    from bilevel_bench.problems.retail.problem import RetailProblem

METHOD = (
    "CP-SAT (cents): choice-set enumeration, follower optimality as a finite family, vehicle-flow routing "
    "(add_multiple_circuit, MTZ); tie rule on revenue minus exact routing"
)
#: Most seconds one exact solve may be given (a huge --time-limit is just "no limit").
MAX_SECONDS = 1e7


class Master:
    """The single-level model: discounts, the customers' optimal choices, their revenue and the routing."""

    def __init__(self, problem: RetailProblem) -> None:
        self.problem = problem
        inst, table = problem.instance, problem.table
        self.model = model = cp_model.CpModel()
        self.zmax = to_cents(inst.zmax)
        self.z = [[model.new_int_var(0, int(self.zmax[p]), f"z{s}_{p}") for p in range(inst.P)] for s in range(inst.S)]
        self.g = [self._taken(table.takes[m]) for m in range(len(table.choices))]
        self.valid = [np.flatnonzero(table.const[k] > INFEASIBLE_VALUE // 2) for k in range(inst.K)]
        self.x: dict[tuple[int, int], Any] = {}
        self.phi: list[Any] = []
        self.rev: list[Any] = []
        for k in range(inst.K):
            self._customer(k)
        self.route_cost = self._routing()
        base, G = int(table.base_revenue.sum()), int(self.zmax.sum()) * inst.K
        worst_route = 100 * int(inst.c.max()) * (len(self.node_of) + 1)
        self.F = model.new_int_var(base - G - worst_route, base, "F")
        model.add(sum(self.rev) - 100 * self.route_cost >= self.F)
        model.maximize(self.F)
        self._ties: dict[tuple[int, int], Any] = {}
        self.cuts = 0

    def _taken(self, takes: np.ndarray) -> Any:
        """g_m(z): the discounts a choice takes (takes [S, P] bool)."""
        return cp_model.LinearExpr.sum([self.z[s][p] for s, p in np.argwhere(takes)])

    def f(self, k: int, m: int) -> Any:
        return int(self.problem.table.const[k, m]) + self.g[m]

    def _customer(self, k: int) -> None:
        """Choice binaries x[k,m], optimality (eq. 1i), revenue, and the redundant McCormick form."""
        model, table = self.model, self.problem.table
        valid = self.valid[k]
        G = int(self.zmax.sum())
        low, high = int(table.const[k, valid].min()), int(table.const[k, valid].max()) + G
        phi = model.new_int_var(low, high, f"phi{k}")
        rev = model.new_int_var(int(table.base_revenue[k]) - G, int(table.base_revenue[k]), f"rev{k}")
        for m in (int(i) for i in valid):
            self.x[k, m] = model.new_bool_var(f"x{k}_{m}")
            model.add(phi >= self.f(k, m))
            model.add(phi == self.f(k, m)).only_enforce_if(self.x[k, m])
            model.add(rev == int(table.base_revenue[k]) - self.g[m]).only_enforce_if(self.x[k, m])
        model.add_exactly_one(self.x[k, int(m)] for m in valid)
        taken, fixed = [], []
        for m in (int(i) for i in valid):
            for s, p in np.argwhere(table.takes[m]):
                v = model.new_int_var(0, int(self.zmax[p]), f"v{k}_{m}_{s}_{p}")
                model.add(v <= self.z[s][p])
                model.add(v <= int(self.zmax[p]) * self.x[k, m])
                model.add(v >= self.z[s][p] - int(self.zmax[p]) * (1 - self.x[k, m]))
                taken.append(v)
            fixed.append(int(table.const[k, m]) * self.x[k, m])
        chosen_value = sum(fixed) + sum(taken)
        for m in (int(i) for i in valid):
            model.add(chosen_value >= self.f(k, m))
        model.add(rev == int(table.base_revenue[k]) - sum(taken))
        self.phi.append(phi)
        self.rev.append(rev)

    def _routing(self) -> Any:
        """Optional parcel nodes, circuit through the depot, MTZ loads; returns the routing cost."""
        inst, table, model = self.problem.instance, self.problem.table, self.model
        self.node_of: list[int] = []  # c-node of each model node 1..
        self.parcel: list[tuple[int, int]] = []  # (customer, option) of each model node 1..
        demand: list[Any] = [0]
        present: list[Any] = []
        for k in range(inst.K):
            for option in [0, *(1 + np.flatnonzero(inst.avail[k]))]:
                weight_of = {}
                for m in self.valid[k].tolist():
                    on = inst.cart[k] & (table.choices[m] == option)
                    if on.any():
                        weight_of[m] = round(float(inst.w[k][on].sum()) * WEIGHT_SCALE)
                if not weight_of:
                    continue
                lit = model.new_bool_var(f"visit{k}_{option}")
                model.add(lit == sum(self.x[k, m] for m in weight_of))
                self.node_of.append(inst.node_of(k, int(option)))
                self.parcel.append((k, int(option)))
                demand.append(sum(w * self.x[k, m] for m, w in weight_of.items()))
                present.append(lit)
        n = len(demand)
        self.arcs = {(i, j): model.new_bool_var(f"a{i}_{j}") for i in range(n) for j in range(n) if i != j}
        circuit = [(i, j, lit) for (i, j), lit in self.arcs.items()]
        circuit += [(i, i, present[i - 1].Not()) for i in range(1, n)]
        model.add_multiple_circuit(circuit)
        model.add(sum(self.arcs[0, j] for j in range(1, n)) <= min(inst.R, n - 1))
        routing.add_loads(model, self.arcs, demand, round(inst.q * WEIGHT_SCALE))
        nodes = [0, *self.node_of]
        return sum(int(inst.c[nodes[i], nodes[j]]) * lit for (i, j), lit in self.arcs.items())

    # -- hints and cuts -------------------------------------------------------------------------------
    def hint(self, z_cents: np.ndarray, index: np.ndarray, routes: Routes) -> None:
        """A complete start: discounts, one optimal choice per customer, and routes of its parcels."""
        model, table, inst = self.model, self.problem.table, self.problem.instance
        model.clear_hints()
        for s, row in enumerate(self.z):
            for p, var in enumerate(row):
                model.add_hint(var, int(z_cents[s, p]))
        for (k, m), lit in self.x.items():
            model.add_hint(lit, m == int(index[k]))
        option = table.choices[index]
        present = [bool(np.any(inst.cart[k] & (option[k] == o))) for k, o in self.parcel]
        routing.hint_routes(model, self.arcs, self.node_of, routes, present)

    def tied(self, k: int, m: int) -> Any:
        """t[k,m] <=> choice m is optimal for customer k at z (created on first use)."""
        if (k, m) not in self._ties:
            t = self.model.new_bool_var(f"t{k}_{m}")
            self.model.add(self.f(k, m) >= self.phi[k]).only_enforce_if(t)
            self.model.add(self.f(k, m) <= self.phi[k] - 1).only_enforce_if(t.Not())
            self._ties[k, m] = t
        return self._ties[k, m]

    def cut(self, index: np.ndarray, route_cost: float | None) -> None:
        """F <= V(c, z) whenever c (``index``) is a combination of optimal choices (none if unroutable)."""
        table = self.problem.table
        b = self.model.new_bool_var(f"b{self.cuts}")
        self.model.add_bool_or([b, *(self.tied(k, int(m)).Not() for k, m in enumerate(index))])
        if route_cost is None:
            self.model.add(b == 0)  # the adversary could make the routing impossible: z is not allowed
        else:
            revenue = sum(int(table.base_revenue[k]) - self.g[int(m)] for k, m in enumerate(index))
            self.model.add(revenue - round(100 * route_cost) >= self.F).only_enforce_if(b)
        self.cuts += 1

    def discounts(self, solver: cp_model.CpSolver) -> np.ndarray:
        return np.array([[solver.value(v) for v in row] for row in self.z], dtype=np.int64)


def solve_exact(problem: RetailProblem, time_limit: float = 60.0) -> ExactResult:
    start = time.perf_counter()
    with limits.deadline(time.time() + min(max(time_limit, 0.0), MAX_SECONDS)):
        master = Master(problem)
        start_z = np.zeros((problem.instance.S, problem.instance.P), dtype=np.int64)
        first = ties.respond(problem.instance, problem.table, start_z, problem.tie_break, _heuristic_route(problem))
        master.hint(start_z, first.index, first.routes)
        solve = _optimistic if problem.tie_break == "optimistic" else _pessimistic
        result = solve(problem, master)
    result.time_s = time.perf_counter() - start
    return result


def _heuristic_route(problem: RetailProblem) -> ties.RouteFn:
    def route(parcels: routing.Parcels) -> Routes:
        return routing.route_heuristic(problem.instance, parcels, problem.routing_solutions)

    return route


def _result(
    problem: RetailProblem, status: ExactStatus, value: float, bound: float, z_cents: np.ndarray, notes: str
) -> ExactResult:
    x = (z_cents.ravel() / 100.0).tolist()
    return ExactResult(value, bound, status, 0.0, {**problem.decode(np.array(x)), "x": x}, METHOD, notes)


def _optimistic(problem: RetailProblem, master: Master) -> ExactResult:
    solver = routing.cpsat_solver()
    status = solver.solve(master.model)
    name = solver.status_name(status)
    notes = f"CP-SAT {name}, {solver.num_branches} branches, tie rule optimistic (revenue minus exact routing)"
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return _result(
            problem,
            ExactStatus.OPTIMAL if status == cp_model.OPTIMAL else ExactStatus.FEASIBLE,
            solver.objective_value / 100.0,
            solver.best_objective_bound / 100.0,
            master.discounts(solver),
            notes,
        )
    if status == cp_model.INFEASIBLE:  # z = 0 always has a response that fits: a modelling error
        return ExactResult(math.nan, math.nan, ExactStatus.ERROR, 0.0, {}, METHOD, f"{notes}: the model is infeasible")
    bound = math.nan  # without a solution CP-SAT's bound field may be unset (0): no bound is claimed
    zero = np.zeros((problem.instance.S, problem.instance.P), dtype=np.int64)
    return _result(problem, ExactStatus.FEASIBLE, math.nan, bound, zero, f"{notes}: no incumbent in time, z = 0 given")


def _pessimistic(problem: RetailProblem, master: Master) -> ExactResult:
    inst, table = problem.instance, problem.table
    cache: dict[bytes, Routes] = {}

    def exact_route(parcels: routing.Parcels) -> Routes:
        key = parcels.key()
        if key not in cache:
            cache[key] = routing.route_exact(inst, parcels)
        return cache[key]

    best_value, best_z = -math.inf, np.zeros((inst.S, inst.P), dtype=np.int64)
    bound, rounds, status, name = math.nan, 0, ExactStatus.FEASIBLE, ""
    while True:
        rounds += 1
        solver = routing.cpsat_solver()
        solved = solver.solve(master.model)
        name = solver.status_name(solved)
        if solved == cp_model.INFEASIBLE:  # every z is cut: the incumbent is optimal (if there is one)
            status = ExactStatus.INFEASIBLE if best_value == -math.inf else ExactStatus.OPTIMAL
            bound = best_value / 100.0
            break
        if solved not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            # no solution this round: keep the last round's bound (CP-SAT's field may be unset)
            break
        bound = solver.best_objective_bound / 100.0
        z = master.discounts(solver)
        master_value = round(solver.objective_value)
        opt = solve_all(table, z)
        base, tied = ties.alternatives(inst, table, opt, "pessimistic")
        if ties.count(tied) > problem.max_tie_combinations:
            name += f"; {ties.count(tied)} tied combinations at z* exceed max_tie_combinations"
            break
        worst, worst_index, worst_routes, cut_out = math.inf, base, None, False
        for index in ties.combinations(base, tied):
            routes = exact_route(routing.parcels_of(inst, table.choices[index]))
            if routes.status == routing.LIMIT:
                cut_out = True
                break
            value = table.base_revenue.sum() - opt.g[index].sum() - 100.0 * routes.cost if routes.ok else -math.inf
            if value < master_value:
                master.cut(index, routes.cost if routes.ok else None)
            if value < worst:
                worst, worst_index, worst_routes = value, index, routes
        if cut_out:
            break
        if worst > best_value:
            best_value, best_z = worst, z
            if worst_routes is not None and worst_routes.ok:
                master.hint(z, worst_index, worst_routes)
        if solved == cp_model.OPTIMAL and worst >= master_value:
            status = ExactStatus.OPTIMAL
            bound = best_value / 100.0
            break
        if solved != cp_model.OPTIMAL:
            break
    notes = (
        f"constraint generation: {rounds} master solves, {master.cuts} cuts; last CP-SAT {name}; tie rule "
        "pessimistic (revenue minus exact routing)"
    )
    value = best_value / 100.0 if math.isfinite(best_value) else math.nan
    return _result(problem, status, value, bound, best_z, notes)
