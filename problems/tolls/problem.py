"""The toll-setting authority (leader) against the network users (followers): the bilevel problem of the family.

Leader vector: the tolls T_a of the toll arcs, in ``instance.toll_arcs`` order, in [0, b_a] with b_a from
:meth:`~bilevel_bench.problems.tolls.instance.TollsInstance.toll_upper_bounds` (a derived bound that cuts no
optimum). Leader objective (to maximise; Labbé, Marcotte and Savard 1998, problem (1))::

    F(T) = sum_k n_k sum_{a in A1} T_a y^k_a

with y^k commodity k's shortest path under c + T, ties broken by the revenue (``follower.py``). The
bi-objective view adds the users' total cost (tolls included), to be minimised by them.

The follower is one persistent :class:`~bilevel_bench.problems.tolls.follower.FollowerModel` per process
(attribute ``_model``, in :attr:`TollsProblem.transient`: rebuilt lazily in each worker).

Hooks for bilevel-aware heuristics: ``relaxation_starts`` (``relaxation.py``: the paths of the high-point
relaxation cut by the toll-free alternative, priced by inverse optimisation) and ``linear_structure``. No
``project``: the leader has no constraint beyond its box, and the users are feasible at every toll vector.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bilevel_bench.problem import BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.tolls.follower import FollowerModel, network_lp, revenue
from bilevel_bench.problems.tolls.instance import TollsInstance


class TollsProblem(BilevelProblem):
    family = "tolls"
    sense = "max"
    instance: TollsInstance
    transient: ClassVar[tuple[str, ...]] = ("_model",)
    _model: FollowerModel | None = None  # the class default stands in after unpickling

    def __init__(self, instance: TollsInstance, tie_break: str = "optimistic") -> None:
        super().__init__(instance, tie_break)
        self.network = network_lp(instance)  # plain arrays: pickled with the problem
        self.upper = instance.toll_upper_bounds()
        self._model = None
        self._relaxation_lps = 0  # LPs of relaxation_starts (relaxation.py)

    def model(self) -> FollowerModel:
        """This process's persistent follower model (built on first use)."""
        if self._model is None:
            self._model = FollowerModel(self.network)
        return self._model

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros_like(self.upper), self.upper.copy()

    def work_counters(self) -> dict[str, float]:
        """LPs solved by ``relaxation_starts`` in this process."""
        return {"relaxation_lp_solves": self._relaxation_lps}

    def relaxation_starts(self, n: int, seed: int) -> np.ndarray:
        """Toll vectors that make the relaxation's paths (and variants) shortest, priced by an LP (relaxation.py)."""
        from bilevel_bench.problems.tolls.relaxation import relaxation_starts

        starts, solves = relaxation_starts(self.instance, self.network, self.upper, n, seed)
        self._relaxation_lps += solves
        return starts

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        return self.model().solve(x, self.tie_break)

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        return revenue(self.instance, x, response.solution["flow"])

    def leader_violation(self, x: np.ndarray, response: FollowerResponse | None) -> float:
        """Negative tolls (tolls are >= 0 in the model); tolls above the bound change nothing (instance.py)."""
        return float(np.sum(np.maximum(0.0, -np.nan_to_num(np.asarray(x, dtype=float)))))

    def objectives(self, x: np.ndarray, response: FollowerResponse) -> tuple[float, float]:
        """Bi-objective view: the revenue against minus the users' total cost, tolls included (both max)."""
        return self.leader_objective(x, response), -float(response.value)

    def linear_structure(self) -> Any:
        """The stacked shortest-path LP (tolls in its costs) and the revenue ``(C T) @ y`` as in ``exact.py``."""
        from bilevel_bench import kkt

        lb, ub = self.bounds()
        return self.network.lp, kkt.LeaderSpec(lb=lb, ub=ub, revenue_weight=1.0)

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        arcs = self.instance.arcs[self.instance.toll_arcs]
        return {"tolls": np.round(np.asarray(x, dtype=float), 9).tolist(), "toll_arcs": arcs.tolist()}

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        from bilevel_bench.problems.tolls.exact import solve_exact

        return solve_exact(self, time_limit=time_limit)
