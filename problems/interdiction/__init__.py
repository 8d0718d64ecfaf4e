"""The knapsack interdiction problem (Caprara, Carvalho, Lodi and Woeginger 2016).

The leader interdicts items within its own capacity (binary leader vector); the follower then packs a 0-1
knapsack from the items left, and the leader minimises the follower's optimal profit. The follower is solved
exactly by dynamic programming over capacity (``follower.py``, checked against CP-SAT); the exact baseline is
Weninger and Fukasawa's combinatorial branch and bound with the online-game lower bound (``exact.py``).

Instances: the 30 CCLW instances (n = 35, 45, 55) with their published optima, as ``.ki`` + ``.ans`` files in
``data/`` (``SOURCES.md``), listed by name through the ``.ki`` reader; any ``.ki`` file of the full library can be
given as a path (an ``.ans`` beside it gives the published optimum), and
``generate`` draws new ones the way CCLW did.
"""

from pathlib import Path

from bilevel_bench.registry import Family

FAMILY = Family(
    name="interdiction",
    description="knapsack interdiction (CCLW): the leader removes items, the follower packs a 0-1 knapsack (DP)",
    instance_type="bilevel_bench.problems.interdiction.instance:InterdictionInstance",
    problem_type="bilevel_bench.problems.interdiction.problem:InterdictionProblem",
    generate="bilevel_bench.problems.interdiction.instance:generate",
    data_dir=Path(__file__).parent / "data",
    example="generate:n=10,seed=1",
    readers={
        ".ki": "bilevel_bench.problems.interdiction.instance:read_ki",  # bkpsolver's format; .ans beside it
        ".ans": "bilevel_bench.problems.interdiction.instance:read_ans_instance",  # the .ki beside an .ans
    },
)
