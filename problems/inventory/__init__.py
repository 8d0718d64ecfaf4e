"""Production and advertising over a horizon (Bard 1998, ch. 11): a manufacturer and one customer.

The leader chooses production x[j,t] and advertising v[j,t]; the customer meets its demand at least cost by
an LP (``follower.py``). See ``instance.py`` for the data, ``problem.py`` for the leader's objective and
``exact.py`` for the KKT single-level baseline.
"""

from pathlib import Path

from bilevel_bench.registry import Family

FAMILY = Family(
    name="inventory",
    description="production and advertising over a horizon (Bard's dynamic inventory model); follower LP (GLOP)",
    instance_type="bilevel_bench.problems.inventory.instance:InventoryInstance",
    problem_type="bilevel_bench.problems.inventory.problem:InventoryProblem",
    generate="bilevel_bench.problems.inventory.instance:generate",
    data_dir=Path(__file__).parent / "data",
    example="generate:n=1,T=2,q=1,seed=3",
)
