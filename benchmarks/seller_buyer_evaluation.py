"""The seller-buyer family's solvers side by side, with the load average (see ``benchmarks/common.py``).

    python benchmarks/seller_buyer_evaluation.py [--evals 300] [--ga-evals 200 1000] [--seeds 3]

Prints:

(a) one follower call: the buyer's exact enumeration (numpy, every accepted set) against a CP-SAT model
    built and solved per call (three lexicographic stages, as ``solve_buyer_cpsat``), same offers;
(b) the whole GA loop on one seller's best response: the project's run (``run_heuristic``: batched
    evaluation, cache, enumeration follower) against the naive nesting (a pymoo ``ElementwiseProblem``
    that builds and solves the CP-SAT follower from scratch at every evaluation), same GA, seed and budget,
    on generated 4- and 6-seller markets (on the paper's 10 sellers one CP-SAT call takes about 2 s, (a),
    so the naive loop would take minutes);
(c) the GA best response's share of the exact (certified) best-response profit, on the family's problem
    (ties in the seller's favour) and under the game's one buyer rule, per budget, over seeds.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from common import best_of, footer, ga_loop_ratio, header

from bilevel_bench.experiments.studies.seller_buyer import ga_best_response
from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problems.seller_buyer.exact import best_response
from bilevel_bench.problems.seller_buyer.follower import enumerate_buyer, offer_price, seller_profit, solve_buyer_cpsat
from bilevel_bench.problems.seller_buyer.instance import SellerBuyerInstance, generate, paper_instance
from bilevel_bench.problems.seller_buyer.problem import SellerBestResponseProblem, default_start


def _enumerate_20(inst: SellerBuyerInstance, D: np.ndarray, v: np.ndarray) -> None:
    for _ in range(20):
        enumerate_buyer(inst, D, v)


def follower_calls() -> None:
    print("\n(a) one follower call: enumeration vs a CP-SAT model built per call (best of 3 interleaved)")
    print(f"{'instance':<14}{'n':>3}{'enum ms':>10}{'cpsat ms':>10}{'ratio':>8}{'same set':>10}")
    rng = np.random.default_rng(0)
    for inst in (paper_instance(), generate(6, 1), generate(12, 2)):
        D = np.round(rng.uniform(inst.Dmin, inst.Dmax))
        v = offer_price(inst, D, rng.uniform(1.0, 2.0, inst.n))
        calls: dict[str, Callable[[], Any]] = {
            "enum": partial(_enumerate_20, inst, D, v),
            "cpsat": partial(solve_buyer_cpsat, inst, D, v),
        }
        seconds = best_of(calls, repeats=3)
        t_enum, t_cp = seconds["enum"] / 20, seconds["cpsat"]
        same = bool(np.array_equal(solve_buyer_cpsat(inst, D, v)[0], enumerate_buyer(inst, D, v).accepted))
        print(f"{inst.name:<14}{inst.n:>3}{1e3 * t_enum:>10.2f}{1e3 * t_cp:>10.1f}{t_cp / t_enum:>8.0f}{same!s:>10}")


def naive_evaluator(problem: SellerBestResponseProblem) -> Callable[[np.ndarray], tuple[float, float]]:
    """The naive nesting's evaluation: the CP-SAT follower built and solved from scratch, every call."""
    inst, j = problem.instance, problem.seller

    def evaluate(x: np.ndarray) -> tuple[float, float]:
        D, R = problem.full_profile(x)
        v = offer_price(inst, D, R)
        accepted, _, _ = solve_buyer_cpsat(inst, D, v, problem.tie_break, focal=j)
        profit = float(seller_profit(inst, D[j], v[j], j)) if accepted[j] else 0.0
        return -profit, problem.leader_violation(np.asarray(x, dtype=float), None)

    return evaluate


def ga_loop(evals: int) -> None:
    print(f"\n(b) the whole GA loop, {evals} evaluations, GA pop 20, seed 1: ours vs the naive nesting")
    print(f"{'instance':<14}{'ours s':>8}{'naive s':>9}{'ratio':>8}{'ours best':>11}{'naive best':>12}")
    for inst in (generate(4, 3), generate(6, 1)):  # the paper: ~2 s per CP-SAT call, see (a)
        problem = SellerBestResponseProblem(inst, seller=0)
        ours_s, naive_s, ours, naive = ga_loop_ratio(problem, naive_evaluator(problem), evals, seed=1, pop_size=20)
        print(f"{inst.name:<14}{ours_s:>8.2f}{naive_s:>9.2f}{naive_s / ours_s:>8.1f}{ours:>11.3f}{-naive:>12.3f}")


def _profiles(inst: SellerBuyerInstance) -> list[tuple[str, np.ndarray, np.ndarray]]:
    start = default_start(inst)
    rng = np.random.default_rng(5)
    return [
        ("start", start[: inst.n], start[inst.n :]),
        ("random", rng.uniform(inst.Dmin, inst.Dmax), rng.uniform(1.0, 2.5, inst.n)),
    ]


def ga_share(budgets: list[int], seeds: int) -> None:
    print(f"\n(c) GA best response / exact best response (certified), seller 0, GA pop 20, {seeds} seeds")
    print(f"{'instance':<14}{'profile':<9}{'ties':<11}{'exact':>10}{'certified':>10}", end="")
    print("".join(f"{f'GA@{b} min':>12}{'median':>8}" for b in budgets))
    for inst in (paper_instance(), generate(6, 1), generate(4, 3)):
        for label, D, R in _profiles(inst):
            for ties, focal in (("seller's", True), ("game rule", False)):
                exact = best_response(inst, 0, D, R, focal=focal, certify=True)
                line = f"{inst.name:<14}{label:<9}{ties:<11}{exact.profit:>10.3f}{exact.certified!s:>10}"
                for budget in budgets:
                    shares = [_ga_profit(inst, D, R, focal, seed, budget) / exact.profit for seed in range(seeds)]
                    line += f"{min(shares):>12.3f}{float(np.median(shares)):>8.3f}"
                print(line)


def _ga_profit(inst: SellerBuyerInstance, D: np.ndarray, R: np.ndarray, focal: bool, seed: int, evals: int) -> float:
    if not focal:
        return ga_best_response(inst, 0, D, R, seed, max_evals=evals)[2]
    problem = SellerBestResponseProblem(inst, seller=0, profile=[*map(float, D), *map(float, R)])
    return float(run_heuristic(problem, "ga", {"pop_size": 20}, seed, Budget(max_evals=evals)).best_value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evals", type=int, default=300, help="GA budget of the loop comparison (b)")
    parser.add_argument("--ga-evals", type=int, nargs="+", default=[200, 1000], help="GA budgets of (c)")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    header("seller_buyer: follower calls, GA loop vs naive nesting, GA best response vs exact")
    follower_calls()
    ga_loop(args.evals)
    ga_share(args.ga_evals, args.seeds)
    footer()


if __name__ == "__main__":
    main()
