"""The customers' delivery choices (the K followers), solved exactly, with explicit tie-breaking.

Follower k (source eq. 2a-2d; spec ``retail.md``), in integer cents::

    max  f_k = sum_{i in S'_k, p in P_k} (u[k,p] - z_base[p] + z[i,p]) y[i,p]
               - sum_{s in S_k} I[k,s] pi[s] + sum_{p in P_k} h[p] sum_{s in S_k} y[s,p]        (2a)
    s.t. sum_i y[i,p] = 1 (2b);  y[s,p] <= pi[s] (2c);  y[a,p] + y[b,p'] <= 1 for (a,b) in D_k (2d)

with z[home,p] = 0. The leader's revenue from customer k is sum (z_base[p] - z[i,p]) y[i,p].

Tie rule (exact: all values are integers in cents). Among the choices with the largest f_k:
``optimistic`` takes the largest revenue, ``pessimistic`` the smallest; then the lowest choice index. A
choice is the vector of options (0 = home, 1+s = store s) of products 0..P-1, products outside the cart
at 0, and its index is that vector read as a base-(S+1) number, product 0 most significant.

Two exact solvers:

- :func:`solve_cpsat_customer`: CP-SAT (``num_workers = 1``) on one customer, three lexicographic stages
  (max f_k; then revenue at f_k fixed; then the lowest index at both fixed). The reference.
- :func:`solve_all`: numpy enumeration of every customer's choice set at once (:class:`ChoiceTable`),
  the tie rule applied by masks. Tests check that the two agree on >= 10,000 random cases with ties.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np
from ortools.sat.python import cp_model

from bilevel_bench.problem import OPTIMAL, FollowerResponse
from bilevel_bench.problems.retail.instance import RetailInstance

INFEASIBLE_VALUE = np.iinfo(np.int64).min // 4  # f_k of a choice outside the choice set


def to_cents(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float) * 100).astype(np.int64)


@dataclasses.dataclass(frozen=True)
class ChoiceTable:
    """Every choice of every customer, with f_k = const[k,m] + g[m] (g = the discounts the choice takes).

    choices [M, P] options per product; takes [M, S, P] choice m picks product p up at store s;
    const [K, M] f_k without discounts (INFEASIBLE_VALUE off the choice set); base_revenue [K] cents.
    """

    choices: np.ndarray
    takes: np.ndarray
    const: np.ndarray
    base_revenue: np.ndarray


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
    const = (np.where(cart, margin, 0).sum(axis=1)[:, None]  # every product is bought
             + (at_store[None, :, :] * np.where(cart, to_cents(inst.h)[None, :], 0)[:, None, :]).sum(axis=2)
             - (uses[None, :, :] * to_cents(inst.I)[:, None, :]).sum(axis=2))
    const = np.where(valid, const, INFEASIBLE_VALUE)
    base_revenue = np.where(cart, to_cents(inst.z_base)[None, :], 0).sum(axis=1)
    return ChoiceTable(choices, takes, const.astype(np.int64), base_revenue.astype(np.int64))


@dataclasses.dataclass(frozen=True)
class Choices:
    """The followers' response: option [K, P], follower value and leader revenue per customer (cents)."""

    index: np.ndarray  # [K]
    option: np.ndarray  # [K, P] 0 = home, 1+s = store s (0 outside the cart)
    value: np.ndarray  # [K] f_k in cents
    revenue: np.ndarray  # [K] cents


def solve_all(table: ChoiceTable, z_cents: np.ndarray, tie_break: str) -> Choices:
    """Every customer's exact response to discounts ``z_cents`` [S, P] by enumeration, tie rule applied."""
    g = np.einsum("msp,sp->m", table.takes, z_cents)  # [M] discount the choice takes
    value = table.const + g[None, :]
    best = value.max(axis=1, keepdims=True)
    optimal = value == best
    # optimistic: least discount given away (largest revenue); pessimistic: most
    sign = 1 if tie_break == "optimistic" else -1
    second = np.where(optimal, sign * g[None, :], np.iinfo(np.int64).max)
    chosen = optimal & (second == second.min(axis=1, keepdims=True))
    index = chosen.argmax(axis=1)  # first True: the lowest index
    return Choices(index, table.choices[index], best[:, 0], table.base_revenue - g[index])


