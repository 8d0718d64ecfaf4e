"""Instances of the retail delivery-discount family (spec ``retail.md``, source ``retail_delivery_discounts.md``).

Indices: customers k = 0..K-1, stores s = 0..S-1, products p = 0..P-1. Routing nodes: 0 is the depot,
1..K the homes, K+1..K+S the stores; ``c`` is the [1+K+S, 1+K+S] matrix of integer travel costs.

A customer's delivery **option** is 0 for home and 1+s for store s. A choice of customer k gives every
product of its cart one option; products outside the cart are recorded as option 0 and carry nothing.

Money (u, I, h, z_base, zmax) is on the cent grid, and the leader's discounts are priced in whole cents
(see ``problem.py``), so every follower value is an exact integer number of cents and ties are exact.

Two choices of this implementation, stated because the source leaves them open:

- item weights are per customer and product, ``w[k,p]`` (the source's w[p] is the special case of equal
  rows), so that a CVRPLIB customer's demand can be split into the weights of its cart's items;
- a customer's items for one location form one parcel, delivered by one vehicle (the CVRP rule, which the
  published optima 247 and 375 assume). Parcels of different customers at one store may ride on different
  vehicles. Splitting a customer's items over locations only splits parcels, so if the all-home CVRP is
  feasible (checked here by first-fit decreasing bin packing), every follower response can be routed.

Conflicts D (``conflicts``, rows ``(k, a, b)``): customer k may not use options a and b together.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import ClassVar

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.instance import Instance, array_field, require

#: Most options a customer's choice set may have ((S+1)^P); the vectorised follower enumerates them all.
MAX_CHOICES = 4096
#: Size and magnitude limits, checked before any solver sees the data (larger values are refused with one
#: line naming the key, instead of an overflow or an allocation failure inside OR-Tools).
MAX_NODES = 2000  # routing nodes 1 + K + S (a CVRPLIB file's DIMENSION + S); the largest CVRPLIB X file has 1001
MAX_VEHICLES = 10_000
MAX_QUANTITY = 1e9  # capacity and item weights
MAX_COST = 10**9  # one travel cost
MAX_MONEY = 1e7  # prices, utilities, inconvenience, convenience (currency units; cents stay far below 2^53)
DATA_DIR = Path(__file__).parent / "data"
CVRPLIB_DIR = DATA_DIR / "cvrplib"


@dataclasses.dataclass(frozen=True, eq=False)
class RetailInstance(Instance):
    family: ClassVar[str] = "retail"

    q: float  # vehicle capacity (weight)
    R: int  # vehicles
    c: np.ndarray = array_field(dtype=int)  # [1+K+S, 1+K+S] travel cost (depot, homes, stores)
    cart: np.ndarray = array_field(dtype=bool)  # [K, P] product p in customer k's cart
    avail: np.ndarray = array_field(dtype=bool)  # [K, S] store s available to customer k
    u: np.ndarray = array_field()  # [K, P] utility
    I: np.ndarray = array_field()  # [K, S] inconvenience of visiting the store
    w: np.ndarray = array_field()  # [K, P] item weight (0 outside the cart)
    h: np.ndarray = array_field()  # [P] intrinsic pick-up convenience (either sign)
    z_base: np.ndarray = array_field()  # [P] market price
    zmax: np.ndarray = array_field()  # [P] largest discount (<= z_base: the price floor)
    conflicts: np.ndarray = array_field(dtype=int)  # [n, 3] rows (k, a, b): options a, b exclusive
    best_known_routing: float | None = None  # published all-home CVRP optimum (CVRPLIB instances)

    def __post_init__(self) -> None:
        # JSON stores "no conflicts" as [], which reads back with shape (0,): keep the [0, 3] shape
        if np.asarray(self.conflicts).size == 0:
            object.__setattr__(self, "conflicts", np.zeros((0, 3), dtype=np.int64))

    @property
    def K(self) -> int:
        return self.cart.shape[0]

    @property
    def P(self) -> int:
        return self.cart.shape[1]

    @property
    def S(self) -> int:
        return self.avail.shape[1]

    def size(self) -> dict[str, int]:
        return {"K": self.K, "S": self.S, "P": self.P, "R": self.R}

    def conflict_rows(self) -> np.ndarray:
        return np.asarray(self.conflicts, dtype=np.int64).reshape(-1, 3)

    def node_of(self, k: int, option: int) -> int:
        """Routing node of customer k's option (0 = home, 1+s = store s)."""
        return 1 + k if option == 0 else 1 + self.K + option - 1

    # -- validation ---------------------------------------------------------------------------------
    def validate(self, source: str = "<instance>") -> None:
        super().validate(source)
        require(
            self.cart.ndim == 2 and self.cart.shape[0] >= 1,
            source,
            "cart",
            f"expected [K, P], got {list(self.cart.shape)}",
        )
        K, P = self.cart.shape
        require(P >= 1, source, "cart", "needs at least one product")
        require(
            self.avail.ndim == 2 and self.avail.shape[0] == K,
            source,
            "avail",
            f"expected [{K}, S], got {list(self.avail.shape)}",
        )
        S = self.avail.shape[1]
        N = 1 + K + S
        require(
            N <= MAX_NODES, source, "cart", f"{K} customers and {S} stores make {N} routing nodes; at most {MAX_NODES}"
        )
        for key, shape in (
            ("u", (K, P)),
            ("w", (K, P)),
            ("I", (K, S)),
            ("h", (P,)),
            ("z_base", (P,)),
            ("zmax", (P,)),
            ("c", (N, N)),
        ):
            value = getattr(self, key)
            require(value.shape == shape, source, key, f"expected shape {list(shape)}, got {list(value.shape)}")
        require((S + 1) ** P <= MAX_CHOICES, source, "cart", f"(S+1)^P = {(S + 1) ** P} choices exceeds {MAX_CHOICES}")
        empty = np.flatnonzero(~self.cart.any(axis=1))
        require(
            len(empty) == 0,
            source,
            "cart",
            f"customer {empty[0] if len(empty) else -1} has an empty cart: nothing to deliver, no delivery option",
        )
        for key in ("u", "I", "h", "z_base", "zmax"):
            value = getattr(self, key)
            cents = np.round(value * 100)
            bad = np.argwhere(np.abs(value * 100 - cents) > 1e-6)
            require(
                len(bad) == 0, source, key, f"value {value[tuple(bad[0])] if len(bad) else 0} is not in whole cents"
            )
        require(
            bool(np.all(self.c >= 0)) and bool(np.all(np.diag(self.c) == 0)),
            source,
            "c",
            "costs must be >= 0 with a zero diagonal",
        )
        require(int(self.c.max()) <= MAX_COST, source, "c", f"cost {int(self.c.max())} exceeds {MAX_COST}")
        for key in ("u", "I", "h", "z_base"):
            big = float(np.abs(getattr(self, key)).max(initial=0.0))
            require(big <= MAX_MONEY, source, key, f"value {big:g} exceeds {MAX_MONEY:g} (currency units)")
        require(0 < self.q <= MAX_QUANTITY, source, "q", f"capacity must be in (0, {MAX_QUANTITY:g}], got {self.q:g}")
        require(
            float(self.w.max(initial=0.0)) <= MAX_QUANTITY,
            source,
            "w",
            f"weight {self.w.max():g} exceeds {MAX_QUANTITY:g}",
        )
        require(bool(np.all(self.I >= 0)), source, "I", f"inconvenience must be >= 0, found {self.I.min():g}")
        require(
            bool(np.all(self.zmax >= 0)) and bool(np.all(self.zmax <= self.z_base)),
            source,
            "zmax",
            f"need 0 <= zmax <= z_base, got zmax {self.zmax.tolist()} z_base {self.z_base.tolist()}",
        )
        bad_w = np.argwhere(self.cart & (self.w <= 0))
        require(
            len(bad_w) == 0,
            source,
            "w",
            f"item {bad_w[0].tolist() if len(bad_w) else ''} in a cart needs a positive weight",
        )
        require(bool(np.all(self.w[~self.cart] == 0)), source, "w", "weights outside the cart must be 0")
        require(1 <= self.R <= MAX_VEHICLES, source, "R", f"must be in 1..{MAX_VEHICLES} vehicles, got {self.R}")
        parcels = self.w.sum(axis=1)
        require(
            float(parcels.max()) <= self.q,
            source,
            "q",
            f"capacity {self.q:g} is below customer {int(parcels.argmax())}'s load {parcels.max():g}",
        )
        require(
            first_fit_decreasing(parcels, self.q) <= self.R,
            source,
            "R",
            f"{self.R} vehicles of capacity {self.q:g} cannot carry every home parcel (first-fit decreasing)",
        )
        self._validate_conflicts(source)

    def _validate_conflicts(self, source: str) -> None:
        rows = self.conflict_rows()
        if len(rows) == 0:
            return
        k, a, b = rows.T
        require(
            bool(np.all((k >= 0) & (k < self.K))),
            source,
            "conflicts",
            f"customer index out of range in {rows.tolist()}",
        )
        ok = (a >= 0) & (a <= self.S) & (b >= 0) & (b <= self.S) & (a != b)
        require(
            bool(ok.all()),
            source,
            "conflicts",
            f"options must be distinct and in 0..{self.S}: {rows[~ok][0].tolist() if not ok.all() else ''}",
        )


