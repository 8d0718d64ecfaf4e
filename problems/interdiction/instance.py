"""Instances of the knapsack interdiction family: the ``.ki`` reader (with its ``.ans``) and a CCLW-style generator.

An instance is n items, each with a profit ``p_i``, a follower weight ``wF_i`` and a leader weight ``wL_i`` (all
non-negative integers), the follower's capacity ``CF`` and the leader's capacity ``CL``. Integer data is what the
library format holds, and what the exact parts rely on: the follower's dynamic programme runs over integer
capacities, and the exact baseline's cuts use ``theta <= UB - 1`` (integer profits).

``.ki`` format (Weninger and Fukasawa's bkpsolver, which distributes the CCLW instances), one item list per line:

1. n; 2. the follower's capacity CF; 3. the leader's capacity CL; 4. n follower weights; 5. n leader weights;
6. n profits. Lines after the sixth are metadata (ignored). ``<name>.ans`` beside ``<name>.ki``, when present,
holds one number: the published optimal value (the follower's profit at the leader's optimal interdiction).

:func:`read_ki` reads any ``.ki`` file of the library; :func:`read_ans_instance` reads the ``.ki`` named by an
``.ans`` path (so that either file of a pair can be given to the CLI). Every defect raises
:class:`~bilevel_bench.errors.InputError` naming the file and the field.

The generator mimics how the CCLW instances were made (Caprara, Carvalho, Lodi and Woeginger 2016; their script
``Run_Bilevel_KP.py``, distributed with bkpsolver, calls Pisinger's knapsack generator ``gen2``): profits and
follower weights uncorrelated, uniform integers in [1, R] with R = 100; follower capacity
``CF = floor(INS * sum(wF) / 11)`` for the instance number INS in 1..10 (Pisinger's ``i / (S + 1)`` with S = 10
tests; the shipped files match this exactly: CCLW_n35_m0 has CF = floor(1 * 1792 / 11) = 162); leader weights
uniform in [1, R]; leader capacity ``CL`` uniform in [CF - 10, CF + 10] (``randint(c_F - 10, c_F + 10)`` in the
script). In the library, the files ``CCLW_n<n>_m<INS - 1>`` of one n share their profits and follower weights and
differ in the leader's data.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import ClassVar

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.instance import Instance, array_field, require

#: Largest follower dynamic-programming table (items x (capacity + 1) cells, 4 bytes each) an instance may need.
MAX_DP_CELLS = 50_000_000
#: Field of each of the six ``.ki`` lines.
KI_LINES = ("n", "follower_capacity", "leader_capacity", "follower_weight", "leader_weight", "profit")


@dataclasses.dataclass(frozen=True, eq=False)
class InterdictionInstance(Instance):
    family: ClassVar[str] = "interdiction"

    follower_capacity: int  # CF
    leader_capacity: int  # CL
    profit: np.ndarray = array_field(dtype=int)  # [n] follower's profit p_i (the leader minimises its sum)
    follower_weight: np.ndarray = array_field(dtype=int)  # [n] wF_i
    leader_weight: np.ndarray = array_field(dtype=int)  # [n] wL_i
    #: the library's optimal value (the ``.ans`` file), None when there is none
    published_optimum: float | None = None

    @property
    def n(self) -> int:
        return int(self.profit.shape[0])

    def size(self) -> dict[str, int]:
        return {"n": self.n}

    def validate(self, source: str = "<instance>") -> None:
        super().validate(source)
        require(
            self.profit.ndim == 1 and self.n >= 1,
            source,
            "profit",
            f"expected a list of n >= 1 integers, got shape {list(self.profit.shape)}",
        )
        for key in ("follower_weight", "leader_weight"):
            value = getattr(self, key)
            require(
                value.shape == (self.n,),
                source,
                key,
                f"expected {self.n} values (one per item), got shape {list(value.shape)}",
            )
        for key in ("profit", "follower_weight", "leader_weight"):
            value = getattr(self, key)
            bad = np.flatnonzero(value < 0)
            require(
                len(bad) == 0,
                source,
                key,
                f"must be non-negative, found {value[bad[0]] if len(bad) else 0} at item {bad[0] if len(bad) else 0}",
            )
        for key in ("follower_capacity", "leader_capacity"):
            value = getattr(self, key)
            require(value >= 0, source, key, f"must be non-negative, got {value}")
        cells = self.n * (min(self.follower_capacity, int(self.follower_weight.sum())) + 1)
        require(
            cells <= MAX_DP_CELLS,
            source,
            "follower_capacity",
            f"{self.follower_capacity} needs a dynamic-programming table of {cells} cells (> {MAX_DP_CELLS})",
        )
        require(
            self.published_optimum is None or self.published_optimum >= 0,
            source,
            "published_optimum",
            f"a follower's profit is non-negative, got {self.published_optimum}",
        )


# -- the library's files ------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    require(path.is_file(), str(path), "<file>", "no such file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(str(path), "<file>", f"not a text file ({exc.reason} at byte {exc.start})") from None


def _integers(tokens: list[str], source: str, key: str, line: int) -> list[int]:
    values = []
    for position, token in enumerate(tokens, start=1):
        try:
            values.append(int(token))
        except ValueError:
            raise InputError(source, key, f"line {line}, number {position}: {token!r} is not an integer") from None
    return values


def read_ans(path: str | Path) -> float:
    """The published optimal value in an ``.ans`` file (one number)."""
    path = Path(path)
    source = str(path)
    tokens = _read_text(path).split()
    require(len(tokens) == 1, source, "published_optimum", f"expected one number, found {len(tokens)} tokens")
    try:
        value = float(tokens[0])
    except ValueError:
        raise InputError(source, "published_optimum", f"{tokens[0]!r} is not a number") from None
    require(math.isfinite(value), source, "published_optimum", f"{tokens[0]!r} is not a finite number")
    return value


def read_ki(path: str | Path) -> InterdictionInstance:
    """An instance from a ``.ki`` file, with the published optimum from the ``.ans`` beside it (if there is one).

    The name is the file's stem (``CCLW_n35_m0``); ``seed`` is None.
    """
    path = Path(path)
    source = str(path)
    lines = _read_text(path).splitlines()
    require(
        len(lines) >= 6, source, KI_LINES[min(len(lines), 5)], f"the file has {len(lines)} lines, a .ki file needs 6"
    )
    head = []
    for number, key in enumerate(KI_LINES[:3], start=1):
        values = _integers(lines[number - 1].split(), source, key, number)
        require(len(values) == 1, source, key, f"line {number} must hold one integer, found {len(values)} numbers")
        head.append(values[0])
    n, follower_capacity, leader_capacity = head
    require(n >= 1, source, "n", f"must be at least 1, got {n}")
    arrays = {}
    for number, key in enumerate(KI_LINES[3:], start=4):
        values = _integers(lines[number - 1].split(), source, key, number)
        require(len(values) == n, source, key, f"line {number} has {len(values)} numbers, expected n = {n}")
        arrays[key] = np.array(values, dtype=np.int64)
    ans = path.with_suffix(".ans")
    instance = InterdictionInstance(
        name=path.stem,
        seed=None,
        follower_capacity=follower_capacity,
        leader_capacity=leader_capacity,
        published_optimum=read_ans(ans) if ans.exists() else None,
        **arrays,
    )
    instance.validate(source)
    return instance


def read_ans_instance(path: str | Path) -> InterdictionInstance:
    """The instance of an ``.ans`` path: its value is read first, then the ``.ki`` beside it."""
    path = Path(path)
    read_ans(path)
    ki = path.with_suffix(".ki")
    require(ki.is_file(), str(path), "<file>", f"no instance file {ki.name} beside it")
    return read_ki(ki)


def write_ki(instance: InterdictionInstance, path: str | Path) -> Path:
    """Write ``instance`` as a ``.ki`` file (and its published optimum, if any, as the ``.ans`` beside it)."""
    path = Path(path)
    rows = [instance.n, instance.follower_capacity, instance.leader_capacity]
    arrays = (instance.follower_weight, instance.leader_weight, instance.profit)
    text = "\n".join([*map(str, rows), *(" ".join(map(str, a.tolist())) for a in arrays)]) + "\n"
    path.write_text(text)
    if instance.published_optimum is not None:
        value = instance.published_optimum
        path.with_suffix(".ans").write_text(f"{int(value) if float(value).is_integer() else value!r}\n")
    return path


# -- the generator ---------------------------------------------------------------------------------------------


def generate(n: int, seed: int, ins: int = 5, r: int = 100) -> InterdictionInstance:
    """A random instance made as the CCLW instances were (see the module docstring).

    ``ins`` (1..10) sets the follower's capacity to ``floor(ins * sum(wF) / 11)``, so it grows from about 9 % to
    about 91 % of the items' total weight; the leader's capacity is within 10 of it. ``r`` is the range of the
    profits and weights ([1, r]). The draws, in order: profits, follower weights, leader weights, leader capacity.
    """
    source = "generate"
    require(isinstance(n, int) and 1 <= n <= 10_000, source, "n", f"must be an integer in 1..10000, got {n!r}")
    require(isinstance(seed, int) and seed >= 0, source, "seed", f"must be a non-negative integer, got {seed!r}")
    require(isinstance(ins, int) and 1 <= ins <= 10, source, "ins", f"must be an integer in 1..10, got {ins!r}")
    require(isinstance(r, int) and 1 <= r <= 100_000, source, "r", f"must be an integer in 1..100000, got {r!r}")
    rng = np.random.default_rng(seed)
    profit = rng.integers(1, r + 1, n)
    follower_weight = rng.integers(1, r + 1, n)
    leader_weight = rng.integers(1, r + 1, n)
    follower_capacity = int(ins * int(follower_weight.sum()) // 11)
    leader_capacity = max(0, follower_capacity + int(rng.integers(-10, 11)))
    instance = InterdictionInstance(
        name=f"gen-n{n}-ins{ins}-r{r}-s{seed}",
        seed=seed,
        profit=profit.astype(np.int64),
        follower_weight=follower_weight.astype(np.int64),
        leader_weight=leader_weight.astype(np.int64),
        follower_capacity=follower_capacity,
        leader_capacity=leader_capacity,
    )
    instance.validate(f"generate:n={n},seed={seed},ins={ins},r={r}")
    return instance


#: The shipped CCLW instances (the registry lists them by their .ki files).
DATA_DIR = Path(__file__).parent / "data"
