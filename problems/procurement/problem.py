"""The buyer (leader) posts prices p_i(theta); the market (follower) answers with demands x(theta).

Option ``version`` (HM.jl/LDM.jl ``SolveOptimization``'s version):

- ``"decentralized"`` (default, the bilevel model): leader vector = the prices of every profile and supplier
  in the source's order [p_1(theta^1) .. p_n(theta^1), p_1(theta^2) ..], each in [0, price cap]
  (``ProcurementInstance.price_bound``); transfers t = x . p with x the exact market response.
- ``"centralized"``: the buyer sets the allocation and pays transfers freely. The allocation is still
  reached through the market (every split of the unit is some price vector's response, see
  ``exact.inducing_prices``), so the leader vector is the prices followed by a share rho_i(k) in [0, 1] per
  supplier and own type (order i, k): the per-unit payment is tau_i(k) = theta^k + rho_i(k) (theta^m -
  theta^k) and t_i(theta) = x_i(theta) tau_i(theta_i). IR then holds by construction and only IC can fail.
  No loss of optimality: IR/IC and the cost see only the interim T_i(k) = tau_i(k) X_i(k); the cheapest T
  for the optimal (monotone) X is T(k) = theta^k X(k) + sum_{j>k} (theta^j - theta^{j-1}) X(j), so
  theta^k <= T(k) / X(k) <= theta^m, and X(k) = 0 forces T(k) = 0.

Leader objective (to minimise): the expected cost E[sum_i t_i + 1/2 x'Qx + q@x + k] with the exact market
response x (``follower.py``). The interim IR/IC rows (``mechanism.py``) are the leader's constraints; their
total shortfall is the violation pymoo ranks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.problem import OPTIMAL, BilevelProblem, ExactResult, FollowerResponse
from bilevel_bench.problems.procurement.exact import ATTAIN_TOL
from bilevel_bench.problems.procurement.follower import solve_follower
from bilevel_bench.problems.procurement.instance import ProcurementInstance
from bilevel_bench.problems.procurement.mechanism import expected_cost, slacks

VERSIONS = ("decentralized", "centralized")
#: IR/IC shortfall treated as zero (rows are O(10) sums of products; roundoff is ~1e-15).
SLACK_TOL = 1e-9


class ProcurementProblem(BilevelProblem):
    family = "procurement"
    sense = "min"
    instance: ProcurementInstance

    def __init__(self, instance: ProcurementInstance, tie_break: str = "optimistic", version: str = "decentralized"):
        super().__init__(instance, tie_break)
        if version not in VERSIONS:
            raise InputError("<problem>", "version", f"{version!r} is not one of {VERSIONS}")
        self.version = version

    def options(self) -> dict[str, Any]:
        return {"version": self.version}

    def warnings(self) -> list[str]:
        if self.instance.virtual_costs_increasing():
            return []
        return ["virtual costs not increasing: the source's closed form and theorems do not apply"]

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
        return theta + rho * (theta[:, -1:] - theta)

    def prices(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=float)[: self.n_prices].reshape(-1, self.instance.n)

    def transfers(self, x: np.ndarray, X: np.ndarray) -> np.ndarray:
        """t = x . p (decentralized) or the leader's free transfers (centralized), [profiles, n]."""
        if self.version == "centralized":
            own = self.instance.profiles()  # [s, i] own type index
            return X * self.rates(x)[np.arange(self.instance.n)[None, :], own]
        return X * self.prices(x)

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
        # a binding IR/IC row evaluates to -1e-16 in floating point: shortfalls below SLACK_TOL count as met
        shortfall = -slacks(self.instance, X, self.transfers(x, X))
        return float(np.sum(np.where(shortfall > SLACK_TOL, shortfall, 0.0)))

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        out = {"p": self.prices(x).round(9).tolist()}
        if self.version == "centralized":
            out["tau"] = self.rates(x).round(9).tolist()
        return out

    def solve_exact(self, time_limit: float = 60.0) -> ExactResult:
        """The single-level model of this version (SCIP); notes give the closed form and the other version.

        Where the closed form is attained by a decision of this version (decentralized: the GLOP price LP;
        centralized: inducing prices and envelope transfers, which need a monotone allocation), that
        decision is returned, with the closed-form value, a lower bound of both versions, as the bound: it
        is then optimal exactly. Otherwise the solver's decision is re-evaluated with the exact follower.
        """
        from bilevel_bench.problems.procurement.exact import closed_form, solve_single_level

        other = "centralized" if self.version == "decentralized" else "decentralized"
        result = solve_single_level(self.instance, self.version, time_limit)
        form = closed_form(self.instance)
        second = solve_single_level(self.instance, other, time_limit)
        result.notes = (
            f"closed form {form['value']:.9g} (attained by feasible prices: {form['attained']}; "
            f"conditions {form['conditions']}); {other} {second.objective:.9g} ({second.status})"
        )
        if self.version == "centralized" and result.solution:
            result.solution["x"] = _centralized_vector(self.instance, result.solution)
        attaining = self.closed_form_decision(form)
        if attaining is not None:
            # keep the solver's own answer visible: it is the cross-check of the closed form, not always equal
            # (SCIP may stop at its time limit above it)
            result.notes = f"solver {result.objective:.9g} ({result.status}, bound {result.bound:.9g}); " + result.notes
            result.solution = attaining
            result.objective, result.bound, result.status = form["value"], form["value"], OPTIMAL
            result.method += "; returned decision: the closed form's (it attains the closed form, a lower bound)"
        elif result.solution:
            self.reevaluate(result)
        return result

    def closed_form_decision(self, form: dict[str, Any]) -> dict[str, Any] | None:
        """A decision of this version that attains the closed-form value exactly, or None."""
        if self.version == "decentralized":
            if not form["attained"]:
                return None
            prices = form["prices"]
            decision = {"p": prices.round(12).tolist(), "x": prices.ravel().tolist()}
        else:
            if not form["conditions"]["allocation_monotone"]:
                return None
            decision = {"x": _envelope_vector(self.instance, form["allocation"])}
        evaluation = self.evaluate(np.asarray(decision["x"], dtype=float))
        if not evaluation.feasible or abs(evaluation.value - form["value"]) > ATTAIN_TOL * max(1.0, form["value"]):
            return None
        return decision

    def reevaluate(self, result: ExactResult) -> None:
        """Re-evaluate the solver's decision with the exact follower: the value is the one its decision earns;
        a decision that breaks IR/IC beyond SLACK_TOL (SCIP meets t = x.p and the KKT rows only to its
        tolerances) is not reported as a solution."""
        evaluation = self.evaluate(np.asarray(result.solution["x"], dtype=float))
        if evaluation.feasible:
            result.objective = evaluation.value
            return
        result.notes = (
            f"solver incumbent {result.objective:.9g} rejected: its prices break IR/IC by "
            f"{evaluation.violation:.3g} under the exact follower; " + result.notes
        )
        result.objective, result.status, result.solution = math.nan, "error", {}


