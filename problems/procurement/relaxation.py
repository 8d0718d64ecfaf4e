"""Relaxation starts of the procurement mechanism, for bilevel-aware heuristics (``sampling = "hpr"``).

**The relaxation.** The closed form of ``exact.py`` (section 1 there): with the virtual costs phi in place of
the transfers, the allocation d = argmin E[phi@x + 1/2 x'Qx + q@x + k] over the market's feasible
allocations, whose value is a lower bound of both versions in every variant (Myerson: every mechanism
meeting interim IR of the top type and the downward IC rows pays at least E[phi@x]). It relaxes the market's
response and the IR/IC rows at once; its allocation is what the buyer would like the market to do.

**The starts** (:func:`relaxation_starts`). Each allocation is turned into a leader vector of the problem's
version: decentralized, the cheapest prices inducing it under IR/IC (``prices.cheapest_prices``, an LP over
one level per profile; elastic demand pins them) where they exist, else the prices inducing it
(``prices.inducing_prices``, which may break IR/IC: the run's constraint handling takes it from there);
centralized, the prices inducing it with the envelope transfers (``exact.envelope_vector``). Start 0 is the
closed form's allocation; start 1 the posted price theta^m to every type (decentralized; centralized: pay
theta^m per unit), which meets IC, IR and ex-post IR by construction (``exact.fallback_decisions``), so that
every ``hpr`` population holds a feasible decision; start k >= 2 the allocation of the same problem with
every virtual cost multiplied by exp(0.3 g), g standard normal (other allocations near the relaxation's).
Duplicates are dropped; each allocation is a closed form (or the market's own QP), each pricing one LP,
counted in ``relaxation_lp_solves``. Deterministic for a seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bilevel_bench.problems.procurement.follower import closed_form_demand
from bilevel_bench.problems.procurement.prices import cheapest_prices, inducing_prices

if TYPE_CHECKING:
    from bilevel_bench.problems.procurement.problem import ProcurementProblem

#: Spread of the virtual costs' perturbation of the variants (log scale).
PERTURBATION = 0.3


def allocation_vector(problem: ProcurementProblem, d: np.ndarray) -> tuple[np.ndarray, int]:
    """A leader vector of the problem's version that asks the market for allocation d, and the LPs solved."""
    from bilevel_bench.problems.procurement.exact import envelope_vector

    inst = problem.instance
    if problem.version == "centralized":
        return envelope_vector(inst, d), 0
    Gx, Gt = problem.rows()
    prices = cheapest_prices(inst, d, Gx, Gt)
    if prices is None:
        prices = inducing_prices(inst, d)
    return np.asarray(prices, dtype=float).ravel(), 0 if inst.elastic else 1


def relaxation_starts(problem: ProcurementProblem, n: int, seed: int) -> tuple[np.ndarray, int]:
    """Up to n leader vectors (module docstring): the closed form's first, the posted price second."""
    from bilevel_bench.problems.procurement.exact import fallback_decisions, virtual_cost_profiles

    inst = problem.instance
    rng = np.random.default_rng(seed)
    lb, ub = problem.bounds()
    phi = virtual_cost_profiles(inst)
    found: list[np.ndarray] = []
    solves = 0
    posted = fallback_decisions(problem, {"prices": None, "conditions": {"allocation_monotone": False}})[-1][1]
    for k in range(n):
        if k == 1:
            vector = np.asarray(posted, dtype=float)
        else:
            costs = phi if k == 0 else phi * np.exp(PERTURBATION * rng.standard_normal(phi.shape))
            vector, lps = allocation_vector(problem, closed_form_demand(inst, costs))
            solves += lps
        vector = np.clip(vector, lb, ub)
        if np.all(np.isfinite(vector)) and not any(np.array_equal(vector, v) for v in found):
            found.append(vector)
    return (np.array(found) if found else np.zeros((0, len(lb)))), solves
