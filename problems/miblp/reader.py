"""Reading BOBILib / MibS instances: an MPS file (plain or gzipped) with its MibS auxiliary file beside it.

Entry points (registered as the family's readers):

- :func:`read_mps`: a path to ``<name>.mps`` or ``<name>.mps.gz``; ``<name>.aux`` must be in the same folder;
- :func:`read_aux`: a path to ``<name>.aux``; the MPS is the file its ``@MPS`` line names (plain or ``.gz``)
  in the same folder, else ``<name>.mps`` / ``<name>.mps.gz``.

The MPS is read by OR-Tools (``model_builder``'s MPS import, after gunzipping here): columns with bounds
and integrality, rows with their bounds, the objective (the leader's) and its offset. An MPS that minimises
is taken as it is; one with ``OBJSENSE MAX`` is stored negated (the family minimises), and so is its
published value.

The auxiliary file (MibS, https://github.com/coin-or/MibS, "input file format"):

- name-based (what BOBILib ships): ``@NUMVARS`` n, ``@NUMCONSTRS`` m (also ``@NUMCONSTR``), optional
  ``@OBJSENSE`` MIN/MAX (the follower's), ``@VARSBEGIN`` lines "name coefficient" ``@VARSEND`` (the follower's
  columns and objective), ``@CONSTRSBEGIN`` lines "name" ``@CONSTRSEND`` (also ``@CONSTRBEGIN``/``@CONSTREND``;
  the follower's rows), ``@NAME``, ``@MPS``/``@LP`` (the model file's name);
- index-based (legacy): lines ``N n``, ``M m``, ``LC j`` (follower column, 0-based index in file order, or a
  name), ``LR i`` (follower row), ``LO c`` (follower objective, in ``LC`` order), ``OS 1|-1`` (1 = min).

Columns not listed are the leader's, rows not listed are the leader's (they may involve follower columns:
coupling rows, which must hold at the follower's response).

The published reference: ``<name>.res.json`` beside the MPS, or in ``../solutions/`` or ``../../solutions/``
(BOBILib's layout: ``instances/<folder>/<name>.mps.gz`` and ``solutions/<name>.res.json``). Its ``status``
``optimal`` gives a published optimum, ``open with feasible point`` a best-known value, ``open`` none;
``objective_value`` (required: null only with ``open``) and ``upper_level_decisions`` (leader variables by
name; a leader variable it leaves out is read as 0) are kept in the instance.

Every defect raises :class:`InputError` naming the file the user gave (``source``), a key (the aux section,
``<gzip>``, ``<mps>``, ``<res.json>``, ``objective_value``, ...) and, where another file is at fault, that file.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from bilevel_bench.errors import InputError
from bilevel_bench.instance import require
from bilevel_bench.problems.miblp.instance import NO_BOUND, MiblpInstance, with_leader_box

#: res.json statuses and what the instance keeps of them.
RESULT_STATUSES = {"optimal": "optimal", "open with feasible point": "best_known", "open": ""}


def read_mps(path: str | Path) -> MiblpInstance:
    """The instance of an MPS file (``.mps`` or ``.mps.gz``) and the ``.aux`` beside it."""
    path = Path(path)
    source = str(path)
    require(path.is_file(), source, "<file>", "no such MPS file")
    return _read(path, path.parent / f"{model_stem(path)}.aux", source)


def read_aux(path: str | Path) -> MiblpInstance:
    """The instance of a MibS ``.aux`` file and the MPS it names (in the same folder)."""
    path = Path(path)
    source = str(path)
    require(path.is_file(), source, "<file>", "no such .aux file")
    text = _text(path, source)
    named = _named_model(text)
    candidates = [path.parent / named, path.parent / f"{named}.gz"] if named else []
    candidates += [path.parent / f"{path.stem}.mps", path.parent / f"{path.stem}.mps.gz"]
    mps = next((c for c in candidates if c.is_file()), None)
    if mps is None:
        raise InputError(source, "@MPS", f"no MPS file found beside it (tried {', '.join(c.name for c in candidates)})")
    return _read(mps, path, source)


def model_stem(path: Path) -> str:
    """``name`` of ``name.mps``, ``name.mps.gz``, ``name.gz``."""
    name = path.name
    for suffix in (".gz", ".mps", ".MPS"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


# -- the pipeline -----------------------------------------------------------------------------------------------


def _read(mps: Path, aux: Path, source: str) -> MiblpInstance:
    model = _import_mps(mps, source)  # the model first: a broken MPS is the first thing to say
    if not aux.is_file():
        raise InputError(source, "aux", f"no MibS .aux file beside it (expected {aux})")
    columns, rows = _columns_and_rows(model)
    col_names = [c["name"] for c in columns]
    row_names = [r["name"] for r in rows]
    f_cols, f_obj, f_rows = parse_aux(_text(aux, source), col_names, row_names, source, aux.name)
    _need(
        len(f_cols) < len(col_names),
        source,
        "@VARSBEGIN",
        f"{aux.name}: lists every column as the follower's (the leader needs at least one)",
    )
    helper = model.helper
    sign = -1.0 if helper.maximize() else 1.0
    entries = [(i, j, value) for i, row in enumerate(rows) for j, value in zip(row["cols"], row["vals"], strict=True)]
    entries = [e for e in entries if e[2] != 0.0]
    a_row, a_col, a_val = ([e[k] for e in entries] for k in range(3))
    order = np.argsort(f_cols)
    instance = MiblpInstance(
        name=model_stem(mps),
        seed=None,
        obj=sign * np.array([c["obj"] for c in columns], dtype=float),
        obj_offset=sign * float(helper.objective_offset()),
        follower_cols=np.asarray(f_cols, dtype=np.int64)[order],
        follower_obj=np.asarray(f_obj, dtype=float)[order],
        follower_rows=np.sort(np.asarray(f_rows, dtype=np.int64)),
        a_row=np.asarray(a_row, dtype=np.int64),
        a_col=np.asarray(a_col, dtype=np.int64),
        a_val=np.asarray(a_val, dtype=float),
        row_lower=_stored([r["lo"] for r in rows]),
        row_upper=_stored([r["hi"] for r in rows]),
        col_lower=_stored([c["lo"] for c in columns]),
        col_upper=_stored([c["hi"] for c in columns]),
        integer=np.array([c["int"] for c in columns], dtype=bool),
        var_names="\n".join(col_names),
        row_names="\n".join(row_names),
    )
    instance.validate(source)
    instance = _with_published(instance, mps, source, sign)
    instance = with_leader_box(instance)
    instance.validate(source)
    return instance


def _stored(values: list[float]) -> np.ndarray:
    return np.clip(np.asarray(values, dtype=float), -NO_BOUND, NO_BOUND)


def _text(path: Path, source: str) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(source, "<file>", f"cannot read {path}: {exc.strerror}") from None
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise InputError(source, "<gzip>", f"{path.name} is not a complete gzip file ({exc})") from None
    return raw.decode("latin-1")  # BOBILib's files say ENCODING=ISO-8859-1; latin-1 never fails


def _import_mps(path: Path, source: str) -> Any:
    from ortools.linear_solver.python import model_builder

    text = _text(path, source)
    model = model_builder.Model()
    if not model.import_from_mps_string(text):
        raise InputError(source, "<mps>", f"OR-Tools could not read {path.name} as an MPS file")
    if model.num_variables < 2:
        raise InputError(source, "<mps>", f"{path.name} has {model.num_variables} columns (OR-Tools read no model)")
    return model


def _columns_and_rows(model: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    h = model.helper
    columns = [
        {
            "name": h.var_name(j),
            "lo": h.var_lower_bound(j),
            "hi": h.var_upper_bound(j),
            "int": h.var_is_integral(j),
            "obj": h.var_objective_coefficient(j),
        }
        for j in range(h.num_variables())
    ]
    rows = [
        {
            "name": h.constraint_name(i),
            "lo": h.constraint_lower_bound(i),
            "hi": h.constraint_upper_bound(i),
            "cols": list(h.constraint_var_indices(i)),
            "vals": list(h.constraint_coefficients(i)),
        }
        for i in range(h.num_constraints())
    ]
    return columns, rows


def _named_model(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines()]
    for k, line in enumerate(lines[:-1]):
        if line.upper() in ("@MPS", "@LP"):
            return lines[k + 1] or None
    return None


# -- the aux file ------------------------------------------------------------------------------------------------


def parse_aux(
    text: str, col_names: list[str], row_names: list[str], source: str, aux_name: str
) -> tuple[list[int], list[float], list[int]]:
    """(follower columns, their objective coefficients (minimised), follower rows) of an aux file's text."""
    lines = [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith(("#", "*"))]
    if not lines:
        raise InputError(source, "aux", f"{aux_name} is empty")
    if lines[0][0].startswith("@"):
        return _parse_named(lines, col_names, row_names, source, aux_name)
    return _parse_indexed(lines, col_names, row_names, source, aux_name)


