"""The buyer (leader) posts prices p_i(theta); the market (follower) answers with demands x(theta).

Option ``version`` (HM.jl/LDM.jl ``SolveOptimization``'s version):

- ``"decentralized"`` (default, the bilevel model): leader vector = the prices of every profile and supplier
  in the source's order [p_1(theta^1) .. p_n(theta^1), p_1(theta^2) ..], each in [0, price cap]
  (``ProcurementInstance.price_bound``); transfers t = x . p with x the exact market response.
- ``"centralized"``: the buyer sets the allocation and pays transfers freely. The allocation is still
  reached through the market (inelastic: every split of the unit is some price vector's response, see
  ``prices.inducing_prices``; elastic: the allocations whose marginal values are >= 0 on their support),
  so the leader vector is the prices followed by a share rho_i(k) in [0, 1] per supplier and own type
  (order i, k): the per-unit payment is tau_i(k) = theta^k + rho_i(k) (theta^m - theta^k) and
  t_i(theta) = x_i(theta) tau_i(theta_i). IR, and ex-post IR, then hold by construction and only IC can
  fail. No loss of optimality: interim IR/IC and the cost see only the interim T_i(k) = tau_i(k) X_i(k);
  IC forces X non-increasing in the own type, and the cheapest T for such an X is
  T(k) = theta^k X(k) + sum_{j>k} (theta^j - theta^{j-1}) X(j), so theta^k <= T(k) / X(k) <= theta^m, and
  X(k) = 0 forces T(k) = 0. Hence ex-post IR never raises the centralized cost.

Instance switches ``expost_ir`` and ``elastic`` (``instance.py``) change the rows and the market; the
problem is the same code for all four combinations.

Leader objective (to minimise): the expected cost E[sum_i t_i + 1/2 x'Qx + q@x + k] with the exact market
response x (``follower.py``). The IR/IC rows (``mechanism.py``, with the ex-post IR rows when asked) are the
leader's constraints. **Violation** (graded): the total shortfall sum_rows max(0, -slack) of those rows, in
money units (each interim row is a type's expected utility; each ex-post row is weighted by the probability
of the others' types, so the ex-post rows of a type add up to its interim IR row), shortfalls below
:data:`SLACK_TOL` counted as met. It is zero exactly on the feasible set and grows linearly with the
shortfall, so searches have a slope. The market itself is never infeasible (``follower.py``).

``repair_solver_decision`` (the core's hook, before it re-verifies an exact result): a decision whose IR/IC
shortfall is at most ``prices.REPAIR_MAX_VIOLATION`` (a single-level solver's tolerance) is moved, by the
least L1 change, onto the IR/IC polytope (``prices.repair_decision``: at the market's own allocation where
that is possible, by an exact LP; else with the allocation moving along the market's affine response); the
repaired vector is returned only if the exact market and rows certify it and its value is within
``prices.REPAIR_MAX_VALUE_CHANGE`` (relative) of the decision's. Anything else is returned unchanged, and the core reports it as it is.

``project`` (the hook of the heuristics' ``constraints = "repair"``): a decision that breaks IR/IC is moved
onto the IR/IC polytope at the market's allocation X of its own response, by the least L1 change, with one
LP (``prices._fixed_allocation``, step 1 of the repair above, without its certification and at any size of
shortfall): decentralized with inelastic demand, one shift per profile added to all its active prices (an
inactive supplier's price moves with it while it stays out), which leaves the market's answer unchanged, so
the projected prices are feasible whenever the LP is; centralized, the payment shares at fixed X (the prices,
hence the allocation, unchanged). Where that LP has no solution (elastic demand, where the allocation pins
the prices, or no shift within the price box meets IR/IC at that allocation), one linearised step instead
(``prices._linearised``, step 2 of the repair: the least L1 change of the whole leader vector that meets the
rows to first order, the allocation moving along the market's affine response on its support, one LP); its
decision may still fall short by the neglected second-order term, and the run keeps it only if it is not
worse. The heuristics evaluate the projected decision with the exact market like any other.

``relaxation_starts`` (``relaxation.py``): leader vectors asking the market for the closed form's allocation
(the virtual-cost relaxation, a lower bound of both versions) and for allocations of perturbed virtual
costs, priced at the cheapest IR/IC prices inducing them, and the posted price theta^m (always feasible, second).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.problem import BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.procurement.follower import solve_follower
from bilevel_bench.problems.procurement.instance import ProcurementInstance
from bilevel_bench.problems.procurement.mechanism import constraint_matrices, expected_cost

VERSIONS = ("decentralized", "centralized")
#: IR/IC shortfall treated as zero (rows are O(10) sums of products; roundoff is ~1e-15).
SLACK_TOL = 1e-9


class ProcurementProblem(BilevelProblem):
    family = "procurement"
    sense = "min"
    instance: ProcurementInstance
    transient = ("_rows",)

    def __init__(self, instance: ProcurementInstance, tie_break: str = "optimistic", version: str = "decentralized"):
        super().__init__(instance, tie_break)
        if version not in VERSIONS:
            raise InputError("<problem>", "version", f"{version!r} is not one of {VERSIONS}")
        self.version = version
        self._relaxation_lps = 0  # LPs of relaxation_starts and project

    def work_counters(self) -> dict[str, float]:
        """LPs solved by ``relaxation_starts`` and ``project`` in this process."""
        return {"relaxation_lp_solves": self._relaxation_lps}

    def relaxation_starts(self, n: int, seed: int) -> np.ndarray:
        """The closed form's allocation, the posted price, then perturbed allocations, priced (relaxation.py)."""
        from bilevel_bench.problems.procurement.relaxation import relaxation_starts

        starts, solves = relaxation_starts(self, n, seed)
        self._relaxation_lps += solves
        return starts

    def options(self) -> dict[str, Any]:
        return {"version": self.version}

    def warnings(self) -> list[str]:
        out = []
        if not self.instance.virtual_costs_increasing():
            out.append("virtual costs not increasing: the source's closed form and theorems do not apply")
        if self.instance.elastic and self.instance.model == "hm":
            out.append(
                "elastic Hotelling demand is this project's extension (the general transport cost without "
                "sum x = 1; the source gives no elastic Hotelling model)"
            )
        return out

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(Gx, Gt) of the IR/IC rows, built once per process."""
        rows: tuple[np.ndarray, np.ndarray] | None = getattr(self, "_rows", None)
        if rows is None:
            Gx, Gt, _ = constraint_matrices(self.instance)
            rows = self._rows = (Gx, Gt)
        return rows

    @property
    def n_prices(self) -> int:
        return len(self.instance.profiles()) * self.instance.n

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        upper = np.full(self.n_prices, self.instance.price_bound())
        if self.version == "centralized":
            upper = np.concatenate([upper, np.ones(self.instance.n * self.instance.m)])
        return np.zeros(len(upper)), upper

    def rates(self, x: np.ndarray) -> np.ndarray:
        """Centralized: the per-unit payment rates tau[i, k] = theta^k + rho[i, k] (theta^m - theta^k)."""
        rho = np.asarray(x, dtype=float)[self.n_prices :].reshape(self.instance.n, self.instance.m)
        theta = self.instance.types[None, :]
        return np.asarray(theta + rho * (theta[:, -1:] - theta))

    def prices(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=float)[: self.n_prices].reshape(-1, self.instance.n)

    def transfers(self, x: np.ndarray, X: np.ndarray) -> np.ndarray:
        """t = x . p (decentralized) or the leader's free transfers (centralized), [profiles, n]."""
        if self.version == "centralized":
            own = self.instance.profiles()  # [s, i] own type index
            return np.asarray(X * self.rates(x)[np.arange(self.instance.n)[None, :], own])
        return np.asarray(X * self.prices(x))

    def follower_response(self, x: np.ndarray) -> FollowerResponse:
        # strictly convex consumers' QP: the response is unique, optimistic = pessimistic
        return solve_follower(self.instance, self.prices(x))

    def leader_objective(self, x: np.ndarray, response: FollowerResponse) -> float:
        X = response.solution["x"]
        return expected_cost(self.instance, X, self.transfers(x, X))

    def leader_violation(self, x: np.ndarray, response: FollowerResponse | None) -> float:
        if response is None or not response.ok:
            return 0.0
        X = response.solution["x"]
        Gx, Gt = self.rows()
        # a binding IR/IC row evaluates to -1e-16 in floating point: shortfalls below SLACK_TOL count as met
        short = -(Gx @ np.ravel(X) + Gt @ np.ravel(self.transfers(x, X)))
        return float(np.sum(np.where(short > SLACK_TOL, short, 0.0)))

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        out = {"p": self.prices(x).round(9).tolist()}
        if self.version == "centralized":
            out["tau"] = self.rates(x).round(9).tolist()
        return out

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        """The family's exact baseline (``exact.solve_exact``): closed form where attained, else SCIP."""
        from bilevel_bench.problems.procurement.exact import solve_exact

        return solve_exact(self, time_limit)

    def project(self, x: np.ndarray, response: FollowerResponse) -> np.ndarray | None:
        """The least L1 change onto the IR/IC polytope at the response's allocation (module docstring)."""
        from bilevel_bench.problems.procurement.prices import _fixed_allocation, _linearised

        if not response.ok or self.leader_violation(x, response) == 0.0:
            return None
        lb, ub = self.bounds()
        x = np.asarray(x, dtype=float)
        self._relaxation_lps += 1
        projected = _fixed_allocation(self, x, np.asarray(response.solution["x"], dtype=float))
        if projected is None:  # the allocation must move (elastic demand, or no shift meets IR/IC)
            self._relaxation_lps += 1
            projected = _linearised(self, x)
        return None if projected is None else np.clip(projected, lb, ub)

    def repair_solver_decision(self, x: np.ndarray) -> np.ndarray:
        """Prices (and, centralized, payment shares) that break IR/IC by a solver's tolerance, moved onto the
        IR/IC polytope by the least change (module docstring; ``prices.repair_decision``)."""
        from bilevel_bench.problems.procurement.prices import (
            REPAIR_MAX_VALUE_CHANGE,
            REPAIR_MAX_VIOLATION,
            repair_decision,
        )

        x = np.asarray(x, dtype=float)
        evaluation = self.evaluate(x)
        if not evaluation.follower.ok or evaluation.violation == 0.0 or evaluation.violation > REPAIR_MAX_VIOLATION:
            return x
        repaired = repair_decision(self, x)
        if repaired is None:
            return x
        check = self.evaluate(repaired)
        moved = abs(check.value - evaluation.value) > REPAIR_MAX_VALUE_CHANGE * max(1.0, abs(evaluation.value))
        return repaired if check.feasible and not moved else x
