"""The leader interdicts items; the follower packs a 0-1 knapsack from the rest; the leader minimises its profit.

Leader vector: ``x_i in {0, 1}`` (interdict item i), all integer, in [0, 1]. Leader's constraint:
``sum_i wL_i x_i <= CL``. Leader objective (to **minimise**): the follower's optimal profit ``phi(x)``
(``follower.py``). Optimistic and pessimistic readings coincide in value (the objective is the follower's own
optimum); both return the same response.

``leader_violation``: the capacity excess relative to the capacity, ``max(0, wL.x - CL) / max(CL, 1)``.

``repair`` (applied by the evaluator to every candidate): a cheap, deterministic map onto the leader's feasible
set that leaves feasible decisions unchanged. The vector is rounded to 0/1; while the interdictions exceed CL,
interdictions are dropped in one fixed order: the smallest ``p_i / wL_i`` first (the least follower profit
denied per unit of leader capacity; ties by the larger leader weight, then by index; items of leader weight 0
never need dropping). It only removes interdictions, never adds any.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bilevel_bench.problem import BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.interdiction.follower import interdicted, solve_follower
from bilevel_bench.problems.interdiction.instance import InterdictionInstance


def drop_order(instance: InterdictionInstance) -> np.ndarray:
    """Items in the order the repair drops their interdiction: ascending p/wL, larger wL first, then index.

    Items of leader weight 0 are left out: they never make the leader's load exceed its capacity.
    """
    weighted = np.flatnonzero(instance.leader_weight > 0)
    ratio = instance.profit[weighted] / instance.leader_weight[weighted]
    order = np.lexsort((weighted, -instance.leader_weight[weighted], ratio))
    return weighted[order]


class InterdictionProblem(BilevelProblem):
    family = "interdiction"
    sense = "min"
    instance: InterdictionInstance

    def __init__(self, instance: InterdictionInstance, tie_break: str = "optimistic") -> None:
        super().__init__(instance, tie_break)
        self._drop_order = drop_order(instance)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.instance.n
        return np.zeros(n), np.ones(n)

    def integer_mask(self) -> np.ndarray:
        return np.ones(self.instance.n, dtype=bool)

    def load(self, x: np.ndarray) -> int:
        """The leader capacity the interdictions of ``x`` use."""
        return int(self.instance.leader_weight[interdicted(x)].sum())

    def repair(self, x: np.ndarray) -> np.ndarray:
        chosen = interdicted(x)
        excess = int(self.instance.leader_weight[chosen].sum()) - self.instance.leader_capacity
        if excess > 0:
            order = self._drop_order[chosen[self._drop_order]]
            freed = np.cumsum(self.instance.leader_weight[order])
            k = int(np.searchsorted(freed, excess))  # the first k + 1 drops free enough capacity
            chosen[order[: k + 1]] = False
        return chosen.astype(float)

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        inst = self.instance
        return solve_follower(inst.profit, inst.follower_weight, inst.follower_capacity, x)

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        return float(response.value)

    def leader_violation(self, x: np.ndarray, response: FollowerResponse | None) -> float:
        excess = self.load(x) - self.instance.leader_capacity
        return max(0.0, excess / max(self.instance.leader_capacity, 1))

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        return {"interdicted": np.flatnonzero(interdicted(x)).tolist()}

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        from bilevel_bench.problems.interdiction.exact import solve_exact

        return solve_exact(self, time_limit=time_limit)
