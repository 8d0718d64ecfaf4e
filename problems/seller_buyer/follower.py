"""The buyer's exact response to the sellers' offers (the follower; the paper's eq. 8).

Offers. Seller j offers a quantity D_j at unit price v_j = R_j (C_s_j + A_s_j / Q_j) (eq. 5-7), where Q_j is
the lot size the buyer orders when it takes the offer. With the EOQ of eq. 8 at q_j = D_j,
Q_j = sqrt(2 A_b D_j / (i v_j)), the price is the positive root of a quadratic in sqrt(v_j)
(:func:`offer_price`): s^2 - b s - R C_s = 0, b = R A_s sqrt(i / (2 A_b D_j)).

The buyer's problem (eq. 8, as the spec reads it). The buyer accepts a set S of offers (ST_new_j in {0,1});
an accepted offer is taken whole, q_j = D_new_j = D_j ST_new_j (eq. 8's last line). Then:

- lot sizes: Q_j = sqrt(2 A_b q_j / (i v_j)) (closed form, eq. 8), so ordering plus holding costs
  A_b q_j/Q_j + i Q_j v_j / 2 = sqrt(2 A_b i v_j q_j), and the cost of offer j is
  ``purchase_cost = v_j q_j + sqrt(2 A_b i v_j q_j)``;
- retail price P and marketing M: the total bought must equal market demand, sum q = K P^-alpha M^beta
  (the spec's constraint). For a total D the buyer's best (P, M) maximises (P - M) D on that demand curve:
  M = (beta/alpha) P and P(D) = (K (beta/alpha)^beta / D)^(1/(alpha-beta)) (:func:`clearing_price`). The
  paper's own closed forms P_j = alpha c_j/(alpha-beta-1), M_j = beta c_j/(alpha-beta-1), c_j = v_j + A_b/Q_j,
  are the optimum of the same problem when the buyer may choose the quantity at a constant unit cost c_j;
  they satisfy the same ratio M/P = beta/alpha and coincide with P(D) at D = K P_j^-alpha M_j^beta. They are
  reported next to P (``P_paper``, ``M_paper``: their quantity-weighted averages, as in eq. 8); with
  all-or-nothing acceptance they cannot be used as the buyer's price because they ignore the demand
  constraint (README.md shows that under them the buyer's profit increases with every seller's price, so
  sellers' best responses would be unbounded);
- profit: pi_b(S) = (P - M) sum q - sum purchase_cost, i.e. revenue(sum_S D) - sum_S purchase_cost.

The discrete part, max over S of pi_b(S), is solved exactly by enumeration of all 2^n subsets (numpy,
n <= :data:`ENUMERATION_MAX_N`) or by CP-SAT on a stated discretisation (quantities in multiples of
``unit``, money scaled by ``scale`` and rounded to integers; :func:`solve_buyer_cpsat`), which the tests
check against the enumeration of the same integer data.

Ties (sets whose buyer profit is within :func:`bilevel_bench.problem.tie_tolerance` of the best) are broken
explicitly: first by the sellers' profit (of the ``focal`` seller if one is named, else of all sellers):
largest when ``optimistic``, smallest when ``pessimistic``; then by accepting lower seller indices first.
With a ``focal`` seller this is the optimistic/pessimistic reading of that seller's own bilevel problem;
without one (``focal=None``) it is one rule the buyer applies whatever the offers are (the sellers' game
uses it for every seller's deviation, ``game.py``).

Infeasibility. The buyer's problem is never infeasible and never unbounded, so
``FollowerResponse.infeasibility`` stays 0: its feasible set is the 2^n accepted sets, never empty (the
empty set is always allowed: ST_new_j <= ST_j in eq. 8 lets the buyer refuse every offer, earning 0), and
every set has a finite profit (finite offers D_j >= Dmin_j > 0 at prices v_j > 0; P, M, Q_j are then
closed forms; with nothing accepted, demand 0 is the limit P -> infinity, profit 0). The only failures
are numerical (an offer outside the leader's box, e.g. D_j <= 0, gives a ``ValueError``, which the core
turns into status ``invalid``; the box violation itself is graded by the problem's ``leader_violation``)
and the CP-SAT path (n > ENUMERATION_MAX_N) stopped by the run's deadline, which returns status ``limit``.
The CP-SAT model is bounded by a deterministic time (``max_deterministic_time``, answers do not depend on
the load) and, inside a run, by :func:`bilevel_bench.limits.solver_seconds`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from functools import cache
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from bilevel_bench import limits
from bilevel_bench.problem import LIMIT, OPTIMAL, FollowerResponse, tie_tolerance
from bilevel_bench.problems.seller_buyer.instance import SellerBuyerInstance

ENUMERATION_MAX_N = 12
CPSAT_UNIT = 0.1  # quantity resolution of the CP-SAT discretisation
CPSAT_SCALE = 1e4  # money resolution: 1e-4


# -- closed forms ------------------------------------------------------------------------------------


def demand(inst: SellerBuyerInstance, P: Any, M: Any) -> Any:
    """Market demand K P^-alpha M^beta (eq. 1)."""
    return inst.K * np.power(P, -inst.alpha) * np.power(M, inst.beta)


def clearing_price(inst: SellerBuyerInstance, total: Any) -> tuple[Any, Any]:
    """The buyer's best (P, M) for selling exactly ``total`` (> 0): max (P - M) s.t. K P^-a M^b = total."""
    ratio = inst.beta / inst.alpha
    P = np.power(inst.K * ratio**inst.beta / np.asarray(total, dtype=float), 1.0 / (inst.alpha - inst.beta))
    return P, ratio * P


