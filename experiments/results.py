"""The results tables read back with their declared types, written as Parquet, and documented.

:func:`read_results` is the documented reader of a results directory (``bilevel_bench.read_results``): it
returns ``runs``, ``history`` and ``exact`` as pandas DataFrames whose columns have the dtypes that
:mod:`bilevel_bench.experiments.schema` declares, whatever the file held (an all-empty column is still
``Int64``, ``float64``, ``boolean`` or string, never a guessed ``float64``):

=========  ==================================================================================================
kind       pandas dtype
=========  ==================================================================================================
``str``    string (``pd.StringDtype`` with NaN as the missing value)
``int``    ``Int64`` (nullable integer)
``float``  ``float64`` (missing: NaN)
``bool``   ``boolean`` (nullable)
``json``   string: the JSON text as written (``best_decision``, ``front``, ``work``, ``decision``);
           ``json.loads`` a cell to use it
=========  ==================================================================================================

Generated columns: ``size_<name>`` are ``Int64``; ``param_<name>`` and ``option_<name>`` are scalars, typed
by the values the column holds: ``boolean`` if every value is ``True``/``False``, ``float64`` if every value
is a number (integers included: a column with a missing value cannot stay integer in every reader), else
string (a list-valued parameter stays its JSON text).

:func:`write_parquet` writes the same three tables as Parquet (``runs.parquet``, ...) from the CSVs. The
CSVs are the crash-safe store (rows are appended whole as runs finish); Parquet is written at the end of a
grid, from the CSVs, so it is never partial. :func:`read_results` reads a table's Parquet file when it is
present and not older than its CSV, else the CSV.

``python -m bilevel_bench.experiments.results docs/results.md`` rewrites the generated column tables of the
schema document (a test checks that the document and :mod:`~bilevel_bench.experiments.schema` agree).
"""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from bilevel_bench.errors import InputError
from bilevel_bench.experiments import schema

#: The three tables: name -> (CSV file, the schema's file key).
TABLES = {"runs": "runs.csv", "history": "history.csv", "exact": "exact.csv"}
Source = Literal["auto", "csv", "parquet"]


def string_dtype() -> pd.StringDtype:
    """pandas' string dtype with NaN as its missing value (pandas >= 2.3; earlier: pd.NA)."""
    try:
        return pd.StringDtype(na_value=np.nan)
    except TypeError:  # pragma: no cover - pandas < 2.3
        return pd.StringDtype()


STRING = string_dtype()
KIND_DTYPES: dict[str, Any] = {"str": STRING, "int": "Int64", "float": "float64", "bool": "boolean", "json": STRING}
SCALAR_PREFIXES = ("param_", "option_")
TRUE, FALSE = {"true", "1"}, {"false", "0"}


class ResultTables(NamedTuple):
    """The three tables of a results directory (an absent file: an empty table with the schema's columns)."""

    runs: pd.DataFrame
    history: pd.DataFrame
    exact: pd.DataFrame


def read_results(results_dir: str | Path, source: Source = "auto") -> ResultTables:
    """``runs``, ``history`` and ``exact`` of ``results_dir`` with their declared dtypes.

    ``source``: ``"auto"`` reads each table's Parquet file if it is present and not older than its CSV,
    else the CSV; ``"csv"`` or ``"parquet"`` force one. A partial last CSV line (a writer killed mid-line)
    is ignored; the files are never modified. A value that does not fit its column's type raises
    :class:`~bilevel_bench.errors.InputError` naming the file and the column.
    """
    directory = Path(results_dir)
    return ResultTables(*(read_table(directory, name, source) for name in TABLES))


def table_path(results_dir: Path, name: str, source: Source = "auto") -> Path | None:
    """The file :func:`read_table` reads for table ``name`` (None if there is none)."""
    csv = results_dir / TABLES[name]
    parquet = csv.with_suffix(".parquet")
    if source == "csv":
        return csv if csv.is_file() else None
    if source == "parquet":
        return parquet if parquet.is_file() else None
    if parquet.is_file() and (not csv.is_file() or parquet.stat().st_mtime >= csv.stat().st_mtime):
        return parquet
    return csv if csv.is_file() else None


