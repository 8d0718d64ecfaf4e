"""The bilevel problem protocol.

A problem knows its instance, its follower and its leader objective, nothing about heuristics or
experiments (the pymoo split: Problem / Algorithm / Termination).

The leader's decision is a flat float vector ``x`` within :meth:`BilevelProblem.bounds`. For it,
:meth:`follower_response` solves **every** follower problem exactly and breaks ties explicitly:

- ``optimistic`` (default): among the follower's optimal responses, the one best for the leader;
- ``pessimistic``: the one worst for the leader.

Both are a lexicographic second solve with the follower's objective held at its optimum within
:data:`TIE_TOL_ABS` + :data:`TIE_TOL_REL` * |optimum|. A leader decision that leaves a follower infeasible
(or unbounded for the leader, as a pessimistic follower can be) does not raise: it is an infeasible
candidate with a positive violation that pymoo can rank.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.instance import Instance

TieBreak = Literal["optimistic", "pessimistic"]
TIE_BREAKS: tuple[str, ...] = ("optimistic", "pessimistic")

#: The follower's objective is held at ``optimum + TIE_TOL_ABS + TIE_TOL_REL * |optimum|`` in the
#: tie-breaking second stage. Small enough not to admit suboptimal responses of practical size, large
#: enough that the LP solver's own feasibility tolerance (1e-7 in GLOP) never makes the stage infeasible.
TIE_TOL_ABS = 1e-6
TIE_TOL_REL = 1e-9

#: Follower statuses. Only ``optimal`` gives a bilevel-feasible candidate.
OPTIMAL, INFEASIBLE, UNBOUNDED, LIMIT, INVALID = "optimal", "infeasible", "unbounded", "limit", "invalid"

#: Violation added when a follower is not solved to optimality, so such candidates rank behind every
#: candidate whose follower is fine but which breaks leader constraints by a little. On top of it comes
#: the family's graded measure of how far the follower is from feasible (``FollowerResponse.infeasibility``,
#: e.g. the least total slack of the follower's rows from a phase-one solve), so that the search has a
#: slope to follow among infeasible candidates.
FOLLOWER_FAILURE_VIOLATION = 1e6


#: Significant digits kept of every leader value and violation (:func:`canonical_value`).
VALUE_DIGITS = 10
#: The relative error :func:`canonical_value` may add (half a unit in the tenth digit): compare values with it.
VALUE_REL = 0.5 * 10.0 ** (1 - VALUE_DIGITS)


def canonical_value(value: float) -> float:
    """``value`` rounded to :data:`VALUE_DIGITS` significant digits.

    Why: a solver kept warm between calls (``bilevel_bench.lp.ParametricLP``) may return another optimal vertex
    depending on the calls before, and the same value then comes out different in the last bits (about 1e-15
    relative). Heuristics compare values, so such noise could make a run with a fixed seed take another path
    serially than in parallel or resumed. Rounded, the same decision gets the same value whatever came
    before (ten digits are far finer than any gap reported, and than the followers' tie tolerance).
    """
    value = float(value)
    if value == 0.0 or not math.isfinite(value):
        return value
    return float(f"{value:.{VALUE_DIGITS}g}")


def tie_tolerance(optimum: float) -> float:
    return TIE_TOL_ABS + TIE_TOL_REL * abs(optimum)


def gap_pct(value: Any, reference: Any, sense: Any) -> Any:
    """How far ``value`` falls short of ``reference`` in the leader's ``sense`` ("max"/"min"), in % of
    max(|reference|, 1): >= 0 unless it beats it, nan where either is missing. Vectorised over numpy arrays.

    The floor of 1 leader unit: a gap relative to a reference of 0 (BOBILib's ``knapsack`` has optimum 0) is
    undefined, and dividing by a tiny number printed 1e11 % for a value one unit off; below one unit in
    magnitude the gap is therefore the shortfall in leader units, times 100 (the usual convention
    |f - f*| / max(1, |f*|)). At every shipped reference but that one, |reference| >= 1 and nothing changes.

    Values within the follower's tie tolerance of the reference count as equal (gap 0): a follower that
    treats responses within ``tie_tolerance`` as tied lets a leader gain up to about that much over an exact
    optimum computed at exact indifference, and that is not a better solution. The band is twice the
    tolerance at the reference's scale, because the follower's tolerance is taken on its own objective,
    whose scale may differ from the leader's.
    """
    value, reference = np.asarray(value, dtype=float), np.asarray(reference, dtype=float)
    shortfall = np.where(np.asarray(sense) == "max", reference - value, value - reference)
    gap = np.where(
        np.abs(shortfall) <= 2.0 * tie_tolerance(reference),
        0.0,
        100.0 * shortfall / np.maximum(np.abs(reference), 1.0),
    )
    return np.where(np.isnan(value) | np.isnan(reference), math.nan, gap)


@dataclasses.dataclass(frozen=True)
class FollowerResponse:
    """The followers' exact response to one leader decision (plain data)."""

    status: str
    value: float  # the follower objective(s), summed; nan unless optimal
    solution: dict[str, np.ndarray]
    n_solves: int  # solver calls made (both tie-break stages count)
    seconds: float = 0.0
    detail: str = ""
    #: how far from feasible the follower is (>= 0; 0 or nan when unknown or feasible), in the family's
    #: documented measure; it grades infeasible candidates (see FOLLOWER_FAILURE_VIOLATION)
    infeasibility: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == OPTIMAL


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """A leader decision's value in the leader's sense (a profit is a profit), and its violation."""

    value: float  # nan when the follower is not optimal
    violation: float  # >= 0; 0 means bilevel feasible
    follower: FollowerResponse

    @property
    def feasible(self) -> bool:
        return self.follower.ok and self.violation <= 0.0


class ExactStatus(enum.StrEnum):
    """What an exact baseline proved. Every family reports one of these, nothing else."""

    #: proven optimal (to the solver's stated gap); the objective re-evaluates with the exact follower
    OPTIMAL = "optimal"
    #: an incumbent found before a limit (time, nodes), with the bound where the solver gives one
    FEASIBLE = "feasible"
    #: proven: no leader decision is bilevel feasible
    INFEASIBLE = "infeasible"
    #: proven: the leader's objective is unbounded (or a follower's reading is, e.g. pessimistic)
    UNBOUNDED = "unbounded"
    #: this baseline does not cover this instance or reading; ``notes`` says why
    UNSUPPORTED = "unsupported"
    #: the solver failed, or its decision failed the re-evaluation with the exact follower, or there is no
    #: value at all (no incumbent, and the fallback decision could not be re-evaluated in time) (``notes``)
    ERROR = "error"
    #: a reference taken from a library (a published optimum or best-known value), not solved here
    PUBLISHED = "published"


#: Kinds of published reference values (the library says whether its value is proven optimal).
PUBLISHED_KINDS = ("published_optimal", "published_best_known")

#: How the core's re-evaluation of an exact result's decision came out (``ExactResult.verification``).
VERIFY_AGREE, VERIFY_MISMATCH, VERIFY_INFEASIBLE, VERIFY_NONE = "agree", "mismatch", "infeasible", "no_decision"
#: The re-evaluation did not finish within its time limit: the value is not re-verified (and not claimed optimal).
VERIFY_TIMEOUT = "timeout"


@dataclasses.dataclass
class ExactResult:
    """What an exact baseline reports, in the leader's sense.

    ``solution["x"]`` is always the flat leader vector (a list of floats) when there is a decision;
    family-shaped views of it go under other keys. After the core's re-verification
    (:meth:`BilevelProblem.exact`) ``objective`` is the value of ``x`` re-evaluated with the exact follower,
    and ``verification`` says how that went.
    """

    objective: float  # best bilevel-feasible value found (leader's sense); nan if none
    bound: float  # proven bound on the optimum (leader's sense); nan if none
    status: ExactStatus
    time_s: float
    solution: dict[str, Any]  # "x": the flat leader vector, plus family-shaped views
    method: str = ""
    notes: str = ""
    #: "agree", "mismatch", "infeasible" or "no_decision" once verified; "" before
    verification: str = ""
    #: for status ``published``: "published_optimal" or "published_best_known" (the library's own status)
    published_kind: str = ""

    def __post_init__(self) -> None:
        self.status = ExactStatus(self.status)
        if self.status is ExactStatus.PUBLISHED and self.published_kind not in PUBLISHED_KINDS:
            raise ValueError(f"a published reference needs published_kind in {PUBLISHED_KINDS}")

    @property
    def reference_kind(self) -> str:
        """What this result offers a gap as reference: ``proven_optimal``, ``published_optimal``,
        ``published_best_known``, ``exact_incumbent`` or "" (no value)."""
        if math.isnan(self.objective):
            return ""
        if self.status is ExactStatus.OPTIMAL:
            return "proven_optimal"
        if self.status is ExactStatus.PUBLISHED:
            return self.published_kind
        if self.status is ExactStatus.FEASIBLE:
            return "exact_incumbent"
        return ""

    @property
    def gap_pct(self) -> float:
        """Relative gap between objective and bound in % of |objective| (0 when proven optimal)."""
        if math.isnan(self.objective) or math.isnan(self.bound):
            return math.nan
        return 100.0 * abs(self.bound - self.objective) / max(1e-9, abs(self.objective))

    @property
    def x(self) -> np.ndarray | None:
        flat = self.solution.get("x")
        return None if flat is None else np.asarray(flat, dtype=float)

    def as_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "status": self.status.value,
            "bound": self.bound,
            "gap_pct": self.gap_pct,
            "time_s": self.time_s,
            "method": self.method,
            "notes": self.notes,
            "verification": self.verification,
            "reference_kind": self.reference_kind,
            "solution": self.solution,
        }


class BilevelProblem(ABC):
    """A bilevel problem on one instance. Subclasses are cheap to build and picklable (plain data only).

    OR-Tools models are never pickled: they are built inside the process that solves (in
    :meth:`follower_response`, from the instance's arrays), and a model kept between calls is a
    :attr:`transient` attribute, so a problem can be sent to a worker process as it is.
    """

    family: ClassVar[str] = ""
    sense: ClassVar[Literal["max", "min"]] = "max"
    #: Attributes that live in one process only (a solver model kept between calls, a cache): they are
    #: dropped when the problem is pickled to a worker, and the family rebuilds them there on first use.
    transient: ClassVar[tuple[str, ...]] = ()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self.transient:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __init__(self, instance: Instance, tie_break: str = "optimistic") -> None:
        if tie_break not in TIE_BREAKS:
            raise InputError("<problem>", "tie_break", f"{tie_break!r} is not one of {TIE_BREAKS}")
        self.instance = instance
        self.tie_break: TieBreak = tie_break  # type: ignore[assignment]

    def options(self) -> dict[str, Any]:
        """Constructor options beyond ``instance`` and ``tie_break`` (re-verification rebuilds with them)."""
        return {}

    def warnings(self) -> list[str]:
        """Modelling warnings the run must record (e.g. an instance accepted outside the source's conditions)."""
        return []

    # -- shared work, for parallel evaluation -----------------------------------------------------------
    def shared_work(self, x: np.ndarray) -> list[tuple[Any, Any]]:
        """The expensive pieces of work that evaluating ``x`` needs and that other decisions may share, not
        done yet in this process: ``(key, task)`` pairs of plain data (e.g. retail: a parcel set to route).

        With several workers, the evaluator does each distinct task of a batch once, in any worker
        (:meth:`do_shared_work`), hands the results to this process (:meth:`absorb_shared_work`), and then
        evaluates the batch here, where every piece is now cached: the work is done once whatever the number
        of workers, as serially. Default: none (the batch is split into chunks evaluated by the workers)."""
        return []

    def do_shared_work(self, task: Any) -> Any:
        """Do one task of :meth:`shared_work` (in a worker); returns plain data."""
        raise NotImplementedError

    def absorb_shared_work(self, key: Any, result: Any) -> None:
        """Keep the result of a task done elsewhere where :meth:`evaluate` will find it."""
        raise NotImplementedError

    def reference_options(self) -> dict[str, Any]:
        """Options under which the exact baseline's decision is re-verified, where they differ from the run's
        (e.g. retail's baseline routes exactly whatever routing its heuristic runs use). Default: none."""
        return {}

    def work_counters(self) -> dict[str, float]:
        """Cumulative counts of the family's own work in this process (e.g. ``{"routing_calls": 12}``).

        The evaluator sums their increments over every worker and reports them with the run's counters, so
        a test can see, for example, that a cache kept in a worker saved the same work as serially.
        """
        return {}

    # -- the leader's space -------------------------------------------------------------------------
    @abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of the flat leader vector."""

    @property
    def n_var(self) -> int:
        return len(self.bounds()[0])

    def integer_mask(self) -> np.ndarray:
        """Which leader variables are integer (none by default)."""
        return np.zeros(self.n_var, dtype=bool)

    def repair(self, x: np.ndarray) -> np.ndarray:
        """Map a vector in the bounds onto the leader's feasible set where that is cheap (default: as is)."""
        return x

    # -- optional structure for bilevel-aware heuristics (issue "heuristics that are not strawmen") ----
    def relaxation_starts(self, n: int, seed: int) -> np.ndarray:
        """Up to ``n`` leader decisions from relaxations of the bilevel problem, best first (the high-point
        relaxation's optimum: both levels optimised by the leader over all constraints), for bilevel-aware
        initial populations (``sampling = "hpr"``). Each solve a family makes here is reported through
        :meth:`work_counters`. Default: none, an array of shape ``(0, n_var)``."""
        return np.zeros((0, self.n_var))

    def project(self, x: np.ndarray, response: FollowerResponse) -> np.ndarray | None:
        """A nearby leader decision that satisfies the leader's own constraints, given the follower's response
        to ``x`` (an exact projection the family can compute cheaply, e.g. prices onto the IR/IC polytope at
        the follower's allocation), or None when the family has none or ``x`` needs none. Heuristics that use
        it (``constraints = "repair"``) evaluate the projected decision like any other; it is re-verified."""
        return None

    def linear_structure(self) -> Any:
        """The problem as a linear bilevel model, for matheuristics: ``(AffineLP, LeaderSpec)`` of
        :mod:`bilevel_bench.kkt` for an LP follower, or None (the default) when the family has none."""
        return None

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        """The leader decision as named, JSON-ready arrays (default: the flat vector)."""
        return {"x": np.asarray(x, dtype=float).tolist()}

    # -- the follower and the leader's objective ----------------------------------------------------
    @abstractmethod
    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        """Solve every follower problem exactly for ``x``, ties broken by ``self.tie_break``."""

    @abstractmethod
    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        """The leader's objective in its own sense, given an optimal follower response."""

    def leader_violation(self, x: np.ndarray, response: FollowerResponse | None) -> float:
        """Total violation of the leader's own constraints (>= 0)."""
        return 0.0

    def objectives(self, x: np.ndarray, response: FollowerResponse) -> tuple[float, float] | None:
        """Optional bi-objective view for NSGA-II: (leader value, follower welfare), **both to maximise**.

        Called only with an optimal follower ``response``. A family that has such a view overrides this
        (e.g. the leader's profit against minus the customer's cost); the default ``None`` means it has
        none, and a bi-objective heuristic refuses the problem.
        """
        return None

    def evaluate(self, x: np.ndarray) -> Evaluation:
        """Follower response, leader value and violation for one decision. Never raises on bad ``x``."""
        x = np.asarray(x, dtype=float)
        start = time.perf_counter()
        try:
            response = self.follower_response(x)
        except (ArithmeticError, ValueError) as exc:  # a numerical failure is an infeasible candidate
            response = FollowerResponse(INVALID, math.nan, {}, 1, time.perf_counter() - start, repr(exc))
        violation = self.leader_violation(x, response)
        if not response.ok:
            graded = response.infeasibility if math.isfinite(response.infeasibility) else 0.0
            return Evaluation(
                math.nan, canonical_value(violation + FOLLOWER_FAILURE_VIOLATION + max(graded, 0.0)), response
            )
        return Evaluation(canonical_value(self.leader_objective(x, response)), canonical_value(violation), response)

    # -- the exact baseline -------------------------------------------------------------------------
    @abstractmethod
    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        """The family's exact baseline (its ``exact.py``): objective, bound, status, time, ``solution["x"]``.

        Called through :meth:`exact`, which re-verifies what it returns; families do not re-evaluate.
        """

    def exact(self, time_limit: float = 60.0) -> ExactResult:
        """The exact baseline, re-verified by the core (:func:`bilevel_bench.verify.verify_exact`).

        A solver error becomes status ``error`` with the message in ``notes``; bad input still raises.
        """
        from bilevel_bench.verify import verified_exact

        return verified_exact(self, time_limit)

    def repair_solver_decision(self, x: np.ndarray) -> np.ndarray:
        """Repair a solver's decision that fails only by the solver's tolerances (default: as is).

        The one hook for it: the core calls it on ``solution["x"]`` of every exact result before the
        re-verification, and it is the repaired decision that is verified and reported. A family that
        overrides it says in its docstring what it repairs (e.g. prices projected onto the IR/IC polytope).
        """
        return x

    def is_better(self, a: float, b: float) -> bool:
        """Whether leader value ``a`` is strictly better than ``b`` in the leader's sense."""
        if math.isnan(a):
            return False
        if math.isnan(b):
            return True
        return a > b if self.sense == "max" else a < b

    def gap_pct(self, value: float, reference: float) -> float:
        """:func:`gap_pct` in this problem's sense; nan where either value is missing."""
        return float(gap_pct(value, reference, self.sense))