_SECTIONS = {"@VARSBEGIN": "@VARSEND", "@CONSTRSBEGIN": "@CONSTRSEND", "@CONSTRBEGIN": "@CONSTREND"}
_VALUE_KEYS = ("@NUMVARS", "@NUMCONSTRS", "@NUMCONSTR", "@OBJSENSE", "@NAME", "@MPS", "@LP")


def _parse_named(
    lines: list[list[str]], col_names: list[str], row_names: list[str], source: str, aux: str
) -> tuple[list[int], list[float], list[int]]:
    col_index = {name: j for j, name in enumerate(col_names)}
    row_index = {name: i for i, name in enumerate(row_names)}
    values: dict[str, str] = {}
    cols: list[int] = []
    obj: list[float] = []
    rows: list[int] = []
    k = 0
    while k < len(lines):
        key = lines[k][0].upper()
        if key in _SECTIONS:
            end = _SECTIONS[key]
            k += 1
            while k < len(lines) and lines[k][0].upper() != end:
                entry = lines[k]
                if key == "@VARSBEGIN":
                    name = entry[0]
                    _need(name in col_index, source, key, f"{aux}: variable {name!r} is not in the MPS file")
                    _need(len(entry) == 2, source, key, f"{aux}: expected 'name coefficient', got {' '.join(entry)!r}")
                    cols.append(col_index[name])
                    obj.append(_number(entry[1], source, key, aux))
                else:
                    name = entry[0]
                    _need(name in row_index, source, "@CONSTRSBEGIN", f"{aux}: row {name!r} is not in the MPS file")
                    rows.append(row_index[name])
                k += 1
            _need(k < len(lines), source, key, f"{aux}: no {end} after {key}")
        elif key in _VALUE_KEYS:
            _need(k + 1 < len(lines), source, key, f"{aux}: {key} has no value on the next line")
            values[key] = " ".join(lines[k + 1])
            k += 1
        else:
            raise InputError(source, "aux", f"{aux}: unknown keyword {lines[k][0]!r}")
        k += 1
    n_vars = values.get("@NUMVARS")
    n_rows = values.get("@NUMCONSTRS", values.get("@NUMCONSTR"))
    _need(n_vars is not None, source, "@NUMVARS", f"{aux}: missing")
    _need(_count(n_vars) == len(cols), source, "@NUMVARS", f"{aux}: says {n_vars}, @VARSBEGIN lists {len(cols)}")
    if n_rows is not None:
        _need(
            _count(n_rows) == len(rows), source, "@NUMCONSTRS", f"{aux}: says {n_rows}, the section lists {len(rows)}"
        )
    sense = values.get("@OBJSENSE", "MIN").upper()
    _need(sense in ("MIN", "MAX"), source, "@OBJSENSE", f"{aux}: {sense!r} is not MIN or MAX")
    return _checked(cols, obj, rows, -1.0 if sense == "MAX" else 1.0, source, aux)


