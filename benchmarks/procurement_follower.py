"""Procurement: the market follower and the whole GA loop, side by side, with the load average.

Run: python benchmarks/procurement_follower.py [--evals 200] [--repeats 3]

(a) **One follower call** (every profile's market answer to one leader decision, as an evaluation needs it):
    ours, the vectorised closed form (``follower.solve_follower``), against a per-call solver build, the
    consumers' QP built and solved by SCIP (OR-Tools MathOpt, the only QP solver there) for every profile
    (``follower.qp_demand``), and against the per-profile KKT enumeration (``follower.active_set_demand``,
    exact, the closed form's check). Best of ``--repeats`` interleaved rounds; printed per call and as ratios.
(b) **The whole GA loop** (``benchmarks/common.py`` ``ga_loop_ratio``): ours (``run_heuristic``: the closed-form
    follower, cached IR/IC rows, batched evaluation) against the naive nesting, a pymoo ``ElementwiseProblem``
    whose ``_evaluate`` solves every profile's QP with SCIP from scratch and computes the cost and the IR/IC
    shortfall itself (rows short by less than 1e-3, SCIP's accuracy, count as met); same GA, seed and budget (``--evals``, pop 40). The best values differ a little: SCIP's
    QP is accurate to ~1e-3 in the demands, so the naive loop sees a slightly different market.

Instances: both shipped examples, the elastic one, and a 3-supplier ex-post IR case (8 profiles).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

import numpy as np
from common import best_of, footer, ga_loop_ratio, header, ratio_line

from bilevel_bench.problems.procurement.follower import active_set_demand, qp_demand, solve_follower
from bilevel_bench.problems.procurement.instance import (
    ProcurementInstance,
    generate,
    hm_example,
    ldm_elastic_example,
    ldm_example,
)
from bilevel_bench.problems.procurement.mechanism import expected_cost, shortfall
from bilevel_bench.problems.procurement.problem import ProcurementProblem

#: Shortfall per IR/IC row the naive loop ignores (its QP answers are accurate to ~1e-3 only).
NAIVE_ROW_TOL = 1e-3


def instances() -> list[ProcurementInstance]:
    return [hm_example(), ldm_example(), ldm_elastic_example(), generate(model="hm", n=3, m=2, seed=1, expost_ir=True)]


def naive_evaluate(inst: ProcurementInstance, x: np.ndarray) -> tuple[float, float]:
    """(F, G) for one decentralized decision, built from scratch: SCIP's QP per profile, then cost and shortfall."""
    prices = np.asarray(x, dtype=float).reshape(-1, inst.n)
    X = np.array([qp_demand(inst, p) for p in prices])
    # rows short by less than SCIP's accuracy in the demands (~1e-3) count as met, or nothing would be feasible
    return expected_cost(inst, X, X * prices), shortfall(inst, X, X * prices, tol=NAIVE_ROW_TOL)


def per_profile(solve: Callable[..., np.ndarray], inst: ProcurementInstance, prices: np.ndarray) -> list[np.ndarray]:
    return [solve(inst, p) for p in prices]


def follower_calls(repeats: int) -> None:
    rng = np.random.default_rng(0)
    print("(a) one follower call: every profile's market answer to one decision")
    for inst in instances():
        prices = rng.uniform(9.0, 13.0, (len(inst.profiles()), inst.n))
        solve_follower(inst, prices)  # warm up (imports, first-call overhead) outside the timing
        best = best_of(
            {
                "closed form": partial(solve_follower, inst, prices),
                "SCIP QP per profile": partial(per_profile, qp_demand, inst, prices),
                "KKT enumeration": partial(per_profile, active_set_demand, inst, prices),
            },
            repeats,
        )
        ours, scip, kkt = best["closed form"], best["SCIP QP per profile"], best["KKT enumeration"]
        print(
            f"  {inst.name} ({inst.variant()}, {len(prices)} profiles): closed form {ours * 1e6:.0f} us per call; "
            f"SCIP QP built per call {scip * 1e6:.0f} us ({scip / ours:.0f}x); "
            f"KKT enumeration per profile {kkt * 1e6:.0f} us ({kkt / ours:.1f}x)"
        )


def ga_loops(evals: int) -> None:
    print(f"(b) the whole GA loop, decentralized version, {evals} evaluations, pop 40, seed 1")
    for inst in instances():
        problem = ProcurementProblem(inst)
        ours_s, naive_s, ours_best, naive_best = ga_loop_ratio(problem, partial(naive_evaluate, inst), max_evals=evals)
        print(
            "  "
            + ratio_line(f"{inst.name} ({inst.variant()})", ours_s, naive_s, f"(naive nesting / ours, {evals} evals)")
        )
        naive = "no feasible decision" if np.isnan(naive_best) else f"{naive_best:.6g} (its own evaluation, SCIP's QP)"
        print(f"    best values: ours {ours_best:.6g}, naive {naive}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evals", type=int, default=200, help="GA budget of both loops (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds for (a) (default 3)")
    args = parser.parse_args()
    header("procurement: market follower and GA loop")
    follower_calls(args.repeats)
    ga_loops(args.evals)
    footer()


if __name__ == "__main__":
    main()