def first_fit_decreasing(loads: np.ndarray, capacity: float) -> int:
    """Bins of ``capacity`` that first-fit decreasing uses for ``loads`` (an upper bound on the optimum)."""
    bins: list[float] = []
    for load in sorted(np.asarray(loads, dtype=float), reverse=True):
        for i, used in enumerate(bins):
            if used + load <= capacity + 1e-9:
                bins[i] = used + load
                break
        else:
            bins.append(float(load))
    return len(bins)


# -- the economics shared by both builders ------------------------------------------------------------


def _cents(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float), 2)


def _economics(rng: np.random.Generator, K: int, S: int, P: int, home_store: np.ndarray, scale: float) -> dict:
    """Prices of the order of ``scale`` (a typical route leg), utilities above prices, carts of 1-3 items,
    the 1-2 nearest stores available, inconvenience = a per-customer rate times the home-store distance."""
    z_base = _cents(rng.uniform(0.6, 1.4, P) * scale)
    cart = np.zeros((K, P), dtype=bool)
    for k in range(K):
        cart[k, rng.choice(P, size=int(rng.integers(1, min(3, P) + 1)), replace=False)] = True
    u = _cents(np.where(cart, z_base[None, :] + rng.uniform(0.1, 0.5, (K, P)) * scale, 0.0))
    avail = np.zeros((K, S), dtype=bool)
    for k in range(K):
        nearest = np.argsort(home_store[k], kind="stable")[: int(rng.integers(1, min(2, S) + 1))]
        avail[k, nearest] = True
    rate = rng.uniform(0.2, 0.6, K)
    I = _cents(rate[:, None] * home_store * avail)
    h = _cents(rng.uniform(-0.1, 0.1, P) * scale)
    zmax = _cents(0.5 * z_base)
    return {"z_base": z_base, "cart": cart, "u": u, "avail": avail, "I": I, "h": h, "zmax": zmax}


