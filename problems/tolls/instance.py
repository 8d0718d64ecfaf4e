"""Instances of network pricing (toll setting; Labbé, Marcotte and Savard 1998, Management Science 44(12)).

A directed network: nodes 0..n_nodes-1, arcs ``arcs[a] = (tail, head)`` (parallel arcs allowed) with fixed
costs ``cost[a] > 0``. The arcs listed in ``toll_arcs`` (set A1, in the leader's variable order) carry a toll
T_a >= 0 set by the leader; the others (A2) are toll-free. Commodity k sends ``demand[k] > 0`` units from
``origin[k]`` to ``destination[k]`` along a shortest path under costs c + T.

Every commodity must have a toll-free path (the standard assumption of the source): otherwise the leader's
revenue is unbounded (every path of that commodity pays a toll, and any toll is paid). :meth:`validate`
refuses instances without one.

The leader's tolls are bounded above by :meth:`TollsInstance.toll_upper_bounds` (derived, not data): for toll
arc a, ``b_a = max_k (U_k - L_ka)`` where U_k is commodity k's toll-free path cost and L_ka the cost (tolls
at 0) of its cheapest path through a. At a toll above b_a every path through a is dearer than the toll-free
path for every commodity, so a carries no flow; the bound is ``max(b_a, 0) + TOLL_MARGIN``, so that at the
bound too a path through a is strictly dearer (by the margin, far beyond the tie tolerance) for every
commodity that could not pay more. Clipping a toll to its bound thus changes no follower's response: the
bound does not cut the optimum.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from typing import ClassVar

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.instance import Instance, array_field, require

#: Added to the derived toll bound, so that tolls at the bound keep unused arcs strictly unused (see above).
TOLL_MARGIN = 1.0


@dataclasses.dataclass(frozen=True, eq=False)
class TollsInstance(Instance):
    family: ClassVar[str] = "tolls"

    n_nodes: int
    arcs: np.ndarray = array_field(dtype=int)  # [A, 2] (tail, head), 0-based nodes
    cost: np.ndarray = array_field()  # [A] fixed cost c_a > 0
    toll_arcs: np.ndarray = array_field(dtype=int)  # [A1] indices into arcs: the leader's variables, in order
    origin: np.ndarray = array_field(dtype=int)  # [K]
    destination: np.ndarray = array_field(dtype=int)  # [K]
    demand: np.ndarray = array_field()  # [K] > 0

    @property
    def n_arcs(self) -> int:
        return int(self.arcs.shape[0])

    @property
    def n_commodities(self) -> int:
        return len(self.origin)

    def size(self) -> dict[str, int]:
        return {
            "nodes": self.n_nodes,
            "arcs": self.n_arcs,
            "toll_arcs": len(self.toll_arcs),
            "commodities": self.n_commodities,
        }

    def tolled(self) -> np.ndarray:
        """Mask over the arcs: True for toll arcs (A1)."""
        mask = np.zeros(self.n_arcs, dtype=bool)
        mask[self.toll_arcs] = True
        return mask

    # -- validation ---------------------------------------------------------------------------------
    def validate(self, source: str = "<instance>") -> None:
        super().validate(source)
        n = self.n_nodes
        require(isinstance(n, int) and n >= 2, source, "n_nodes", f"must be an integer >= 2, got {n!r}")
        shape = list(self.arcs.shape)
        require(
            self.arcs.ndim == 2 and shape[1:] == [2] and shape[0] >= 1,
            source,
            "arcs",
            f"expected a non-empty list of [tail, head] pairs, got shape {shape}",
        )
        for a, (tail, head) in enumerate(self.arcs.tolist()):
            for node in (tail, head):
                if not 0 <= node < n:
                    raise InputError(
                        source, "arcs", f"arc {a} [{tail}, {head}] names an unknown node {node} (nodes are 0..{n - 1})"
                    )
            if tail == head:
                raise InputError(source, "arcs", f"arc {a} [{tail}, {head}] is a loop")
        require(
            self.cost.shape == (self.n_arcs,),
            source,
            "cost",
            f"expected {self.n_arcs} costs (one per arc), got shape {list(self.cost.shape)}",
        )
        for a, c in enumerate(self.cost.tolist()):
            if c <= 0:
                raise InputError(source, "cost", f"arc costs must be positive, found {c:g} at arc {a}")
        t = self.toll_arcs
        require(t.ndim == 1 and len(t) >= 1, source, "toll_arcs", "expected a non-empty list of arc indices")
        for a in t.tolist():
            if not 0 <= a < self.n_arcs:
                raise InputError(source, "toll_arcs", f"arc index {a} is not in 0..{self.n_arcs - 1}")
        require(len(np.unique(t)) == len(t), source, "toll_arcs", "an arc is listed twice")
        K = len(self.origin)
        require(self.origin.ndim == 1 and K >= 1, source, "origin", "expected a non-empty list of nodes")
        for key in ("destination", "demand"):
            got = list(getattr(self, key).shape)
            require(got == [K], source, key, f"expected {K} entries (one per commodity), got shape {got}")
        for key in ("origin", "destination"):
            for k, node in enumerate(getattr(self, key).tolist()):
                if not 0 <= node < n:
                    raise InputError(source, key, f"commodity {k} names an unknown node {node} (nodes are 0..{n - 1})")
        for k, (o, d, q) in enumerate(
            zip(self.origin.tolist(), self.destination.tolist(), self.demand.tolist(), strict=True)
        ):
            require(o != d, source, "destination", f"commodity {k} has its origin {o} as destination")
            require(q > 0, source, "demand", f"demands must be positive, found {q:g} for commodity {k}")
        for k, free in enumerate(self.toll_free_costs().tolist()):
            o, d = int(self.origin[k]), int(self.destination[k])
            require(
                math.isfinite(free),
                source,
                "toll_arcs",
                f"commodity {k} ({o} -> {d}) has no toll-free path: the leader's revenue would be unbounded",
            )

    # -- derived data -------------------------------------------------------------------------------
    def toll_free_costs(self) -> np.ndarray:
        """U_k: each commodity's cheapest toll-free path cost (inf if none)."""
        free = ~self.tolled()
        return np.array(
            [
                shortest_distances(self.n_nodes, self.arcs[free], self.cost[free], int(o))[int(d)]
                for o, d in zip(self.origin, self.destination, strict=True)
            ]
        )

    def toll_upper_bounds(self) -> np.ndarray:
        """The leader's toll bounds ``max(0, max_k (U_k - L_ka)) + TOLL_MARGIN`` (module docstring)."""
        U = self.toll_free_costs()
        best = np.zeros(len(self.toll_arcs))
        for k in range(self.n_commodities):
            through = self.cost_through_arcs(k)[self.toll_arcs]
            best = np.maximum(best, U[k] - through)
        return best + TOLL_MARGIN

    def cost_through_arcs(self, k: int, tolls: np.ndarray | None = None) -> np.ndarray:
        """L_ka: commodity k's cheapest o -> d path cost through each arc a, at ``tolls`` (default 0); inf if none."""
        cost = self.cost.copy()
        if tolls is not None:
            cost[self.toll_arcs] += tolls
        from_o = shortest_distances(self.n_nodes, self.arcs, cost, int(self.origin[k]))
        to_d = shortest_distances(self.n_nodes, self.arcs[:, ::-1], cost, int(self.destination[k]))
        return from_o[self.arcs[:, 0]] + cost + to_d[self.arcs[:, 1]]