def _parse_indexed(
    lines: list[list[str]], col_names: list[str], row_names: list[str], source: str, aux: str
) -> tuple[list[int], list[float], list[int]]:
    col_index = {name: j for j, name in enumerate(col_names)}
    row_index = {name: i for i, name in enumerate(row_names)}
    cols: list[int] = []
    obj: list[float] = []
    rows: list[int] = []
    counts: dict[str, int] = {}
    sense = 1.0
    for entry in lines:
        key = entry[0].upper()
        _need(len(entry) == 2, source, key, f"{aux}: expected '<type> <value>', got {' '.join(entry)!r}")
        value = entry[1]
        if key in ("N", "M"):
            counts[key] = int(_number(value, source, key, aux))
        elif key == "LC":
            cols.append(_index(value, col_index, len(col_names), source, "LC", aux, "variable"))
        elif key == "LR":
            rows.append(_index(value, row_index, len(row_names), source, "LR", aux, "row"))
        elif key == "LO":
            obj.append(_number(value, source, key, aux))
        elif key == "OS":
            _need(value in ("1", "-1"), source, "OS", f"{aux}: {value!r} is not 1 (min) or -1 (max)")
            sense = float(value)
        else:
            raise InputError(source, "aux", f"{aux}: unknown type indicator {entry[0]!r} (known: N, M, LC, LR, LO, OS)")
    _need(counts.get("N", len(cols)) == len(cols), source, "N", f"{aux}: says {counts.get('N')}, LC lists {len(cols)}")
    _need(counts.get("M", len(rows)) == len(rows), source, "M", f"{aux}: says {counts.get('M')}, LR lists {len(rows)}")
    _need(len(obj) == len(cols), source, "LO", f"{aux}: {len(obj)} LO coefficients for {len(cols)} LC variables")
    return _checked(cols, obj, rows, sense, source, aux)


