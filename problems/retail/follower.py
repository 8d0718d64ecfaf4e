"""The customers' delivery choices (the K followers), solved exactly.

Follower k (source eq. 2a-2d; spec ``retail.md``), in integer cents::

    max  f_k = sum_{i in S'_k, p in P_k} (u[k,p] - z_base[p] + z[i,p]) y[i,p]
               - sum_{s in S_k} I[k,s] pi[s] + sum_{p in P_k} h[p] sum_{s in S_k} y[s,p]        (2a)
    s.t. sum_i y[i,p] = 1 (2b);  y[s,p] <= pi[s] (2c);  y[a,p] + y[b,p'] <= 1 for (a,b) in D_k (2d)

with z[home,p] = 0. The leader's revenue from customer k is sum (z_base[p] - z[i,p]) y[i,p].

A **choice** is the vector of options (0 = home, 1+s = store s) of products 0..P-1, products outside the
cart at 0; its index is that vector read as a base-(S+1) number, product 0 most significant. All values
are integers (cents), so the set of optimal choices T_k(z) is exact: no tolerance is involved.

This module finds every customer's optimal **set** T_k(z). Which element of it counts is the tie rule, on
the leader's whole objective (revenue minus routing), in ``ties.py``.

Two exact solvers of T_k(z):

- :func:`optimal_set_cpsat`: CP-SAT (``num_workers = 1``) on one customer, y and pi as in (2a-2d): max
  f_k, then every solution at that value enumerated. The reference.
- :func:`solve_all`: numpy enumeration of every customer's choice set at once (:class:`ChoiceTable`).
  Tests check that the two agree on thousands of random cases with ties.

**Infeasibility.** A customer's program is never infeasible: sending every product home is always a
choice (conflicts need two distinct options, and home is always available), so
``FollowerResponse.infeasibility`` is 0 for this family. What can fail is the retailer's routing of the
chosen parcels (capacity); that is the leader's violation, graded (``problem.py``).
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from ortools.sat.python import cp_model

from bilevel_bench import limits
from bilevel_bench.problems.retail.instance import RetailInstance

INFEASIBLE_VALUE = np.iinfo(np.int64).min // 4  # f_k of a choice outside the choice set


def to_cents(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float) * 100).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class ChoiceTable:
    """Every choice of every customer, with f_k = const[k,m] + g[m] (g = the discounts the choice takes).

    choices [M, P] options per product; takes [M, S, P] choice m picks product p up at store s;
    const [K, M] f_k without discounts (INFEASIBLE_VALUE off the choice set); base_revenue [K] cents;
    takes_flat [M, S*P] ``takes`` as floats, for g = takes_flat @ z (exact: the sums stay far below 2^53).
    """

    choices: np.ndarray
    takes: np.ndarray
    const: np.ndarray
    base_revenue: np.ndarray
    takes_flat: np.ndarray


def choice_table(inst: RetailInstance) -> ChoiceTable:
    S, P = inst.S, inst.P
    choices = np.array(list(itertools.product(range(S + 1), repeat=P)), dtype=np.int64)  # [M, P], lexicographic
    takes = choices[:, None, :] == (np.arange(S) + 1)[None, :, None]  # [M, S, P]
    at_store = choices > 0  # [M, P]
    cart = inst.cart
    # a choice is in customer k's set iff products outside the cart stay at 0 and stores are available
    valid = ~np.any(at_store[None, :, :] & ~cart[:, None, :], axis=2)  # [K, M]
    uses = takes.any(axis=2)  # [M, S] the choice visits store s
    valid &= ~np.any(uses[None, :, :] & ~inst.avail[:, None, :], axis=2)
    home_used = np.any((choices == 0)[None, :, :] & cart[:, None, :], axis=2)  # [K, M] via cart products
    for k, a, b in inst.conflict_rows():
        used = [home_used[k] if o == 0 else uses[:, o - 1] for o in (a, b)]
        valid[k] &= ~(used[0] & used[1])
    margin = to_cents(inst.u) - to_cents(inst.z_base)[None, :]  # [K, P]
    const = (
        np.where(cart, margin, 0).sum(axis=1)[:, None]  # every product is bought
        + (at_store[None, :, :] * np.where(cart, to_cents(inst.h)[None, :], 0)[:, None, :]).sum(axis=2)
        - (uses[None, :, :] * to_cents(inst.I)[:, None, :]).sum(axis=2)
    )
    const = np.where(valid, const, INFEASIBLE_VALUE)
    base_revenue = np.where(cart, to_cents(inst.z_base)[None, :], 0).sum(axis=1)
    takes_flat = takes.reshape(len(choices), S * P).astype(float)
    return ChoiceTable(choices, takes, const.astype(np.int64), base_revenue.astype(np.int64), takes_flat)


@dataclasses.dataclass(frozen=True)
class Optimal:
    """Every customer's optimal set at one z: best [K] f_k in cents, optimal [K, M] the members of T_k(z),
    g [M] the discount each choice takes (cents), index [K] the lowest optimal index."""

    best: np.ndarray
    optimal: np.ndarray
    g: np.ndarray
    index: np.ndarray


def solve_all(table: ChoiceTable, z_cents: np.ndarray) -> Optimal:
    """Every customer's optimal set T_k(z) at discounts ``z_cents`` [S, P], by enumeration."""
    g = np.rint(table.takes_flat @ np.asarray(z_cents, dtype=float).ravel()).astype(np.int64)  # [M]
    value = table.const + g[None, :]
    best = value.max(axis=1)
    optimal = value == best[:, None]
    return Optimal(best, optimal, g, optimal.argmax(axis=1))