def _envelope_vector(inst: ProcurementInstance, d: np.ndarray) -> list[float]:
    """Centralized leader vector for allocation ``d`` with the cheapest IR/IC interim transfers (module
    docstring): T(k) = theta^k X(k) + sum_{j>k} (theta^j - theta^{j-1}) X(j), for a monotone X."""
    from bilevel_bench.problems.procurement.mechanism import interim_weights

    X = np.einsum("iks,si->ik", interim_weights(inst), d)
    rent = np.zeros_like(X)
    rent[:, 1:] = np.diff(inst.types)[None, :] * X[:, 1:]  # (theta^j - theta^{j-1}) X(j)
    above = np.cumsum(rent[:, ::-1], axis=1)[:, ::-1] - rent  # sum over j > k
    return _vector_from_interim(inst, d, X, inst.types[None, :] * X + above)


def _centralized_vector(inst: ProcurementInstance, solution: dict[str, Any]) -> list[float]:
    """Leader vector for the centralized optimum: prices inducing its allocation, then the rates
    tau_i(k) = T_i(k) / X_i(k) of its interim transfers and allocations (0 where X_i(k) = 0)."""
    from bilevel_bench.problems.procurement.mechanism import interim_weights

    X, T = np.asarray(solution["x_alloc"]), np.asarray(solution["t"])
    W = interim_weights(inst)
    return _vector_from_interim(inst, X, np.einsum("iks,si->ik", W, X), np.einsum("iks,si->ik", W, T))


def _vector_from_interim(inst: ProcurementInstance, X: np.ndarray, interim_x: np.ndarray,
                         interim_t: np.ndarray) -> list[float]:  # fmt: skip
    """Prices inducing the profile allocation X, then the shares rho of the rates tau = T / X."""
    from bilevel_bench.problems.procurement.exact import inducing_prices

    tau = np.divide(interim_t, interim_x, out=np.zeros_like(interim_t), where=interim_x > 1e-9)
    theta = inst.types[None, :]
    span = theta[:, -1:] - theta
    rho = np.divide(tau - theta, span, out=np.zeros_like(tau), where=span > 0)
    return [*inducing_prices(inst, X).ravel().tolist(), *np.clip(rho, 0.0, 1.0).ravel().tolist()]
