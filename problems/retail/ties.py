"""The tie rule on the leader's whole objective: which combination of the customers' optimal choices counts.

At discounts z, customer k's optimal choices T_k(z) (every choice m with the largest f_k, exact in integer
cents; ``follower.solve_all``) may be several. The followers' response is then one combination
c = (c_1..c_K) in T_1 x ... x T_K, and its value to the leader is::

    V(c) = sum_k revenue_k(c_k) - routing(parcels(c))        (revenue in cents, routing cost x 100)

where ``routing`` is the value of the **declared routing mode**: the proven optimum (``exact``) or the cost
of OR-Tools' deterministic search on exactly these parcels (``heuristic``).

- ``optimistic``: the combination with the largest V; ``pessimistic``: the smallest (a combination whose
  parcels cannot be routed counts as minus infinity: the adversary picks it, the optimist avoids it).
- Then a fixed order: the lexicographically smallest vector of choice indices (customer 0 first).

Under heuristic routing "optimistic" therefore means: the best combination **as the heuristic routes each
one**, exactly over all tied combinations (not the best the heuristic might find on a joint problem). Since
heuristic routes cost at least the optimum for every combination, the heuristic-mode value of any z is at
most its exact-mode value, in both readings, so a heuristic run can never beat the exact optimum.

**How it stays exact without enumerating T_1 x ... x T_K.** Only what changes V matters:

1. Customers with a single optimal choice are fixed.
2. A tied customer's optimal choices are grouped by the parcels they create for this customer (locations
   and integer loads; equal parcels give equal routing whatever the others do). In each group only the
   member with the largest revenue (optimistic) or the smallest (pessimistic) can be picked, lowest index
   on equal revenue. These representatives are the customer's **alternatives**; a customer with one
   alternative is fixed.
3. The combinations of the alternatives of the remaining customers are valued one by one, each routed in
   the declared mode (routes are cached per parcel set by the problem), in lexicographic order.

This is exact: every combination of T_1 x ... x T_K has the value of the combination of representatives
it maps to, or a worse one (optimistic) / better one (pessimistic), with equality only in equal revenue and
parcels, where the lower index wins. The tests check it against brute force over all combinations.

When there are more than ``max_combinations`` combinations of alternatives: with exact routing and the
optimistic rule, the choice is made **inside one CP-SAT routing model** (:func:`choose_jointly`: one
binary per alternative, its parcels optional nodes of the circuit, maximise revenue minus routing cost),
which is exact at any size; the combination among equal-valued ones is then the one CP-SAT (one worker)
returns. In every other case (heuristic routing, or the pessimistic rule, a min-max that no single model
expresses) the response has status ``limit`` with the count in its detail: a stated enumeration limit,
never a guess.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from bilevel_bench.problems.retail import routing
from bilevel_bench.problems.retail.follower import ChoiceTable, Optimal, solve_all
from bilevel_bench.problems.retail.instance import RetailInstance
from bilevel_bench.problems.retail.routing import Parcels, Routes

#: Default most combinations of alternatives valued one by one (a problem option).
DEFAULT_MAX_COMBINATIONS = 256

RouteFn = Callable[[Parcels], Routes]


@dataclasses.dataclass(frozen=True)
class Response:
    """The followers' response under the tie rule, with the routing of its parcels.

    ``status``: ``optimal`` (determined exactly), or ``limit`` (a routing cut by the deadline, or too many
    combinations); then ``routes`` may be missing and nothing but ``status`` and ``detail`` is meaningful.
    """

    status: str
    index: np.ndarray  # [K] chosen choice per customer
    option: np.ndarray  # [K, P] 0 = home, 1+s = store s
    value: np.ndarray  # [K] f_k in cents (the customers' optimum)
    revenue: np.ndarray  # [K] cents
    routes: Routes
    tied: int  # customers with more than one alternative
    combinations: int  # combinations of alternatives (1 when nothing is tied)
    valued: int  # combinations routed and valued
    detail: str = ""


def alternatives(
    inst: RetailInstance, table: ChoiceTable, opt: Optimal, tie_break: str
) -> tuple[np.ndarray, list[tuple[int, list[int]]]]:
    """(base index [K], [(customer, alternatives)]): steps 1-2 of the module docstring.

    ``base`` holds every customer's first alternative; the list names the customers with two or more
    alternatives (choice indices, ascending).
    """
    base = opt.index.copy()
    tied = []
    revenue = table.base_revenue[:, None] - opt.g[None, :]
    sign = -1 if tie_break == "optimistic" else 1  # sort key: best revenue for the rule first
    for k in np.flatnonzero(opt.optimal.sum(axis=1) > 1):
        members = np.flatnonzero(opt.optimal[k])
        used, load = _customer_parcels(inst, table, int(k), members)
        groups: dict[bytes, int] = {}
        for i, m in enumerate(members.tolist()):
            signature = used[i].tobytes() + np.rint(load[i] * routing.WEIGHT_SCALE).astype(np.int64).tobytes()
            best = groups.get(signature)
            if best is None or (sign * revenue[k, m], m) < (sign * revenue[k, best], best):
                groups[signature] = m
        reps = sorted(groups.values())
        base[k] = reps[0]
        if len(reps) > 1:
            tied.append((int(k), reps))
    return base, tied


def _customer_parcels(
    inst: RetailInstance, table: ChoiceTable, k: int, members: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Locations used [n, S+1] and loads [n, S+1] of customer k under each of its choices ``members``."""
    onehot = (table.choices[members][:, :, None] == np.arange(inst.S + 1)[None, None, :]) & inst.cart[k][None, :, None]
    return onehot.any(axis=1), np.einsum("p,npo->no", inst.w[k], onehot)