# -- the reference: CP-SAT per customer ------------------------------------------------------------------


class _Collector(cp_model.CpSolverSolutionCallback):
    def __init__(self, index: cp_model.LinearExprT) -> None:
        super().__init__()
        self.index_expr = index
        self.found: list[int] = []

    def on_solution_callback(self) -> None:
        self.found.append(int(self.value(self.index_expr)))


def optimal_set_cpsat(inst: RetailInstance, k: int, z_cents: np.ndarray) -> tuple[int, list[int]]:
    """Customer k's optimum f_k (cents) and every optimal choice index, by CP-SAT (an independent model).

    Built without :class:`ChoiceTable`: variables y[i,p] over the options of the cart's products and
    pi[s] per available store; first max f_k, then all solutions with f_k at that value.
    """
    S, P = inst.S, inst.P
    cart = np.flatnonzero(inst.cart[k])
    stores = np.flatnonzero(inst.avail[k])
    options = [0, *(1 + stores)]
    u, zb, h, cost_I = to_cents(inst.u[k]), to_cents(inst.z_base), to_cents(inst.h), to_cents(inst.I[k])
    model = cp_model.CpModel()
    y = {(i, p): model.new_bool_var(f"y{i}_{p}") for i in options for p in cart}
    pi = {s: model.new_bool_var(f"pi{s}") for s in stores}
    for p in cart:
        model.add_exactly_one(y[i, p] for i in options)  # (2b)
    for s in stores:
        picked = [y[1 + s, p] for p in cart]
        for lit in picked:
            model.add_implication(lit, pi[s])  # (2c)
        model.add_bool_or(picked).only_enforce_if(pi[s])  # pi = "visits s" (no effect on f_k when I = 0)
    for kk, a, b in inst.conflict_rows():
        if kk == k and a in options and b in options:
            for p1, p2 in itertools.product(cart, cart):
                model.add_bool_or([y[a, p1].Not(), y[b, p2].Not()])  # (2d)
    discount = {(i, p): int(z_cents[i - 1, p]) if i > 0 else 0 for i in options for p in cart}
    f = sum((int(u[p] - zb[p]) + discount[i, p] + (int(h[p]) if i > 0 else 0)) * y[i, p] for i, p in y) - sum(
        int(cost_I[s]) * pi[s] for s in stores
    )
    index = sum(i * (S + 1) ** (P - 1 - p) * y[i, p] for i, p in y if i > 0)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    seconds = limits.solver_seconds()
    if seconds < float("inf"):
        solver.parameters.max_time_in_seconds = seconds
    model.maximize(f)
    if solver.solve(model) != cp_model.OPTIMAL:
        raise ArithmeticError("CP-SAT follower not solved to optimality")
    best = round(solver.objective_value)
    model.clear_objective()
    model.add(f == best)
    solver.parameters.enumerate_all_solutions = True
    collector = _Collector(index)
    if solver.solve(model, collector) != cp_model.OPTIMAL:
        raise ArithmeticError("CP-SAT enumeration of the optimal choices did not finish")
    return best, sorted(set(collector.found))
