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
        path = Path(path)
        require(path.is_file(), str(path), "<file>", "no such instance file")
        try:
            raw = json.loads(path.read_text(), parse_constant=_reject_constant)
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(str(path), "<json>", f"not valid JSON: {exc}") from None
        return cls.from_dict(raw, str(path))

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)


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