def revenue(inst: SellerBuyerInstance, total: Any) -> Any:
    """(P - M) * total at the clearing price; 0 at total 0 (increasing and concave since alpha - beta > 1)."""
    ratio = inst.beta / inst.alpha
    gap = inst.alpha - inst.beta
    scale = (1.0 - ratio) * (inst.K * ratio**inst.beta) ** (1.0 / gap)
    return scale * np.power(np.maximum(np.asarray(total, dtype=float), 0.0), 1.0 - 1.0 / gap)


def lot_size(inst: SellerBuyerInstance, q: Any, v: Any) -> Any:
    """EOQ Q = sqrt(2 A_b q / (i v)) (eq. 8)."""
    return np.sqrt(2.0 * inst.A_b * np.asarray(q, dtype=float) / (inst.i * np.asarray(v, dtype=float)))


def purchase_cost(inst: SellerBuyerInstance, q: Any, v: Any) -> Any:
    """v q + A_b q / Q + i Q v / 2 at the EOQ = v q + sqrt(2 A_b i v q)."""
    q, v = np.asarray(q, dtype=float), np.asarray(v, dtype=float)
    return v * q + np.sqrt(2.0 * inst.A_b * inst.i * v * q)


def paper_prices(inst: SellerBuyerInstance, v: Any, Q: Any) -> tuple[Any, Any]:
    """The paper's per-seller closed forms P_j, M_j = (alpha, beta) (v_j + A_b/Q_j) / (alpha - beta - 1)."""
    c = np.asarray(v, dtype=float) + inst.A_b / np.asarray(Q, dtype=float)
    k = inst.alpha - inst.beta - 1.0
    return inst.alpha * c / k, inst.beta * c / k


def offer_price(inst: SellerBuyerInstance, D: Any, R: Any, sellers: Any = None) -> np.ndarray:
    """v = R (C_s + A_s / Q) with Q the EOQ at q = D and price v (the positive root in sqrt(v))."""
    C, A = _costs(inst, sellers)
    D, R = np.asarray(D, dtype=float), np.asarray(R, dtype=float)
    b = R * A * np.sqrt(inst.i / (2.0 * inst.A_b * D))
    root = (b + np.sqrt(b * b + 4.0 * R * C)) / 2.0
    return np.asarray(root * root)


def markup(inst: SellerBuyerInstance, D: Any, v: Any, sellers: Any = None) -> np.ndarray:
    """R = v / (C_s + A_s / Q(D, v)), the inverse of :func:`offer_price` (increasing in v)."""
    C, A = _costs(inst, sellers)
    return np.asarray(np.asarray(v, dtype=float) / (C + A / lot_size(inst, D, v)))


def seller_profit(inst: SellerBuyerInstance, q: Any, v: Any, sellers: Any = None) -> np.ndarray:
    """Eq. 10 on an accepted quantity q: (v - C_s) q - A_s q / Q with Q the EOQ."""
    C, A = _costs(inst, sellers)
    q, v = np.asarray(q, dtype=float), np.asarray(v, dtype=float)
    return np.asarray((v - C) * q - A * np.sqrt(inst.i * v * q / (2.0 * inst.A_b)))


def _costs(inst: SellerBuyerInstance, sellers: Any) -> tuple[np.ndarray, np.ndarray]:
    if sellers is None:
        return inst.C_s, inst.A_s
    return inst.C_s[sellers], inst.A_s[sellers]


# -- the discrete part -------------------------------------------------------------------------------


