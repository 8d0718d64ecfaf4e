"""Instances of the production-and-advertising family (Bard 1998, ch. 11; spec ``inventory.md``).

Indices: products j = 0..n-1, periods t = 0..T-1, resources i = 0..q-1. Arrays indexed ``[j, t]`` are
flattened row-major (``j * T + t``) wherever a vector is needed.

The demand set D(v) is stored as linear rows ``Dd @ d >= d0 + Dv @ v`` (d and v flattened). A "<=" row of
the source is stored negated. The warehouse-space constraint of period t is
``sum_j B[j] I[j,t] <= Ibar[t] + Mspace * y[t]``; ``Mspace = None`` stands for an unbounded extension (the
seed code leaves the constraint out, which is the same when y = 1).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from bilevel_bench.instance import Instance, array_field, require
from bilevel_bench.problem import OPTIMAL

if TYPE_CHECKING:
    from bilevel_bench.lp import LinearProgram

SETUP_MODES = ("fixed", "decision")


@dataclasses.dataclass(frozen=True, eq=False)
class InventoryInstance(Instance):
    family: ClassVar[str] = "inventory"

    p: np.ndarray = array_field()  # [n, T] price the customer pays
    c: np.ndarray = array_field()  # [n, T] production cost
    h: np.ndarray = array_field()  # [n, T] holding cost (paid by the manufacturer)
    s: np.ndarray = array_field()  # [n, T] subcontracting cost (paid by the manufacturer)
    f: np.ndarray = array_field()  # [n, T] setup cost
    r: np.ndarray = array_field()  # [T] warehouse rent
    y: np.ndarray = array_field()  # [T] rented extension (0/1 data)
    B: np.ndarray = array_field()  # [n] space per unit held
    Ibar: np.ndarray = array_field()  # [T] own warehouse space
    a: np.ndarray = array_field()  # [q, n, T] resource use per unit produced
    b: np.ndarray = array_field()  # [q, T] resource capacity
    Dd: np.ndarray = array_field()  # [m, n*T] demand-set rows on d
    Dv: np.ndarray = array_field()  # [m, n*T] demand-set rows on v
    d0: np.ndarray = array_field()  # [m] demand-set constants
    vmax: np.ndarray = array_field()  # [n, T] advertising bound (see `advertising_bound`)
    setup: str = "fixed"
    Mspace: float | None = None
    inventory_cap: float | None = None  # optional bound on every I[j,t] (makes pessimism meaningful)
    subcontract_cap: float | None = None  # optional bound on every S[j,t]

    @property
    def n(self) -> int:
        return self.p.shape[0]

    @property
    def T(self) -> int:
        return self.p.shape[1]

    @property
    def q(self) -> int:
        return self.a.shape[0]

    def size(self) -> dict[str, int]:
        return {"n": self.n, "T": self.T, "q": self.q}

    def space_capacity(self) -> np.ndarray:
        """Right-hand side of the space constraint per period (inf where unbounded)."""
        extension = np.inf if self.Mspace is None else self.Mspace
        return self.Ibar + np.where(self.y > 0, extension, 0.0)

    def production_bound(self) -> np.ndarray:
        """xmax[j,t] = min over resources i that product j uses of b[i,t] / a[i,j,t]."""
        with np.errstate(divide="ignore"):
            ratio = np.where(self.a > 0, self.b[:, None, :] / np.where(self.a > 0, self.a, 1.0), np.inf)
        return ratio.min(axis=0)

    def validate(self, source: str = "<instance>") -> None:
        super().validate(source)
        n, T = self.p.shape if self.p.ndim == 2 else (0, 0)
        require(self.p.ndim == 2 and n >= 1 and T >= 1, source, "p", f"expected shape [n, T], got {self.p.shape}")
        for key in ("c", "h", "s", "f", "vmax"):
            _shape(self, key, (n, T), source)
        for key in ("r", "y", "Ibar"):
            _shape(self, key, (T,), source)
        _shape(self, "B", (n,), source)
        require(
            self.a.ndim == 3 and self.a.shape[1:] == (n, T),
            source,
            "a",
            f"expected [q, {n}, {T}], got {self.a.shape}",
        )
        _shape(self, "b", (self.a.shape[0], T), source)
        m = self.d0.shape[0] if self.d0.ndim == 1 else -1
        require(m >= 0, source, "d0", f"expected a vector, got shape {self.d0.shape}")
        _shape(self, "Dd", (m, n * T), source)
        _shape(self, "Dv", (m, n * T), source)
        require(self.setup in SETUP_MODES, source, "setup", f"{self.setup!r} is not one of {SETUP_MODES}")
        require(bool(np.all(self.p > 0)), source, "p", "prices must be positive")
        require(bool(np.all(self.s > 0)), source, "s", "subcontracting costs must be positive")
        for key in ("c", "h", "f", "r", "B", "a", "b", "vmax"):
            value = getattr(self, key)
            require(bool(np.all(value >= 0)), source, key, f"must be non-negative, found {value.min():g}")
        require(bool(np.all(self.Ibar > 0)), source, "Ibar", "warehouse space must be positive")
        require(bool(np.all(np.isin(self.y, (0.0, 1.0)))), source, "y", "must be 0 or 1")
        require(
            bool(np.all(np.isfinite(self.production_bound()))),
            source,
            "a",
            "every product must use some resource in every period (production would be unbounded)",
        )
        for key in ("Mspace", "inventory_cap", "subcontract_cap"):
            value = getattr(self, key)
            require(value is None or value >= 0, source, key, f"must be non-negative, got {value}")
        self._check_follower_feasible(source)

    def _check_follower_feasible(self, source: str) -> None:
        """The demand set must be non-empty at v = vmax, and some leader decision must leave the customer a
        feasible plan: caps that make the follower infeasible for every decision are refused."""
        from bilevel_bench.problems.inventory.follower import demand_floor_cost  # avoids an import cycle

        vmax_demand = demand_floor_cost(self, self.vmax)
        require(
            np.isfinite(vmax_demand),
            source,
            "Dd",
            "the demand set D(v) is empty or unbounded below at v = vmax (no demand the customer can buy)",
        )
        if self.inventory_cap is None and self.subcontract_cap is None:
            return  # unlimited subcontracting covers any demand, buying absorbs any production
        if some_follower_feasible(self):
            return
        caps = {"inventory_cap": self.inventory_cap, "subcontract_cap": self.subcontract_cap}
        given = [key for key, value in caps.items() if value is not None]
        blamed = [key for key in given if some_follower_feasible(_without(self, key))]
        key = blamed[0] if blamed else given[-1]
        others = [f"{other} = {caps[other]}" for other in given if other != key]
        with_others = f" (with {', '.join(others)})" if others else ""
        require(
            False,
            source,
            key,
            f"{caps[key]}{with_others} makes the follower infeasible for every leader decision: demand cannot be "
            "met by production, storage and subcontracting within the caps",
        )


def _without(inst: InventoryInstance, cap: str) -> InventoryInstance:
    if cap == "inventory_cap":
        return dataclasses.replace(inst, inventory_cap=None)
    return dataclasses.replace(inst, subcontract_cap=None)


def some_follower_feasible(inst: InventoryInstance) -> bool:
    """Whether some leader decision (x, v) in its box, within the resources, has a feasible follower: one LP
    over (x, v, d, I, S) jointly."""
    from bilevel_bench.lp import solve_lp  # avoids an import cycle

    return solve_lp(joint_lp(inst)).status == OPTIMAL


def joint_lp(inst: InventoryInstance, objective: np.ndarray | None = None) -> LinearProgram:
    """The leader's and the follower's constraints together, over (x, v, d, I, S) flattened: every feasible
    point is a leader decision (x, v) with a feasible follower plan (d, I, S). Zero objective by default."""
    from bilevel_bench.lp import LinearProgram  # avoids an import cycle
    from bilevel_bench.problems.inventory.follower import follower_lp

    n, T = inst.n, inst.T
    nT = n * T
    lp = follower_lp(inst, np.zeros((n, T)), np.zeros((n, T)))
    n_space = len(lp.b_ub) - len(inst.d0)
    resources = np.zeros((inst.q * T, nT))
    for i in range(inst.q):
        for t in range(T):
            resources[i * T + t, np.arange(n) * T + t] = inst.a[i, :, t]
    v_part = np.zeros((len(lp.b_ub), nT))
    v_part[n_space:] = inst.Dv  # -Dd d <= -(d0 + Dv v)  as  -Dd d + Dv v <= -d0
    b_ub = lp.b_ub.copy()
    b_ub[n_space:] = -inst.d0
    return LinearProgram(
        c=np.zeros(5 * nT) if objective is None else objective,
        A_ub=np.vstack(
            [
                np.hstack([resources, np.zeros((len(resources), 4 * nT))]),
                np.hstack([np.zeros((len(lp.b_ub), nT)), v_part, lp.A_ub]),
            ]
        ),
        b_ub=np.concatenate([inst.b.ravel(), b_ub]),
        A_eq=np.hstack([-np.eye(nT), np.zeros((nT, nT)), lp.A_eq]),  # balance: A_eq y = x
        b_eq=np.zeros(nT),
        lb=np.zeros(5 * nT),
        ub=np.concatenate([inst.production_bound().ravel(), inst.vmax.ravel(), lp.ub]),
    )


def _shape(instance: InventoryInstance, key: str, shape: tuple[int, ...], source: str) -> None:
    value = getattr(instance, key)
    require(value.shape == shape, source, key, f"expected shape {list(shape)}, got {list(value.shape)}")


# -- the seed instance -------------------------------------------------------------------------------


def seed_instance() -> InventoryInstance:
    """The seed instance of the spec (n = 2, T = 4, q = 6), as published.

    Product 2's holding costs equal the setup costs (4300, 3200, 3000, 3000). That looks like a copy error
    in the source data; it is kept as published. Setup is ``fixed`` (z = 1 is data in the seed code), and
    ``Mspace = None`` (the seed code leaves the space constraint out; with y = 1 that is the same).
    ``vmax`` is not in the source: see :func:`advertising_bound`.
    """
    n, T = 2, 4
    a = np.zeros((6, n, T))
    a[0, 0, :] = 3
    a[1, 1, :] = 2
    for t in range(T):
        a[2 + t, 0, t], a[2 + t, 1, t] = 2, 3
    b = np.array([[2750.0] * T, [2000.0] * T] + [[2700.0] * T] * 4)
    rows_d, rows_v, consts = [], [], []

    def row(d_terms: dict[tuple[int, int], float], v_terms: dict[tuple[int, int], float], const: float) -> None:
        rd, rv = np.zeros(n * T), np.zeros(n * T)
        for (j, t), coef in d_terms.items():
            rd[j * T + t] = coef
        for (j, t), coef in v_terms.items():
            rv[j * T + t] = coef
        rows_d.append(rd)
        rows_v.append(rv)
        consts.append(const)

    for j in range(n):  # sum_t d[j,t] >= 100
        row({(j, t): 1.0 for t in range(T)}, {}, 100.0)
    # ratio rows "alpha d[t] - beta d[t+1] <= 0" stored as "-alpha d[t] + beta d[t+1] >= 0"
    for j, ratios in ((0, [(2, 3), (1, 2), (3, 4)]), (1, [(1, 2), (1, 4), (3, 5)])):
        for t, (alpha, beta) in enumerate(ratios):
            row({(j, t): -alpha, (j, t + 1): beta}, {}, 0.0)
    carry: dict[int, list[list[float]]] = {  # 100 d[j,t] >= sum_{tau <= t} e[j,t,tau] v[j,tau]
        0: [[5], [3, 3.5], [1.5, 2, 3.25], [0.5, 1, 1.75, 3.7]],
        1: [[8], [2, 4], [1.5, 2, 3.1], [0.5, 1, 1.9, 3.9]],
    }
    for j, table in carry.items():
        for t, coefs in enumerate(table):
            row({(j, t): 100.0}, {(j, tau): e for tau, e in enumerate(coefs)}, 0.0)
    Dd, Dv, d0 = np.array(rows_d), np.array(rows_v), np.array(consts)
    base = InventoryInstance(
        name="seed",
        seed=None,
        p=np.array([[75, 115, 160, 90], [50, 75, 100, 60]], dtype=float),
        c=np.array([[25, 25, 25, 25], [80, 110, 140, 95]], dtype=float),
        h=np.array([[25, 25, 25, 25], [4300, 3200, 3000, 3000]], dtype=float),
        s=np.array([[80, 110, 140, 95], [110, 170, 140, 95]], dtype=float),
        f=np.array([[4300, 3200, 3000, 3000]] * 2, dtype=float),
        r=np.full(T, 3000.0),
        y=np.ones(T),
        B=np.array([1.0, 1.5]),
        Ibar=np.full(T, 225.0),
        a=a,
        b=b,
        Dd=Dd,
        Dv=Dv,
        d0=d0,
        vmax=np.zeros((n, T)),
        setup="fixed",
    )
    return dataclasses.replace(base, vmax=advertising_bound(base))


def advertising_bound(instance: InventoryInstance, factor: float = 2.0) -> np.ndarray:
    """A default vmax[j,t]: the advertising level that alone forces, in its own period, ``factor`` times the
    production capacity of product j over the whole horizon.

    Past that level every extra unit of forced demand must be subcontracted; the bound is a modelling
    choice, and the tests check on the seed that the exact optimum does not touch it and does not change
    when it is doubled.
    """
    n, T = instance.n, instance.T
    capacity = instance.production_bound().sum(axis=1)  # [n]
    vmax = np.zeros((n, T))
    for j in range(n):
        for t in range(T):
            k = j * T + t
            own = [
                instance.Dv[i, k] / instance.Dd[i, k]
                for i in range(len(instance.d0))
                if instance.Dd[i, k] > 0 and instance.Dv[i, k] > 0
            ]
            vmax[j, t] = factor * capacity[j] / max(own) if own else 0.0
    return vmax


# -- the generator -----------------------------------------------------------------------------------


def generate(
    n: int,
    T: int,
    q: int,
    seed: int,
    setup: str = "fixed",
    inventory_cap: float | None = None,
    subcontract_cap: float | None = None,
) -> InventoryInstance:
    """A random instance with the seed's structure and orders of magnitude.

    Demand set per product: a cumulative floor, ratios between consecutive periods, and advertising that
    carries over with decaying coefficients. Resources: one per product (all periods), then shared period
    resources; every product uses at least one resource in every period. Without caps, subcontracting is
    unbounded, so the follower is feasible for every leader decision (in particular x = 0, v = 0). The
    optional caps on every I[j,t] and S[j,t] (the setting where the pessimistic reading is bounded) are
    applied after the draw, so the random data do not depend on them; then the follower may be infeasible
    for some decisions, and caps that leave it infeasible for every decision are refused.
    """
    require(isinstance(n, int) and 1 <= n <= 50, "generate", "n", f"must be an integer in 1..50, got {n!r}")
    require(isinstance(T, int) and 1 <= T <= 52, "generate", "T", f"must be an integer in 1..52, got {T!r}")
    require(isinstance(q, int) and 1 <= q <= 200, "generate", "q", f"must be an integer in 1..200, got {q!r}")
    require(
        isinstance(seed, int) and seed >= 0,
        "generate",
        "seed",
        f"must be a non-negative integer, got {seed!r}",
    )
    require(setup in SETUP_MODES, "generate", "setup", f"{setup!r} is not one of {SETUP_MODES}")
    for key, cap in (("inventory_cap", inventory_cap), ("subcontract_cap", subcontract_cap)):
        require(
            cap is None or (isinstance(cap, int | float) and not isinstance(cap, bool) and 0 <= cap < math.inf),
            "generate",
            key,
            f"must be a non-negative number, got {cap!r}",
        )
    rng = np.random.default_rng(seed)
    p = rng.uniform(50, 160, (n, T)).round()
    c = (p * rng.uniform(0.3, 0.9, (n, T))).round()
    s = (p * rng.uniform(0.9, 1.4, (n, T))).round()
    h = rng.uniform(5, 40, (n, T)).round()
    f = rng.uniform(2000, 4500, (n, T)).round(-2)
    a, b = _resources(rng, n, T, q)
    Dd, Dv, d0 = _demand_rows(rng, n, T)
    base = InventoryInstance(
        name=f"gen-n{n}-T{T}-q{q}-s{seed}"
        + (f"-I{inventory_cap}" if inventory_cap is not None else "")
        + (f"-S{subcontract_cap}" if subcontract_cap is not None else ""),
        seed=seed,
        p=p,
        c=c,
        h=h,
        s=s,
        f=f,
        r=np.full(T, 3000.0),
        y=np.ones(T),
        B=rng.uniform(1.0, 2.0, n).round(1),
        Ibar=np.full(T, 225.0),
        a=a,
        b=b,
        Dd=Dd,
        Dv=Dv,
        d0=d0,
        vmax=np.zeros((n, T)),
        setup=setup,
    )
    instance = dataclasses.replace(
        base,
        vmax=advertising_bound(base),
        inventory_cap=None if inventory_cap is None else float(inventory_cap),
        subcontract_cap=None if subcontract_cap is None else float(subcontract_cap),
    )
    caps = {"inventory_cap": inventory_cap, "subcontract_cap": subcontract_cap}
    label = "".join(f",{key}={cap}" for key, cap in caps.items() if cap is not None)
    instance.validate(f"generate:n={n},T={T},q={q},seed={seed}{label}")
    return instance


def _resources(rng: np.random.Generator, n: int, T: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.zeros((q, n, T))
    b = np.zeros((q, T))
    for i in range(q):
        if i < n:  # a product's own resource, every period
            a[i, i, :] = rng.integers(1, 4)
            b[i, :] = rng.uniform(1500, 3000)
        else:  # a shared resource in one period
            t = (i - n) % T
            a[i, :, t] = rng.integers(1, 4, n)
            b[i, t] = rng.uniform(2000, 3500)
    # products without an own resource (q < n) share the last one in every period
    for j in range(q, n):
        a[q - 1, j, :] = rng.integers(1, 4)
        b[q - 1, :] = np.maximum(b[q - 1, :], rng.uniform(1500, 3000))
    return a, b.round()


def _demand_rows(rng: np.random.Generator, n: int, T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows_d: list[np.ndarray] = []
    rows_v: list[np.ndarray] = []
    consts: list[float] = []

    def add(rd: np.ndarray, rv: np.ndarray, const: float) -> None:
        rows_d.append(rd)
        rows_v.append(rv)
        consts.append(const)

    for j in range(n):
        rd = np.zeros(n * T)
        rd[j * T : (j + 1) * T] = 1.0
        add(rd, np.zeros(n * T), float(rng.integers(50, 150)))
        for t in range(T - 1):  # alpha d[t] <= beta d[t+1], a ratio in [1/4, 1]
            alpha, beta = rng.integers(1, 4), rng.integers(2, 6)
            rd = np.zeros(n * T)
            rd[j * T + t], rd[j * T + t + 1] = -alpha, beta
            add(rd, np.zeros(n * T), 0.0)
        for t in range(T):  # 100 d[t] >= sum_{tau <= t} e[t,tau] v[tau], decaying with t - tau
            rd, rv = np.zeros(n * T), np.zeros(n * T)
            rd[j * T + t] = 100.0
            own = rng.uniform(3.0, 8.0)
            for tau in range(t + 1):
                rv[j * T + tau] = round(own * 0.5 ** (t - tau), 2)
            add(rd, rv, 0.0)
    return np.array(rows_d), np.array(rows_v), np.array(consts)
