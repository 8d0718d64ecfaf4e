"""Instances of the mixed-integer bilevel linear family (MIBLP; BOBILib's format, MibS's semantics).

An instance is one MILP over all variables v = (x, y) (leader x, follower y) in the column order of its MPS
file, plus which columns and rows belong to the follower and the follower's objective::

    leader:    min_x  obj @ v + obj_offset
               s.t.   the rows not listed as the follower's (they may involve y: coupling rows),
                      the leader's variable bounds and integrality,
                      y is an optimal response of the follower to x
    follower:  min_y  follower_obj @ y
               s.t.   the follower's rows (``follower_rows``) with x fixed,
                      the follower's variable bounds and integrality

Both levels minimise (BOBILib's convention). The constraint matrix is stored sparse as numpy index arrays
(``a_row``, ``a_col``, ``a_val``: one entry per non-zero, no duplicates), so instances of the full library
stay small. Rows are ``row_lower <= A v <= row_upper`` and columns ``col_lower <= v <= col_upper``; a bound
whose magnitude is at least :data:`INFINITY_THRESHOLD` (1e20, as in CPLEX and MPS readers) means "none"
(JSON has no infinity; the reader writes :data:`NO_BOUND` = 1e30).

Derived data, written by the reader and the generator so that a run never repeats it:

- ``leader_lower``/``leader_upper``: the leader's search box, the MPS bounds tightened by the high-point
  relaxation's LPs (:mod:`bilevel_bench.problems.miblp.relaxation`), ``bounds_note`` says how. Empty arrays
  mean "not computed" (a hand-written JSON): the problem computes them.
- the published reference of the library (``published_status`` "optimal" or "best_known", its
  ``published_objective`` and the leader decision ``published_x`` in leader order), from the instance's
  ``<name>.res.json`` (:mod:`bilevel_bench.problems.miblp.reader`).

Names of variables and rows are kept (``var_names``, ``row_names``: newline-separated, "" for generated
instances) so that decisions can be reported by name.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from bilevel_bench.instance import Instance, array_field, require

#: A bound of at least this magnitude is no bound.
INFINITY_THRESHOLD = 1e20
#: What the reader writes for "no bound" (JSON has no infinity).
NO_BOUND = 1e30
#: Kinds of published references the instance can carry ("" = none).
PUBLISHED_STATUSES = ("", "optimal", "best_known")


def _empty() -> np.ndarray:
    return np.zeros(0)


@dataclasses.dataclass(frozen=True, eq=False)
class MiblpInstance(Instance):
    family: ClassVar[str] = "miblp"

    obj: np.ndarray = array_field()  # [n] leader objective over all columns (minimised)
    follower_cols: np.ndarray = array_field(dtype=int)  # [n_f] the follower's columns, increasing
    follower_obj: np.ndarray = array_field()  # [n_f] follower objective on those columns (minimised)
    follower_rows: np.ndarray = array_field(dtype=int)  # [m_f] the follower's rows, increasing
    a_row: np.ndarray = array_field(dtype=int)  # [nnz] row index of each non-zero
    a_col: np.ndarray = array_field(dtype=int)  # [nnz] column index
    a_val: np.ndarray = array_field()  # [nnz] coefficient
    row_lower: np.ndarray = array_field()  # [m] (<= -1e20: none)
    row_upper: np.ndarray = array_field()  # [m] (>= 1e20: none)
    col_lower: np.ndarray = array_field()  # [n]
    col_upper: np.ndarray = array_field()  # [n]
    integer: np.ndarray = array_field(dtype=bool)  # [n]
    obj_offset: float = 0.0
    var_names: str = ""  # newline-separated, one per column ("" = x<j>)
    row_names: str = ""  # newline-separated, one per row ("" = r<i>)
    leader_lower: np.ndarray = array_field(default_factory=_empty)  # [n_x] tightened leader box (or empty)
    leader_upper: np.ndarray = array_field(default_factory=_empty)
    bounds_note: str = ""
    published_status: str = ""  # "optimal", "best_known" or "" (no reference)
    published_objective: float | None = None
    published_x: np.ndarray = array_field(default_factory=_empty)  # [n_x] the library's leader decision (or empty)
    published_source: str = ""  # where the reference came from

    # -- dimensions ---------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.obj)

    @property
    def m(self) -> int:
        return len(self.row_lower)

    @property
    def leader_cols(self) -> np.ndarray:
        mask = np.ones(self.n, dtype=bool)
        mask[self.follower_cols] = False
        return np.flatnonzero(mask)

    @property
    def leader_rows(self) -> np.ndarray:
        mask = np.ones(self.m, dtype=bool)
        mask[self.follower_rows] = False
        return np.flatnonzero(mask)

    def size(self) -> dict[str, int]:
        return {
            "n_leader": self.n - len(self.follower_cols),
            "n_follower": len(self.follower_cols),
            "m_leader": self.m - len(self.follower_rows),
            "m_follower": len(self.follower_rows),
            "nnz": len(self.a_val),
        }

    def names(self) -> list[str]:
        return self.var_names.split("\n") if self.var_names else [f"v{j}" for j in range(self.n)]

    def row_name_list(self) -> list[str]:
        return self.row_names.split("\n") if self.row_names else [f"r{i}" for i in range(self.m)]

    def dense(self) -> np.ndarray:
        """The constraint matrix as a dense [m, n] array."""
        A = np.zeros((self.m, self.n))
        A[self.a_row, self.a_col] = self.a_val
        return A

    def bounds_inf(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(row_lower, row_upper, col_lower, col_upper) with "no bound" as -inf / +inf."""
        return (
            np.where(self.row_lower <= -INFINITY_THRESHOLD, -np.inf, self.row_lower),
            np.where(self.row_upper >= INFINITY_THRESHOLD, np.inf, self.row_upper),
            np.where(self.col_lower <= -INFINITY_THRESHOLD, -np.inf, self.col_lower),
            np.where(self.col_upper >= INFINITY_THRESHOLD, np.inf, self.col_upper),
        )

    # -- validation ---------------------------------------------------------------------------------
    def validate(self, source: str = "<instance>") -> None:
        super().validate(source)
        n, m = self.n, self.m
        require(
            self.obj.ndim == 1 and n >= 2, source, "obj", f"expected a vector of >= 2 columns, got {self.obj.shape}"
        )
        for key, length in (("col_lower", n), ("col_upper", n), ("integer", n), ("row_upper", m)):
            value = getattr(self, key)
            require(value.shape == (length,), source, key, f"expected shape [{length}], got {list(value.shape)}")
        nnz = len(self.a_val)
        for key in ("a_row", "a_col", "a_val"):
            value = getattr(self, key)
            require(
                value.shape == (nnz,),
                source,
                key,
                f"expected shape [{nnz}] (one per non-zero), got {list(value.shape)}",
            )
        require(bool(np.all((self.a_row >= 0) & (self.a_row < m))), source, "a_row", f"row index outside 0..{m - 1}")
        require(bool(np.all((self.a_col >= 0) & (self.a_col < n))), source, "a_col", f"column index outside 0..{n - 1}")
        require(len(np.unique(self.a_row * n + self.a_col)) == nnz, source, "a_col", "duplicate (row, column) entries")
        fc, fr = self.follower_cols, self.follower_rows
        require(
            fc.ndim == 1 and 1 <= len(fc) < n, source, "follower_cols", "the follower needs >= 1 column, the leader too"
        )
        require(
            bool(np.all(np.diff(fc) > 0)) and fc[0] >= 0 and fc[-1] < n,
            source,
            "follower_cols",
            f"must be increasing column indices in 0..{n - 1}",
        )
        require(
            self.follower_obj.shape == fc.shape,
            source,
            "follower_obj",
            f"expected shape [{len(fc)}], got {list(self.follower_obj.shape)}",
        )
        require(
            fr.ndim == 1 and bool(np.all(np.diff(fr) > 0)) and (len(fr) == 0 or (fr[0] >= 0 and fr[-1] < m)),
            source,
            "follower_rows",
            f"must be increasing row indices in 0..{m - 1}",
        )
        require(
            bool(np.all(self.row_lower <= self.row_upper)), source, "row_lower", "a row's lower bound exceeds its upper"
        )
        require(
            bool(np.all(self.col_lower <= self.col_upper)),
            source,
            "col_lower",
            "a column's lower bound exceeds its upper",
        )
        if self.var_names:
            require(len(self.names()) == n, source, "var_names", f"expected {n} names, got {len(self.names())}")
        if self.row_names:
            require(len(self.row_name_list()) == m, source, "row_names", f"expected {m} names")
        n_x = n - len(fc)
        for key in ("leader_lower", "leader_upper", "published_x"):
            value = getattr(self, key)
            require(
                value.shape in ((0,), (n_x,)), source, key, f"expected shape [{n_x}] or [], got {list(value.shape)}"
            )
        require(
            self.leader_lower.shape == self.leader_upper.shape,
            source,
            "leader_upper",
            "shape differs from leader_lower",
        )
        if len(self.leader_lower):
            require(
                bool(np.all(np.abs(self.leader_lower) < INFINITY_THRESHOLD))
                and bool(np.all(np.abs(self.leader_upper) < INFINITY_THRESHOLD)),
                source,
                "leader_lower",
                "the leader box must be finite",
            )
        require(
            self.published_status in PUBLISHED_STATUSES,
            source,
            "published_status",
            f"{self.published_status!r} is not one of {PUBLISHED_STATUSES}",
        )
        require(
            (self.published_objective is None) == (self.published_status == ""),
            source,
            "published_objective",
            "a published status needs a published objective, and no status none",
        )