@cache
def subset_masks(n: int) -> np.ndarray:
    """All 2^n subsets as a bool matrix; row r accepts seller j iff bit n-1-j of r is set, so a larger row
    index means lower indices accepted first (the last tie-break)."""
    rows = np.arange(2**n, dtype=np.int64)[:, None]
    masks = ((rows >> (n - 1 - np.arange(n))) & 1).astype(bool)
    masks.flags.writeable = False
    return masks


def pick(values: np.ndarray, secondary: np.ndarray, tie_break: str, exact_ties: bool = False) -> int:
    """Index of the best value; ties by ``secondary`` (max if optimistic, min if pessimistic), then the
    largest index (lowest sellers accepted first)."""
    best = values.max()
    tol = 0.0 if exact_ties else tie_tolerance(float(best))
    tied = np.flatnonzero(values >= best - tol)
    sec = secondary[tied] if tie_break == "optimistic" else -secondary[tied]
    sec_tol = 0 if exact_ties else 1e-9 * (1.0 + float(np.abs(sec).max()))
    tied = tied[sec >= sec.max() - sec_tol]
    return int(tied.max())


@dataclasses.dataclass(frozen=True)
class BuyerChoice:
    accepted: np.ndarray  # bool [n]
    value: float  # buyer profit
    method: str
    n_solves: int = 1


def enumerate_buyer(
    inst: SellerBuyerInstance, D: np.ndarray, v: np.ndarray, tie_break: str = "optimistic", focal: int | None = None
) -> BuyerChoice:
    """Exact: every subset of offers (n <= ENUMERATION_MAX_N)."""
    masks = subset_masks(inst.n)
    values = revenue(inst, masks @ D) - masks @ purchase_cost(inst, D, v)
    profits = seller_profit(inst, D, v)
    secondary = masks[:, focal] * profits[focal] if focal is not None else masks @ profits
    row = pick(values, secondary, tie_break)
    return BuyerChoice(masks[row].copy(), float(values[row]), "enumeration")


@dataclasses.dataclass(frozen=True)
class Discretised:
    """The buyer's problem on integer data: quantities d (units of ``unit``), money scaled to integers."""

    d: np.ndarray  # int [n]
    cost: np.ndarray  # int [n]
    profit: np.ndarray  # int [n] sellers' profits (for ties)
    table: np.ndarray  # int [sum d + 1] revenue at each total


def discretise(
    inst: SellerBuyerInstance, D: np.ndarray, v: np.ndarray, unit: float = CPSAT_UNIT, scale: float = CPSAT_SCALE
) -> Discretised:
    d = np.round(np.asarray(D) / unit).astype(np.int64)
    q = d * unit
    table = np.round(scale * revenue(inst, np.arange(int(d.sum()) + 1) * unit)).astype(np.int64)
    return Discretised(
        d,
        np.round(scale * purchase_cost(inst, q, v)).astype(np.int64),
        np.round(scale * seller_profit(inst, q, v)).astype(np.int64),
        table,
    )


def enumerate_discretised(data: Discretised, tie_break: str, focal: int | None = None) -> tuple[np.ndarray, int]:
    """Reference for the CP-SAT model: the same integer problem by enumeration (exact integer ties)."""
    masks = subset_masks(len(data.d))
    values = data.table[masks @ data.d] - masks @ data.cost
    secondary = masks[:, focal] * data.profit[focal] if focal is not None else masks @ data.profit
    row = pick(values, secondary, tie_break, exact_ties=True)
    return masks[row].copy(), int(values[row])


