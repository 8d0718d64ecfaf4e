"""Problem families: what a family declares, how families are found, and how instance names resolve.

A family is a :class:`Family` object registered under the entry-point group ``bilevel_bench.families``
(:mod:`bilevel_bench.plugins`); the shipped ones are registered in this project's ``pyproject.toml``, an
outside package registers its own the same way. Discovery never names a package.

A family's classes and functions may be given as ``"module:attribute"`` strings, imported on first use,
so that listing families (``bilevel-bench list``) does not import every solver.

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
import json
import math
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from bilevel_bench.errors import InputError
from bilevel_bench.instance import Instance
from bilevel_bench.plugins import FAMILIES, load_group
from bilevel_bench.problem import TIE_BREAKS, BilevelProblem

GENERATE_PREFIX = "generate:"


@dataclasses.dataclass(frozen=True)
class Option:
    """A problem option a family declares: its default, and what values it allows.

    ``kind`` defaults to the default's type (``int`` options accept no floats, ``float`` options accept
    ints); ``choices`` lists the allowed values; ``low``/``high`` bound numbers (closed). ``nullable``
    allows ``None`` (the default when the default is ``None``). Values are checked before any run starts.
    """

    default: Any
    description: str = ""
    choices: tuple[Any, ...] | None = None
    kind: type | None = None
    low: float | None = None
    high: float | None = None
    nullable: bool | None = None

    @property
    def type(self) -> type:
        return self.kind if self.kind is not None else type(self.default)

    def check(self, value: Any, source: str, key: str) -> Any:
        """``value`` if it is allowed, else an :class:`InputError` naming ``source``, ``key`` and the value."""
        if value is None:
            if self.nullable or (self.nullable is None and self.default is None):
                return None
            raise InputError(source, key, "may not be null")
        kind = self.type
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise InputError(source, key, f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(source, key, f"must be finite, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise InputError(source, key, f"{value!r} is not one of {', '.join(map(repr, self.choices))}")
        if self.low is not None and isinstance(value, (int, float)) and value < self.low:
            raise InputError(source, key, f"must be >= {self.low:g}, got {value!r}")
        if self.high is not None and isinstance(value, (int, float)) and value > self.high:
            raise InputError(source, key, f"must be <= {self.high:g}, got {value!r}")
        return value

    def parse(self, text: str, source: str, key: str) -> Any:
        """A command-line value (``--option name=text``) as this option's type, then checked."""
        kind = self.type
        try:
            if text in ("null", "none", "None"):
                value: Any = None
            elif kind is bool:
                value = {"true": True, "false": False}[text.lower()]
            elif kind is str:
                value = text
            elif kind in (int, float):
                value = kind(text)
            else:
                value = json.loads(text)
        except (KeyError, ValueError):
            raise InputError(source, key, f"cannot read {text!r} as {kind.__name__}") from None
        return self.check(value, source, key)


