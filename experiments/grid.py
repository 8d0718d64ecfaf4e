"""Experiment grids: a TOML file read as data, checked completely, and expanded into runs.

Format (see ``experiments/quickstart.toml``)::

    name = "quickstart"              # results/<name>/ unless --out
    seeds = [1, 2, 3]
    n_jobs = 2                       # runs in parallel (the CLI's --jobs overrides)
    tie_break = "optimistic"         # or "pessimistic"

    [budget]
    max_evals = 3000                 # leader evaluations per run, and/or
    max_seconds = 60                 # wall seconds per run (the run ends normally)
    time_limit_s = 300               # hard limit: a run past it ends with status "timeout"
    eval_jobs = 1                    # workers evaluating one run's population

    [exact]
    enabled = true
    time_limit_s = 60

    [[problems]]
    family = "inventory"
    instances = ["seed", "generate:n=3,T=6,q=8,seed=11", "path/to/instance.json"]
    exact = true                     # optional: overrides [exact].enabled for this block
    options = {}                     # optional: problem options of the family
    heuristics = ["ga"]              # optional: only these heuristic labels on this block (default all)
    budget = { max_evals = 1000 }    # optional: overrides [budget] max_evals / max_seconds for this block

    [[heuristics]]
    name = "ga"
    label = "ga-small"               # optional, unique; defaults to name
    params = { pop_size = 40 }

A grid with ``study = "<family>.<study>"`` is handed whole to that family's study function instead.
Every defect is reported as one :class:`~bilevel_bench.errors.InputError` naming the file, the key and
the value, before anything runs. Configs are data: nothing in them is executed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.registry import get_heuristic
from bilevel_bench.heuristics.run import Budget
from bilevel_bench.instance import Instance
from bilevel_bench.problem import TIE_BREAKS
from bilevel_bench.registry import Family, get_family, resolve_instance

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TOP_KEYS = {
    "name",
    "description",
    "seeds",
    "n_jobs",
    "tie_break",
    "budget",
    "exact",
    "problems",
    "heuristics",
}


@dataclasses.dataclass(frozen=True)
class ProblemBlock:
    family: Family
    instances: dict[str, Instance]  # spec as written -> instance
    exact: bool
    options: dict[str, Any]
    heuristics: list[str] | None = None  # labels to run on this block; None: all
    budget: Budget | None = None  # None: the grid's budget


@dataclasses.dataclass(frozen=True)
class HeuristicEntry:
    name: str
    label: str
    params: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run: plain, picklable data (the instance travels as the dataclass it is)."""

    run_id: str
    family: str
    instance_spec: str
    instance: Instance
    options: dict[str, Any]
    tie_break: str
    heuristic: HeuristicEntry
    seed: int
    budget: Budget
    time_limit: float | None
    eval_jobs: int


@dataclasses.dataclass(frozen=True)
class ExactSpec:
    family: str
    instance_spec: str
    instance: Instance
    options: dict[str, Any]
    tie_break: str
    time_limit: float


@dataclasses.dataclass(frozen=True)
class Grid:
    source: str
    name: str
    config: dict[str, Any]
    seeds: list[int]
    n_jobs: int
    tie_break: str
    budget: Budget
    time_limit: float | None
    eval_jobs: int
    exact_time_limit: float
    problems: list[ProblemBlock]
    heuristics: list[HeuristicEntry]
    study: str | None = None

    @property
    def hash(self) -> str:
        """Hash of everything that decides results (not n_jobs, which must not change them)."""
        relevant = {k: v for k, v in self.config.items() if k != "n_jobs"}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def runs(self) -> list[RunSpec]:
        specs = []
        for block in self.problems:
            for spec, instance in block.instances.items():
                for entry in self.heuristics:
                    if block.heuristics is not None and entry.label not in block.heuristics:
                        continue
                    for seed in self.seeds:
                        specs.append(
                            RunSpec(
                                run_id=f"{block.family.name}|{spec}|{entry.label}|{seed}",
                                family=block.family.name,
                                instance_spec=spec,
                                instance=instance,
                                options=block.options,
                                tie_break=self.tie_break,
                                heuristic=entry,
                                seed=seed,
                                budget=block.budget or self.budget,
                                time_limit=self.time_limit,
                                eval_jobs=self.eval_jobs,
                            )
                        )
        return specs

    def exact_tasks(self) -> list[ExactSpec]:
        return [
            ExactSpec(block.family.name, spec, instance, block.options, self.tie_break, self.exact_time_limit)
            for block in self.problems
            if block.exact
            for spec, instance in block.instances.items()
        ]