# -- the generator in the plane ------------------------------------------------------------------------


def generate(K: int, S: int, P: int, R: int, seed: int) -> RetailInstance:
    """A random instance in the square [0, 100]^2: depot in the centre, homes and stores uniform.

    Costs are rounded Euclidean distances (as CVRPLIB's EUC_2D). Item weights 1..5; the capacity is
    1.3 times the average load per vehicle (at least the largest parcel).
    """
    source = "generate"
    require(isinstance(K, int) and 1 <= K <= 200, source, "K", f"must be an integer in 1..200, got {K!r}")
    require(isinstance(S, int) and 1 <= S <= 10, source, "S", f"must be an integer in 1..10, got {S!r}")
    require(isinstance(P, int) and 1 <= P <= 6, source, "P", f"must be an integer in 1..6, got {P!r}")
    require(isinstance(R, int) and 1 <= R <= 50, source, "R", f"must be an integer in 1..50, got {R!r}")
    require(isinstance(seed, int) and seed >= 0, source, "seed", f"must be a non-negative integer, got {seed!r}")
    require((S + 1) ** P <= MAX_CHOICES, source, "P", f"(S+1)^P = {(S + 1) ** P} exceeds {MAX_CHOICES}")
    rng = np.random.default_rng(seed)
    points = np.vstack([[50.0, 50.0], rng.uniform(0, 100, (K, 2)), rng.uniform(0, 100, (S, 2))])
    c = np.rint(np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)).astype(np.int64)
    home_store = c[1 : 1 + K, 1 + K :].astype(float)
    econ = _economics(rng, K, S, P, home_store, scale=float(np.median(c[0, 1 : 1 + K])))
    w = np.where(econ["cart"], rng.integers(1, 6, (K, P)), 0).astype(float)
    parcels = w.sum(axis=1)
    q = float(max(parcels.max(), np.ceil(1.3 * parcels.sum() / R)))
    while first_fit_decreasing(parcels, q) > R:
        q += 1.0
    instance = RetailInstance(
        name=f"gen-K{K}-S{S}-P{P}-R{R}-s{seed}",
        seed=seed,
        c=c,
        q=q,
        R=R,
        w=w,
        conflicts=np.zeros((0, 3), dtype=np.int64),
        **econ,
    )
    instance.validate(f"generate:K={K},S={S},P={P},R={R},seed={seed}")
    return instance


