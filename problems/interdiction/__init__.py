"""The knapsack interdiction problem (Caprara, Carvalho, Lodi and Woeginger 2016): being written."""

from pathlib import Path

from bilevel_bench.registry import Family

FAMILY = Family(
    name="interdiction",
    description="knapsack interdiction (CCLW): the leader removes items, the follower packs a 0-1 knapsack (DP)",
    instance_type="bilevel_bench.problems.interdiction.instance:InterdictionInstance",
    problem_type="bilevel_bench.problems.interdiction.problem:InterdictionProblem",
    generate="bilevel_bench.problems.interdiction.instance:generate",
    data_dir=Path(__file__).parent / "data",
)
