"""The sellers' game: iterated best response (the paper's Section 6) and the exploitability of a profile.

One buyer tie rule for the whole game. The buyer of a game is one decision maker: its response to any
profile, the profile played and every seller's deviation alike, breaks ties by ONE rule, ``tie_break``
without a focal seller (follower.py): among buyer-optimal sets (within the tie tolerance) the largest
(``optimistic``) or smallest (``pessimistic``) total profit of the sellers, then lowest seller indices
first. The rule is recorded in every result (``tie_rule``). Each seller's best response is computed under
that rule (exact.py, ``focal=False``); where the buyer would be exactly indifferent the rule need not
favour the deviating seller, so the exact best response asks for a strict preference (a loss of ~1e-6) and
its certified bound covers both sides.

Iterated best response. Start from a profile (``start``: D then R; default ``problem.default_start``).
In each round the sellers are updated one after the other in the round's ``order``: ``"cyclic"``
(0..n-1), ``"reverse"``, ``"random"`` (a fresh permutation per round from ``seed``) or an explicit list.
A seller moves to its best response only if that raises its profit (under the rule) by more than ``tol``.
The procedure stops after a round in which nobody moved, or after ``max_rounds``. The best response is
exact (exact.py) unless the caller passes another one (``best_response_fn``): the experiments layer passes
a pymoo GA over the seller's (D_j, R_j) (:mod:`bilevel_bench.experiments.studies.seller_buyer`), seeded
from (seed, round, seller). This module knows no heuristic.

Every result ends with the final profile's exploitability under the rule: ``gains`` (each seller's exact
best-response value minus its profit at the profile), ``exploitability`` = max(0, max gains), and
``exploitability_bound``, the same from the certified upper bounds of the best responses. The profile is
reported as a Nash equilibrium (``nash``) only when the bound is <= ``tol`` (money units): a proven
``tol``-equilibrium for this buyer. Also reported, with the same rule: ``outcome_gains``, what each
seller earns in the buyer's actual response (follower.py) when it plays its best response against the
profile, minus its profit at the profile (equal to ``gains`` up to the tie band: a check of the threshold
algebra against the follower). For comparison only, ``focal_gains`` keeps the earlier reading in which
each seller's deviation and profit are taken with that seller as the focal one of the tie rule (with
``optimistic``: ties broken in that seller's favour); no single buyer does that for all sellers at once,
so it is not a Nash criterion (on identical sellers it reports 0 where a rejected seller gains the whole
market by undercutting).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bilevel_bench.problems.seller_buyer.exact import N_GRID, best_response, exploitability, profile_profit
from bilevel_bench.problems.seller_buyer.follower import buyer_response
from bilevel_bench.problems.seller_buyer.instance import SellerBuyerInstance
from bilevel_bench.problems.seller_buyer.problem import default_start

TOL = 1e-3  # money units: a move must gain more; Nash means exploitability <= TOL


@dataclasses.dataclass
class GameResult:
    method: str
    tie_rule: str  # the buyer's one tie rule (no focal seller), for the profile and every deviation
    D: np.ndarray
    R: np.ndarray
    v: np.ndarray
    accepted: np.ndarray
    q: np.ndarray
    seller_profit: np.ndarray
    P: float
    M: float
    V: float
    buyer_profit: float
    P_paper: float
    M_paper: float
    rounds: int
    moves: int
    converged: bool  # a full round without a move (iterated best response only)
    exploitability: float  # max(0, max_j gain_j) under the rule
    exploitability_bound: float  # the same from certified upper bounds of the best responses
    gains: np.ndarray  # exact best response - profit at the profile, both under the rule
    gain_bounds: np.ndarray
    certified: bool  # every best response's certificate closed
    nash: bool  # exploitability_bound <= tol
    outcome_gains: np.ndarray  # realised in the buyer's response (same rule) to each best deviation
    focal_gains: np.ndarray  # each seller as the focal one of the tie rule (comparison only)
    tol: float
    orders: list[list[int]] = dataclasses.field(default_factory=list)
    evaluations: int = 0  # GA leader evaluations spent

    def per_seller(self) -> list[dict[str, Any]]:
        """Each seller's offer, accepted quantity, profit and gain by deviating (JSON-ready)."""
        return [
            {
                "seller": j,
                "D": float(self.D[j]),
                "R": float(self.R[j]),
                "v": float(self.v[j]),
                "accepted": bool(self.accepted[j]),
                "q": float(self.q[j]),
                "profit": float(self.seller_profit[j]),
                "gain": float(self.gains[j]),
                "gain_bound": float(self.gain_bounds[j]),
            }
            for j in range(len(self.D))
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "tie_rule": self.tie_rule,
            "rounds": self.rounds,
            "moves": self.moves,
            "converged": self.converged,
            "exploitability": self.exploitability,
            "exploitability_bound": self.exploitability_bound,
            "nash": self.nash,
            "outcome_exploitability": float(max(self.outcome_gains.max(), 0.0)),
            "focal_exploitability": float(max(self.focal_gains.max(), 0.0)),
            "P": self.P,
            "M": self.M,
            "V": self.V,
            "buyer_profit": self.buyer_profit,
            "accepted": int(self.accepted.sum()),
            "total_q": float(self.q.sum()),
        }