# -- CVRPLIB-based instances -----------------------------------------------------------------------------


def build_cvrplib(path: str | Path, S: int = 3, P: int = 3, seed: int = 0, R: int | None = None) -> RetailInstance:
    """Customers at a CVRPLIB file's nodes (read with ``vrplib``), demands split into item weights.

    The file's capacity is kept; the vehicle count is the file name's ``-k<R>`` unless given. Stores sit
    at S distinct customer nodes drawn with ``seed`` (a store's row of ``c`` is its node's row), which also
    works for files with an explicit matrix and no coordinates (E-n13-k4). Costs are the file's explicit
    weights or rounded Euclidean distances (EUC_2D), as the published optima use.
    """
    path = Path(path)
    source = str(path)
    data = _read_vrplib(path)
    demand = np.asarray(data["demand"], dtype=float)
    big = float(np.max(np.abs(demand)))
    require(
        np.isfinite(demand).all() and big <= MAX_QUANTITY,
        source,
        "DEMAND_SECTION",
        f"demand {big:g} exceeds {MAX_QUANTITY:g}",
    )
    raw = np.asarray(data["edge_weight"], dtype=float)
    key = "EDGE_WEIGHT_SECTION" if str(data.get("edge_weight_type", "")).upper() == "EXPLICIT" else "NODE_COORD_SECTION"
    require(
        bool(np.isfinite(raw).all()) and float(raw.max()) <= MAX_COST,
        source,
        key,
        f"travel costs must be finite and at most {MAX_COST} (got {float(np.max(raw)):g})",
    )
    weights = np.rint(raw).astype(np.int64)
    depot = int(np.asarray(data.get("depot", [0])).ravel()[0])
    require(depot == 0, source, "DEPOT_SECTION", f"depot {depot + 1}: only node 1 as depot is supported")
    K = len(demand) - 1
    zero = np.flatnonzero(demand[1:] <= 0)
    require(
        len(zero) == 0,
        source,
        "DEMAND_SECTION",
        f"customer node {int(zero[0]) + 2 if len(zero) else 0} has demand {demand[1 + zero[0]] if len(zero) else 0:g}: no item to deliver, no delivery option",
    )
    if R is None:
        match = re.search(r"-k(\d+)", path.stem)
        require(match is not None, source, "NAME", f"{path.stem!r} has no '-k<vehicles>' and no R was given")
        R = int(match.group(1))  # type: ignore[union-attr]
    require(1 <= R <= MAX_VEHICLES, source, "R", f"must be in 1..{MAX_VEHICLES} vehicles, got {R} (from the name's -k)")
    require(1 <= S <= min(10, K), source, "S", f"must be in 1..{min(10, K)}, got {S}")
    require(1 <= P <= 6, source, "P", f"must be in 1..6, got {P}")
    rng = np.random.default_rng(seed)
    sites = np.sort(rng.choice(np.arange(1, K + 1), size=S, replace=False))
    nodes = np.concatenate([np.arange(K + 1), sites])
    c = weights[np.ix_(nodes, nodes)]
    home_store = c[1 : 1 + K, 1 + K :].astype(float)
    econ = _economics(rng, K, S, P, home_store, scale=float(np.median(c[0, 1 : 1 + K])))
    w = np.zeros((K, P))
    for k in range(K):
        items = np.flatnonzero(econ["cart"][k])
        w[k, items] = _split(rng, int(demand[k + 1]), len(items))
    cost = _published_cost(path)
    instance = RetailInstance(
        name=f"{path.stem}-S{S}-P{P}-s{seed}",
        seed=seed,
        c=c,
        q=float(data["capacity"]),
        R=R,
        w=w,
        conflicts=np.zeros((0, 3), dtype=np.int64),
        best_known_routing=cost,
        **econ,
    )
    instance.validate(source)
    return instance


def _split(rng: np.random.Generator, total: int, parts: int) -> np.ndarray:
    """``total`` as ``parts`` positive integers in random proportions (equal parts if it is too small)."""
    if total < parts:
        return np.full(parts, total / parts)
    cuts = np.sort(rng.choice(np.arange(1, total), size=parts - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [total]])).astype(float)


