"""Mixed-integer bilevel linear problems from MPS + MibS aux files (BOBILib): being written."""

from pathlib import Path

from bilevel_bench.registry import Family

FAMILY = Family(
    name="miblp",
    description="mixed-integer bilevel linear problems (BOBILib, MPS + MibS aux); follower MILP (CP-SAT / SCIP)",
    instance_type="bilevel_bench.problems.miblp.instance:MiblpInstance",
    problem_type="bilevel_bench.problems.miblp.problem:MiblpProblem",
    generate="bilevel_bench.problems.miblp.instance:generate",
    data_dir=Path(__file__).parent / "data",
)
