"""Speed of the seller-buyer family's solvers, measured side by side in one run.

    python benchmarks/seller_buyer_evaluation.py

Prints: buyer enumeration vs CP-SAT per solve (same offers), and one seller's exact best response vs a
GA best response (run_heuristic, 200 evaluations), with the ratio of times and of profits.
"""

from __future__ import annotations

import time

import numpy as np

from bilevel_bench.experiments.studies.seller_buyer import ga_best_response
from bilevel_bench.problems.seller_buyer.exact import best_response
from bilevel_bench.problems.seller_buyer.follower import enumerate_buyer, offer_price, solve_buyer_cpsat
from bilevel_bench.problems.seller_buyer.instance import generate, paper_instance


def _timed(fn, repeat: int) -> tuple[float, object]:
    start = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return (time.perf_counter() - start) / repeat, out


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'instance':<14}{'n':>3}{'enum ms':>10}{'cpsat ms':>10}{'ratio':>8}{'same set':>10}")
    for inst in (paper_instance(), generate(6, 1), generate(12, 2)):
        D = np.round(rng.uniform(inst.Dmin, inst.Dmax))
        v = offer_price(inst, D, rng.uniform(1.0, 2.0, inst.n))
        t_enum, choice = _timed(lambda inst=inst, D=D, v=v: enumerate_buyer(inst, D, v), 20)
        t_cp, (accepted, _, _) = _timed(lambda inst=inst, D=D, v=v: solve_buyer_cpsat(inst, D, v), 3)
        same = bool(np.array_equal(accepted, choice.accepted))
        print(f"{inst.name:<14}{inst.n:>3}{1e3 * t_enum:>10.2f}{1e3 * t_cp:>10.1f}{t_cp / t_enum:>8.0f}{same!s:>10}")
    print(
        f"\n{'instance':<14}{'exact s':>9}{'GA s':>8}{'time ratio':>11}{'exact profit':>14}{'GA profit':>11}{'GA/exact':>9}"
    )
    for inst in (paper_instance(), generate(6, 1)):
        D, R = (inst.Dmin + inst.Dmax) / 2, np.full(inst.n, 2.0)
        t_ex, br = _timed(lambda inst=inst, D=D, R=R: best_response(inst, 0, D, R), 3)
        t_ga, ga = _timed(lambda inst=inst, D=D, R=R: ga_best_response(inst, 0, D, R, seed=1, max_evals=200), 1)
        print(
            f"{inst.name:<14}{t_ex:>9.3f}{t_ga:>8.2f}{t_ga / t_ex:>11.0f}{br.profit:>14.3f}{ga[2]:>11.3f}{ga[2] / br.profit:>9.3f}"
        )


if __name__ == "__main__":
    main()
