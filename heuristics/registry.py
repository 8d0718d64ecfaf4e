"""The heuristic registry: each entry wraps a pymoo algorithm and its default parameters.

A heuristic knows nothing of any particular problem: it gets the pymoo problem (bounds, integer mask, and
the canonical repair) and its parameters. Each entry is a :class:`Heuristic` registered as an entry point
of the group ``bilevel_bench.heuristics`` (the shipped ones in ``pyproject.toml``; see
``heuristics/README.md`` and :mod:`bilevel_bench.plugins`)::

    DE_BEST = Heuristic(
        "de_best", "DE/best/1/bin",
        lambda p, info: DE(pop_size=p["pop_size"], variant="DE/best/1/bin", CR=p["CR"]),
        {"pop_size": 40, "CR": 0.9}, ranges={"CR": (0.0, 1.0)},
    )

A grid names the entry and may override any default parameter; unknown parameters are refused. The budget
(evaluations and/or seconds), the history checkpoints and the re-verification are the run's business
(:mod:`heuristics.run`), the same for every entry.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.plugins import HEURISTICS as HEURISTIC_GROUP
from bilevel_bench.plugins import load_group

if TYPE_CHECKING:  # pymoo is imported by the builders, when a run starts: listing heuristics stays fast
    from pymoo.core.algorithm import Algorithm
    from pymoo.core.sampling import Sampling
    from pymoo.core.termination import Termination


#: Upper limit of a numeric parameter that declares no range (a population of a million is a typo).
DEFAULT_HIGH = 1e5


@dataclasses.dataclass(frozen=True)
class ProblemInfo:
    """What a heuristic may know of a problem: its size and which variables are integer."""

    n_var: int
    n_integer: int
    n_binary: int = 0  # integer variables with bounds [0, 1]
    family: str = ""
    bi_objective: bool = False  # the family declares a bi-objective view (BilevelProblem.objectives)
    linear: bool = False  # the family declares its follower as an LP (BilevelProblem.linear_structure)

    @classmethod
    def of(cls, problem: Any) -> ProblemInfo:
        from bilevel_bench.problem import BilevelProblem

        lb, ub = problem.bounds()
        mask = np.asarray(problem.integer_mask(), dtype=bool)
        binary = mask & (np.asarray(lb) == 0) & (np.asarray(ub) == 1)
        bi_objective = type(problem).objectives is not BilevelProblem.objectives
        linear = type(problem).linear_structure is not BilevelProblem.linear_structure
        return cls(problem.n_var, int(mask.sum()), int(binary.sum()), problem.family, bi_objective, linear)


@dataclasses.dataclass(frozen=True)
class Heuristic:
    """One registry entry.

    ``build(params, info)`` returns a fresh pymoo algorithm. ``ranges`` bounds numeric parameters (closed
    interval); numeric parameters without a range must be positive and at most :data:`DEFAULT_HIGH`.
    ``convergence(params)`` is the algorithm's own stopping test (e.g. Nelder-Mead's simplex size): when
    it fires before the budget is used up, the run restarts the algorithm with a new seed. ``objectives``
    marks a heuristic that optimises the family's bi-objective view (leader value, follower welfare)
    instead of the leader value. ``choices`` lists the values of string parameters. ``variables`` are the
    kinds of leader variables its operators handle: ``real``; ``integer`` (real-coded operators reach
    integers through the canonical map's rounding, as documented); ``binary`` only where the operators move
    in {0, 1} natively (bit flips, integer sampling): a problem with binary variables is refused by the
    others rather than silently rounded.
    """

    name: str
    description: str
    build: Callable[[dict[str, Any], ProblemInfo], Algorithm]
    defaults: dict[str, Any]
    ranges: dict[str, tuple[float, float]] = dataclasses.field(default_factory=dict)
    convergence: Callable[[dict[str, Any]], Termination] | None = None
    objectives: bool = False
    variables: tuple[str, ...] = ("real", "integer")
    needs_linear: bool = False  # runs only where the family declares an LP follower (linear_structure)
    #: the values a string parameter may take (e.g. ``constraints``); other strings are refused
    choices: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def check_problem(self, info: ProblemInfo, source: str = "<heuristic>", key: str = "heuristic") -> None:
        """Refuse a problem this heuristic cannot run on: leader variables its operators do not handle, or a
        structure it needs that the family does not declare (a bi-objective view, an LP follower)."""
        if self.objectives and not info.bi_objective:
            raise InputError(
                source,
                key,
                f"{self.name!r} needs a bi-objective view; family {info.family!r} declares none "
                "(BilevelProblem.objectives): leave it out of this block with the block's heuristics list",
            )
        if self.needs_linear and not info.linear:
            raise InputError(
                source,
                key,
                f"{self.name!r} needs an LP follower; family {info.family!r} declares no "
                "linear_structure: leave it out of this block with the block's heuristics list",
            )
        if info.n_binary and "binary" not in self.variables:
            raise InputError(
                source,
                key,
                f"{self.name!r} does not handle binary leader variables ({info.n_binary} of {info.n_var}); its "
                f"operators are real-coded. Use one of the heuristics that move in {{0, 1}}: "
                f"{', '.join(h for h, spec in heuristics().items() if 'binary' in spec.variables)}",
            )

    def parameters(self, overrides: dict[str, Any] | None, source: str = "<cli>", key: str = "params") -> dict:
        """Defaults updated with ``overrides``; unknown names and wrong types are refused."""
        params = dict(self.defaults)
        for name, value in (overrides or {}).items():
            if name not in self.defaults:
                raise InputError(
                    source,
                    f"{key}.{name}",
                    f"unknown parameter of {self.name!r}; known: {', '.join(self.defaults)}",
                )
            self._check(name, value, source, f"{key}.{name}")
            params[name] = value
        return params

    def _check(self, name: str, value: Any, source: str, key: str) -> None:
        default = self.defaults[name]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise InputError(source, key, f"expected true or false, got {value!r}")
            return
        if isinstance(default, str):
            if not isinstance(value, str):
                raise InputError(source, key, f"expected a string, got {value!r}")
            allowed = self.choices.get(name)
            if allowed is not None and value not in allowed:
                raise InputError(source, key, f"{value!r} is not one of {', '.join(allowed)}")
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(source, key, f"expected a number, got {value!r}")
        if isinstance(default, int) and not isinstance(value, int):
            raise InputError(source, key, f"expected an integer, got {value!r}")
        if not math.isfinite(value):
            raise InputError(source, key, f"must be finite, got {value!r}")
        low, high = self.ranges.get(name, (0.0, DEFAULT_HIGH))
        if name not in self.ranges and value <= 0:
            raise InputError(source, key, f"must be positive, got {value!r}")
        if not low <= value <= high:
            raise InputError(source, key, f"must be in [{low:g}, {high:g}], got {value!r}")


# -- the builders (pymoo imported here, when a run builds its algorithm) ------------------------------------

#: Run-level constraint handling, in every shipped heuristic (heuristics/adapter.py): "auto" is "repair" where
#: the family declares a projection, else "feasibility_first".
CONSTRAINTS = ("auto", "feasibility_first", "repair", "epsilon")
#: Initial sample of the population heuristics: the algorithm's own ("default") or bilevel-aware ("hpr",
#: heuristics/starts.py: relaxation starts, random decisions and their polish, within the budget).
SAMPLINGS = ("default", "hpr")
#: The memetic GA's local search: a compass search on the best individual, or the polish of every offspring
#: (families with an LP follower; heuristics/starts.py, ResponsePolish).
LOCAL_SEARCHES = ("compass", "polish")
CHOICES = {"constraints": CONSTRAINTS, "sampling": SAMPLINGS, "local_search": LOCAL_SEARCHES}
COMMON = {"constraints": "auto"}
POPULATION = {"constraints": "auto", "sampling": "default"}

# anchors: the initial population holds the box's lower corner and centre (see AnchoredSampling).
# pop_size, crossover_eta, mutation_eta (and DE's and pattern search's defaults below) were chosen on
# a tuning set disjoint from the shipped instances: heuristics/README.md, "Where the defaults come from".
GA_DEFAULTS = {
    "pop_size": 23,
    "crossover_prob": 0.9,
    "crossover_eta": 7.6,
    "mutation_eta": 7.0,
    "anchors": True,
    **POPULATION,
}
GA_RANGES = {"crossover_prob": (0.0, 1.0)}


def _sampling(p: dict[str, Any], fill: Sampling) -> Sampling:
    """The algorithm's own sampling ``fill``, or the bilevel-aware starts followed by it (``sampling = "hpr"``)."""
    if p.get("sampling", "default") != "hpr":
        return fill
    from bilevel_bench.heuristics.operators import BilevelStartSampling

    return BilevelStartSampling(fill)


def _local_start(algorithm: Algorithm, p: dict[str, Any]) -> Algorithm:
    """A local search (pymoo's LocalSearch: best of an LHS sample) started from the bilevel-aware starts."""
    if p.get("sampling", "default") == "hpr":
        from pymoo.core.initialization import Initialization
        from pymoo.operators.sampling.lhs import LatinHypercubeSampling

        algorithm.initialization = Initialization(_sampling(p, LatinHypercubeSampling()))
    return algorithm


def _ga_operators(p: dict[str, Any], mixed: bool) -> dict[str, Any]:
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.sampling.rnd import FloatRandomSampling

    from bilevel_bench.heuristics.adapter import CanonicalRepair
    from bilevel_bench.heuristics.operators import AnchoredSampling, IntegerStepMutation, MixedIntegerSampling

    fill = AnchoredSampling() if p["anchors"] else (MixedIntegerSampling() if mixed else FloatRandomSampling())
    sampling = _sampling(p, fill)
    return {
        "pop_size": p["pop_size"],
        "sampling": sampling,
        "crossover": SBX(prob=p["crossover_prob"], eta=p["crossover_eta"]),
        "mutation": IntegerStepMutation(eta=p["mutation_eta"]) if mixed else PM(eta=p["mutation_eta"]),
        "repair": CanonicalRepair(),
        "eliminate_duplicates": True,
    }


def _ga(p: dict[str, Any], info: ProblemInfo) -> Algorithm:
    from pymoo.algorithms.soo.nonconvex.ga import GA

    return GA(**_ga_operators(p, mixed=False))


def _mixed_ga(p: dict[str, Any], info: ProblemInfo) -> Algorithm:
    from pymoo.algorithms.soo.nonconvex.ga import GA

    return GA(**_ga_operators(p, mixed=True))


def _memetic_ga(p: dict[str, Any], info: ProblemInfo) -> Algorithm:
    from bilevel_bench.heuristics.operators import MemeticGA

    return MemeticGA(p["ls_every"], p["ls_iters"], p["ls_step"], p["local_search"], **_ga_operators(p, mixed=True))


def _nsga2(p: dict[str, Any], info: ProblemInfo) -> Algorithm:
    from pymoo.algorithms.moo.nsga2 import NSGA2

    return NSGA2(**_ga_operators(p, mixed=True))


def _de(p: dict[str, Any], info: ProblemInfo) -> Algorithm:
    from pymoo.algorithms.soo.nonconvex.de import DE
    from pymoo.operators.sampling.rnd import FloatRandomSampling

    from bilevel_bench.heuristics.adapter import CanonicalRepair

    return DE(
        pop_size=p["pop_size"],
        sampling=_sampling(p, FloatRandomSampling()),
        variant="DE/rand/1/bin",
        F=p["F"],
        CR=p["CR"],
        repair=CanonicalRepair(),
    )


def _pso(p: dict[str, Any], info: ProblemInfo) -> Algorithm:
    from pymoo.algorithms.soo.nonconvex.pso import PSO
    from pymoo.operators.sampling.lhs import LatinHypercubeSampling

    from bilevel_bench.heuristics.adapter import CanonicalRepair

    return PSO(
        pop_size=p["pop_size"],
        sampling=_sampling(p, LatinHypercubeSampling()),
        w=p["w"],
        c1=p["c1"],
        c2=p["c2"],
        adaptive=p["adaptive"],
        repair=CanonicalRepair(),
    )


def _cmaes(p: dict[str, Any], info: ProblemInfo) -> Algorithm:
    # IPOP-CMA-ES: cma restarts with a doubled population when it converges; the run restarts it anew
    # (new seed) if all restarts end before the budget. Bounds are handled in the normalised [0, 1] box.
    # Its start is the best of 20 Latin hypercube points (pymoo's LocalSearch default), or of the
    # bilevel-aware starts. Generations are ranked feasibility-first (operators.FeasibilityFirstCMAES).
    from bilevel_bench.heuristics.operators import FeasibilityFirstCMAES

    return _local_start(FeasibilityFirstCMAES(sigma=p["sigma"], restarts=p["restarts"], incpopsize=2), p)


def _pattern(p: dict[str, Any], info: ProblemInfo) -> Algorithm:
    from bilevel_bench.heuristics.operators import SeededPatternSearch

    algorithm = SeededPatternSearch(
        init_delta=p["init_delta"],
        init_rho=p["init_rho"],
        step_size=p["step_size"],
        n_sample_points=p["n_sample_points"],
    )
    return _local_start(algorithm, p)


def _pattern_converged(p: dict[str, Any]) -> Termination:
    from bilevel_bench.heuristics.operators import StepTermination

    return StepTermination(p["step_tol"])


def _nelder_mead(p: dict[str, Any], info: ProblemInfo) -> Algorithm:
    from pymoo.algorithms.soo.nonconvex.nelder import NelderMead

    return _local_start(NelderMead(n_sample_points=p["n_sample_points"]), p)


def _nelder_mead_converged(p: dict[str, Any]) -> Termination:
    from pymoo.algorithms.soo.nonconvex.nelder import NelderAndMeadTermination

    return NelderAndMeadTermination(x_tol=p["x_tol"], f_tol=p["f_tol"])


def _random_search(p: dict[str, Any], info: ProblemInfo) -> Algorithm:
    from pymoo.algorithms.soo.nonconvex.random_search import RandomSearch

    from bilevel_bench.heuristics.operators import MixedIntegerSampling

    return RandomSearch(n_points_per_iteration=p["batch_size"], sampling=MixedIntegerSampling())


# -- the shipped entries, each registered as an entry point in pyproject.toml ------------------------------

GA = Heuristic(
    "ga",
    "real-coded genetic algorithm: SBX crossover, polynomial mutation, tournament selection",
    _ga,
    dict(GA_DEFAULTS),
    ranges=GA_RANGES,
    choices=CHOICES,
)
MIXED_GA = Heuristic(
    "mixed_ga",
    "GA for integer leader variables: integer sampling, mutation moves integers by >= 1 "
    "(the same as ga where a problem has no integer variables)",
    _mixed_ga,
    dict(GA_DEFAULTS),
    ranges=GA_RANGES,
    variables=("real", "integer", "binary"),
    choices=CHOICES,
)
MEMETIC_GA = Heuristic(
    "memetic_ga",
    "mixed GA plus a local search: a compass search on the best individual every ls_every generations, or "
    "the LP polish of every offspring (local_search = polish, LP followers)",
    _memetic_ga,
    {**GA_DEFAULTS, "ls_every": 10, "ls_iters": 5, "ls_step": 0.2, "local_search": "compass"},
    ranges={**GA_RANGES, "ls_step": (1e-9, 1.0)},
    variables=("real", "integer", "binary"),
    choices=CHOICES,
)
DE = Heuristic(
    "de",
    "differential evolution DE/rand/1/bin",
    _de,
    {"pop_size": 37, "F": 0.6, "CR": 0.65, **POPULATION},
    ranges={"F": (0.0, 2.0), "CR": (0.0, 1.0)},
    choices=CHOICES,
)
PSO = Heuristic(
    "pso",
    "particle swarm (pymoo's adaptive PSO)",
    _pso,
    {"pop_size": 25, "w": 0.9, "c1": 2.0, "c2": 2.0, "adaptive": True, **POPULATION},
    choices=CHOICES,
)
CMAES = Heuristic(
    "cmaes",
    "IPOP-CMA-ES (pymoo's wrapper of the cma package), generations ranked feasibility-first",
    _cmaes,
    {"sigma": 0.2, "restarts": 9, **POPULATION},
    # cma caps every coordinate's step at a third of its (normalised) range, and on a one-dimensional problem
    # fails inside that cap (cma 4.x): a larger sigma would be run as 1/3 anyway, so it is refused
    ranges={"sigma": (1e-6, 0.33), "restarts": (0, 1000)},
    choices=CHOICES,
)
PATTERN_SEARCH = Heuristic(
    "pattern_search",
    "Hooke-Jeeves pattern search from the best of a Latin hypercube sample, restarted when its step is "
    "below step_tol of the ranges",
    _pattern,
    {"init_delta": 0.5, "init_rho": 0.5, "step_size": 1.0, "n_sample_points": 20, "step_tol": 1e-6, **POPULATION},
    ranges={"init_rho": (1e-6, 0.999)},
    convergence=_pattern_converged,
    choices=CHOICES,
)
NELDER_MEAD = Heuristic(
    "nelder_mead",
    "Nelder-Mead simplex from the best of a Latin hypercube sample, restarted when it has converged",
    _nelder_mead,
    {"n_sample_points": 20, "x_tol": 1e-6, "f_tol": 1e-6, **POPULATION},
    convergence=_nelder_mead_converged,
    choices=CHOICES,
)
RANDOM_SEARCH = Heuristic(
    "random_search",
    "uniform random sampling of the leader's box (the floor)",
    _random_search,
    {"batch_size": 50, **COMMON},
    variables=("real", "integer", "binary"),
    choices=CHOICES,
)
NSGA2 = Heuristic(
    "nsga2",
    "NSGA-II on the family's bi-objective view (leader value vs follower welfare); reports the front and its "
    "hypervolume",
    _nsga2,
    dict(GA_DEFAULTS),
    ranges=GA_RANGES,
    objectives=True,
    variables=("real", "integer", "binary"),
    choices=CHOICES,
)


def _heuristic_problem(obj: Any) -> str | None:
    if isinstance(obj, Heuristic):
        return None
    return f"expected a bilevel_bench.heuristics.registry.Heuristic, got {type(obj).__name__}"


@cache
def heuristics() -> dict[str, Heuristic]:
    """Every registered heuristic (entry-point group ``bilevel_bench.heuristics``), by name."""
    return load_group(HEURISTIC_GROUP, _heuristic_problem, lambda h: h.name)


def get_heuristic(name: Any, source: str = "<cli>", key: str = "heuristic") -> Heuristic:
    known = heuristics()
    if not isinstance(name, str) or name not in known:
        raise InputError(source, key, f"unknown heuristic {name!r}; known: {', '.join(known)}")
    return known[name]
