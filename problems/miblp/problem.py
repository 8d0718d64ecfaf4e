"""A mixed-integer bilevel linear problem: the leader's decision x against the exact MILP follower.

Leader vector: the leader's columns of the MPS (``instance.leader_cols`` order), integer where the MPS says
so, within a box (option ``leader_bounds``):

- ``"hpr"`` (default): the MPS bounds tightened by the high-point relaxation's LPs (``relaxation.py``;
  rounded inward for integers). It loses no bilevel-feasible decision; ``warnings()`` records how many
  bounds it tightened, so every run row says which box the heuristics searched.
- ``"mps"``: the raw MPS bounds (where one is infinite, the HPR bound stands in: heuristics need a box).

Leader objective (minimised, both levels minimise as in BOBILib): ``obj @ (x, y) + obj_offset`` with y the
follower's response (``follower.py``; optimistic or pessimistic). Leader violation: the total amount by
which the leader's rows (the rows the aux file does not list) fail at (x, y), in the rows' units, plus how
far x leaves its MPS bounds. Rows with follower columns (coupling rows) are evaluated at the follower's
response, which is bilevel feasibility as MibS defines it; when the follower has no optimal response
only the rows without follower columns are counted (the core adds its flat penalty and the follower's
graded infeasibility).

``relaxation_starts`` (for bilevel-aware heuristics, ``starts.py``): the high-point relaxation's LP optimum
over the problem's box, then its variants (the follower's objective added with a random weight, or a random
half of the leader's variables fixed), one LP each, counted in ``relaxation_lp_solves``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.problem import BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.miblp.follower import FollowerEngine, make_engine, row_violation, split
from bilevel_bench.problems.miblp.instance import MiblpInstance

LEADER_BOUNDS = ("hpr", "mps")
FOLLOWER_ENGINES = ("auto", "cpsat", "scip")


class MiblpProblem(BilevelProblem):
    family = "miblp"
    sense = "min"
    instance: MiblpInstance
    transient = ("_engine",)

    def __init__(
        self,
        instance: MiblpInstance,
        tie_break: str = "optimistic",
        leader_bounds: str = "hpr",
        follower_engine: str = "auto",
    ) -> None:
        super().__init__(instance, tie_break)
        if leader_bounds not in LEADER_BOUNDS:
            raise InputError("<problem>", "leader_bounds", f"{leader_bounds!r} is not one of {LEADER_BOUNDS}")
        if follower_engine not in FOLLOWER_ENGINES:
            raise InputError("<problem>", "follower_engine", f"{follower_engine!r} is not one of {FOLLOWER_ENGINES}")
        self.leader_bounds = leader_bounds
        self.follower_engine = follower_engine
        self.sp = split(instance)
        lc = instance.leader_cols
        _, _, col_lo, col_hi = instance.bounds_inf()
        self.mps_lower, self.mps_upper = col_lo[lc], col_hi[lc]
        self.hpr_lower, self.hpr_upper, self.bounds_note = self._hpr_box()
        if leader_bounds == "hpr":
            self._lower, self._upper = self.hpr_lower, self.hpr_upper
        else:
            self._lower = np.where(np.isfinite(self.mps_lower), self.mps_lower, self.hpr_lower)
            self._upper = np.where(np.isfinite(self.mps_upper), self.mps_upper, self.hpr_upper)
        self._leader_only = np.flatnonzero(~np.any(self.sp.Hy != 0, axis=1))  # leader rows without y
        self._engine: FollowerEngine | None = None
        self.n_follower_solves = 0
        self._relaxation_lps = 0  # LPs of relaxation_starts

    def _hpr_box(self) -> tuple[np.ndarray, np.ndarray, str]:
        inst = self.instance
        if len(inst.leader_lower):
            return inst.leader_lower, inst.leader_upper, inst.bounds_note
        from bilevel_bench.problems.miblp.relaxation import hpr_leader_box

        return hpr_leader_box(inst)

    def options(self) -> dict[str, Any]:
        return {"leader_bounds": self.leader_bounds, "follower_engine": self.follower_engine}

    def warnings(self) -> list[str]:
        if self.leader_bounds == "hpr":
            return [self.bounds_note]
        return [f"raw MPS leader bounds [{self._lower.min():g}, {self._upper.max():g}] (not tightened)"]

    def work_counters(self) -> dict[str, float]:
        return {
            "follower_milp_solves": float(self.n_follower_solves),
            "relaxation_lp_solves": float(getattr(self, "_relaxation_lps", 0)),
        }

    def relaxation_starts(self, n: int, seed: int) -> np.ndarray:
        """The HPR's LP optimum over this box, then its variants (``starts.hpr_starts``)."""
        from bilevel_bench.problems.miblp.starts import hpr_starts

        lower, upper = self.bounds()
        starts, solves = hpr_starts(self.sp, lower, upper, self.integer_mask(), n, seed)
        self._relaxation_lps = getattr(self, "_relaxation_lps", 0) + solves
        return starts

    # -- the leader's space -------------------------------------------------------------------------
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self._lower.copy(), self._upper.copy()

    def integer_mask(self) -> np.ndarray:
        return self.instance.integer[self.sp.lc].copy()

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        names = self.instance.names()
        x = np.asarray(x, dtype=float)
        return {"leader": {names[j]: float(v) + 0.0 for j, v in zip(self.sp.lc, x, strict=True)}}

    # -- the follower and the leader's objective ----------------------------------------------------
    @property
    def engine(self) -> FollowerEngine:
        engine = getattr(self, "_engine", None)  # transient: dropped when the problem is pickled to a worker
        if engine is None:
            engine = self._engine = make_engine(self.sp, self.follower_engine)
        return engine

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        response = self.engine.solve(np.asarray(x, dtype=float), self.tie_break)
        self.n_follower_solves += response.n_solves
        return response

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        sp = self.sp
        return float(sp.cx @ np.asarray(x, dtype=float) + sp.cy @ response.solution["y"] + sp.offset)

    def leader_violation(self, x: np.ndarray, response: FollowerResponse | None) -> float:
        sp = self.sp
        x = np.asarray(x, dtype=float)
        box = float(np.sum(row_violation(self.mps_lower, self.mps_upper, x)))
        if response is not None and response.ok:
            value = sp.Hx @ x + sp.Hy @ response.solution["y"]
            return box + float(np.sum(row_violation(sp.u_lo, sp.u_hi, value)))
        rows = self._leader_only
        return box + float(np.sum(row_violation(sp.u_lo[rows], sp.u_hi[rows], sp.Hx[rows] @ x)))

    # -- the exact baseline -------------------------------------------------------------------------
    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        from bilevel_bench.problems.miblp.exact import solve_exact

        return solve_exact(self, time_limit=time_limit)
