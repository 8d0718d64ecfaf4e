"""Instances: plain data that can be written to JSON and read back unchanged.

An instance is a frozen dataclass whose fields are numpy arrays, scalars and strings, plus a ``name`` and a
``seed`` (``None`` for published instances). Its family is a class attribute. Arrays are stored in JSON as
nested lists; the dataclass field says how to read them back (``array_field(dtype=...)``), so the file stays
readable and diffable and no pickle is ever involved.

Reading checks everything a user can get wrong (missing or unknown keys, wrong types, non-finite numbers)
and names the file and the key. Family-specific checks (shapes, signs, feasibility) live in each family's
``validate`` method, which raises :class:`~bilevel_bench.errors.InputError` through :func:`require`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from bilevel_bench.errors import InputError

FORMAT_VERSION = 1

T = TypeVar("T", bound="Instance")


def array_field(dtype: type = float, **kwargs: Any) -> Any:
    """A dataclass field holding a numpy array of ``dtype`` (stored as nested lists in JSON)."""
    return dataclasses.field(metadata={"array": True, "dtype": dtype}, **kwargs)


def require(condition: bool, source: str, key: str, message: str) -> None:
    """Raise an :class:`InputError` naming ``source`` and ``key`` unless ``condition`` holds."""
    if not condition:
        raise InputError(source, key, message)


@dataclasses.dataclass(frozen=True, eq=False)
class Instance:
    """Base class of every family's instance.

    Subclasses add their data fields (after ``name`` and ``seed``) and override :meth:`validate`.
    """

    family: ClassVar[str] = ""

    name: str
    seed: int | None

    # -- equality -----------------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if not (np.shape(a) == np.shape(b) and np.array_equal(a, b, equal_nan=True)):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]  # arrays make instances unhashable

    def size(self) -> dict[str, int]:
        """The instance's dimensions, for the ``size`` column of results (families override this)."""
        return {}

    # -- validation ---------------------------------------------------------------------------------
    def validate(self, source: str = "<instance>") -> None:
        """Family-specific checks; the base class checks that every number is finite."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and value.dtype.kind in "fc" and not np.isfinite(value).all():
                where = np.argwhere(~np.isfinite(value))[0]
                raise InputError(source, f.name, f"non-finite value {value[tuple(where)]!r} at index {where.tolist()}")
            elif isinstance(value, float):
                require(math.isfinite(value), source, f.name, f"non-finite value {value!r}")

    # -- plain-data round trip ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            data[f.name] = value.tolist() if isinstance(value, np.ndarray) else value
        return {"format_version": FORMAT_VERSION, "family": self.family, **data}

    @classmethod
    def from_dict(cls: type[T], raw: Any, source: str = "<dict>") -> T:
        """Build and validate an instance from JSON-like data; every defect names ``source`` and a key."""
        require(isinstance(raw, dict), source, "<root>", f"expected a JSON object, got {type(raw).__name__}")
        family = raw.get("family", cls.family)
        require(family == cls.family, source, "family", f"is {family!r}, expected {cls.family!r}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - set(fields) - {"format_version", "family"})
        require(not unknown, source, unknown[0] if unknown else "", "unknown key")
        kwargs: dict[str, Any] = {}
        for name, f in fields.items():
            if name not in raw:
                has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
                require(has_default, source, name, "missing key")
                continue
            kwargs[name] = _read_value(raw[name], f, source)
        instance = cls(**kwargs)
        instance.validate(source)
        return instance

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")
        tmp.replace(path)  # atomic: a crash never leaves half a file
        return path

    @classmethod
    def load(cls: type[T], path: str | Path) -> T:
        return cls.from_dict(read_json(path), str(path))

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)


#: Instance files larger than this are refused before they are read (a typo or the wrong file).
MAX_FILE_BYTES = 200_000_000
#: JSON nested deeper than this is refused (instances are flat records of arrays).
MAX_DEPTH = 32


def read_json(path: str | Path) -> Any:
    """Read a JSON data file strictly: size and nesting limits, no NaN/Infinity, no key given twice."""
    path = Path(path)
    source = str(path)
    if path.is_dir():
        raise InputError(source, "<file>", "is a directory, not an instance file")
    require(path.is_file(), source, "<file>", "no such instance file")
    size = path.stat().st_size
    require(size <= MAX_FILE_BYTES, source, "<file>", f"is {size} bytes; instance files are at most {MAX_FILE_BYTES}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(source, "<json>", "not a UTF-8 text file") from None
    _check_depth(text, source)
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKey as exc:
        raise InputError(source, str(exc), "key given twice in one object") from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise InputError(source, "<json>", f"not valid JSON: {exc}") from None


class _DuplicateKey(Exception):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _check_depth(text: str, source: str) -> None:
    """Refuse deep nesting before parsing (the parser would recurse): count brackets outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                raise InputError(source, "<json>", f"nested deeper than {MAX_DEPTH} levels")
        elif char in "]}":
            depth -= 1


def _reject_constant(token: str) -> None:
    raise ValueError(f"{token} is not allowed in instance files")


def _read_value(value: Any, f: dataclasses.Field, source: str) -> Any:
    if f.metadata.get("array"):
        dtype = f.metadata["dtype"]
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise InputError(source, f.name, "expected a (nested) list of numbers of regular shape") from None
        require(np.isfinite(arr).all(), source, f.name, "contains NaN or infinite values")
        if dtype is int:
            require(bool(np.all(arr == np.round(arr))), source, f.name, "expected integers")
            return arr.astype(np.int64)
        if dtype is bool:
            return arr.astype(bool)
        return arr
    expected = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if value is None:
        require("None" in expected, source, f.name, "may not be null")
        return None
    if "float" in expected and isinstance(value, (int, float)) and not isinstance(value, bool):
        require(math.isfinite(value), source, f.name, f"non-finite value {value!r}")
        return float(value)
    if "int" in expected and isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if "str" in expected and isinstance(value, str):
        return value
    if "bool" in expected and isinstance(value, bool):
        return value
    raise InputError(source, f.name, f"expected {expected}, got {type(value).__name__} {value!r}")