def follower_response(inst: RetailInstance, table: ChoiceTable, z_cents: np.ndarray, tie_break: str) -> FollowerResponse:
    start = time.perf_counter()
    result = solve_all(table, z_cents, tie_break)
    return FollowerResponse(
        OPTIMAL,
        float(result.value.sum()) / 100.0,
        {"option": result.option, "value_cents": result.value, "revenue_cents": result.revenue},
        inst.K,
        time.perf_counter() - start,
    )


# -- the reference: CP-SAT per customer ------------------------------------------------------------------


def solve_cpsat_customer(inst: RetailInstance, k: int, z_cents: np.ndarray, tie_break: str) -> tuple[int, np.ndarray, int, int]:
    """Customer k's exact choice by CP-SAT: (index, option [P], f_k in cents, revenue in cents).

    Built independently of :class:`ChoiceTable`: variables y[i,p] over the options of the cart's products.
    """
    S, P = inst.S, inst.P
    cart = np.flatnonzero(inst.cart[k])
    stores = np.flatnonzero(inst.avail[k])
    options = [0, *(1 + stores)]
    u, zb, h, cost_I = to_cents(inst.u[k]), to_cents(inst.z_base), to_cents(inst.h), to_cents(inst.I[k])
    model = cp_model.CpModel()
    y = {(i, p): model.NewBoolVar(f"y{i}_{p}") for i in options for p in cart}
    pi = {s: model.NewBoolVar(f"pi{s}") for s in stores}
    for p in cart:
        model.AddExactlyOne(y[i, p] for i in options)  # (2b)
    for s in stores:
        picked = [y[1 + s, p] for p in cart]
        for lit in picked:
            model.AddImplication(lit, pi[s])  # (2c)
        model.AddBoolOr(picked).OnlyEnforceIf(pi[s])  # pi = "visits s" (no effect on f_k when I = 0)
    for kk, a, b in inst.conflict_rows():
        if kk == k and a in options and b in options:
            for p1, p2 in itertools.product(cart, cart):
                model.AddBoolOr([y[a, p1].Not(), y[b, p2].Not()])  # (2d)
    discount = {(i, p): int(z_cents[i - 1, p]) if i > 0 else 0 for i in options for p in cart}
    f = (sum((int(u[p] - zb[p]) + discount[i, p] + (int(h[p]) if i > 0 else 0)) * y[i, p] for i, p in y)
         - sum(int(cost_I[s]) * pi[s] for s in stores))
    revenue = sum((int(zb[p]) - discount[i, p]) * y[i, p] for i, p in y)
    index = sum(i * (S + 1) ** (P - 1 - p) * y[i, p] for i, p in y if i > 0)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    model.Maximize(f)
    f_best = _solve_value(solver, model, f)
    model.Add(f == f_best)
    model.Maximize(revenue) if tie_break == "optimistic" else model.Minimize(revenue)
    rev_best = _solve_value(solver, model, revenue)
    model.Add(revenue == rev_best)
    model.Minimize(index)
    idx = _solve_value(solver, model, index)
    option = np.zeros(P, dtype=np.int64)
    for (i, p), var in y.items():
        if solver.Value(var):
            option[p] = i
    return idx, option, f_best, rev_best


def _solve_value(solver: cp_model.CpSolver, model: cp_model.CpModel, expr) -> int:
    status = solver.Solve(model)
    if status != cp_model.OPTIMAL:
        raise ArithmeticError(f"CP-SAT follower status {solver.StatusName(status)}")
    return int(solver.Value(expr))


def solve_all_cpsat(inst: RetailInstance, z_cents: np.ndarray, tie_break: str) -> Choices:
    """Every customer by CP-SAT, one model per customer (3 solves each)."""
    rows = [solve_cpsat_customer(inst, k, z_cents, tie_break) for k in range(inst.K)]
    return Choices(
        np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]), np.array([r[3] for r in rows]),
    )