def outcome(
    inst: SellerBuyerInstance,
    D: np.ndarray,
    R: np.ndarray,
    method: str,
    tie_break: str = "optimistic",
    tol: float = TOL,
    n_grid: int = N_GRID,
    **extra: Any,
) -> GameResult:
    """The buyer's response to a profile under the one rule ``tie_break``, and the profile's exploitability
    under the same rule (certified), the realised gains, and the focal-seller reading for comparison."""
    D, R = np.asarray(D, dtype=float), np.asarray(R, dtype=float)
    sol = buyer_response(inst, D, R, tie_break).solution
    ex = exploitability(inst, D, R, tie_break, n_grid, certify=True)
    realised = np.empty(inst.n)
    for br in ex.responses:
        D_dev, R_dev = D.copy(), R.copy()
        D_dev[br.seller], R_dev[br.seller] = br.D, br.R
        realised[br.seller] = profile_profit(inst, br.seller, D_dev, R_dev, tie_break)
    focal = exploitability(inst, D, R, tie_break, n_grid, focal=True)
    return GameResult(
        method=method,
        tie_rule=tie_break,
        D=D,
        R=R,
        v=sol["v"],
        accepted=sol["accepted"].astype(bool),
        q=sol["q"],
        seller_profit=sol["seller_profit"],
        P=float(sol["P"]),
        M=float(sol["M"]),
        V=float(sol["V"]),
        buyer_profit=float(sol["buyer_profit"]),
        P_paper=float(sol["P_paper"]),
        M_paper=float(sol["M_paper"]),
        exploitability=ex.value,
        exploitability_bound=ex.bound,
        gains=ex.gains,
        gain_bounds=ex.gain_bounds,
        certified=ex.certified,
        nash=ex.bound <= tol,
        outcome_gains=realised - sol["seller_profit"],
        focal_gains=focal.gains,
        tol=tol,
        **{"rounds": 0, "moves": 0, "converged": False, **extra},
    )


def round_order(n: int, order: str | Sequence[int], rng: np.random.Generator) -> list[int]:
    if isinstance(order, str):
        if order == "cyclic":
            return list(range(n))
        if order == "reverse":
            return list(range(n - 1, -1, -1))
        if order == "random":
            return [int(k) for k in rng.permutation(n)]
        raise ValueError(f"unknown order {order!r} (cyclic, reverse, random or a list)")
    chosen = [int(k) for k in order]
    if sorted(chosen) != list(range(n)):
        raise ValueError(f"order {chosen} is not a permutation of 0..{n - 1}")
    return chosen


#: A seller's best response under the buyer's one rule ``tie_break``:
#: (instance, seller j, D, R, round, tie_break) -> (D_j, R_j, profit, evaluations).
BestResponseFn = Callable[[SellerBuyerInstance, int, np.ndarray, np.ndarray, int, str], tuple[float, float, float, int]]


def exact_best_response(n_grid: int = N_GRID) -> BestResponseFn:
    """Seller j's exact best response under the buyer's one rule (exact.py) as a :data:`BestResponseFn`."""

    def respond(
        inst: SellerBuyerInstance, j: int, D: np.ndarray, R: np.ndarray, rnd: int, tie_break: str
    ) -> tuple[float, float, float, int]:
        br = best_response(inst, j, D, R, tie_break, n_grid, focal=False)
        return br.D, br.R, br.profit, 0

    return respond


def iterated_best_response(
    inst: SellerBuyerInstance,
    start: Sequence[float] | None = None,
    order: str | Sequence[int] = "cyclic",
    seed: int = 0,
    tol: float = TOL,
    max_rounds: int = 50,
    tie_break: str = "optimistic",
    n_grid: int = N_GRID,
    best_response_fn: BestResponseFn | None = None,
    method: str = "exact",
) -> GameResult:
    """The paper's procedure: sellers re-optimise in turn until a round passes with no move.

    ``tie_break`` is the buyer's one rule for the whole game; ``best_response_fn`` (default: exact)
    computes each move; ``method`` names it in the result.
    """
    respond = best_response_fn or exact_best_response(n_grid)
    n = inst.n
    profile = default_start(inst) if start is None else np.asarray(start, dtype=float)
    D, R = profile[:n].copy(), profile[n:].copy()
    rng = np.random.default_rng(seed)
    orders: list[list[int]] = []
    moves = evals = rnd = 0
    converged = False
    for rnd in range(1, max_rounds + 1):
        order_now = round_order(n, order, rng)
        orders.append(order_now)
        moved = False
        for j in order_now:
            current = profile_profit(inst, j, D, R, tie_break)
            new_D, new_R, value, used = respond(inst, j, D, R, rnd, tie_break)
            evals += used
            if value > current + tol:
                D[j], R[j] = new_D, new_R
                moves += 1
                moved = True
        if not moved:
            converged = True
            break
    return outcome(
        inst,
        D,
        R,
        f"iterated best response ({method})",
        tie_break,
        tol,
        n_grid,
        rounds=rnd,
        moves=moves,
        converged=converged,
        orders=orders,
        evaluations=evals,
    )
