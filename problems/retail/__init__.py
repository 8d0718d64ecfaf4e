"""Location-based delivery discounts with vehicle routing (a retailer and K customers; spec ``retail.md``).

The retailer sets a discount z[s,p] for picking product p up at store s; each customer chooses, product by
product, home delivery or an available store (an exact small binary program, ``follower.py``); the retailer
then routes its vehicles to the chosen homes and stores (``routing.py``). See ``instance.py`` for the data,
``problem.py`` for the leader's objective and ``exact.py`` for the single-level CP-SAT baseline.
"""

from pathlib import Path

from bilevel_bench.registry import Family
from problems.retail.instance import RetailInstance, build_cvrplib, generate
from problems.retail.problem import RetailProblem
from problems.retail.routing import DEFAULT_SOLUTION_LIMIT

FAMILY = Family(
    name="retail",
    description="location-based delivery discounts with vehicle routing; followers by enumeration (CP-SAT checked), "
    "routing by OR-Tools",
    instance_type=RetailInstance,
    problem_type=RetailProblem,
    generate=generate,
    data_dir=Path(__file__).parent / "data",
    problem_options={"routing": "heuristic", "routing_solutions": DEFAULT_SOLUTION_LIMIT},
    readers={".vrp": build_cvrplib},  # a CVRPLIB file in a grid: 3 stores, 3 products, seed 0
)