# -- the generator -----------------------------------------------------------------------------------


def generate(
    n_leader: int = 5,
    n_follower: int = 5,
    m: int = 10,
    density: float = 0.5,
    coef: int = 50,
    upper: int = 1500,
    seed: int = 0,
) -> MiblpInstance:
    """A random pure-integer MIBLP in the style of DeNegre's instances (BOBILib's ``denegre`` folder).

    Every row is a follower row ``sum_j a[i,j] v_j <= r[i]`` with a[i,j] in 1..coef (non-zero with
    probability ``density``) over leader and follower columns alike, and r[i] drawn between half and three
    times the row's coefficient sum (so y = 0 answers small x). Variables are integers in [0, upper];
    leader objective coefficients in -coef..0 on every column, follower objective in -coef..coef. Like the
    library's instances, the follower is infeasible for leader decisions that overfill a row, and the MPS
    box [0, upper] is much larger than the set of useful decisions (the high-point relaxation tightens it).
    """
    src = "generate"
    for key, value, low, high in (
        ("n_leader", n_leader, 1, 200),
        ("n_follower", n_follower, 1, 200),
        ("m", m, 1, 400),
        ("coef", coef, 1, 10_000),
        ("upper", upper, 1, 1_000_000),
    ):
        require(
            isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
            src,
            key,
            f"must be an integer in {low}..{high}, got {value!r}",
        )
    require(
        isinstance(density, (int, float)) and 0.0 < density <= 1.0,
        src,
        "density",
        f"must be in (0, 1], got {density!r}",
    )
    require(
        isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0,
        src,
        "seed",
        f"must be a non-negative integer, got {seed!r}",
    )
    rng = np.random.default_rng(seed)
    n = n_leader + n_follower
    A = rng.integers(1, coef + 1, (m, n)) * (rng.random((m, n)) < density)
    for j in np.flatnonzero(~A.any(axis=0)):  # every column in some row: the relaxation bounds it
        A[rng.integers(m), j] = rng.integers(1, coef + 1)
    rowsum = A.sum(axis=1)
    r = np.array([rng.integers(max(1, s // 2), 3 * max(1, s) + 1) for s in rowsum], dtype=float)
    obj = rng.integers(-coef, 1, n).astype(float)
    follower_cols = np.sort(rng.choice(n, n_follower, replace=False))
    follower_obj = rng.integers(-coef, coef + 1, n_follower).astype(float)
    rows, cols = np.nonzero(A)
    names = [("y" if j in set(follower_cols.tolist()) else "x") + str(j) for j in range(n)]
    base = MiblpInstance(
        name=f"gen-x{n_leader}-y{n_follower}-m{m}-s{seed}",
        seed=seed,
        obj=obj,
        follower_cols=follower_cols.astype(np.int64),
        follower_obj=follower_obj,
        follower_rows=np.arange(m, dtype=np.int64),
        a_row=rows.astype(np.int64),
        a_col=cols.astype(np.int64),
        a_val=A[rows, cols].astype(float),
        row_lower=np.full(m, -NO_BOUND),
        row_upper=r,
        col_lower=np.zeros(n),
        col_upper=np.full(n, float(upper)),
        integer=np.ones(n, dtype=bool),
        var_names="\n".join(names),
    )
    instance = with_leader_box(base)
    instance.validate(f"generate:n_leader={n_leader},n_follower={n_follower},m={m},seed={seed}")
    return instance


def with_leader_box(instance: MiblpInstance) -> MiblpInstance:
    """The instance with its leader box tightened by the high-point relaxation (and the note saying so)."""
    from bilevel_bench.problems.miblp.relaxation import hpr_leader_box

    lower, upper, note = hpr_leader_box(instance)
    return dataclasses.replace(instance, leader_lower=lower, leader_upper=upper, bounds_note=note)