def read_table(results_dir: str | Path, name: str, source: Source = "auto") -> pd.DataFrame:
    """One table (``runs``, ``history`` or ``exact``) with its declared dtypes; see :func:`read_results`."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r} (known: {', '.join(TABLES)})")
    path = table_path(Path(results_dir), name, source)
    file = TABLES[name]
    if path is None:
        return empty_table(file)
    if path.suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow's errors are many; all mean "not a readable Parquet file"
            raise InputError(str(path), "<file>", f"not a readable Parquet file ({type(exc).__name__}: {exc})") from exc
        return typed(frame, file, str(path))
    return typed(read_csv_text(path), file, str(path))


def read_csv_text(path: Path) -> pd.DataFrame:
    """A results CSV with every cell as text (missing: an empty cell), a partial last line dropped."""
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
    if not data.strip():
        return pd.DataFrame()
    try:
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "<file>", f"not a readable CSV file ({exc})".replace("\n", " ")) from exc


def empty_table(file: str) -> pd.DataFrame:
    """An empty table with the schema's columns of ``file`` (``runs.csv``, ...) and their dtypes."""
    return pd.DataFrame({c.name: pd.Series(dtype=KIND_DTYPES[c.kind]) for c in schema.FILES[file]})


def typed(frame: pd.DataFrame, file: str, source: str = "") -> pd.DataFrame:
    """``frame`` with every column converted to its declared dtype (see the module docstring)."""
    out = {}
    for column in frame.columns:
        values = frame[column]
        if column.startswith(SCALAR_PREFIXES):
            out[column] = _scalar(values)
        else:
            out[column] = _convert(values, schema.kind_of(file, column), source or file, column)
    return pd.DataFrame(out, index=frame.index) if out else pd.DataFrame(index=frame.index)


def _convert(values: pd.Series, kind: str, source: str, column: str) -> pd.Series:
    dtype = KIND_DTYPES[kind]
    if kind in ("str", "json"):
        if values.dtype == dtype:
            return values
        text = values.astype(object)
        return text.where(text.isna(), text.map(str)).astype(dtype)
    if kind == "bool":
        if isinstance(values.dtype, pd.BooleanDtype):
            return values
        if pd.api.types.is_bool_dtype(values.dtype):
            return values.astype("boolean")
        return _booleans(values, source, column)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = values.astype("float64")
    else:
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        suspect = numbers.isna() & values.notna()
        if suspect.any():  # an unparsable cell, or a written "nan"
            bad = suspect & ~values.astype(object).map(_is_nan_text).astype(bool)
            if bad.any():
                raise InputError(source, column, f"not a number: {values[bad].iloc[0]!r} (row {_row(bad)})")
    if kind == "int":
        fraction = numbers.notna() & np.isfinite(numbers) & (numbers != np.round(numbers))
        if fraction.any() or np.isinf(numbers).any():
            bad = fraction | np.isinf(numbers)
            raise InputError(source, column, f"not an integer: {values[bad].iloc[0]!r} (row {_row(bad)})")
        return numbers.astype("Int64")
    return numbers


def _is_nan_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in ("nan", "")


def _row(mask: pd.Series) -> int:
    """The 1-based data row of the first True in ``mask`` (the header is row 0)."""
    return int(np.flatnonzero(mask.to_numpy())[0]) + 1


