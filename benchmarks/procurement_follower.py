"""Market follower speed, measured side by side: vectorised closed form against the KKT active-set
enumeration and SCIP's QP, per profile solve. Run: python benchmarks/procurement_follower.py"""

from __future__ import annotations

import time

import numpy as np

from bilevel_bench.problems.procurement.follower import active_set_demand, closed_form_demand, qp_demand
from bilevel_bench.problems.procurement.instance import generate


def per_solve(fn, prices: np.ndarray) -> float:
    start = time.perf_counter()
    fn(prices)
    return (time.perf_counter() - start) / len(prices)


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'instance':<22}{'closed form us':>16}{'active set us':>15}{'SCIP QP us':>13}{'AS/CF':>8}{'QP/CF':>9}")
    for model, n in (("hm", 2), ("hm", 4), ("ldm", 2), ("ldm", 3)):
        inst = generate(model=model, n=n, m=2, seed=1, gamma=0.3)
        prices = rng.uniform(9.0, 13.0, (400, n))
        cf = per_solve(lambda P, inst=inst: closed_form_demand(inst, P), prices)
        active = per_solve(lambda P, inst=inst: [active_set_demand(inst, p) for p in P], prices)
        scip = per_solve(lambda P, inst=inst: [qp_demand(inst, p) for p in P], prices[:40])
        print(f"{inst.name:<22}{cf * 1e6:>16.2f}{active * 1e6:>15.1f}{scip * 1e6:>13.0f}"
              f"{active / cf:>8.0f}{scip / cf:>9.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
