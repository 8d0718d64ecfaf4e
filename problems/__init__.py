"""Problem families. Each subpackage has the same files and exposes ``FAMILY`` (a
:class:`bilevel_bench.registry.Family`):

- ``instance.py``: the instance dataclass, its checks, and the seeded generator;
- ``follower.py``: the exact follower solver(s) and an independent check;
- ``exact.py``: the single-level exact baseline;
- ``problem.py``: the :class:`bilevel_bench.problem.BilevelProblem` that ties them together;
- ``data/``: the shipped instances, as JSON.
"""