def combinations(base: np.ndarray, tied: list[tuple[int, list[int]]]) -> Iterator[np.ndarray]:
    """Index vectors of every combination of alternatives, in lexicographic order."""
    customers = [k for k, _ in tied]
    for pick in itertools.product(*(reps for _, reps in tied)):
        index = base.copy()
        index[customers] = pick
        yield index


def count(tied: list[tuple[int, list[int]]]) -> int:
    return math.prod(len(reps) for _, reps in tied)


def parcel_sets(
    inst: RetailInstance,
    table: ChoiceTable,
    z_cents: np.ndarray,
    tie_break: str,
    max_combinations: int = DEFAULT_MAX_COMBINATIONS,
) -> list[routing.Parcels]:
    """The parcel sets :func:`respond` routes for ``z_cents`` (every combination's), in its order; none when
    the combinations exceed ``max_combinations`` (then no enumeration is routed)."""
    opt = solve_all(table, z_cents)
    base, tied = alternatives(inst, table, opt, tie_break)
    if count(tied) > max_combinations:
        return []
    return [routing.parcels_of(inst, table.choices[index]) for index in combinations(base, tied)]


def respond(
    inst: RetailInstance,
    table: ChoiceTable,
    z_cents: np.ndarray,
    tie_break: str,
    route: RouteFn,
    max_combinations: int = DEFAULT_MAX_COMBINATIONS,
    joint: bool = False,
) -> Response:
    """The followers' response to ``z_cents`` [S, P] under the tie rule, routed by ``route``.

    ``joint``: beyond ``max_combinations`` choose inside one exact CP-SAT routing model (exact routing and
    the optimistic rule only; see the module docstring).
    """
    opt = solve_all(table, z_cents)
    base, tied = alternatives(inst, table, opt, tie_break)
    n = count(tied)

    def make(index: np.ndarray, routes: Routes, valued: int, status: str = "optimal", detail: str = "") -> Response:
        revenue = table.base_revenue - opt.g[index]
        return Response(status, index, table.choices[index], opt.best, revenue, routes, len(tied), n, valued, detail)

    if n > max_combinations:
        if joint and tie_break == "optimistic":
            index, routes = choose_jointly(inst, table, opt, base, tied)
            detail = f"{n} tied combinations: chosen in one CP-SAT routing model"
            return make(index, routes, 0, "optimal" if routes.ok else "limit", detail)
        cut = Routes(routing.LIMIT, math.nan, math.nan, ())
        return make(base, cut, 0, "limit", f"{n} tied combinations exceed max_tie_combinations = {max_combinations}")
    best: tuple[float, np.ndarray, Routes] | None = None
    valued = 0
    for index in combinations(base, tied):
        routes = route(routing.parcels_of(inst, table.choices[index]))
        valued += 1
        if routes.status == routing.LIMIT:
            return make(index, routes, valued, "limit", "a routing was cut by the run's deadline")
        value = float(table.base_revenue.sum() - opt.g[index].sum()) - 100.0 * routes.cost if routes.ok else -math.inf
        if best is None or (value > best[0] if tie_break == "optimistic" else value < best[0]):
            best = (value, index, routes)
        if tie_break == "pessimistic" and value == -math.inf:
            break  # nothing is worse than parcels that cannot be routed
    assert best is not None
    return make(best[1], best[2], valued, detail=f"{len(tied)} tied customers, {n} combinations" if tied else "")


