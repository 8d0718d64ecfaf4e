"""Follower solves per second: the vectorised numpy enumeration against CP-SAT per customer, side by side.

Run: python benchmarks/retail_follower.py [--instance medium] [--decisions 20]

Both sides find every customer's optimal set (the optimum and all optimal choices, which the tie rule needs)
for the same random discount vectors, and their answers are compared (they must agree). A "follower solve"
is one customer's optimal set for one decision; CP-SAT takes two solves for it (the optimum, then every
solution at it), built from scratch each time, as a per-call model build would.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import footer, header, ratio_line

from bilevel_bench.problems.retail import FAMILY
from bilevel_bench.problems.retail.follower import choice_table, optimal_set_cpsat, solve_all, to_cents
from bilevel_bench.problems.retail.instance import RetailInstance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="medium")
    parser.add_argument("--decisions", type=int, default=20)
    args = parser.parse_args()
    inst = RetailInstance.load(FAMILY.data_dir / f"{args.instance}.json")
    header(f"retail follower: {args.instance} {inst.size()}")
    rng = np.random.default_rng(0)
    zmax = to_cents(inst.zmax)
    decisions = [rng.integers(0, zmax + 1, (inst.S, inst.P)) for _ in range(args.decisions)]
    start = time.process_time()
    table = choice_table(inst)
    table_s = time.process_time() - start
    start = time.process_time()
    fast = [solve_all(table, z) for z in decisions]
    numpy_s = time.process_time() - start
    start = time.process_time()
    slow = [[optimal_set_cpsat(inst, k, z) for k in range(inst.K)] for z in decisions]
    cpsat_s = time.process_time() - start
    agree = all(
        (int(a.best[k]), np.flatnonzero(a.optimal[k]).tolist()) == b[k]
        for a, b in zip(fast, slow, strict=True)
        for k in range(inst.K)
    )
    solves = inst.K * len(decisions)
    print(
        f"{len(decisions)} decisions x {inst.K} customers = {solves} follower solves per side, "
        f"{len(table.choices)} choices enumerated per customer; answers agree: {agree}"
    )
    print(f"{'solver (CPU seconds)':<30}{'seconds':>10}{'solves/s':>12}")
    print(
        f"{'numpy enumeration':<30}{numpy_s:>10.4f}{solves / numpy_s:>12.0f}   (+ {table_s:.4f} s once for the table)"
    )
    print(f"{'CP-SAT per customer':<30}{cpsat_s:>10.4f}{solves / cpsat_s:>12.0f}")
    print(ratio_line("follower call vs a CP-SAT model built per call", numpy_s, cpsat_s))
    footer()


if __name__ == "__main__":
    main()
