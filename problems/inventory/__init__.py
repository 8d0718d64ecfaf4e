"""Production and advertising over a horizon (Bard 1998, ch. 11): a manufacturer and one customer.

The leader chooses production x[j,t] and advertising v[j,t]; the customer meets its demand at least cost by
an LP (``follower.py``). See ``instance.py`` for the data, ``problem.py`` for the leader's objective and
``exact.py`` for the KKT single-level baseline.
"""

from pathlib import Path

from bilevel_bench.registry import Family
from problems.inventory.instance import InventoryInstance, generate
from problems.inventory.problem import InventoryProblem

FAMILY = Family(
    name="inventory",
    description="production and advertising over a horizon (Bard's dynamic inventory model); follower LP (GLOP)",
    instance_type=InventoryInstance,
    problem_type=InventoryProblem,
    generate=generate,
    data_dir=Path(__file__).parent / "data",
)
