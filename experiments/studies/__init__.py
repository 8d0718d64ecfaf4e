"""Studies: family-specific experiments with their own keys and CSVs (a paper's tables, a parameter sweep).

A grid names one with ``study = "<family>.<name>"``. A study is a :class:`Study`, registered as an entry
point of the group ``bilevel_bench.studies`` (the shipped ones in ``pyproject.toml``). It lives in the
experiments layer because it may run heuristics. ``check`` reads and checks the whole config before
anything is created on disk; ``run`` then writes its CSVs into the output directory and returns a short
text summary to print.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from bilevel_bench.errors import InputError
from bilevel_bench.plugins import STUDIES, load_group


@dataclasses.dataclass(frozen=True)
class Study:
    """A study. ``check`` and ``run`` may be ``"module:function"`` strings, imported on first use."""

    name: str  # "<family>.<name>"
    description: str
    check_ref: Callable[[dict[str, Any], str], Any] | str  # (config, source) -> settings; writes nothing
    run_ref: Callable[[Any, Path], str] | str  # (settings, out_dir) -> summary text

    def check(self, config: dict[str, Any], source: str) -> Any:
        return _resolve(self.check_ref)(config, source)

    def run(self, settings: Any, out_dir: Path) -> str:
        return str(_resolve(self.run_ref)(settings, out_dir))


def _resolve(ref: Callable[..., Any] | str) -> Callable[..., Any]:
    if callable(ref):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


# The shipped studies (registered in pyproject.toml); their modules are imported when a grid runs them.
PAPER = Study(
    "seller_buyer.paper",
    "the paper's Tables 2-5 next to this model's equilibria, with deviations",
    "bilevel_bench.experiments.studies.seller_buyer:check_paper",
    "bilevel_bench.experiments.studies.seller_buyer:paper_tables",
)
SWEEP = Study(
    "procurement.sweep",
    "the source's delta (HM) and gamma (LDM) sweeps, plain, ex-post IR and elastic: closed form, both exact "
    "baselines, the decentralized-minus-centralized cost gap, and a heuristic in both versions",
    "bilevel_bench.experiments.studies.procurement:check_sweep",
    "bilevel_bench.experiments.studies.procurement:sweep",
)


def _study_problem(obj: Any) -> str | None:
    return (
        None
        if isinstance(obj, Study)
        else f"expected a bilevel_bench.experiments.studies.Study, got {type(obj).__name__}"
    )


@cache
def studies() -> dict[str, Study]:
    """Every registered study (entry-point group ``bilevel_bench.studies``), by name."""
    return load_group(STUDIES, _study_problem, lambda study: study.name)


def get_study(name: Any, source: str, key: str = "study") -> Study:
    known = studies()
    if not isinstance(name, str) or name not in known:
        raise InputError(source, key, f"unknown study {name!r}; known: {', '.join(known) or 'none'}")
    return known[name]
