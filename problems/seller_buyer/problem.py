"""The sellers (leaders) against the buyer (follower): the bilevel problems of the family.

:class:`SellerBestResponseProblem` (the family's problem): one seller's best response to the others.
Leader vector x = (D_j, R_j) in [Dmin_j, Dmax_j] x [1, R_max]; the others' offers are fixed by the option
``profile`` (D_1..D_n then R_1..R_n; seller j's own entries are ignored; default :func:`default_start`).
Leader objective (maximise): seller j's profit, eq. 10, on the buyer's exact response (follower.py), ties
broken with j as the focal seller (``optimistic``: in j's favour; ``pessimistic``: against it). Exact
baseline: ``exact.solve_exact`` (certified best response).

Starts for bilevel-aware heuristics (``relaxation_starts``): offers at the buyer's acceptance threshold.
For a fixed quantity D the buyer accepts j exactly when j's price is at most v*(D), the threshold of
``exact.py`` (closed form over the Pareto subsets of the other offers); j's profit grows with its price, so
the best accepted offer at D sits at the threshold, capped at R_max. A uniform box sample of (D, R) mostly
asks too much (offers are accepted only below a mark-up of about 1.9 on the paper's market, out of
[1, 10]) and earns nothing; these starts are accepted and earn the most their quantity allows. The n starts
are offers at n quantities D_k (below), each at the mark-up of min(v*(D_k), v(D_k, R_max)) lowered by a
relative 1e-9 (so that rounding does not put it above the threshold), ordered by that offer's profit, best
first; quantities at which no accepted offer earns anything are left out. The quantities are both ends of the band (a best response often sits at
one) and n - 2 points D_k = Dmin + (k + u) (Dmax - Dmin) / (n - 2), k = 0..n-3, u uniform in [0, 1) from
the seed. Vectorised arithmetic, no follower solve; counted in ``threshold_points``.

:class:`SellerDeviationProblem`: the same decision and objective, but the buyer breaks ties by its one rule
for all sellers (no focal seller: the sellers' total profit, then lowest index), as in the sellers' game
(game.py). Not the family's registered problem: under that rule ``optimistic`` is not "best for j".

:class:`ExploitabilityProblem`: the joint game. Leader vector = all offers (D_1..D_n, R_1..R_n); objective
(minimise): the exploitability of the profile under the buyer's one tie rule ``tie_break`` (exact.py).
Its exact baseline is the iterated best response with exact best responses (``exact.solve_exact_game``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.problem import BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.seller_buyer.follower import buyer_response
from bilevel_bench.problems.seller_buyer.instance import SellerBuyerInstance


def default_start(inst: SellerBuyerInstance) -> np.ndarray:
    """The default starting profile: every seller offers the middle of its band at mark-up min(2, R_max)."""
    return np.concatenate([(inst.Dmin + inst.Dmax) / 2.0, np.full(inst.n, min(2.0, inst.R_max))])


def instance_warnings(inst: SellerBuyerInstance) -> list[str]:
    if not inst.allow_outside_conditions:
        return []
    return [f"instance {inst.name} accepted outside the paper's conditions: {m}" for m in inst.outside_conditions()]


def profile_bounds(inst: SellerBuyerInstance) -> tuple[np.ndarray, np.ndarray]:
    lower = np.concatenate([inst.Dmin, np.ones(inst.n)])
    upper = np.concatenate([inst.Dmax, np.full(inst.n, inst.R_max)])
    return lower, upper


class SellerBestResponseProblem(BilevelProblem):
    family = "seller_buyer"
    sense = "max"
    instance: SellerBuyerInstance
    #: the buyer breaks ties with this seller as the focal one (False: by its one rule for all sellers)
    focal_ties: ClassVar[bool] = True

    def __init__(
        self,
        instance: SellerBuyerInstance,
        tie_break: str = "optimistic",
        seller: int = 0,
        profile: list[float] | None = None,
    ) -> None:
        super().__init__(instance, tie_break)
        n = instance.n
        if not isinstance(seller, int) or not 0 <= seller < n:
            raise InputError("<problem>", "seller", f"must be an integer in 0..{n - 1}, got {seller!r}")
        full = default_start(instance) if profile is None else np.asarray(profile, dtype=float)
        if full.shape != (2 * n,) or not np.isfinite(full).all():
            raise InputError("<problem>", "profile", f"expected {2 * n} finite numbers (D then R), got {profile!r}")
        self.seller = seller
        self.profile = full
        self._given_profile = profile
        self._threshold_points = 0  # quantities priced by relaxation_starts

    def work_counters(self) -> dict[str, float]:
        """Quantities priced at the buyer's acceptance threshold by ``relaxation_starts`` in this process."""
        return {"threshold_points": self._threshold_points}

    def relaxation_starts(self, n: int, seed: int) -> np.ndarray:
        """Offers at the buyer's acceptance threshold, best first (module docstring)."""
        from bilevel_bench.problems.seller_buyer.exact import _Threshold
        from bilevel_bench.problems.seller_buyer.follower import markup, seller_profit

        inst, j = self.instance, self.seller
        if n < 1:
            return np.zeros((0, 2))
        D, R = self.profile[: inst.n], self.profile[inst.n :]
        strict = not (self.focal_ties and self.tie_break == "optimistic")
        threshold = _Threshold(inst, j, D, R, strict)
        u = float(np.random.default_rng(seed).random())
        lo, hi = float(inst.Dmin[j]), float(inst.Dmax[j])
        inner = lo + (np.arange(max(n - 2, 0)) + u) * (hi - lo) / max(n - 2, 1)
        quantities = np.unique(np.concatenate([[lo, hi][:n], inner]))
        v, accepted, _, _ = threshold.best_price(quantities)
        self._threshold_points += len(quantities)
        keep = accepted & (v > 0)
        quantities, v = quantities[keep], v[keep]
        marks = np.clip(markup(inst, quantities, v, j) * (1.0 - 1e-9), 1.0, inst.R_max)
        profit = seller_profit(inst, quantities, v, j)
        useful = profit > 0
        order = np.argsort(-profit[useful], kind="stable")
        return np.column_stack([quantities[useful][order], marks[useful][order]])

    def options(self) -> dict[str, Any]:
        profile = None if self._given_profile is None else [float(p) for p in self._given_profile]
        return {"seller": self.seller, "profile": profile}

    def warnings(self) -> list[str]:
        return instance_warnings(self.instance)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        j, inst = self.seller, self.instance
        return np.array([inst.Dmin[j], 1.0]), np.array([inst.Dmax[j], inst.R_max])

    def full_profile(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, j = self.instance.n, self.seller
        D, R = self.profile[:n].copy(), self.profile[n:].copy()
        D[j], R[j] = float(x[0]), float(x[1])
        return D, R

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        return {"seller": self.seller, "D": float(x[0]), "R": float(x[1])}

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        D, R = self.full_profile(x)
        return buyer_response(self.instance, D, R, self.tie_break, focal=self.seller)

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        return float(response.solution["seller_profit"][self.seller])

    def leader_violation(self, x: np.ndarray, response: FollowerResponse | None) -> float:
        low, high = self.bounds()
        return float(np.sum(np.maximum(low - x, 0.0) + np.maximum(x - high, 0.0)))

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        from bilevel_bench.problems.seller_buyer.exact import solve_exact

        return solve_exact(self, time_limit)


class SellerDeviationProblem(SellerBestResponseProblem):
    """Seller ``seller``'s deviation in the game: the buyer's ties by its one rule (no focal seller)."""

    focal_ties: ClassVar[bool] = False

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        D, R = self.full_profile(x)
        return buyer_response(self.instance, D, R, self.tie_break, focal=None)


class ExploitabilityProblem(BilevelProblem):
    family = "seller_buyer"
    sense = "min"
    instance: SellerBuyerInstance

    def __init__(self, instance: SellerBuyerInstance, tie_break: str = "optimistic", n_grid: int = 101) -> None:
        super().__init__(instance, tie_break)
        if not isinstance(n_grid, int) or n_grid < 3:
            raise InputError("<problem>", "n_grid", f"must be an integer >= 3, got {n_grid!r}")
        self.n_grid = n_grid

    def options(self) -> dict[str, Any]:
        return {"n_grid": self.n_grid}

    def warnings(self) -> list[str]:
        return instance_warnings(self.instance)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return profile_bounds(self.instance)

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = self.instance.n
        return np.asarray(x[:n], dtype=float), np.asarray(x[n:], dtype=float)

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        D, R = self.split(np.asarray(x, dtype=float))
        return {"D": D.round(6).tolist(), "R": R.round(6).tolist()}

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        return buyer_response(self.instance, *self.split(x), self.tie_break)

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        from bilevel_bench.problems.seller_buyer.exact import exploitability

        return exploitability(self.instance, *self.split(x), self.tie_break, self.n_grid).value

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        from bilevel_bench.problems.seller_buyer.exact import solve_exact_game

        return solve_exact_game(self, time_limit)
