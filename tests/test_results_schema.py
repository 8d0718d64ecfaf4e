"""The results schema: documented column by column, read back with the declared dtypes, written as Parquet."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.experiments import schema
from bilevel_bench.experiments.results import (
    KIND_DTYPES,
    documented_columns,
    read_results,
    schema_markdown,
    table_path,
    write_parquet,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "results.md"


def test_every_column_is_documented_and_every_documented_column_exists():
    text = DOC.read_text(encoding="utf-8")
    documented = documented_columns(text)
    for file, columns in schema.FILES.items():
        assert documented[file] == schema.names(columns), file  # all, in order, nothing else
    assert documented["generated"] == [c.name for c in schema.PREFIXES.values()]
    for block in (*schema.FILES, "generated"):  # meaning, kind, unit and time flag as the schema says
        assert schema_markdown(block) in text, f"{block}: run python -m bilevel_bench.experiments.results {DOC}"
    rows = [
        re.split(r"(?<!\\)\|", line)[1:-1] for file in schema.FILES for line in schema_markdown(file).splitlines()[2:]
    ]
    assert all(len(row) == 6 for row in rows)
    timed = sorted({row[0].strip(" `") for row in rows if row[4].strip() == "yes"})
    assert timed == sorted(schema.time_columns()) and "elapsed_s" in timed and "gap_pct" not in timed


def _runs_text() -> str:
    """Two runs whose error, verified, hypervolume, restarts and param_anchors columns are empty throughout."""
    head = (
        "run_id,problem,instance,heuristic,seed,status,error,verified,hypervolume,restarts,best_value,front,"
        "best_decision,param_anchors,param_pop_size,param_flag,param_mode,size_n_var,size_T,option_routing"
    )
    rows = [
        'a|1,inv,007,ga,1,ok,,,,,12.5,,"{""x"": [1, 2]}",,50,True,fast,4,2.0,heuristic',
        "a|2,inv,007,de,2,ok,,,,,,,,,50.0,False,slow,4,,heuristic",
    ]
    return "\n".join([head, *rows]) + "\n"


def test_read_results_gives_the_declared_dtypes_even_for_empty_columns(tmp_path):
    (tmp_path / "runs.csv").write_text(_runs_text())
    runs, history, exact = read_results(tmp_path)
    for column in ("run_id", "problem", "instance", "heuristic", "status", "error", "front", "best_decision"):
        assert runs[column].dtype == KIND_DTYPES["str"], column
    assert runs["seed"].dtype == "Int64" and runs["restarts"].dtype == "Int64" and runs["restarts"].isna().all()
    assert runs["verified"].dtype == "boolean" and runs["hypervolume"].dtype == "float64"
    assert runs["instance"].tolist() == ["007", "007"]  # a name, not the number 7
    assert runs["best_decision"].iloc[0] == '{"x": [1, 2]}'  # JSON columns stay JSON text
    # generated columns: sizes are integers; parameters and options scalars typed by their values
    assert runs["size_n_var"].dtype == "Int64" and runs["size_T"].tolist()[0] == 2 and runs["size_T"].isna().iloc[1]
    assert runs["param_pop_size"].dtype == "float64" and runs["param_pop_size"].tolist() == [50.0, 50.0]
    assert runs["param_flag"].dtype == "boolean" and runs["param_flag"].tolist() == [True, False]
    assert runs["param_mode"].dtype == KIND_DTYPES["str"] and runs["option_routing"].tolist() == ["heuristic"] * 2
    # absent files: empty tables with the schema's columns and dtypes
    assert history.empty and list(history.columns) == schema.names(schema.HISTORY)
    assert history["n_evals"].dtype == "Int64" and exact["objective"].dtype == "float64"


def test_a_value_that_does_not_fit_its_column_names_file_and_column(tmp_path):
    (tmp_path / "runs.csv").write_text("run_id,seed\nx,1.5\n")
    with pytest.raises(InputError, match=r"runs.csv: seed: not an integer: '1.5' \(row 1\)"):
        read_results(tmp_path)
    (tmp_path / "runs.csv").write_text("run_id,verified\nx,maybe\n")
    with pytest.raises(InputError, match="verified: not True or False"):
        read_results(tmp_path)
    (tmp_path / "runs.csv").write_text("run_id,best_value\nx,1.0\ny,lots\n")
    with pytest.raises(InputError, match=r"best_value: not a number: 'lots' \(row 2\)"):
        read_results(tmp_path)


def test_a_partial_last_line_is_ignored(tmp_path):
    (tmp_path / "runs.csv").write_text(_runs_text() + "a|3,inv,007,ga,3,o")
    assert len(read_results(tmp_path).runs) == 2


def test_parquet_round_trip_and_which_file_is_read(tmp_path):
    (tmp_path / "runs.csv").write_text(_runs_text())
    (tmp_path / "history.csv").write_text("run_id,checkpoint,n_evals,gap_pct,elapsed_s\na|1,0,10,,0.5\n")
    written = write_parquet(tmp_path)
    assert [p.name for p in written] == ["runs.parquet", "history.parquet"]  # no exact.csv: nothing for it
    from_csv, from_parquet = read_results(tmp_path, "csv"), read_results(tmp_path, "parquet")
    for a, b in zip(from_csv, from_parquet, strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert from_parquet.history["gap_pct"].dtype == "float64" and from_parquet.runs["restarts"].dtype == "Int64"
    assert table_path(tmp_path, "runs") == tmp_path / "runs.parquet"  # present and not older: Parquet
    later = (tmp_path / "runs.parquet").stat().st_mtime + 10
    os.utime(tmp_path / "runs.csv", (later, later))  # rows appended after the Parquet was written
    assert table_path(tmp_path, "runs") == tmp_path / "runs.csv"
    assert not list(tmp_path.glob("*.tmp"))


def test_the_report_reads_parquet_alone(tmp_path):
    from bilevel_bench.experiments.report import load_results

    runs = (
        "run_id,problem,instance,heuristic,seed,status,best_value,reference_value,reference_kind,gap_pct,n_evals,"
        "max_evals\nr,toy,A,h,1,ok,99,100,proven_optimal,1,10,10\n"
    )
    (tmp_path / "runs.csv").write_text(runs)
    write_parquet(tmp_path)
    (tmp_path / "runs.csv").unlink()
    results = load_results(tmp_path)
    assert results.runs["gap"].tolist() == [1.0] and results.sources["runs"].endswith("runs.parquet")
