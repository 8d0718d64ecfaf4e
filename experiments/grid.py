"""Experiment grids: a TOML file read as data, checked completely, and expanded into runs.

Format (see ``experiments/quickstart.toml``)::

    name = "quickstart"              # results/<name>/ unless --out
    seeds = [1, 2, 3]
    n_jobs = 2                       # runs in parallel (the CLI's --jobs overrides); capped at the CPUs
    tie_break = "optimistic"         # or "pessimistic"

    [budget]
    max_evals = 3000                 # the budget: leader evaluations per run
    max_seconds = 600                # optional safety net, checked between batches: a run it ends is a timeout
    time_limit_s = 900               # optional hard safety net: a deadline every solver call sees (timeout)
    eval_jobs = 1                    # workers evaluating one run's population

    [exact]
    enabled = true
    time_limit_s = 60

    [[problems]]
    family = "inventory"
    instances = ["seed", "generate:n=3,T=6,q=8,seed=11", "path/to/instance.json"]
    exact = true                     # optional: overrides [exact].enabled for this block
    options = {}                     # optional: problem options of the family (checked against its declaration)
    heuristics = ["ga"]              # optional: only these heuristic labels on this block (default all)
    budget = { max_evals = 1000 }    # optional: overrides [budget] max_evals / max_seconds for this block

    [[heuristics]]
    name = "ga"
    label = "ga-small"               # optional, unique; defaults to name
    params = { pop_size = 40 }

A grid with ``study = "<family>.<study>"`` is handed whole to that study, which checks it first.

**One validation pass.** :func:`load_grid` checks everything before anything runs or is written: every
key, type and number (finite, in range), every option value against the family's declaration, every
heuristic parameter against its declared range, every instance resolved and loaded (relative paths are
looked up beside the grid file first), no instance named twice. Every defect is one
:class:`~bilevel_bench.errors.InputError` naming the file, the key and the value. Configs are data:
nothing in them is executed. A grid bigger than :data:`LARGE_GRID` evaluations in all asks for ``--yes``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from bilevel_bench import __version__
from bilevel_bench.errors import InputError
from bilevel_bench.heuristics.registry import ProblemInfo, get_heuristic
from bilevel_bench.heuristics.run import Budget
from bilevel_bench.instance import Instance
from bilevel_bench.problem import TIE_BREAKS
from bilevel_bench.registry import GENERATE_PREFIX, Family, get_family, resolve_instance

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TOP_KEYS = {"name", "description", "seeds", "n_jobs", "tie_break", "budget", "exact", "problems", "heuristics"}

#: Limits on what a grid may ask for (beyond them a typo is far likelier than an intent).
MAX_SEEDS = 10_000
MAX_SEED = 2**32 - 1
MAX_EVALS = 10**9
MAX_SECONDS = 10**7  # about 4 months
MAX_JOBS = 1024
#: A grid of more leader evaluations than this in all (runs x max_evals) needs ``--yes``.
LARGE_GRID = 50_000_000
#: Grid files larger than this are refused before they are parsed.
MAX_GRID_BYTES = 1_000_000


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


def instance_hash(instance: Instance) -> str:
    """Hash of an instance's content (its JSON form): the grid hash covers the data, not just the names."""
    text = json.dumps(instance.to_dict(), sort_keys=True, allow_nan=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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

    def components(self) -> dict[str, str]:
        """What the hash covers, each hashed: the config (not n_jobs, which must not change results), every
        instance's content, and the package version."""
        relevant = {k: v for k, v in self.config.items() if k != "n_jobs"}
        parts = {"config": hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]}
        for block in self.problems:
            for spec, instance in block.instances.items():
                parts[f"instance {block.family.name}:{spec}"] = instance_hash(instance)
        parts["bilevel_bench version"] = __version__
        return parts

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.components(), sort_keys=True).encode()).hexdigest()[:16]

    def stamp(self) -> dict[str, Any]:
        return {"grid": self.name, "grid_hash": self.hash, "components": self.components(), "config": self.config}

    def describe_change(self, previous: dict[str, Any]) -> str:
        """What differs from an earlier stamp (``grid.json``), in words."""
        before = previous.get("components")
        if not isinstance(before, dict):
            return f"hash {previous.get('grid_hash')} (written by an older version)"
        now = self.components()
        changed = [k for k in now if k in before and before[k] != now[k]]
        added = [k for k in now if k not in before]
        removed = [k for k in before if k not in now]
        words = [f"{k} changed" for k in changed] + [f"{k} added" for k in added] + [f"{k} removed" for k in removed]
        return ", ".join(words[:4]) + (f" and {len(words) - 4} more" if len(words) > 4 else "") or "hash differs"

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

    def total_evaluations(self) -> int:
        return sum(spec.budget.max_evals or 0 for spec in self.runs())


