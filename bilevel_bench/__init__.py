"""bilevel-bench: benchmark metaheuristics against exact bilevel optima.

The package is layered; imports point down only (a test checks it):

1. the core (this package's modules): :mod:`~bilevel_bench.instance` (plain, JSON-serialisable instance
   data), :mod:`~bilevel_bench.problem` (the bilevel problem protocol and the exact-result type),
   :mod:`~bilevel_bench.lp` and :mod:`~bilevel_bench.kkt` (LP followers, their tie-breaking and their
   KKT reformulation), :mod:`~bilevel_bench.verify` (re-verification), :mod:`~bilevel_bench.registry`
   and :mod:`~bilevel_bench.plugins` (families and entry points);
2. :mod:`bilevel_bench.problems`: the families (folder ``problems/``);
3. :mod:`bilevel_bench.heuristics`: pymoo algorithms with exact followers (folder ``heuristics/``);
4. :mod:`bilevel_bench.experiments`: grids, runner, report, studies (folder ``experiments/``);
5. the interfaces on top: :mod:`bilevel_bench.api` (the Python API) and :mod:`bilevel_bench.cli`.

The Python API is importable from here (``bilevel_bench.solve`` and so on); it is loaded on first use, so
``import bilevel_bench`` imports no solver.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("bilevel-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

#: The public API, loaded from :mod:`bilevel_bench.api` on first use.
API = ("load_problem", "solve", "exact", "run_grid", "as_pymoo", "read_results", "SolveResult", "GridResults")
__all__ = ["__version__", *API]


def __getattr__(name: str) -> Any:
    if name in API:
        from bilevel_bench import api

        return getattr(api, name)
    raise AttributeError(f"module 'bilevel_bench' has no attribute {name!r}")
