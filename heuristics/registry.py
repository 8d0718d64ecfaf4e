"""The heuristic registry: each entry wraps a pymoo algorithm and its default parameters.

A heuristic knows nothing of any particular problem: it gets the pymoo problem (bounds, integer mask via
the repair) and its parameters. Adding one is one entry in :data:`HEURISTICS`::

    HEURISTICS["my_de"] = Heuristic(
        "my_de", "DE/rand/1/bin", lambda p, info: DE(pop_size=p["pop_size"], CR=p["CR"]), {"pop_size": 40, "CR": 0.9}
    )

A grid names the entry and may override any default parameter; unknown parameters are refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pymoo.algorithms.soo.nonconvex.ga import GA
from pymoo.core.algorithm import Algorithm
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.sampling.rnd import FloatRandomSampling

from bilevel_bench.errors import InputError
from heuristics.adapter import CanonicalRepair


@dataclasses.dataclass(frozen=True)
class ProblemInfo:
    """What a heuristic may know of a problem: its size and which variables are integer."""

    n_var: int
    n_integer: int


@dataclasses.dataclass(frozen=True)
class Heuristic:
    name: str
    description: str
    build: Callable[[dict[str, Any], ProblemInfo], Algorithm]
    defaults: dict[str, Any]

    def parameters(self, overrides: dict[str, Any] | None, source: str = "<cli>", key: str = "params") -> dict:
        """Defaults updated with ``overrides``; unknown names and wrong types are refused."""
        params = dict(self.defaults)
        for name, value in (overrides or {}).items():
            if name not in self.defaults:
                raise InputError(
                    source, f"{key}.{name}", f"unknown parameter of {self.name!r}; known: {', '.join(self.defaults)}"
                )
            default = self.defaults[name]
            numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
            if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise InputError(source, f"{key}.{name}", f"expected a number, got {value!r}")
            if isinstance(default, int) and not isinstance(default, bool) and not isinstance(value, int):
                raise InputError(source, f"{key}.{name}", f"expected an integer, got {value!r}")
            if numeric and value <= 0:
                raise InputError(source, f"{key}.{name}", f"must be positive, got {value!r}")
            params[name] = value
        return params


def _ga(p: dict[str, Any], info: ProblemInfo) -> Algorithm:
    return GA(
        pop_size=p["pop_size"],
        sampling=FloatRandomSampling(),
        crossover=SBX(prob=p["crossover_prob"], eta=p["crossover_eta"]),
        mutation=PM(eta=p["mutation_eta"]),
        repair=CanonicalRepair(),
        eliminate_duplicates=True,
    )


HEURISTICS: dict[str, Heuristic] = {
    "ga": Heuristic(
        "ga",
        "real-coded genetic algorithm: SBX crossover, polynomial mutation, tournament selection",
        _ga,
        {"pop_size": 50, "crossover_prob": 0.9, "crossover_eta": 15.0, "mutation_eta": 20.0},
    ),
}


def get_heuristic(name: Any, source: str = "<cli>", key: str = "heuristic") -> Heuristic:
    if not isinstance(name, str) or name not in HEURISTICS:
        raise InputError(source, key, f"unknown heuristic {name!r}; known: {', '.join(HEURISTICS)}")
    return HEURISTICS[name]
