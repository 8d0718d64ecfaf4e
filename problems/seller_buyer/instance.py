"""Instances of the seller-buyer pricing game (Shahanaghi & Keyvani Rad 2016; spec ``seller_buyer.md``).

Market data: K, alpha, beta (demand D = K P^-alpha M^beta, eq. 1), i (holding-cost rate), A_b (the buyer's
ordering cost). Seller data, one entry per seller j: Dmin, Dmax (the band of the quantity it can offer),
A_s (setup cost), C_s (unit cost). ``R_max`` bounds the sellers' mark-up R_j (not in the paper, which leaves
R unbounded: it is the box a heuristic searches; results say whether a best response touches it).

Parameter conditions. The paper states alpha >= 1, 0 < beta < 1 and alpha - beta > 2 (Section 4) and assumes
A_s > A_b (Section 3.1, assumption 5). Its own example (alpha = 1.7, beta = 0.15, A_s = A_b = 40) violates
alpha - beta > 2 and A_s > A_b. An instance outside these conditions is refused unless it carries
``allow_outside_conditions = true``; then it is kept exactly as given and every run records a warning
(:meth:`SellerBuyerInstance.outside_conditions`). Conditions without which the model itself has no meaning
are always enforced: alpha - beta > 1 (otherwise the closed forms' denominator alpha - beta - 1 is not
positive and the buyer's revenue does not grow with quantity), positive costs and quantities.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np

from bilevel_bench.instance import Instance, array_field, require

SELLER_KEYS = ("Dmin", "Dmax", "A_s", "C_s")


@dataclasses.dataclass(frozen=True, eq=False)
class SellerBuyerInstance(Instance):
    family: ClassVar[str] = "seller_buyer"

    K: float
    alpha: float
    beta: float
    i: float  # holding-cost rate per unit value and year
    A_b: float  # buyer's ordering cost per order
    Dmin: np.ndarray = array_field()  # [n] least quantity seller j offers
    Dmax: np.ndarray = array_field()  # [n] largest quantity seller j offers
    A_s: np.ndarray = array_field()  # [n] setup cost per lot
    C_s: np.ndarray = array_field()  # [n] unit production cost
    R_max: float = 10.0  # upper bound of every mark-up R_j (ours, see module docstring)
    allow_outside_conditions: bool = False

    @property
    def n(self) -> int:
        return int(self.Dmin.shape[0])

    def size(self) -> dict[str, int]:
        return {"n": self.n}

    def outside_conditions(self) -> list[str]:
        """The paper's parameter conditions this instance violates (empty when it meets them all)."""
        return [message for _, message in self._violations()]

    def _violations(self) -> list[tuple[str, str]]:
        found = []
        if self.alpha < 1:
            found.append(("alpha", f"alpha = {self.alpha:g} < 1 (the paper requires alpha >= 1)"))
        if not 0 < self.beta < 1:
            found.append(("beta", f"beta = {self.beta:g} outside (0, 1) (the paper requires 0 < beta < 1)"))
        if self.alpha - self.beta <= 2:
            found.append(
                (
                    "alpha",
                    f"alpha - beta = {self.alpha - self.beta:g} <= 2 (the paper requires alpha - beta > 2; its lot-size "
                    "bound Q >= A_b/v (alpha-beta-2)/2 is then vacuous)",
                )
            )
        if self.Dmin.size and bool(np.any(self.A_s <= self.A_b)):
            found.append(("A_s", f"A_s <= A_b = {self.A_b:g} for some seller (the paper assumes A_s > A_b)"))
        return found

    def validate(self, source: str = "<instance>") -> None:
        super().validate(source)
        n = self.Dmin.shape[0] if self.Dmin.ndim == 1 else 0
        require(self.Dmin.ndim == 1 and n >= 1, source, "Dmin", f"expected a non-empty vector, got {self.Dmin.shape}")
        for key in SELLER_KEYS:
            value = getattr(self, key)
            require(value.shape == (n,), source, key, f"expected shape [{n}], got {list(value.shape)}")
        for key in ("K", "i", "A_b"):
            require(getattr(self, key) > 0, source, key, f"must be positive, got {getattr(self, key)}")
        require(self.beta > 0, source, "beta", f"must be positive (M^beta), got {self.beta}")
        require(
            self.alpha - self.beta > 1,
            source,
            "alpha",
            f"alpha - beta = {self.alpha - self.beta:g} must exceed 1 (closed forms divide by alpha - beta - 1)",
        )
        require(bool(np.all(self.Dmin > 0)), source, "Dmin", "must be positive")
        require(bool(np.all(self.Dmax >= self.Dmin)), source, "Dmax", "must be >= Dmin for every seller")
        require(bool(np.all(self.C_s > 0)), source, "C_s", "must be positive")
        require(bool(np.all(self.A_s >= 0)), source, "A_s", "must be non-negative")
        require(self.R_max >= 1, source, "R_max", f"must be >= 1, got {self.R_max}")
        # The seller's profit (eq. 10) must grow with its price at every accepted offer, which makes its
        # best response the buyer's acceptance threshold (follower.py); this holds when
        # 2 sqrt(C_s Dmin) > A_s sqrt(i / (2 A_b)).
        slope_ok = 2 * np.sqrt(self.C_s * self.Dmin) > self.A_s * math.sqrt(self.i / (2 * self.A_b))
        require(
            bool(np.all(slope_ok)),
            source,
            "A_s",
            "setup cost too large for Dmin: profit would not increase with price (2 sqrt(C_s Dmin) <= A_s sqrt(i/2A_b))",
        )
        violated = self._violations()
        if violated and not self.allow_outside_conditions:
            key, message = violated[0]
            require(False, source, key, f"{message}; set allow_outside_conditions = true to run it anyway (warned)")