def load_grid(path: str | Path) -> Grid:
    path = Path(path)
    source = str(path)
    if path.is_dir():
        raise InputError(source, "<file>", "is a directory, not a grid file")
    if not path.is_file():
        raise InputError(source, "<file>", "no such grid file")
    if path.stat().st_size > MAX_GRID_BYTES:
        raise InputError(source, "<file>", f"is {path.stat().st_size} bytes; a grid is at most {MAX_GRID_BYTES}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(source, "<toml>", "not a UTF-8 text file") from None
    except OSError as exc:
        raise InputError(source, "<file>", f"cannot be read: {exc.strerror}") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write is not TOML, but harmless
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(source, "<toml>", f"TOML syntax error: {exc}") from None
    except RecursionError:
        raise InputError(source, "<toml>", "nested too deeply") from None
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
    if len(seeds) > MAX_SEEDS:
        raise InputError(source, "seeds", f"lists {len(seeds)} seeds; at most {MAX_SEEDS}")
    for i, seed in enumerate(seeds):
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise InputError(source, f"seeds[{i}]", f"must be an integer in [0, {MAX_SEED}], got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise InputError(source, "seeds", f"has duplicates: {seeds}")
    n_jobs = _get(config, "n_jobs", int, source, default=1)
    if n_jobs == 0 or n_jobs < -1 or n_jobs > MAX_JOBS:
        raise InputError(source, "n_jobs", f"must be >= 1 (at most {MAX_JOBS}) or -1 (all cores), got {n_jobs}")
    tie_break = _get(config, "tie_break", str, source, default="optimistic")
    if tie_break not in TIE_BREAKS:
        raise InputError(source, "tie_break", f"{tie_break!r} is not one of {TIE_BREAKS}")
    budget, time_limit, eval_jobs = _parse_budget(_get(config, "budget", dict, source), source)
    exact_cfg = _get(config, "exact", dict, source, default={})
    _check_keys(exact_cfg, {"enabled", "time_limit_s"}, source, "exact")
    exact_on = _get(exact_cfg, "enabled", bool, source, "exact.enabled", default=True)
    exact_limit = _seconds(exact_cfg, "time_limit_s", source, "exact.time_limit_s", default=60.0)
    heuristics = _parse_heuristics(config, source)
    problems = _parse_problems(config, exact_on, source, base_dir, budget, {h.label for h in heuristics})
    _check_compatible(problems, heuristics, tie_break, source)
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
        float(exact_limit),
        problems,
        heuristics,
    )


def _parse_budget(cfg: dict[str, Any], source: str) -> tuple[Budget, float | None, int]:
    _check_keys(cfg, {"max_evals", "max_seconds", "time_limit_s", "eval_jobs"}, source, "budget")
    max_evals = _evals(cfg, "max_evals", source, "budget.max_evals", default=None)
    if max_evals is None:
        raise InputError(source, "budget.max_evals", "missing: the budget is a number of leader evaluations")
    max_seconds = _seconds(cfg, "max_seconds", source, "budget.max_seconds", default=None)
    time_limit = _seconds(cfg, "time_limit_s", source, "budget.time_limit_s", default=None)
    eval_jobs = _get(cfg, "eval_jobs", int, source, "budget.eval_jobs", default=1)
    if not 1 <= eval_jobs <= MAX_JOBS:
        raise InputError(source, "budget.eval_jobs", f"must be in [1, {MAX_JOBS}], got {eval_jobs}")
    return Budget(max_evals, max_seconds), time_limit, eval_jobs


def _parse_problems(
    config: dict[str, Any], exact_on: bool, source: str, base_dir: Path, budget: Budget, labels: set[str]
) -> list[ProblemBlock]:
    blocks = _get(config, "problems", list, source)
    if not blocks:
        raise InputError(source, "problems", "must list at least one [[problems]] block")
    out = []
    seen: dict[tuple[str, str], str] = {}  # (family, content hash) -> where it was named first
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
            instance = resolve_instance(family, relative_path(spec, base_dir), source, ikey)
            content = (family.name, instance_hash(instance))
            if content in seen:
                raise InputError(source, ikey, f"{spec!r} is the same instance as {seen[content]} (named twice)")
            seen[content] = f"{ikey} ({spec!r})"
            instances[spec] = instance
        exact = _get(block, "exact", bool, source, f"{key}.exact", default=exact_on)
        only = _block_heuristics(block, labels, source, key)
        out.append(ProblemBlock(family, instances, exact, options, only, _block_budget(block, budget, source, key)))
    return out


def _check_compatible(
    problems: list[ProblemBlock], heuristics: list[HeuristicEntry], tie_break: str, source: str
) -> None:
    """Every heuristic of a block handles the leader variables of every instance of it (before anything runs)."""
    for b, block in enumerate(problems):
        entries = [h for h in heuristics if block.heuristics is None or h.label in block.heuristics]
        for i, (spec, instance) in enumerate(block.instances.items()):
            info = ProblemInfo.of(block.family.make_problem(instance, tie_break, **block.options))
            for entry in entries:
                where = f"problems[{b}].instances[{i}]"
                get_heuristic(entry.name).check_problem(info, source, f"{where} ({spec!r}) x heuristic {entry.label!r}")


def _block_heuristics(block: dict[str, Any], labels: set[str], source: str, key: str) -> list[str] | None:
    only = _get(block, "heuristics", list, source, f"{key}.heuristics", default=None)
    if only is None:
        return None
    for i, label in enumerate(only):
        if label not in labels:
            known = ", ".join(sorted(labels))
            raise InputError(
                source, f"{key}.heuristics[{i}]", f"{label!r} is not a [[heuristics]] label; known: {known}"
            )
    return list(only)


def _block_budget(block: dict[str, Any], budget: Budget, source: str, key: str) -> Budget | None:
    cfg = _get(block, "budget", dict, source, f"{key}.budget", default=None)
    if cfg is None:
        return None
    _check_keys(cfg, {"max_evals", "max_seconds"}, source, f"{key}.budget")
    max_evals = _evals(cfg, "max_evals", source, f"{key}.budget.max_evals", default=budget.max_evals)
    max_seconds = _seconds(cfg, "max_seconds", source, f"{key}.budget.max_seconds", default=budget.max_seconds)
    return Budget(max_evals, max_seconds)


def _parse_heuristics(config: dict[str, Any], source: str) -> list[HeuristicEntry]:
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


def relative_path(spec: str, base_dir: Path) -> str:
    """An instance path in a grid is looked up beside the grid file first, then from the working directory
    (every format; shipped names and generator specs are not paths)."""
    if spec.startswith(GENERATE_PREFIX) or os.path.isabs(spec):
        return spec
    beside = base_dir / spec
    if beside.exists():
        return str(beside)
    return spec


def prepare_out_dir(out_dir: Path) -> None:
    """Create the output directory, or say in one line which path is in the way and what to do."""
    source = str(out_dir)
    for parent in [out_dir, *out_dir.parents]:
        if parent.exists() and not parent.is_dir():
            raise InputError(source, "--out", f"{parent} is a file, not a directory; choose another --out")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(source, "--out", f"cannot create it: {exc.strerror}; choose another --out") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise InputError(source, "--out", "is not writable; choose another --out or change its permissions")


_MISSING = object()


def _get(
    cfg: dict[str, Any], name: str, kind: type, source: str, key: str | None = None, default: Any = _MISSING
) -> Any:
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


def _seconds(cfg: dict[str, Any], name: str, source: str, key: str, default: Any) -> Any:
    """A positive, finite number of seconds, at most MAX_SECONDS (NaN and inf refused)."""
    value = _get(cfg, name, float, source, key, default=default)
    if value is None:
        return None
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise InputError(source, key, f"must be positive and finite (seconds, at most {MAX_SECONDS:g}), got {value!r}")
    return float(value)


def _evals(cfg: dict[str, Any], name: str, source: str, key: str, default: Any) -> Any:
    value = _get(cfg, name, int, source, key, default=default)
    if value is not None and not 0 < value <= MAX_EVALS:
        raise InputError(source, key, f"must be positive and at most {MAX_EVALS:g}, got {value}")
    return value


def _check_keys(cfg: dict[str, Any], allowed: set[str], source: str, where: str) -> None:
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise InputError(source, f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
