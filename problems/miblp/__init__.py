"""Mixed-integer bilevel linear problems (MIBLP) from MPS + MibS aux files, as in BOBILib.

BOBILib, the bilevel optimization benchmark instance library (Thürauf, Kleinert, Ljubić, Ralphs, Schmidt,
2024; https://bobilib.org, CC BY-SA 4.0). An instance is ``<name>.mps[.gz]`` with ``<name>.aux`` beside it
(``reader.py``); both levels minimise. The leader chooses its columns within a box tightened by the
high-point relaxation (``relaxation.py``), the follower answers with an exact MILP (CP-SAT where the data
are integer, SCIP otherwise; ``follower.py``), and the exact baseline enumerates small boxes or reports the
library's published value (``exact.py``). Shipped: the library's ``optimal`` instances with at most 20 leader
variables, as JSON conversions with the published result embedded (``data/``, ``data/SOURCES.md``).
"""

from pathlib import Path

from bilevel_bench.registry import Family, Option

FAMILY = Family(
    name="miblp",
    description="mixed-integer bilevel linear problems (BOBILib, MPS + MibS aux); follower MILP (CP-SAT / SCIP)",
    instance_type="bilevel_bench.problems.miblp.instance:MiblpInstance",
    problem_type="bilevel_bench.problems.miblp.problem:MiblpProblem",
    generate="bilevel_bench.problems.miblp.instance:generate",
    data_dir=Path(__file__).parent / "data",
    problem_options={
        "leader_bounds": Option(
            "hpr",
            "leader box: MPS bounds tightened by the high-point relaxation (hpr) or raw (mps)",
            choices=("hpr", "mps"),
        ),
        "follower_engine": Option(
            "auto",
            "follower MILP solver: CP-SAT where exact, else SCIP (auto), or forced",
            choices=("auto", "cpsat", "scip"),
        ),
    },
    readers={
        ".mps": "bilevel_bench.problems.miblp.reader:read_mps",
        ".gz": "bilevel_bench.problems.miblp.reader:read_mps",
        ".aux": "bilevel_bench.problems.miblp.reader:read_aux",
    },
)