def _booleans(values: pd.Series, source: str, column: str) -> pd.Series:
    text = values.astype(object).map(lambda v: v if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    lower = text.map(lambda v: v.strip().lower() if isinstance(v, str) else v)
    known = lower.isna() | lower.isin(TRUE | FALSE)
    if not known.all():
        raise InputError(source, column, f"not True or False: {values[~known].iloc[0]!r} (row {_row(~known)})")
    return lower.map(lambda v: pd.NA if not isinstance(v, str) else v in TRUE).astype("boolean")


def _scalar(values: pd.Series) -> pd.Series:
    """A param_/option_ column: boolean, float64 or string, by the values it holds."""
    if isinstance(values.dtype, pd.BooleanDtype) or (
        pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
    ):
        return values if isinstance(values.dtype, pd.BooleanDtype) else values.astype("float64")
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean")
    present = values.dropna().astype(str).str.strip()
    if present.empty:
        return values.astype("float64") if values.isna().all() else values.astype(STRING)
    if present.str.lower().isin({"true", "false"}).all():
        return values.map(lambda v: pd.NA if pd.isna(v) else str(v).strip().lower() == "true").astype("boolean")
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():
        return pd.to_numeric(values, errors="coerce").astype("float64")
    return values.astype(STRING)


# -- Parquet ----------------------------------------------------------------------------------------------


def write_parquet(results_dir: str | Path) -> list[Path]:
    """Write ``runs.parquet``, ``history.parquet`` and ``exact.parquet`` from the CSVs of ``results_dir``
    (each through a temporary file and an atomic rename), with the declared dtypes. Tables without a CSV
    are skipped. Returns the paths written."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InputError("<cli>", "--format", "Parquet needs pyarrow: pip install pyarrow") from None
    directory = Path(results_dir)
    written = []
    for file in TABLES.values():
        csv = directory / file
        if not csv.is_file():
            continue
        frame = typed(read_csv_text(csv), file, str(csv))
        if frame.columns.empty:
            frame = empty_table(file)
        target = csv.with_suffix(".parquet")
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            frame.to_parquet(tmp, engine="pyarrow", index=False)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        written.append(target)
    return written


# -- the schema document ------------------------------------------------------------------------------------

BEGIN, END = "<!-- BEGIN GENERATED {} -->", "<!-- END GENERATED {} -->"
DTYPE_NAMES = {"str": "string", "int": "Int64", "float": "float64", "bool": "boolean", "json": "string (JSON text)"}


def schema_markdown(file: str) -> str:
    """The column table of ``file`` (``runs.csv``, ``history.csv``, ``exact.csv`` or ``generated``) as
    Markdown: column, kind, pandas dtype, unit, time column, meaning."""
    columns = list(schema.PREFIXES.values()) if file == "generated" else schema.FILES[file]
    lines = ["| column | kind | dtype (read_results) | unit | time | meaning |"]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for col in columns:
        dtype = DTYPE_NAMES[col.kind]
        if col.name.startswith(("param_", "option_")):
            dtype = "boolean, float64 or string (by the values)"
        meaning = col.meaning or "version of the package named by the column"
        lines.append(
            f"| `{col.name}` | {col.kind} | {dtype} | {col.unit or '–'} | {'yes' if col.time else ''} | "
            f"{meaning.replace('|', chr(92) + '|')} |"
        )
    return "\n".join(lines)


def documented_columns(text: str) -> dict[str, list[str]]:
    """Column names listed in the generated tables of a schema document, per block name."""
    out: dict[str, list[str]] = {}
    for block in (*schema.FILES, "generated"):
        match = re.search(re.escape(BEGIN.format(block)) + r"(.*?)" + re.escape(END.format(block)), text, re.S)
        if match:
            out[block] = re.findall(r"^\| `([^`]+)` \|", match.group(1), re.M)
    return out


def update_document(path: Path) -> bool:
    """Rewrite the generated blocks of the schema document at ``path``; True if it changed."""
    text = path.read_text(encoding="utf-8")
    new = text
    for block in (*schema.FILES, "generated"):
        pattern = re.escape(BEGIN.format(block)) + r".*?" + re.escape(END.format(block))
        replacement = f"{BEGIN.format(block)}\n{schema_markdown(block)}\n{END.format(block)}"
        new = re.sub(pattern, replacement.replace("\\", "\\\\"), new, flags=re.S)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (one we may not signal counts as running). Used for the
    output directory's lock and the report's staging folders, whose owners may have been killed."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bilevel_bench.experiments.results docs/results.md", file=sys.stderr)
        return 2
    changed = update_document(Path(args[0]))
    print(f"{args[0]}: {'updated' if changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
