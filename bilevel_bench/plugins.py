"""Entry-point plugins: how families, heuristics and studies are found, shipped and outside ones alike.

An installed distribution adds to bilevel-bench by declaring Python entry points (the convention of pytest
and others), in its ``pyproject.toml``::

    [project.entry-points."bilevel_bench.families"]
    toy = "my_package.toy:FAMILY"            # a bilevel_bench.registry.Family

    [project.entry-points."bilevel_bench.heuristics"]
    my_ga = "my_package.heuristics:MY_GA"    # a bilevel_bench.heuristics.registry.Heuristic

    [project.entry-points."bilevel_bench.studies"]
    toy.sweep = "my_package.toy_study:sweep" # a study function (bilevel_bench.experiments.studies)

The shipped families and heuristics are registered the same way in this project's ``pyproject.toml``.
The entry point's name must be the family's or heuristic's name. A plugin that fails to load (import error, missing
attribute, wrong type, a name taken already) is skipped with one :class:`PluginWarning` naming the entry
point and its distribution; everything else still loads.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

FAMILIES = "bilevel_bench.families"
HEURISTICS = "bilevel_bench.heuristics"
STUDIES = "bilevel_bench.studies"

T = TypeVar("T")


class PluginWarning(UserWarning):
    """A plugin entry point was skipped; the message names it and says why."""


def describe(entry: EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    origin = f" from distribution {dist.name} {dist.version}" if dist is not None else ""
    return f"plugin {entry.name!r} (entry point {entry.group}: {entry.name} = {entry.value}{origin})"


def load_group(
    group: str, check: Callable[[Any], str | None], name_of: Callable[[Any], str] | None = None
) -> dict[str, Any]:
    """Load every entry point of ``group``; ``check(obj)`` returns why an object is unusable, or None, and
    ``name_of(obj)`` the name the entry point must have (no check without it).

    Entry points are taken in a stable order (by name, then value) so that a duplicate is always the same
    one refused.
    """
    found: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for entry in sorted(entry_points(group=group), key=lambda e: (e.name, e.value)):
        where = describe(entry)
        try:
            obj = entry.load()
        except Exception as exc:  # a broken plugin must not take the others down
            _warn(f"{where} failed to load: {type(exc).__name__}: {exc}")
            continue
        problem = check(obj)
        if problem is None and name_of is not None and name_of(obj) != entry.name:
            problem = f"its object is named {name_of(obj)!r}, not {entry.name!r}"
        if problem is None and entry.name in found:
            problem = f"the name {entry.name!r} is taken already by {origins[entry.name]}"
        if problem is not None:
            _warn(f"{where} skipped: {problem}")
            continue
        found[entry.name] = obj
        origins[entry.name] = where
    return dict(sorted(found.items()))


def _warn(message: str) -> None:
    warnings.warn(PluginWarning(message), stacklevel=3)