def _checked(
    cols: list[int], obj: list[float], rows: list[int], sense: float, source: str, aux: str
) -> tuple[list[int], list[float], list[int]]:
    _need(len(cols) > 0, source, "@VARSBEGIN", f"{aux}: lists no follower variable")
    _need(len(set(cols)) == len(cols), source, "@VARSBEGIN", f"{aux}: a follower variable is listed twice")
    _need(len(set(rows)) == len(rows), source, "@CONSTRSBEGIN", f"{aux}: a follower row is listed twice")
    return cols, [sense * c for c in obj], rows


def _count(text: str | None) -> int:
    try:
        return int(str(text))
    except ValueError:
        return -1


def _index(value: str, names: dict[str, int], count: int, source: str, key: str, aux: str, what: str) -> int:
    if value in names:
        return names[value]
    try:
        index = int(value)
    except ValueError:
        raise InputError(source, key, f"{aux}: {what} {value!r} is not in the MPS file") from None
    _need(0 <= index < count, source, key, f"{aux}: {what} index {index} is not in the MPS file (0..{count - 1})")
    return index


def _number(text: str, source: str, key: str, aux: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(source, key, f"{aux}: {text!r} is not a number") from None
    _need(math.isfinite(value), source, key, f"{aux}: {text!r} is not finite")
    return value


def _need(condition: bool, source: str, key: str, message: str) -> None:
    if not condition:
        raise InputError(source, key, message)


# -- the published result --------------------------------------------------------------------------------------


def result_file(mps: Path) -> Path | None:
    """``<name>.res.json`` beside the MPS, or in ``../solutions`` or ``../../solutions`` (BOBILib's layout)."""
    name = f"{model_stem(mps)}.res.json"
    for folder in (mps.parent, mps.parent.parent / "solutions", mps.parent.parent.parent / "solutions"):
        if (folder / name).is_file():
            return folder / name
    return None


def _with_published(instance: MiblpInstance, mps: Path, source: str, sign: float) -> MiblpInstance:
    import dataclasses

    path = result_file(mps)
    if path is None:
        return instance
    status, objective, x = read_result(path, instance, source)
    if objective is not None:
        objective *= sign
    return dataclasses.replace(
        instance,
        published_status=status,
        published_objective=objective,
        published_x=x,
        published_source=f"BOBILib {path.name}: status {status or 'open'}",
    )


def read_result(path: Path, instance: MiblpInstance, source: str) -> tuple[str, float | None, np.ndarray]:
    """(status, objective, leader decision) of a BOBILib ``.res.json`` (objective None for "open")."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(source, "<res.json>", f"{path} is not valid JSON: {exc}") from None
    _need(isinstance(data, dict), source, "<res.json>", f"{path}: expected a JSON object")
    raw_status = data.get("status")
    _need(
        raw_status in RESULT_STATUSES,
        source,
        "status",
        f"{path}: {raw_status!r} is not one of {', '.join(map(repr, RESULT_STATUSES))}",
    )
    status = RESULT_STATUSES[raw_status]
    _need("objective_value" in data, source, "objective_value", f"{path} has no objective_value")
    value = data["objective_value"]
    if status == "":
        return "", None, np.zeros(0)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    _need(ok, source, "objective_value", f"{path}: {value!r} is not a finite number")
    decisions = data.get("upper_level_decisions") or {}
    _need(isinstance(decisions, dict), source, "upper_level_decisions", f"{path}: expected an object name -> value")
    names = instance.names()
    position = {names[j]: k for k, j in enumerate(instance.leader_cols)}
    x = np.zeros(len(position))
    for name, v in decisions.items():
        _need(name in position, source, "upper_level_decisions", f"{path}: {name!r} is not a leader variable")
        _need(
            isinstance(v, (int, float)) and not isinstance(v, bool),
            source,
            "upper_level_decisions",
            f"{path}: {name}: {v!r} is not a number",
        )
        x[position[name]] = float(v) + 0.0  # -0.0 -> 0.0
    return status, float(value), (x if decisions else np.zeros(0))


# -- the shipped instances ------------------------------------------------------------------------------------------

DATA_DIR = Path(__file__).parent / "data"
LIBRARY_DIR = DATA_DIR / "bobilib"


def shipped_sources() -> list[Path]:
    """The library files the shipped JSON instances are converted from (``data/bobilib/instances/*/``)."""
    return sorted(LIBRARY_DIR.glob("instances/*/*.mps.gz"))


def rebuild_shipped() -> list[Path]:
    """Rewrite ``data/<name>.json`` from every shipped library file (reader, HPR box, published result)."""
    return [read_mps(path).save(DATA_DIR / f"{model_stem(path)}.json") for path in shipped_sources()]


if __name__ == "__main__":
    for written in rebuild_shipped():
        print(written)