REQUIRED_KEYS = ("DIMENSION", "CAPACITY", "DEMAND_SECTION")
#: Largest .vrp file read (a full explicit matrix of MAX_NODES nodes is about 20 MB).
MAX_VRP_BYTES = 64_000_000


def _read_vrplib(path: Path) -> dict:
    """Read with ``vrplib``; every defect becomes one InputError naming the file and the key."""
    import vrplib

    source = str(path)
    require(path.is_file(), source, "<file>", "no such CVRPLIB file")
    size = path.stat().st_size
    require(
        size <= MAX_VRP_BYTES, source, "<file>", f"is {size} bytes; CVRPLIB files read here are at most {MAX_VRP_BYTES}"
    )
    text = path.read_text(errors="replace")
    for key in REQUIRED_KEYS:
        require(key in text, source, key, "missing (not a complete CVRPLIB CVRP file)")
    require(
        "NODE_COORD_SECTION" in text or "EDGE_WEIGHT_SECTION" in text,
        source,
        "NODE_COORD_SECTION",
        "missing, and no EDGE_WEIGHT_SECTION either: no travel costs",
    )
    dimension = _header_int(text, "DIMENSION", source)
    require(dimension <= MAX_NODES, source, "DIMENSION", f"{dimension} nodes is too many; at most {MAX_NODES} are read")
    _check_section_rows(text, "DEMAND_SECTION", dimension, source)
    if "NODE_COORD_SECTION" in text:
        _check_section_rows(text, "NODE_COORD_SECTION", dimension, source)
    try:
        data = vrplib.read_instance(str(path))
    except Exception as exc:  # vrplib raises ValueError/IndexError/KeyError on malformed files
        raise InputError(
            source, "<vrplib>", f"cannot be read ({type(exc).__name__}: {exc}); is the file truncated?"
        ) from None
    for key, field in (("DEMAND_SECTION", "demand"), ("EDGE_WEIGHT_SECTION", "edge_weight")):
        value = data.get(field)
        require(
            value is not None and len(value) == dimension,
            source,
            key,
            f"has {0 if value is None else len(value)} entries, DIMENSION is {dimension} (truncated file?)",
        )
    return data


def _header_int(text: str, key: str, source: str) -> int:
    match = re.search(rf"^\s*{key}\s*:\s*(\S+)", text, flags=re.MULTILINE)
    value = match.group(1) if match else None
    require(
        value is not None and value.isdigit() and int(value) >= 2,
        source,
        key,
        f"value {value!r} is not an integer >= 2",
    )
    return int(value)  # type: ignore[arg-type]


def _check_section_rows(text: str, section: str, dimension: int, source: str) -> None:
    """A node section must have one row per node: count them up to the next keyword (diagnosis only)."""
    body = text.split(section, 1)[1].splitlines()[1:]
    rows = 0
    for line in body:
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped[0].isdigit() and stripped[0] != "-":
            break
        rows += 1
    require(rows == dimension, source, section, f"has {rows} rows, DIMENSION is {dimension} (truncated file?)")


def _published_cost(path: Path) -> float | None:
    """The ``Cost`` line of the ``.sol`` file next to the instance, if there is one."""
    sol = path.with_suffix(".sol")
    if not sol.is_file():
        return None
    match = re.search(r"^Cost\s+([0-9.]+)", sol.read_text(), flags=re.MULTILINE)
    return float(match.group(1)) if match else None


# -- the shipped instances ---------------------------------------------------------------------------------


def shipped_builders() -> dict[str, RetailInstance]:
    """How every shipped JSON instance was made (``python -m bilevel_bench.problems.retail.instance`` rewrites them)."""
    small = generate(K=6, S=2, P=2, R=2, seed=1).replace(name="small")
    medium = generate(K=15, S=2, P=2, R=3, seed=2).replace(name="medium")
    large = build_cvrplib(CVRPLIB_DIR / "E-n51-k5.vrp", S=4, P=3, seed=3).replace(name="large")
    xlarge = build_cvrplib(CVRPLIB_DIR / "E-n101-k8.vrp", S=5, P=3, seed=4).replace(name="xlarge")
    return {"small": small, "medium": medium, "large": large, "xlarge": xlarge}


if __name__ == "__main__":
    for name, inst in shipped_builders().items():
        print(inst.save(DATA_DIR / f"{name}.json"), inst.size())
