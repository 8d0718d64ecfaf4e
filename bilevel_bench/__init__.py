"""bilevel-bench: benchmark metaheuristics against exact bilevel optima.

The core (this package) holds the small protocols every family and heuristic speaks:

- :mod:`bilevel_bench.instance`: plain, JSON-serialisable instance data;
- :mod:`bilevel_bench.problem`: the bilevel problem protocol (bounds, exact follower, leader objective, exact
  single-level baseline);
- :mod:`bilevel_bench.lp`: the shared LP helper with explicit lexicographic tie-breaking;
- :mod:`bilevel_bench.registry`: discovery of problem families and resolution of instance names.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bilevel-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
