"""Problem families: discovery, and resolution of instance names.

Each family is a subpackage of :mod:`problems` that exposes ``FAMILY``, a :class:`Family`. Families are
found by scanning the package, so adding one touches no shared file.

Wherever an instance is named (CLI or grid), it may be:

- a shipped instance name (``seed``), from the family's ``data/`` folder;
- a path to an instance JSON file, or to a file in a format the family reads (``Family.readers``, for
  example a CVRPLIB ``.vrp`` file for the retail family);
- a generator spec, ``generate:n=3,T=6,q=8,seed=11``, whose keys are the generator's parameters.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from bilevel_bench.errors import InputError
from bilevel_bench.instance import Instance
from bilevel_bench.problem import BilevelProblem

GENERATE_PREFIX = "generate:"


@dataclasses.dataclass(frozen=True)
class Family:
    """What the registry needs to know of a problem family."""

    name: str
    description: str
    instance_type: type[Instance]
    problem_type: type[BilevelProblem]
    generate: Callable[..., Instance]  # keyword parameters only; ``seed`` among them
    data_dir: Path  # shipped instances: ``<name>.json``
    #: Options a grid may pass to the problem's constructor (besides ``tie_break``), with their defaults.
    problem_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Family-specific studies a grid can name with ``study = "<family>.<name>"`` (for example a paper's
    #: tables). Each is called as ``study(config: dict, out_dir: Path, source: str) -> str`` and returns a
    #: short text summary to print; it writes its own CSVs into ``out_dir``.
    studies: dict[str, Callable[[dict[str, Any], Path, str], str]] = dataclasses.field(default_factory=dict)
    #: Other file formats the family builds instances from, by suffix (``{".vrp": build_cvrplib}``). Each
    #: reader takes the path and raises :class:`InputError` naming the file on malformed content.
    readers: dict[str, Callable[[Path], Instance]] = dataclasses.field(default_factory=dict)

    def shipped(self) -> list[str]:
        return sorted(p.stem for p in self.data_dir.glob("*.json"))

    def make_problem(self, instance: Instance, tie_break: str = "optimistic", **options: Any) -> BilevelProblem:
        unknown = sorted(set(options) - set(self.problem_options))
        if unknown:
            raise InputError("<problem>", unknown[0], f"unknown option of family {self.name!r}")
        return self.problem_type(instance, tie_break=tie_break, **options)

    def generator_parameters(self) -> dict[str, inspect.Parameter]:
        return dict(inspect.signature(self.generate).parameters)


@cache
def families() -> dict[str, Family]:
    import problems

    found: dict[str, Family] = {}
    for info in pkgutil.iter_modules(problems.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"problems.{info.name}")
        family = getattr(module, "FAMILY", None)
        if isinstance(family, Family):
            found[family.name] = family
    return dict(sorted(found.items()))


def get_family(name: Any, source: str = "<cli>", key: str = "problem") -> Family:
    known = families()
    if not isinstance(name, str) or name not in known:
        raise InputError(source, key, f"unknown problem {name!r}; known: {', '.join(known)}")
    return known[name]


def resolve_instance(family: Family, spec: Any, source: str = "<cli>", key: str = "instance") -> Instance:
    """Turn a shipped name, a JSON path or a ``generate:`` spec into a validated instance."""
    if not isinstance(spec, str) or not spec:
        raise InputError(source, key, f"expected an instance name, path or generate: spec, got {spec!r}")
    if spec.startswith(GENERATE_PREFIX):
        kwargs = parse_generate_spec(family, spec, source, key)
        try:
            return family.generate(**kwargs)
        except InputError as exc:  # re-anchor the generator's complaint on the file and key that named it
            raise InputError(source, key, f"{spec!r}: parameter {exc.key}: {exc.message}") from None
    if spec in family.shipped():
        return family.instance_type.load(family.data_dir / f"{spec}.json")
    path = Path(spec)
    if path.suffix == ".json" or path.suffix in family.readers or path.exists():
        if not path.is_file():
            raise InputError(source, key, f"instance file {spec!r} does not exist")
        if path.suffix in family.readers:
            return family.readers[path.suffix](path)
        return family.instance_type.load(path)
    raise InputError(
        source,
        key,
        f"{spec!r} is not a shipped {family.name} instance ({', '.join(family.shipped())}), "
        f"an existing {' or '.join(['.json', *family.readers])} file, or a {GENERATE_PREFIX}... spec",
    )


def parse_generate_spec(family: Family, spec: str, source: str, key: str) -> dict[str, Any]:
    params = family.generator_parameters()
    kwargs: dict[str, Any] = {}
    for item in filter(None, spec[len(GENERATE_PREFIX) :].split(",")):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in params:
            raise InputError(source, key, f"{spec!r}: {name!r} is not a generator parameter ({', '.join(params)})")
        kwargs[name] = _parse_number(raw.strip(), spec, name, source, key)
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in kwargs]
    if missing:
        raise InputError(source, key, f"{spec!r}: missing generator parameter {missing[0]!r}")
    return kwargs


def _parse_number(raw: str, spec: str, name: str, source: str, key: str) -> int | float | str:
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            continue
    if raw:
        return raw
    raise InputError(source, key, f"{spec!r}: parameter {name!r} has no value")


def instance_label(spec: str) -> str:
    """A short, file-name-safe label of an instance spec, for run ids."""
    return Path(spec).stem if spec.endswith(".json") else spec