def solve_buyer_cpsat(
    inst: SellerBuyerInstance,
    D: np.ndarray,
    v: np.ndarray,
    tie_break: str = "optimistic",
    focal: int | None = None,
    unit: float = CPSAT_UNIT,
    scale: float = CPSAT_SCALE,
    time_limit: float = 60.0,
) -> tuple[np.ndarray, int, str]:
    """CP-SAT (num_workers = 1) on :func:`discretise`'s integer data, ties as in :func:`pick`, by two more
    lexicographic stages. ``time_limit`` is deterministic time (reproducible under load); inside a run the
    run's deadline caps wall seconds too. Returns (accepted, integer buyer value, status)."""
    data = discretise(inst, D, v, unit, scale)
    n = len(data.d)
    secondary = np.zeros(n, dtype=np.int64)
    if focal is not None:
        secondary[focal] = data.profit[focal]
    else:
        secondary = data.profit
    sign = 1 if tie_break == "optimistic" else -1
    key = [1 << (n - 1 - j) for j in range(n)]
    fixed: list[tuple[int, int]] = []  # (stage, optimal value) of the earlier stages
    accepted = np.zeros(n, dtype=bool)
    value = 0
    for stage in range(3):
        model = cp_model.CpModel()
        x = [model.new_bool_var(f"x{j}") for j in range(n)]
        total = model.new_int_var(0, int(data.d.sum()), "total")
        model.add(total == sum(int(data.d[j]) * x[j] for j in range(n)))
        rev = model.new_int_var(int(data.table.min()), int(data.table.max()), "rev")
        model.add_element(total, [int(t) for t in data.table], rev)
        buyer = rev - sum(int(data.cost[j]) * x[j] for j in range(n))
        sec = sum(int(secondary[j]) * x[j] for j in range(n))
        lexi = sum(key[j] * x[j] for j in range(n))
        objectives = [buyer, sign * sec, lexi]
        for earlier, target in fixed:
            model.add(objectives[earlier] == target)
        model.maximize(objectives[stage])
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.max_deterministic_time = time_limit  # reproducible, unlike wall seconds
        wall = limits.solver_seconds()
        if math.isfinite(wall):
            solver.parameters.max_time_in_seconds = wall
        status = solver.solve(model)
        if status != cp_model.OPTIMAL:
            return accepted, value, solver.status_name(status).lower()
        accepted = np.array([solver.value(xj) for xj in x], dtype=bool)
        if stage == 0:
            value = round(solver.objective_value)
        fixed.append((stage, round(solver.objective_value)))
    return accepted, value, OPTIMAL


def solve_buyer(
    inst: SellerBuyerInstance,
    D: np.ndarray,
    v: np.ndarray,
    tie_break: str = "optimistic",
    focal: int | None = None,
) -> BuyerChoice | None:
    """Exact buyer choice: enumeration for n <= ENUMERATION_MAX_N, CP-SAT on the discretisation beyond.

    None when CP-SAT stopped before proving its answer (the run's deadline or its deterministic limit)."""
    if inst.n <= ENUMERATION_MAX_N:
        return enumerate_buyer(inst, D, v, tie_break, focal)
    accepted, _, status = solve_buyer_cpsat(inst, D, v, tie_break, focal)
    if status != OPTIMAL:
        return None
    value = float(revenue(inst, accepted @ D) - accepted @ purchase_cost(inst, D, v))
    return BuyerChoice(accepted, value, f"cpsat(unit={CPSAT_UNIT:g},scale={CPSAT_SCALE:g})", 3)


# -- the full response -------------------------------------------------------------------------------


def buyer_outcome(inst: SellerBuyerInstance, D: np.ndarray, v: np.ndarray, accepted: np.ndarray) -> dict[str, Any]:
    """Everything the buyer decides and earns for an accepted set, and each seller's profit (eq. 8, 10)."""
    q = np.where(accepted, D, 0.0)
    total = float(q.sum())
    Q = np.where(accepted, lot_size(inst, np.where(accepted, D, 1.0), v), 0.0)
    P, M = clearing_price(inst, total) if total > 0 else (math.nan, math.nan)
    P_j, M_j = paper_prices(inst, v, lot_size(inst, D, v))
    weights = q / total if total > 0 else np.zeros_like(q)
    return {
        "accepted": accepted.astype(bool),
        "q": q,
        "Q": Q,
        "v": np.asarray(v, dtype=float),
        "P": float(P),
        "M": float(M),
        "V": float(weights @ v) if total > 0 else math.nan,
        "total": total,
        "buyer_profit": float(revenue(inst, total) - accepted @ purchase_cost(inst, D, v)),
        "seller_profit": np.where(accepted, seller_profit(inst, D, v), 0.0),
        "P_paper": float(weights @ P_j) if total > 0 else math.nan,
        "M_paper": float(weights @ M_j) if total > 0 else math.nan,
    }


def buyer_response(
    inst: SellerBuyerInstance, D: np.ndarray, R: np.ndarray, tie_break: str = "optimistic", focal: int | None = None
) -> FollowerResponse:
    """The follower's exact response to offers (D, R), as a FollowerResponse (solution arrays + scalars)."""
    start = time.perf_counter()
    D, R = np.asarray(D, dtype=float), np.asarray(R, dtype=float)
    v = offer_price(inst, D, R)
    choice = solve_buyer(inst, D, v, tie_break, focal)
    if choice is None:
        return FollowerResponse(LIMIT, math.nan, {}, 3, time.perf_counter() - start, "cpsat stopped by a limit")
    outcome = buyer_outcome(inst, D, v, choice.accepted)
    solution = {k: np.asarray(val, dtype=float) for k, val in outcome.items()}
    return FollowerResponse(
        OPTIMAL, choice.value, solution, choice.n_solves, time.perf_counter() - start, choice.method
    )