def shortest_distances(n_nodes: int, arcs: np.ndarray, cost: np.ndarray, source: int) -> np.ndarray:
    """Dijkstra from ``source`` over ``arcs`` (tail, head) with non-negative ``cost``; inf where unreachable.
    (Pass ``arcs[:, ::-1]`` for distances *to* ``source``.)"""
    out: list[list[tuple[int, float]]] = [[] for _ in range(n_nodes)]
    for (tail, head), c in zip(arcs.tolist(), cost.tolist(), strict=True):
        out[tail].append((head, c))
    dist = np.full(n_nodes, math.inf)
    dist[source] = 0.0
    heap = [(0.0, source)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist[u]:
            continue
        for v, c in out[u]:
            if d + c < dist[v]:
                dist[v] = d + c
                heapq.heappush(heap, (d + c, v))
    return dist


# -- the generator -----------------------------------------------------------------------------------


def generate(rows: int, cols: int, commodities: int, seed: int, toll_fraction: float = 0.3) -> TollsInstance:
    """A grid network (rows x cols nodes, both directions of every grid edge), in the manner of the grid
    instances of the network-pricing literature.

    A random spanning tree of the grid stays toll-free (so every commodity has a toll-free path); of the
    other edges, ``round(toll_fraction * edges)`` (as many as there are) are tolled in both directions, each
    direction its own toll. Tolled edges are the faster roads: integer costs in [2, 10] against [6, 20] for
    toll-free ones. Commodities: distinct (origin, destination) pairs, at grid distance >= 2 where there are
    enough such pairs, with integer demands in [1, 10].
    """
    src = "generate"
    for key, value, high in (("rows", rows, 30), ("cols", cols, 30)):
        require(
            isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= high,
            src,
            key,
            f"must be an integer in 1..{high}, got {value!r}",
        )
    n = rows * cols
    require(n >= 2, src, "cols", "the grid needs at least 2 nodes")
    pairs = n * (n - 1)
    require(
        isinstance(commodities, int) and not isinstance(commodities, bool) and 1 <= commodities <= min(pairs, 500),
        src,
        "commodities",
        f"must be an integer in 1..{min(pairs, 500)}, got {commodities!r}",
    )
    require(
        isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0,
        src,
        "seed",
        f"must be a non-negative integer, got {seed!r}",
    )
    require(
        isinstance(toll_fraction, (int, float)) and not isinstance(toll_fraction, bool) and 0 < toll_fraction <= 1,
        src,
        "toll_fraction",
        f"must be a number in (0, 1], got {toll_fraction!r}",
    )
    rng = np.random.default_rng(seed)
    edges = [(r * cols + c, r * cols + c + 1) for r in range(rows) for c in range(cols - 1)]
    edges += [(r * cols + c, (r + 1) * cols + c) for r in range(rows - 1) for c in range(cols)]
    tree = _random_spanning_tree(n, edges, rng)
    others = [e for e in range(len(edges)) if e not in tree]
    n_toll = min(len(others), max(1, round(toll_fraction * len(edges))))
    require(n_toll >= 1, src, "rows", f"a {rows}x{cols} grid has no edge outside its spanning tree to toll")
    tolled_edges = set(rng.choice(others, size=n_toll, replace=False).tolist())
    arcs: list[tuple[int, int]] = []
    cost: list[float] = []
    toll_arcs: list[int] = []
    for e, (u, v) in enumerate(edges):
        c = float(rng.integers(2, 11) if e in tolled_edges else rng.integers(6, 21))
        for tail, head in ((u, v), (v, u)):
            if e in tolled_edges:
                toll_arcs.append(len(arcs))
            arcs.append((tail, head))
            cost.append(c)
    coords = np.array([(i // cols, i % cols) for i in range(n)])
    far = [(o, d) for o in range(n) for d in range(n) if o != d and np.abs(coords[o] - coords[d]).sum() >= 2]
    candidates = far if len(far) >= commodities else [(o, d) for o in range(n) for d in range(n) if o != d]
    chosen = rng.choice(len(candidates), size=commodities, replace=False)
    od = np.array([candidates[i] for i in sorted(chosen.tolist())])
    instance = TollsInstance(
        name=f"grid{rows}x{cols}-k{commodities}-t{toll_fraction:g}-s{seed}",
        seed=seed,
        n_nodes=n,
        arcs=np.array(arcs, dtype=np.int64),
        cost=np.array(cost),
        toll_arcs=np.array(toll_arcs, dtype=np.int64),
        origin=od[:, 0].astype(np.int64),
        destination=od[:, 1].astype(np.int64),
        demand=rng.integers(1, 11, commodities).astype(float),
    )
    instance.validate(f"generate:rows={rows},cols={cols},commodities={commodities},seed={seed}")
    return instance


def _random_spanning_tree(n: int, edges: list[tuple[int, int]], rng: np.random.Generator) -> set[int]:
    """Kruskal on random weights: the indices of a spanning tree's edges (the grid is connected)."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    tree = set()
    for e in rng.permutation(len(edges)).tolist():
        a, b = find(edges[e][0]), find(edges[e][1])
        if a != b:
            parent[a] = b
            tree.add(e)
    return tree


def random_network(
    seed: int, n_nodes: int = 5, n_extra: int = 4, n_toll: int = 2, commodities: int = 2, max_cost: int = 5
) -> TollsInstance:
    """A tiny random network for brute-force checks (tests): a toll-free path through every node in random
    order (so every commodity has a toll-free path), ``n_extra`` more random arcs (parallel arcs allowed),
    ``n_toll`` of all arcs tolled where that leaves a toll-free path, small integer costs (ties are frequent).
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_nodes).tolist()
    arcs = [(order[i], order[i + 1]) for i in range(n_nodes - 1)] + [
        (order[i + 1], order[i]) for i in range(n_nodes - 1)
    ]
    while len(arcs) < 2 * (n_nodes - 1) + n_extra:
        tail, head = rng.choice(n_nodes, 2, replace=False).tolist()
        arcs.append((tail, head))
    cost = rng.integers(1, max_cost + 1, len(arcs)).astype(float)
    pairs = [(o, d) for o in range(n_nodes) for d in range(n_nodes) if o != d]
    od = np.array([pairs[i] for i in rng.choice(len(pairs), commodities, replace=False).tolist()])
    demand = rng.integers(1, 4, commodities).astype(float)
    toll: list[int] = []
    for a in rng.permutation(len(arcs)).tolist():
        if len(toll) == n_toll:
            break
        trial = TollsInstance(
            name="random",
            seed=seed,
            n_nodes=n_nodes,
            arcs=np.array(arcs, dtype=np.int64),
            cost=cost,
            toll_arcs=np.array([*toll, a], dtype=np.int64),
            origin=od[:, 0].astype(np.int64),
            destination=od[:, 1].astype(np.int64),
            demand=demand,
        )
        if np.isfinite(trial.toll_free_costs()).all():
            toll.append(a)
    instance = TollsInstance(
        name=f"random-{seed}",
        seed=seed,
        n_nodes=n_nodes,
        arcs=np.array(arcs, dtype=np.int64),
        cost=cost,
        toll_arcs=np.array(toll, dtype=np.int64),
        origin=od[:, 0].astype(np.int64),
        destination=od[:, 1].astype(np.int64),
        demand=demand,
    )
    instance.validate("random_network")
    return instance