def load_grid(path: str | Path) -> Grid:
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise InputError(source, "<file>", "no such grid file")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InputError(source, "<toml>", f"TOML syntax error: {exc}") from None
    except UnicodeDecodeError:
        raise InputError(source, "<toml>", "not a UTF-8 text file") from None
    return parse_grid(config, source, base_dir=path.parent)


def parse_grid(config: dict[str, Any], source: str, base_dir: Path = Path(".")) -> Grid:
    name = _get(config, "name", str, source)
    if not NAME_PATTERN.match(name):
        raise InputError(source, "name", f"{name!r} must be 1-64 letters, digits, '_', '.' or '-' (no paths)")
    if "study" in config:
        study = _get(config, "study", str, source)
        return Grid(source, name, config, [], 1, "optimistic", Budget(1), None, 1, 0.0, [], [], study=study)
    unknown = sorted(set(config) - TOP_KEYS)
    if unknown:
        raise InputError(source, unknown[0], "unknown key")
    seeds = _get(config, "seeds", list, source)
    if not seeds:
        raise InputError(source, "seeds", "must list at least one seed")
    for i, seed in enumerate(seeds):
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(source, f"seeds[{i}]", f"must be a non-negative integer, got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise InputError(source, "seeds", f"has duplicates: {seeds}")
    n_jobs = _get(config, "n_jobs", int, source, default=1)
    if n_jobs == 0 or n_jobs < -1:
        raise InputError(source, "n_jobs", f"must be >= 1 or -1 (all cores), got {n_jobs}")
    tie_break = _get(config, "tie_break", str, source, default="optimistic")
    if tie_break not in TIE_BREAKS:
        raise InputError(source, "tie_break", f"{tie_break!r} is not one of {TIE_BREAKS}")
    budget, time_limit, eval_jobs = _parse_budget(_get(config, "budget", dict, source), source)
    exact_cfg = _get(config, "exact", dict, source, default={})
    _check_keys(exact_cfg, {"enabled", "time_limit_s"}, source, "exact")
    exact_on = _get(exact_cfg, "enabled", bool, source, "exact.enabled", default=True)
    exact_limit = _positive(exact_cfg, "time_limit_s", source, "exact.time_limit_s", default=60.0)
    heuristics = _parse_heuristics(config, source)
    problems = _parse_problems(config, exact_on, source, base_dir, budget, {h.label for h in heuristics})
    return Grid(
        source,
        name,
        config,
        seeds,
        n_jobs,
        tie_break,
        budget,
        time_limit,
        eval_jobs,
        exact_limit,
        problems,
        heuristics,
    )


def _parse_budget(cfg: dict[str, Any], source: str) -> tuple[Budget, float | None, int]:
    _check_keys(cfg, {"max_evals", "max_seconds", "time_limit_s", "eval_jobs"}, source, "budget")
    max_evals = _get(cfg, "max_evals", int, source, "budget.max_evals", default=None)
    if max_evals is not None and max_evals <= 0:
        raise InputError(source, "budget.max_evals", f"must be positive, got {max_evals}")
    max_seconds = _positive(cfg, "max_seconds", source, "budget.max_seconds", default=None)
    if max_evals is None and max_seconds is None:
        raise InputError(source, "budget", "needs max_evals and/or max_seconds")
    time_limit = _positive(cfg, "time_limit_s", source, "budget.time_limit_s", default=None)
    eval_jobs = _get(cfg, "eval_jobs", int, source, "budget.eval_jobs", default=1)
    if eval_jobs < 1:
        raise InputError(source, "budget.eval_jobs", f"must be >= 1, got {eval_jobs}")
    return Budget(max_evals, max_seconds), time_limit, eval_jobs


def _parse_problems(
    config: dict, exact_on: bool, source: str, base_dir: Path, budget: Budget, labels: set[str]
) -> list[ProblemBlock]:
    blocks = _get(config, "problems", list, source)
    if not blocks:
        raise InputError(source, "problems", "must list at least one [[problems]] block")
    out = []
    for b, block in enumerate(blocks):
        key = f"problems[{b}]"
        if not isinstance(block, dict):
            raise InputError(source, key, f"expected a table, got {block!r}")
        _check_keys(block, {"family", "instances", "exact", "options", "heuristics", "budget"}, source, key)
        family = get_family(_get(block, "family", str, source, f"{key}.family"), source, f"{key}.family")
        specs = _get(block, "instances", list, source, f"{key}.instances")
        if not specs:
            raise InputError(source, f"{key}.instances", "must list at least one instance")
        options = family.check_options(
            _get(block, "options", dict, source, f"{key}.options", default={}), source, f"{key}.options."
        )
        instances: dict[str, Instance] = {}
        for i, spec in enumerate(specs):
            ikey = f"{key}.instances[{i}]"
            if not isinstance(spec, str):
                raise InputError(source, ikey, f"expected a string, got {spec!r}")
            if spec in instances:
                raise InputError(source, ikey, f"duplicate instance {spec!r}")
            instances[spec] = resolve_instance(family, _relative_path(spec, base_dir), source, ikey)
        exact = _get(block, "exact", bool, source, f"{key}.exact", default=exact_on)
        only = _block_heuristics(block, labels, source, key)
        out.append(ProblemBlock(family, instances, exact, options, only, _block_budget(block, budget, source, key)))
    return out


def _block_heuristics(block: dict, labels: set[str], source: str, key: str) -> list[str] | None:
    only = _get(block, "heuristics", list, source, f"{key}.heuristics", default=None)
    if only is None:
        return None
    for i, label in enumerate(only):
        if label not in labels:
            raise InputError(source, f"{key}.heuristics[{i}]", f"{label!r} is not a [[heuristics]] label; known: "
                             f"{', '.join(sorted(labels))}")  # fmt: skip
    return list(only)


def _block_budget(block: dict, budget: Budget, source: str, key: str) -> Budget | None:
    cfg = _get(block, "budget", dict, source, f"{key}.budget", default=None)
    if cfg is None:
        return None
    _check_keys(cfg, {"max_evals", "max_seconds"}, source, f"{key}.budget")
    max_evals = _get(cfg, "max_evals", int, source, f"{key}.budget.max_evals", default=budget.max_evals)
    if max_evals is not None and max_evals <= 0:
        raise InputError(source, f"{key}.budget.max_evals", f"must be positive, got {max_evals}")
    max_seconds = _positive(cfg, "max_seconds", source, f"{key}.budget.max_seconds", default=budget.max_seconds)
    return Budget(max_evals, max_seconds)


def _parse_heuristics(config: dict, source: str) -> list[HeuristicEntry]:
    entries = _get(config, "heuristics", list, source)
    if not entries:
        raise InputError(source, "heuristics", "must list at least one [[heuristics]] block")
    out, labels = [], set()
    for h, entry in enumerate(entries):
        key = f"heuristics[{h}]"
        if not isinstance(entry, dict):
            raise InputError(source, key, f"expected a table, got {entry!r}")
        _check_keys(entry, {"name", "label", "params"}, source, key)
        name = _get(entry, "name", str, source, f"{key}.name")
        spec = get_heuristic(name, source, f"{key}.name")
        label = _get(entry, "label", str, source, f"{key}.label", default=name)
        if not NAME_PATTERN.match(label):
            raise InputError(source, f"{key}.label", f"{label!r} must be letters, digits, '_', '.' or '-'")
        if label in labels:
            raise InputError(source, f"{key}.label", f"duplicate heuristic label {label!r} (set distinct labels)")
        labels.add(label)
        params = spec.parameters(
            _get(entry, "params", dict, source, f"{key}.params", default={}), source, f"{key}.params"
        )
        out.append(HeuristicEntry(name, label, params))
    return out


def _relative_path(spec: str, base_dir: Path) -> str:
    """Instance paths in a grid are relative to the grid file when they do not exist from here."""
    if spec.endswith(".json") and not Path(spec).exists() and (base_dir / spec).exists():
        return str(base_dir / spec)
    return spec


_MISSING = object()


def _get(cfg: dict, name: str, kind: type, source: str, key: str | None = None, default: Any = _MISSING) -> Any:
    key = key or name
    if name not in cfg:
        if default is _MISSING:
            raise InputError(source, key, "missing")
        return default
    value = cfg[name]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise InputError(source, key, f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _positive(cfg: dict, name: str, source: str, key: str, default: Any) -> Any:
    value = _get(cfg, name, float, source, key, default=default)
    if value is not None and value <= 0:
        raise InputError(source, key, f"must be positive, got {value}")
    return None if value is None else float(value)


def _check_keys(cfg: dict, allowed: set[str], source: str, where: str) -> None:
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise InputError(source, f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
