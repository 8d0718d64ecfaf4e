"""Network pricing (toll setting; Labbé, Marcotte and Savard 1998, Management Science 44(12)).

The leader sets tolls on a subset of the arcs of a network to maximise its revenue; each commodity (an
origin, a destination, a demand) then travels along a shortest path under costs plus tolls, ties broken by
the revenue (``follower.py``, an LP per commodity, stacked). See ``instance.py`` for the data, the
generator and the derived toll bounds, ``problem.py`` for the leader's objective and ``exact.py`` for the
KKT baseline built with :mod:`bilevel_bench.kkt`. ``docs/adding_a_family.md`` walks through this family.
"""

from pathlib import Path

from bilevel_bench.registry import Family

FAMILY = Family(
    name="tolls",
    description="network pricing: the leader sets tolls, each commodity takes a shortest path (LP, GLOP); "
    "exact KKT baseline",
    instance_type="bilevel_bench.problems.tolls.instance:TollsInstance",
    problem_type="bilevel_bench.problems.tolls.problem:TollsProblem",
    generate="bilevel_bench.problems.tolls.instance:generate",
    data_dir=Path(__file__).parent / "data",
    example="generate:rows=2,cols=3,commodities=2,seed=1",
)
