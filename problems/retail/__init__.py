"""Location-based delivery discounts with vehicle routing (a retailer and K customers; spec ``retail.md``).

The retailer sets a discount z[s,p] for picking product p up at store s; each customer chooses, product by
product, home delivery or an available store (an exact small binary program, ``follower.py``); the retailer
then routes its vehicles to the chosen homes and stores (``routing.py``). Ties among the customers' optimal
choices are broken on the retailer's whole objective, revenue minus routing (``ties.py``). See
``instance.py`` for the data, ``problem.py`` for the leader's objective and ``exact.py`` for the
single-level CP-SAT baseline. Source: the spec ``retail.md`` (location-based delivery discounts).
"""

from pathlib import Path

from bilevel_bench.registry import Family, Option

FAMILY = Family(
    name="retail",
    description="location-based delivery discounts with vehicle routing; followers by enumeration (CP-SAT checked), "
    "routing by OR-Tools",
    instance_type="bilevel_bench.problems.retail.instance:RetailInstance",
    problem_type="bilevel_bench.problems.retail.problem:RetailProblem",
    generate="bilevel_bench.problems.retail.instance:generate",
    data_dir=Path(__file__).parent / "data",
    example="generate:K=5,S=2,P=1,R=2,seed=1",
    problem_options={
        "routing": Option(
            "heuristic",
            "heuristic: OR-Tools routing with a solution limit; exact: CP-SAT",
            choices=("heuristic", "exact"),
        ),
        "routing_solutions": Option(50, "solution limit of heuristic routing", low=1, high=1_000_000),
        "max_tie_combinations": Option(
            256,
            "most combinations of tied customers' alternatives routed one by one to break ties on the leader's "
            "value; beyond it exact routing + optimistic chooses in one CP-SAT model, otherwise status limit",
            low=1,
            high=1_000_000,
        ),
    },
    readers={".vrp": "bilevel_bench.problems.retail.instance:build_cvrplib"},  # CVRPLIB: 3 stores, 3 products, seed 0
)