# -- beyond the enumeration limit: the joint choice inside the exact routing model ---------------------------


def choose_jointly(
    inst: RetailInstance, table: ChoiceTable, opt: Optimal, base: np.ndarray, tied: list[tuple[int, list[int]]]
) -> tuple[np.ndarray, Routes]:
    """The optimistic combination of alternatives and its exact routes, by one CP-SAT model.

    Nodes: the parcels of the untied customers (always present) and, for every alternative j of a tied
    customer k, the parcels it creates (present iff a[k,j]); exactly one a[k,j] per tied customer; a circuit
    through the depot with a self-loop on every absent node; MTZ loads; at most R vehicles. Maximise
    sum_j revenue_kj a_kj - 100 * routing cost. Exact when CP-SAT reports OPTIMAL (else status ``limit``).
    """
    tied_customers = {k for k, _ in tied}
    fixed_option = table.choices[base].copy()
    fixed_option[list(tied_customers)] = -1  # no parcels from tied customers here
    fixed = routing.parcels_of(inst, fixed_option)
    model = cp_model.CpModel()
    node_of: list[int] = [int(v) for v in fixed.node]
    demand: list[int] = [0, *fixed.demand().tolist()]
    owner: list[tuple[int, int]] = [(-1, -1)] * len(node_of)  # (customer, alternative) of optional nodes
    present: list[Any] = [None] * len(node_of)
    choose: dict[tuple[int, int], Any] = {}
    revenue_terms = []
    for k, reps in tied:
        for j, m in enumerate(reps):
            lit = model.new_bool_var(f"a{k}_{j}")
            choose[k, j] = lit
            revenue_terms.append(int(table.base_revenue[k] - opt.g[m]) * lit)
            option = np.full((inst.K, inst.P), -1)
            option[k] = table.choices[m]
            own = routing.parcels_of(inst, option)
            for node, dem in zip(own.node.tolist(), own.demand().tolist(), strict=True):
                node_of.append(int(node))
                demand.append(int(dem))
                owner.append((k, j))
                present.append(lit)
        model.add_exactly_one(choose[k, j] for j in range(len(reps)))
    n = len(demand)
    arcs = {}
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            a, b = owner[i - 1] if i else (-1, -1), owner[j - 1] if j else (-1, -1)
            if a[0] >= 0 and a[0] == b[0] and a[1] != b[1]:
                continue  # two alternatives of one customer are never both present
            arcs[i, j] = model.new_bool_var(f"x{i}_{j}")
    circuit = [(i, j, lit) for (i, j), lit in arcs.items()]
    circuit += [(i, i, present[i - 1].Not()) for i in range(1, n) if present[i - 1] is not None]
    model.add_multiple_circuit(circuit)
    model.add(sum(arcs[0, j] for j in range(1, n) if (0, j) in arcs) <= min(inst.R, n - 1))
    routing.add_loads(model, arcs, demand, round(inst.q * routing.WEIGHT_SCALE))
    nodes = np.array([0, *node_of])
    cost = sum(int(inst.c[nodes[i], nodes[j]]) * lit for (i, j), lit in arcs.items())
    model.maximize(sum(revenue_terms) - 100 * cost)
    solver = routing.cpsat_solver()
    status = solver.solve(model)
    if status != cp_model.OPTIMAL:
        return base, Routes(routing.LIMIT, math.nan, math.nan, ())
    index = base.copy()
    for k, reps in tied:
        index[k] = next(m for j, m in enumerate(reps) if solver.value(choose[k, j]))
    routes = routing.read_routes(solver, arcs, node_of)
    route_cost = float(sum(int(inst.c[nodes[i], nodes[j]]) for (i, j), lit in arcs.items() if solver.value(lit)))
    return index, Routes(routing.OPTIMAL, route_cost, route_cost, routes)
