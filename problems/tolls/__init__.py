"""Network pricing (toll setting; Labbé, Marcotte and Savard 1998): being written."""

from pathlib import Path

from bilevel_bench.registry import Family

FAMILY = Family(
    name="tolls",
    description="network pricing: the leader sets tolls, each commodity takes a shortest path (LP, GLOP)",
    instance_type="bilevel_bench.problems.tolls.instance:TollsInstance",
    problem_type="bilevel_bench.problems.tolls.problem:TollsProblem",
    generate="bilevel_bench.problems.tolls.instance:generate",
    data_dir=Path(__file__).parent / "data",
)
