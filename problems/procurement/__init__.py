"""Optimal procurement with Hotelling (HM) and affine (LDM) demand: a buyer and n suppliers with private types.

Source: the Julia code base HM.jl / LDM.jl / utilities.jl / examples.jl, described in
``procurement_mechanism_hm_ldm.md``. The buyer (leader) posts type-contingent prices; the market (follower)
answers with the consumers' demands (``follower.py``); IR/IC are interim, plus ex-post IR when the instance
asks (``mechanism.py``). Instance switches ``expost_ir`` and ``elastic`` (demands need not sum to one) give
the source's four model variants (``instance.py``). Problem option ``version``: "decentralized" (transfers
t = x.p, the bilevel model) or "centralized" (free transfers). Baselines in ``exact.py``: the closed form
from virtual costs where a decision attains it, else the centralized QP or the decentralized single-level
model (SCIP); a solver decision that breaks IR/IC by its tolerance is repaired (``prices.py``, the
``repair_solver_decision`` hook) before the core re-verifies it. The ``sweep`` study
(``experiments/procurement.toml``) reproduces the source's simulations over delta/gamma, and the same sweeps
under ex-post IR and elastic demand with the decentralized-minus-centralized cost gap.
"""

from pathlib import Path

from bilevel_bench.registry import Family, Option

FAMILY = Family(
    name="procurement",
    description="procurement mechanism with Hotelling / affine-demand suppliers; market follower QP (closed form)",
    instance_type="bilevel_bench.problems.procurement.instance:ProcurementInstance",
    problem_type="bilevel_bench.problems.procurement.problem:ProcurementProblem",
    generate="bilevel_bench.problems.procurement.instance:generate",
    data_dir=Path(__file__).parent / "data",
    problem_options={
        "version": Option(
            "decentralized",
            "decentralized: transfers t = x.p (the bilevel model); centralized: free transfers",
            choices=("decentralized", "centralized"),
        )
    },
)