# -- the paper's example -------------------------------------------------------------------------------


def paper_instance(alpha: float = 1.7, beta: float = 0.15) -> SellerBuyerInstance:
    """Section 7.1: K = 3500, beta = 0.15, alpha = 1.7, i = 10 %, A_b = 40, ten sellers as in Table 1.

    Kept as published, with ``allow_outside_conditions = true`` because alpha - beta = 1.55 <= 2 and
    A_s = A_b. ``alpha`` and ``beta`` are parameters for the sensitivity tables 4 and 5.
    """
    n = 10
    name = "paper" if (alpha, beta) == (1.7, 0.15) else f"paper-a{alpha:g}-b{beta:g}"
    instance = SellerBuyerInstance(
        name=name,
        seed=None,
        K=3500.0,
        alpha=float(alpha),
        beta=float(beta),
        i=0.10,
        A_b=40.0,
        Dmin=np.full(n, 25.0),
        Dmax=np.full(n, 100.0),
        A_s=np.full(n, 40.0),
        C_s=np.full(n, 1.5),
        allow_outside_conditions=True,
    )
    instance.validate(name)
    return instance


# -- the generator -------------------------------------------------------------------------------------


def generate(
    n: int,
    seed: int,
    alpha: float = 2.5,
    beta: float = 0.2,
    K: float | None = None,
    allow_outside_conditions: int = 0,
) -> SellerBuyerInstance:
    """Heterogeneous sellers: Dmin ~ U[10, 30], Dmax = Dmin + U[30, 80], A_s ~ U[A_b + 5, 80], C_s ~ U[1, 2.5].

    ``K`` defaults to 1800 n, which makes the market at a cost-plus retail price absorb roughly half the
    sellers' total capacity (so sellers compete for the buyer). ``allow_outside_conditions`` (0/1) admits
    alpha and beta outside the paper's conditions, with a warning.
    """
    src = "generate"
    require(isinstance(n, int) and 1 <= n <= 40, src, "n", f"must be an integer in 1..40, got {n!r}")
    require(isinstance(seed, int) and seed >= 0, src, "seed", f"must be a non-negative integer, got {seed!r}")
    for key, value in (("alpha", alpha), ("beta", beta)):
        require(isinstance(value, int | float) and math.isfinite(value), src, key, f"must be a number, got {value!r}")
    require(K is None or (isinstance(K, int | float) and K > 0), src, "K", f"must be positive, got {K!r}")
    require(allow_outside_conditions in (0, 1, True, False), src, "allow_outside_conditions", "must be 0 or 1")
    rng = np.random.default_rng(seed)
    A_b = 30.0
    Dmin = rng.uniform(10, 30, n).round(1)
    instance = SellerBuyerInstance(
        name=f"gen-n{n}-s{seed}" + ("" if (alpha, beta) == (2.5, 0.2) else f"-a{alpha:g}-b{beta:g}"),
        seed=seed,
        K=float(K) if K is not None else 1800.0 * n,
        alpha=float(alpha),
        beta=float(beta),
        i=0.10,
        A_b=A_b,
        Dmin=Dmin,
        Dmax=(Dmin + rng.uniform(30, 80, n)).round(1),
        A_s=rng.uniform(A_b + 5, 80, n).round(1),
        C_s=rng.uniform(1.0, 2.5, n).round(2),
        allow_outside_conditions=bool(allow_outside_conditions),
    )
    instance.validate(f"generate:n={n},seed={seed},alpha={alpha},beta={beta}")
    return instance