def _load_reference(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


class Family:
    """What the registry needs to know of a problem family.

    ``instance_type``, ``problem_type``, ``generate`` and each reader may be the object itself or a
    ``"module:attribute"`` string, imported on first use.
    """

    def example_spec(self) -> str:
        """A generator spec of a small instance of this family."""
        return self.example or f"{GENERATE_PREFIX}seed=1"

    def __init__(
        self,
        name: str,
        description: str,
        instance_type: type[Instance] | str,
        problem_type: type[BilevelProblem] | str,
        generate: Callable[..., Instance] | str,
        data_dir: Path,
        problem_options: Mapping[str, Option] | None = None,
        readers: Mapping[str, Callable[[Path], Instance] | str] | None = None,
        example: str | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.data_dir = Path(data_dir)
        #: a generator spec of a small instance (``generate:...``), for the conformance suite and the docs;
        #: None: the generator's defaults with ``seed=1``
        self.example = example
        #: Options a grid or ``exact --option`` may pass to the problem (besides ``tie_break``).
        self.problem_options: dict[str, Option] = dict(problem_options or {})
        self._refs: dict[str, Any] = {
            "instance_type": instance_type,
            "problem_type": problem_type,
            "generate": generate,
        }
        #: Other file formats the family builds instances from, by suffix (``{".vrp": build_cvrplib}``). Each
        #: reader takes the path and raises :class:`InputError` naming the file on malformed content.
        self._readers: dict[str, Any] = dict(readers or {})

    def __repr__(self) -> str:
        return f"Family({self.name!r})"

    def _resolve(self, key: str) -> Any:
        value = self._refs[key]
        if isinstance(value, str):
            value = self._refs[key] = _load_reference(value)
        return value

    @property
    def instance_type(self) -> type[Instance]:
        return self._resolve("instance_type")

    @property
    def problem_type(self) -> type[BilevelProblem]:
        return self._resolve("problem_type")

    @property
    def generate(self) -> Callable[..., Instance]:
        return self._resolve("generate")

    @property
    def reader_suffixes(self) -> list[str]:
        return list(self._readers)

    def reader(self, suffix: str) -> Callable[[Path], Instance]:
        value = self._readers[suffix]
        if isinstance(value, str):
            value = self._readers[suffix] = _load_reference(value)
        return value

    def suffix_of(self, name: str) -> str | None:
        """The instance format of a file name: ``.json`` or a reader's suffix (the longest that matches, so a
        reader of ``.mps.gz`` wins over one of ``.gz``); None if the family reads no such file."""
        for suffix in sorted([".json", *self._readers], key=len, reverse=True):
            if name.endswith(suffix) and len(name) > len(suffix):
                return suffix
        return None

    def _shipped_files(self) -> dict[str, Path]:
        """Shipped instance name -> its file: ``<name>.json``, or a file a reader reads (JSON first)."""
        found: dict[str, Path] = {}
        if not self.data_dir.is_dir():
            return found
        for path in sorted(self.data_dir.iterdir(), key=lambda p: (not p.name.endswith(".json"), p.name)):
            suffix = self.suffix_of(path.name)
            if suffix is not None and path.is_file():
                found.setdefault(path.name[: -len(suffix)], path)
        return found

    def shipped(self) -> list[str]:
        return sorted(self._shipped_files())

    def load_shipped(self, name: str) -> Instance:
        path = self._shipped_files()[name]
        return self.load_file(path)

    def load_file(self, path: Path) -> Instance:
        suffix = self.suffix_of(path.name)
        if suffix is None or suffix == ".json":
            return self.instance_type.load(path)
        return self.reader(suffix)(path)

    def check_options(self, options: Mapping[str, Any], source: str = "<problem>", prefix: str = "") -> dict[str, Any]:
        """The options with every name and value checked against the declaration."""
        checked = {}
        for name, value in options.items():
            if name not in self.problem_options:
                known = ", ".join(self.problem_options) or "none"
                raise InputError(source, f"{prefix}{name}", f"unknown option of family {self.name!r} (known: {known})")
            checked[name] = self.problem_options[name].check(value, source, f"{prefix}{name}")
        return checked

    def make_problem(self, instance: Instance, tie_break: str = "optimistic", **options: Any) -> BilevelProblem:
        if tie_break not in TIE_BREAKS:
            raise InputError("<problem>", "tie_break", f"{tie_break!r} is not one of {TIE_BREAKS}")
        return self.problem_type(instance, tie_break=tie_break, **self.check_options(options))

    def generator_parameters(self) -> dict[str, inspect.Parameter]:
        return dict(inspect.signature(self.generate).parameters)


def _family_problem(obj: Any) -> str | None:
    return None if isinstance(obj, Family) else f"expected a bilevel_bench.registry.Family, got {type(obj).__name__}"


@cache
def families() -> dict[str, Family]:
    """Every registered family (entry-point group ``bilevel_bench.families``), by name."""
    return load_group(FAMILIES, _family_problem, lambda family: family.name)


def get_family(name: Any, source: str = "<cli>", key: str = "problem") -> Family:
    known = families()
    if not isinstance(name, str) or name not in known:
        raise InputError(source, key, f"unknown problem {name!r}; known: {', '.join(known) or 'none'}")
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
        return family.load_shipped(spec)
    path = Path(spec)
    suffix = family.suffix_of(path.name)
    if suffix is not None or path.exists():
        if path.is_dir():
            raise InputError(source, key, f"{spec!r} is a directory, not an instance file")
        if not path.is_file():
            raise InputError(source, key, f"instance file {spec!r} does not exist")
        return family.load_file(path)
    raise InputError(
        source,
        key,
        f"{spec!r} is not a shipped {family.name} instance ({', '.join(family.shipped())}), "
        f"an existing {' or '.join(['.json', *family.reader_suffixes])} file, or a {GENERATE_PREFIX}... spec",
    )


def parse_generate_spec(family: Family, spec: str, source: str, key: str) -> dict[str, Any]:
    params = family.generator_parameters()
    kwargs: dict[str, Any] = {}
    for item in filter(None, spec[len(GENERATE_PREFIX) :].split(",")):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in params:
            raise InputError(source, key, f"{spec!r}: {name!r} is not a generator parameter ({', '.join(params)})")
        if name in kwargs:
            raise InputError(source, key, f"{spec!r}: parameter {name!r} is given twice")
        kwargs[name] = _parse_number(raw.strip(), spec, name, source, key)
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in kwargs]
    if missing:
        raise InputError(source, key, f"{spec!r}: missing generator parameter {missing[0]!r}")
    return kwargs


def _parse_number(raw: str, spec: str, name: str, source: str, key: str) -> int | float | str | bool:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for convert in (int, float):
        try:
            value = convert(raw)
        except ValueError:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(source, key, f"{spec!r}: parameter {name!r} must be finite, got {raw!r}")
        return value
    if raw:
        return raw
    raise InputError(source, key, f"{spec!r}: parameter {name!r} has no value")
