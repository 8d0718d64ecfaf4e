"""Procurement instances: n suppliers with private discrete cost types, Hotelling (HM) or affine (LDM) demand.

Source: ``procurement_mechanism_hm_ldm.md`` (the Julia code base HM.jl, LDM.jl, utilities.jl), restated in
the spec ``procurement.md``. Both demand models are one consumers' problem (the follower)::

    min_x  p @ x + 1/2 x' Q x + q @ x + k     s.t.  sum_i x_i = 1 (inelastic only),  x >= 0     (consumers)

whose KKT conditions are the source's ``p + Q x + q - u + v 1 = 0, x . u = 0, u >= 0`` (inelastic) and the
same rows without the multiplier v tied across the profile (elastic, ``elastic = true``):

- **HM** (HM.jl objective): suppliers at sorted locations l in [0, 1]; the consumers' cost is prices plus
  the transport cost T(x) = delta/2 sum_i [(l_i - S_{i-1})^2 + (S_i - l_i)^2], S_i = x_1 + ... + x_i.
  With two suppliers at 0 and 1 and sum x = 1 this is delta/2 (x_1^2 + x_2^2), so Q = delta I on the
  simplex and the KKT rows are the source's ``p_i + delta x_i - u_i + v = 0``. Elastic HM keeps the general
  T(x) (the reduced form holds only where sum x = 1; dropping v from the reduced rows would leave no demand
  at any positive price). This extension is ours: T(x) anchors the served segment at 0, so elastic
  Hotelling demand is asymmetric, and it is positive only where prices are below the marginal saving in
  T, -(Qx + q)_i (at x = 0: delta (l_i + 2 sum_{j>i} l_j)), i.e. for delta of the order of the costs.
- **LDM** (LDM.jl): affine demand x = a - R p with R = diag(r) - gamma (J - I) inverted as a quadratic
  utility U(x) = c @ x - 1/2 x' D x, D = R^-1, c = D a; the KKT rows are the source's
  ``p - c + D x - u + v = 0``. For two suppliers it gives the spec's ``demandLM`` formula exactly. With
  elastic demand the answer is a - R p where that is >= 0 (else the QP's solution on the non-negative
  orthant); R must be positive definite (strict concavity of U; the validation says so, naming the
  elastic reading when it is on). Elastic demand needs intercepts above R times the prices near the costs:
  see ``ldm_elastic_example`` and the generator.

Instance switches (JSON keys, generator parameters; both default false):

- ``expost_ir``: IR holds ex post, t_i(theta) - theta_i x_i(theta) >= 0 for every profile, on top of the
  interim IR/IC rows (``mechanism.py``; ex-post IR implies interim IR, so "on top of" and "instead of" are
  the same feasible set);
- ``elastic``: the market's demands need not sum to one (the row sum_i x_i = 1 and its multiplier v go).

The buyer's expected cost (the leader minimises it) is E_theta[sum_i t_i + 1/2 x'Qx + q@x + k] with
t = x . p: minus the source's objective E[U(x) - sum t].

JSON keys (the instance schema): ``model`` ("hm" | "ldm"), ``types`` [m], ``marginals`` [n, m], ``locations``
[n] (HM; [] for LDM), ``a`` [n] and ``r`` [n] (LDM; [] for HM), ``delta``, ``gamma``, ``price_cap`` (number or
null), ``expost_ir`` (bool, default false), ``elastic`` (bool, default false), plus ``name``, ``seed``,
``family``, ``format_version``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, ClassVar

import numpy as np

from bilevel_bench.instance import Instance, array_field, require

MODELS = ("hm", "ldm")


@dataclasses.dataclass(frozen=True, eq=False)
class ProcurementInstance(Instance):
    family: ClassVar[str] = "procurement"

    model: str  # "hm" or "ldm"
    types: np.ndarray = array_field()  # [m] sorted cost types theta^1 < ... < theta^m
    marginals: np.ndarray = array_field()  # [n, m] f_i(theta^k), rows sum to 1
    locations: np.ndarray = array_field()  # [n] HM: sorted locations in [0, 1] (LDM: unused, may be empty)
    a: np.ndarray = array_field()  # [n] LDM intercepts (HM: unused, may be empty)
    r: np.ndarray = array_field()  # [n] LDM own slopes
    delta: float = 2.0  # HM transport cost per unit distance
    gamma: float = 0.0  # LDM cross effect
    price_cap: float | None = None  # leader's price bound; None: derived (see `price_bound`)
    expost_ir: bool = False  # IR for every profile, on top of interim IR
    elastic: bool = False  # demands need not sum to one

    # -- sizes and type profiles ------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.marginals.shape[0])

    @property
    def m(self) -> int:
        return len(self.types)

    def size(self) -> dict[str, int]:
        return {"n": self.n, "m": self.m, "profiles": self.m**self.n}

    def profiles(self) -> np.ndarray:
        """Type indices of every profile, [m^n, n], in the source's lexicographic order."""
        return np.array(list(itertools.product(range(self.m), repeat=self.n)), dtype=int).reshape(-1, self.n)

    def profile_probabilities(self) -> np.ndarray:
        """f(theta) = prod_i f_i(theta_i) per profile."""
        K = self.profiles()
        return np.asarray(np.prod(self.marginals[np.arange(self.n)[None, :], K], axis=1))

    def profile_costs(self) -> np.ndarray:
        """theta_i per profile and supplier, [m^n, n]."""
        return np.asarray(self.types[self.profiles()])

    def variant(self) -> str:
        """ "interim" or the switches that are on, joined by "+" (for tables)."""
        on = [name for name in ("expost_ir", "elastic") if getattr(self, name)]
        return "+".join(on) or "interim"

    # -- virtual costs (utilities.jl: virtualcost, checkvcincreasing) ---------------------------------------
    def virtual_costs(self) -> np.ndarray:
        """phi_i(theta^k) = theta^k + F_i(theta^{k-1}) / f_i(theta^k) (theta^k - theta^{k-1}); phi(theta^1) = theta^1."""
        F_before = np.cumsum(self.marginals, axis=1) - self.marginals
        gaps = np.diff(self.types, prepend=self.types[0])
        return np.asarray(self.types[None, :] + F_before / self.marginals * gaps[None, :])

    def virtual_costs_increasing(self) -> bool:
        return bool(np.all(np.diff(self.virtual_costs(), axis=1) > 0))

    # -- the consumers' quadratic ------------------------------------------------------------------------
    def slope_matrix(self) -> np.ndarray:
        """LDM: R = diag(r) - gamma (J - I), demand x = a - R p where positive."""
        n = self.n
        return np.asarray(np.diag(self.r) - self.gamma * (np.ones((n, n)) - np.eye(n)))

    def quadratic(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(Q, q, k) of the consumers' cost 1/2 x'Qx + q@x + k beyond the prices (see the module docstring)."""
        n = self.n
        if self.model == "hm":
            L = np.tril(np.ones((n, n)))  # S = L x
            L_before = L - np.eye(n)  # S_{i-1} = L_before x
            Q = self.delta * (L_before.T @ L_before + L.T @ L)
            q = -self.delta * (L_before.T + L.T) @ self.locations
            return Q, q, float(self.delta * self.locations @ self.locations)
        D = np.linalg.inv(self.slope_matrix())
        return D, -(D @ self.a), 0.0

    def demand_norm_bound(self) -> float:
        """An upper bound on ||x|| for the market's answer to any prices p >= 0.

        Inelastic: 1 (the simplex). Elastic: x = 0 is feasible, so p@x + 1/2 x'Qx + q@x <= 0 at the answer;
        with p@x >= 0 and q@x >= -||min(q, 0)|| ||x|| this gives ||x|| <= 2 ||min(q, 0)|| / lambda_min(Q).
        """
        if not self.elastic:
            return 1.0
        Q, q, _ = self.quadratic()
        return float(2.0 * np.linalg.norm(np.minimum(q, 0.0)) / np.linalg.eigvalsh(Q).min())

    def price_bound(self) -> float:
        """The leader's price cap: ``price_cap`` or 2 x (largest virtual cost + spread of the marginal consumer cost).

        A modelling choice (the source's prices are unbounded above). It does not cut off the optimum where
        the closed form is attained: the tests find prices within it reaching the Myerson lower bound.
        Elastic: also at least the highest price at which any supplier can still sell, max_i -(Qx + q)_i
        over the demands a market can answer with (-q_i where Q >= 0 elementwise, as in HM and in LDM with
        gamma >= 0), so that every supplier can be priced out and every allocation's prices fit.
        """
        if self.price_cap is not None:
            return float(self.price_cap)
        Q, q, _ = self.quadratic()
        spread = float(np.max(Q + q[:, None]) - np.min(Q + q[:, None]))
        cap = 2.0 * (float(self.virtual_costs().max()) + spread)
        if self.elastic:
            reach = -q + np.maximum(-Q, 0.0).sum(axis=1) * self.demand_norm_bound()
            cap = max(cap, float(reach.max()))
        return cap

    # -- validation ----------------------------------------------------------------------------------------
    def validate(self, source: str = "<instance>") -> None:
        super().validate(source)
        require(self.model in MODELS, source, "model", f"{self.model!r} is not one of {MODELS}")
        for switch in ("expost_ir", "elastic"):
            value = getattr(self, switch)
            require(isinstance(value, bool), source, switch, f"expected bool (true/false), got {value!r}")
        require(self.types.ndim == 1 and len(self.types) >= 1, source, "types", "must be a non-empty list")
        require(
            bool(np.all(np.diff(self.types) > 0)),
            source,
            "types",
            f"must be strictly increasing, got {self.types.tolist()}",
        )
        require(bool(np.all(self.types >= 0)), source, "types", "costs must be non-negative")
        m = len(self.types)
        require(
            self.marginals.ndim == 2 and self.marginals.shape[1] == m,
            source,
            "marginals",
            f"must be [n, {m}] (one row per supplier), got shape {list(self.marginals.shape)}",
        )
        n = self.marginals.shape[0]
        require(1 <= n <= 6 and m**n <= 4096, source, "marginals", f"{n} suppliers x {m} types: too many profiles")
        require(bool(np.all(self.marginals > 0)), source, "marginals", "every probability must be positive")
        worst = float(np.max(np.abs(self.marginals.sum(axis=1) - 1.0)))
        require(worst <= 1e-9, source, "marginals", f"rows must sum to 1 (off by {worst:.3g})")
        if self.model == "hm":
            self._validate_hm(source, n)
        else:
            self._validate_ldm(source, n)
        if self.price_cap is not None:
            require(self.price_cap > 0, source, "price_cap", f"must be positive, got {self.price_cap!r}")

    def _validate_hm(self, source: str, n: int) -> None:
        require(
            self.locations.shape == (n,), source, "locations", f"must hold {n} values, got {self.locations.tolist()}"
        )
        require(bool(np.all((self.locations >= 0) & (self.locations <= 1))), source, "locations", "must lie in [0, 1]")
        require(bool(np.all(np.diff(self.locations) >= 0)), source, "locations", "must be sorted")
        require(self.delta > 0, source, "delta", f"must be positive, got {self.delta!r}")

    def _validate_ldm(self, source: str, n: int) -> None:
        require(self.a.shape == (n,), source, "a", f"must hold {n} values, got {self.a.tolist()}")
        require(self.r.shape == (n,), source, "r", f"must hold {n} values, got {self.r.tolist()}")
        require(bool(np.all(self.r > 0)), source, "r", "slopes must be positive")
        smallest = float(np.linalg.eigvalsh(self.slope_matrix()).min())
        reading = "with elastic demand " if self.elastic else ""
        require(
            smallest > 1e-9,
            source,
            "gamma",
            f"{self.gamma!r} {reading}makes the demand matrix R = diag(r) - gamma (J - I) not positive definite "
            f"(smallest eigenvalue {smallest:.3g})",
        )


def hm_example() -> ProcurementInstance:
    """examples.jl, HM: two suppliers at 0 and 1, delta = 2, types {10, 12}, marginals (0.5, 0.5)."""
    return ProcurementInstance(
        name="hm_example",
        seed=None,
        model="hm",
        types=np.array([10.0, 12.0]),
        marginals=np.full((2, 2), 0.5),
        locations=np.array([0.0, 1.0]),
        delta=2.0,
        a=np.zeros(0),
        r=np.zeros(0),
    )


def ldm_example() -> ProcurementInstance:
    """examples.jl, LDM: the same types, a = (0.25, 0.5), r = (1, 1.1), gamma = 0.5."""
    return ProcurementInstance(
        name="ldm_example",
        seed=None,
        model="ldm",
        types=np.array([10.0, 12.0]),
        marginals=np.full((2, 2), 0.5),
        locations=np.zeros(0),
        a=np.array([0.25, 0.5]),
        r=np.array([1.0, 1.1]),
        gamma=0.5,
    )


#: Elastic LDM instances anchor their intercepts at prices theta^m + ELASTIC_HEADROOM: a = a_0 + R p_ref 1.
ELASTIC_HEADROOM = 2.0


def elastic_reference_price(inst: ProcurementInstance) -> float:
    """p_ref = theta^m + ELASTIC_HEADROOM, the prices at which an elastic LDM instance's demand is its a_0."""
    return float(inst.types[-1]) + ELASTIC_HEADROOM


def ldm_elastic_example() -> ProcurementInstance:
    """``ldm_example`` with elastic demand, its intercepts shifted by R (14, 14): the demand at prices
    p_ref = 14 is the example's (0.25, 0.5), and (1.25, 1.7) at prices 12. Ours, not the source's: the example's
    own intercepts buy nothing at prices near the costs 10 and 12; the shift leaves inelastic demands unchanged."""
    base = ldm_example()
    a = base.a + base.slope_matrix() @ np.full(2, elastic_reference_price(base))
    return base.replace(name="ldm_elastic_example", a=a.round(12), elastic=True)


def with_switches(inst: ProcurementInstance, expost_ir: bool, elastic: bool) -> ProcurementInstance:
    """``inst`` with the switches set. Turning ``elastic`` on (off) for an LDM instance also shifts its
    intercepts by +R p_ref 1 (-R p_ref 1), p_ref = :func:`elastic_reference_price`, as the generator does, so
    that ``generate(..., elastic=True)`` is ``with_switches(generate(...), ., True)`` and ``ldm_elastic_example``
    is ``ldm_example`` made elastic; inelastic demands do not change under the shift."""
    a = inst.a
    if inst.model == "ldm" and elastic != inst.elastic:
        shift = inst.slope_matrix() @ np.full(inst.n, elastic_reference_price(inst))
        a = (a + shift if elastic else a - shift).round(9)
    out = inst.replace(a=a, expost_ir=bool(expost_ir), elastic=bool(elastic))
    out.validate(inst.name or "<instance>")
    return out


def with_gamma(inst: ProcurementInstance, gamma: float) -> ProcurementInstance:
    """An LDM instance with cross effect ``gamma``. Elastic: the intercepts move with R so that the demand at
    prices p_ref (:func:`elastic_reference_price`) stays the same (a sweep over gamma then changes the
    substitution, not the market's size); inelastic demands do not depend on that shift."""
    a = inst.a
    if inst.elastic:
        moved = inst.replace(gamma=float(gamma))
        a = (a + (moved.slope_matrix() - inst.slope_matrix()) @ np.full(inst.n, elastic_reference_price(inst))).round(9)
    out = inst.replace(gamma=float(gamma), a=a)
    out.validate(inst.name or "<instance>")
    return out


def _switch(value: Any, key: str) -> bool:
    """A boolean generator parameter: true/false, or 1/0 and "true"/"false" as a generate: spec spells them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    require(False, "generate", key, f"must be a boolean (true/false or 1/0), got {value!r}")
    return False


def generate(
    model: str = "hm",
    n: int = 2,
    m: int = 2,
    seed: int = 0,
    delta: float = 2.0,
    gamma: float = 0.5,
    expost_ir: bool | int | str = False,
    elastic: bool | int | str = False,
) -> ProcurementInstance:
    """n suppliers, m types: random sorted types in [8, 14], Dirichlet marginals, HM locations spread over
    [0, 1] (ends included), or LDM intercepts a_0 in [0.1, 0.6] and slopes in [1, 1.5] (gamma below 1/(n-1)).

    Marginals are redrawn (up to 100 times) until the virtual costs increase, the source's standing
    assumption; an instance where they do not is still valid data and can be written by hand.

    ``expost_ir`` and ``elastic`` set the instance switches (same random draws, so the four variants of a seed
    share types, marginals and slopes). Elastic LDM instances get intercepts a = a_0 + R (theta^m + 2) 1: the
    demand at prices theta^m + 2 is a_0 > 0 (inelastic demands do not change under such a shift, but elastic
    ones would be zero at every price near the costs with a_0 alone). Elastic HM instances are drawn as the
    inelastic ones: their demand is positive only for delta of the order of the costs (see the module docstring).
    """
    require(model in MODELS, "generate", "model", f"{model!r} is not one of {MODELS}")
    require(isinstance(n, int) and 1 <= n <= 4, "generate", "n", f"must be an integer in 1..4, got {n!r}")
    require(isinstance(m, int) and 1 <= m <= 4, "generate", "m", f"must be an integer in 1..4, got {m!r}")
    require(isinstance(seed, int) and seed >= 0, "generate", "seed", f"must be a non-negative integer, got {seed!r}")
    require(
        isinstance(delta, (int, float)) and math.isfinite(delta) and delta > 0,
        "generate",
        "delta",
        f"must be positive, got {delta!r}",
    )
    require(
        isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma >= 0,
        "generate",
        "gamma",
        f"must be non-negative, got {gamma!r}",
    )
    # slopes r >= 1, so gamma (n - 1) < 1 keeps R = diag(r) - gamma (J - I) positive definite (Gershgorin)
    require(
        model != "ldm" or gamma * (n - 1) < 1.0,
        "generate",
        "gamma",
        f"must be below 1/(n-1) = {1.0 / max(n - 1, 1):.3g} for n = {n} suppliers, got {gamma!r}",
    )
    expost, elastic_on = _switch(expost_ir, "expost_ir"), _switch(elastic, "elastic")
    rng = np.random.default_rng(seed)
    types = np.sort(rng.choice(np.arange(8.0, 14.5, 0.5), size=m, replace=False))
    marginals = rng.dirichlet(np.full(m, 2.0), size=n)
    for _ in range(100):
        candidate = ProcurementInstance(
            name="",
            seed=seed,
            model=model,
            types=types,
            marginals=marginals,
            locations=np.zeros(0),
            a=np.zeros(0),
            r=np.zeros(0),
        )
        if candidate.virtual_costs_increasing():
            break
        marginals = rng.dirichlet(np.full(m, 2.0), size=n)
    marginals = marginals.round(4)
    marginals[:, -1] = 1.0 - marginals[:, :-1].sum(axis=1)
    extra: dict[str, Any] = {
        "locations": np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5]),
        "delta": float(delta),
        "a": np.zeros(0),
        "r": np.zeros(0),
    }
    if model == "ldm":
        a0, r = rng.uniform(0.1, 0.6, n).round(3), rng.uniform(1.0, 1.5, n).round(3)
        a = a0
        if elastic_on:
            R = np.diag(r) - gamma * (np.ones((n, n)) - np.eye(n))
            a = (a0 + R @ np.full(n, float(types[-1]) + ELASTIC_HEADROOM)).round(9)
        extra = {"locations": np.zeros(0), "a": a, "r": r, "gamma": float(gamma)}
    suffix = "".join(f"-{name}" for name, on in (("expost", expost), ("elastic", elastic_on)) if on)
    instance = ProcurementInstance(
        name=f"gen-{model}-n{n}-m{m}-s{seed}{suffix}",
        seed=seed,
        model=model,
        types=types,
        marginals=marginals,
        expost_ir=expost,
        elastic=elastic_on,
        **extra,
    )
    instance.validate("generate")
    return instance
