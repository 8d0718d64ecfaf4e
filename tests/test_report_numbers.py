"""The report's numbers on small handmade CSVs whose answers are worked out by hand in the comments.

The CSVs are finalised as the runner does it (:func:`runner.references` and :func:`runner.add_gaps`), so the
reference and gap columns the report reads are the runner's."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bilevel_bench.experiments.report import (
    NO_CERTIFIED,
    ecdf,
    front_rows,
    load_results,
    make_report,
    performance_profile,
    performance_ratios,
    profile_times,
    rates_as_text,
    runtimes,
    summary_rows,
    time_to_target,
)
from bilevel_bench.experiments.runner import add_gaps, references
from bilevel_bench.problem import gap_pct

INF = math.inf

RUNS = """run_id,grid,problem,instance,heuristic,algorithm,seed,max_evals,status,error,best_value,verified,wall_s,sense,n_evals,n_follower_solves,size_n_var
toy|A|h1|1,t,toy,A,h1,ga,1,30,ok,,100,True,3.0,max,30,60,2
toy|A|h1|2,t,toy,A,h1,ga,2,30,ok,,99.2,True,2.5,max,30,60,2
toy|A|h2|1,t,toy,A,h2,de,1,30,failed,ValueError: boom,,,,max,,,2
toy|A|h2|2,t,toy,A,h2,de,2,30,ok,,99.95,True,4.0,max,10,10,2
toy|B|h1|1,t,toy,B,h1,ga,1,30,ok,,95,True,0.5,max,10,20,3
toy|B|h1|2,t,toy,B,h1,ga,2,30,ok,,95,True,1.5,max,20,40,3
toy|B|h2|1,t,toy,B,h2,de,1,30,ok,,50,True,0.3,max,10,20,3
toy|B|h2|2,t,toy,B,h2,de,2,30,ok,,,False,0.3,max,10,20,3
cost|C|h1|1,t,cost,C,h1,ga,1,30,ok,,50.5,True,0.4,min,10,10,1
"""
HISTORY = """run_id,problem,instance,heuristic,seed,checkpoint,n_evals,n_follower_solves,elapsed_s,best_value,sense
toy|A|h1|1,toy,A,h1,1,0,10,20,1.0,80,max
toy|A|h1|1,toy,A,h1,1,1,20,40,2.0,99.5,max
toy|A|h1|1,toy,A,h1,1,2,30,60,3.0,100,max
toy|A|h1|2,toy,A,h1,2,0,10,20,0.5,90,max
toy|A|h1|2,toy,A,h1,2,1,20,40,1.5,99.2,max
toy|A|h1|2,toy,A,h1,2,2,30,60,2.5,99.2,max
toy|A|h2|2,toy,A,h2,2,0,10,10,4.0,99.95,max
toy|B|h1|1,toy,B,h1,1,0,10,20,0.5,95,max
toy|B|h1|2,toy,B,h1,2,0,10,20,0.7,60,max
toy|B|h1|2,toy,B,h1,2,1,20,40,1.5,95,max
toy|B|h2|1,toy,B,h2,1,0,10,20,0.3,50,max
toy|B|h2|2,toy,B,h2,2,0,10,20,0.3,,max
cost|C|h1|1,cost,C,h1,1,0,5,5,0.2,60,min
cost|C|h1|1,cost,C,h1,1,1,10,10,0.4,50.5,min
"""
EXACT = """problem,instance,sense,status,objective,bound,gap_pct,time_s,time_limit_s,method,notes,verification,reference_kind,decision,warnings
toy,A,max,optimal,100,100,0,2.0,60,mip,,agree,proven_optimal,[1],
toy,B,max,feasible,90,120,33.3,60,60,mip,,agree,exact_incumbent,[1],
cost,C,min,optimal,50,50,0,0.1,60,mip,,agree,proven_optimal,[1],
"""


def _read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype={"instance": str, "run_id": str})


def write_results(directory: Path, runs: str, history: str = "", exact: str = "") -> Path:
    """Write the CSVs as the runner's ``finalise`` leaves them (reference, kind and gap on every row)."""
    runs_frame = _read(runs)
    exact_frame = _read(exact) if exact else pd.DataFrame()
    refs = references(runs_frame, exact_frame)
    runs_frame = add_gaps(runs_frame, refs, "best_value")
    runs_frame["beats_reference"] = runs_frame["verified"].astype(str).eq("True") & (runs_frame["gap_pct"] < 0)
    runs_frame.to_csv(directory / "runs.csv", index=False)
    if history:
        add_gaps(_read(history), refs, "best_value").to_csv(directory / "history.csv", index=False)
    if exact:
        (directory / "exact.csv").write_text(exact)
    return directory


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    return write_results(tmp_path, RUNS, HISTORY, EXACT)


def test_references_are_the_exact_optimum_or_the_best_verified_run(results_dir):
    refs = load_results(results_dir).references.set_index("instance")
    assert refs.loc["A", "reference_value"] == 100 and refs.loc["A", "reference_kind"] == "proven_optimal"
    # B: the solver stopped at its time limit with 90; the best verified run found 95
    assert refs.loc["B", "reference_value"] == 95 and refs.loc["B", "reference_kind"] == "best_found"
    assert refs.loc["C", "reference_value"] == 50 and refs.loc["C", "sense"] == "min"
    assert refs["certified"].tolist() == [True, True, False]  # sorted by (problem, instance): cost/C, toy/A, toy/B


def test_gaps_in_the_leaders_sense(results_dir):
    gaps = load_results(results_dir).runs.set_index("run_id")["gap"]
    assert gaps["toy|A|h1|2"] == pytest.approx(0.8)  # (100 - 99.2) / 100
    assert gaps["toy|B|h2|1"] == pytest.approx(100 * 45 / 95)
    assert gaps["cost|C|h1|1"] == pytest.approx(1.0)  # min: (50.5 - 50) / 50
    assert gaps["toy|A|h2|1"] == INF and gaps["toy|B|h2|2"] == INF  # failed; no feasible decision


def test_values_within_the_tie_band_have_gap_zero():
    gaps = gap_pct([100.000002, 100.00001, 99.0, 50.000002], [100.0, 100.0, 100.0, 50.0], ["max", "max", "max", "min"])
    # band: 2 * (1e-6 + 1e-9 * |ref|) = 2.2e-6 at 100; beating by 1e-5 is reported (negative), never hidden
    assert gaps[0] == 0.0 and gaps[1] == pytest.approx(-1e-5) and gaps[2] == pytest.approx(1.0) and gaps[3] == 0.0


def test_summary_success_rates_times_and_solves_to_target(results_dir):
    results = load_results(results_dir)
    table = summary_rows(results.runs, results.history, ["problem", "heuristic"]).set_index(["problem", "heuristic"])
    h1, h2 = table.loc[("toy", "h1")], table.loc[("toy", "h2")]
    # h1 gaps: A 0, 0.8; B 0, 0 (against best_found). Rates only on A (certified): 0 and 0.8
    assert (h1["≤0.1% rate"], h1["≤1% rate"], h1["≤5% rate"], h1["certified runs"]) == (0.5, 1.0, 1.0, 2)
    assert h1["gap % median"] == 0 and h1["gap % IQR"] == pytest.approx(0.2)  # quartiles of 0, 0, 0, 0.8
    assert h1["gaps vs"] == "best_found (1/2), proven_optimal (1/2)"
    # first checkpoints within 1 % on A: s1 at 2.0 s / 40 solves, s2 at 1.5 s / 40 solves (B is not certified)
    assert h1["s to 1% (median of reached)"] == 1.75 and h1["solves to 1% (median of reached)"] == 40
    # h2 on A: failed (unsuccessful), 0.05; the median gap pools 0.05 (A) and 47.37 (B)
    assert (h2["runs"], h2["ok"], h2["failed"], h2["≤0.1% rate"], h2["≤5% rate"]) == (4, 3, 1, 0.5, 0.5)
    assert h2["gap % median"] == pytest.approx((0.05 + 100 * 45 / 95) / 2)
    assert h2["s to 1% (median of reached)"] == 4.0
    assert h2["no feasible"] == 1 and h2["unverified"] == 0  # B s2 found no feasible decision: not "unverified"
    cost = table.loc[("cost", "h1")]
    assert cost["≤1% rate"] == 1.0 and cost["≤0.1% rate"] == 0.0  # a gap of exactly 1 % reaches 1 %
    assert cost["s to 1% (median of reached)"] == 0.4 and cost["wall s median"] == 0.4


def test_success_rates_only_against_certified_references(results_dir):
    results = load_results(results_dir)
    per_instance = summary_rows(results.runs, results.history, ["problem", "instance", "heuristic"])
    text = rates_as_text(per_instance).set_index(["instance", "heuristic"])
    # B's reference is the best run: "100 % within 5 %" would be a statement about nothing
    assert text.loc[("B", "h1"), "≤5% rate"] == NO_CERTIFIED and text.loc[("B", "h2"), "≤0.1% rate"] == NO_CERTIFIED
    assert text.loc[("A", "h1"), "≤0.1% rate"] == "50% (1/2)" and text.loc[("A", "h2"), "≤1% rate"] == "50% (1/2)"


def test_time_to_target_is_read_at_the_first_checkpoint_within_it(results_dir):
    results = load_results(results_dir)
    seconds = time_to_target(results.history, 1.0)
    assert seconds["toy|A|h1|1"] == 2.0 and seconds["toy|A|h1|2"] == 1.5 and seconds["toy|B|h2|1"] == INF
    assert time_to_target(results.history, 0.1, "n_evals")["toy|A|h1|1"] == 30
    everyone = runtimes(results.runs, results.history, 1.0, "elapsed_s")
    assert everyone["toy|A|h2|1"] == INF  # a failed run has no history: never


def test_ecdf_counts_never_reached_pairs_in_the_denominator():
    x, y = ecdf([2.0, 1.5, INF, 0.5, 1.5])
    assert x.tolist() == [0.5, 1.5, 1.5, 2.0] and y.tolist() == [0.2, 0.4, 0.6, 0.8]


def test_performance_profile_values():
    times = pd.DataFrame({"x": [2.0, 3.0], "y": [4.0, INF], "exact": [1.0, 6.0]}, index=["P", "Q"])
    ratios = performance_ratios(times)
    assert ratios.loc["P"].tolist() == [2.0, 4.0, 1.0] and ratios.loc["Q"].tolist() == [1.0, INF, 2.0]
    profile = performance_profile(times, [1.0, 2.0, 4.0, 1e9])
    assert profile["x"].tolist() == [0.5, 1.0, 1.0, 1.0]
    assert profile["y"].tolist() == [0.0, 0.0, 0.5, 0.5]
    assert profile["exact"].tolist() == [0.5, 1.0, 1.0, 1.0]
    nobody = performance_profile(pd.DataFrame({"x": [INF], "exact": [INF]}), [1.0, 100.0])
    assert nobody.to_numpy().sum() == 0


def test_a_method_that_did_not_run_is_absent_from_the_profile_not_failing():
    # y did not run on P (NaN): its profile is over Q alone, and P's best is x's time
    times = pd.DataFrame({"x": [2.0, 3.0], "y": [math.nan, 6.0]}, index=["P", "Q"])
    ratios = performance_ratios(times)
    assert ratios.loc["P", "x"] == 1.0 and math.isnan(ratios.loc["P", "y"]) and ratios.loc["Q", "y"] == 2.0
    profile = performance_profile(times, [1.0, 2.0])
    assert profile["y"].tolist() == [0.0, 1.0] and profile["x"].tolist() == [1.0, 1.0]


def test_profile_times_from_the_csvs_with_the_exact_solver_as_a_method(results_dir):
    results = load_results(results_dir)
    times = profile_times(results.runs, results.history, results.exact, 1.0)
    # only certified instances (A, C): B's reference is the best run, so "reaching 1 %" says nothing there
    assert sorted(times.index) == [("cost", "C"), ("toy", "A")]
    # A: h1 median(2.0, 1.5); h2 median(failed, 4.0) = inf; exact proved optimality in 2.0 s
    assert times.loc[("toy", "A")].to_dict() == {"h1": 1.75, "h2": INF, "exact": 2.0}
    # C: h2 never ran there: absent (NaN), not failing
    row = times.loc[("cost", "C")]
    assert row["h1"] == 0.4 and row["exact"] == 0.1 and math.isnan(row["h2"])
    profile = performance_profile(times, [1.0, 2 / 1.75, 4.0, 1e9])
    assert profile["h1"].tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0])  # A: ratio 1; C: 0.4 / 0.1 = 4
    assert profile["exact"].tolist() == pytest.approx([0.5, 1.0, 1.0, 1.0])  # A: 2 / 1.75; C: 1
    assert profile["h2"].tolist() == [0.0, 0.0, 0.0, 0.0]  # over A alone, where it never reached 1 %


def test_the_exact_solver_is_a_method_only_where_it_ran(tmp_path):
    exact = EXACT.replace(
        "cost,C,min,optimal,50,50,0,0.1,60,mip,,agree,proven_optimal,[1],",
        "cost,C,min,published,50,50,0,,,library,,agree,published_optimal,[1],",
    )
    results = load_results(write_results(tmp_path, RUNS, HISTORY, exact))
    times = profile_times(results.runs, results.history, results.exact, 1.0)
    assert times.loc[("toy", "A"), "exact"] == 2.0 and math.isnan(times.loc[("cost", "C"), "exact"])
    assert performance_profile(times, [1.0])["exact"].tolist() == [0.0]  # over A alone: h1's 1.75 s beat it


@pytest.mark.slow
def test_make_report_writes_markdown_html_and_figures(results_dir):
    paths = make_report(results_dir)
    names = {p.name for p in paths}
    assert {"report.md", "report.html", "performance_profiles.png", "ecdf_toy.png", "convergence_toy_a.png"} <= names
    assert {"performance_profiles.pdf", "gaps_toy.pdf", "size_toy.pdf"} <= names
    for path in paths:
        assert path.exists()
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (results_dir / "report" / "report.md").read_text()
    summary = "| toy | h1 | 4 | 4 | 0 | 0 | 0 | 0 | 0 | 0.2 | best_found (1/2), proven_optimal (1/2) | 50% (1/2) | "
    assert summary + "100% (2/2) | 100% (2/2) | 1.75 | 40 | 2 |" in md
    page = (results_dir / "report" / "report.html").read_text()
    for anchor in ("table-summary", "table-references", "table-ert", "table-fixed-budget", "table-failures"):
        assert f'id="{anchor}"' in page  # every table has an anchor; the table of contents links the sections
    assert '<a href="#summary">Summary</a>' in page and '<a href="#per-instance">Per instance</a>' in page
    assert page.count('<table class="sortable"') == md.count("\n| --- |") and "<nav>" in page
    assert 'src="figures/' not in page and page.count('src="data:image/png;base64,') == md.count("![")
    assert "| toy | h2 | failed | ValueError: boom | 1 | A |" in md  # the failed runs, by message


def test_a_partial_last_line_is_ignored_and_the_file_left_alone(results_dir):
    path = results_dir / "history.csv"
    text = path.read_text()
    path.write_text(text + "cost|C|h1|1,cost,C,h1,1,2,1")
    before = path.read_bytes()
    assert len(load_results(results_dir).history) == len(HISTORY.strip().splitlines()) - 1
    assert path.read_bytes() == before
    assert np.isfinite(load_results(results_dir).history["elapsed_s"]).all()


def test_the_report_needs_only_runs_csv(tmp_path):
    results_dir = write_results(tmp_path, RUNS)  # no exact baseline, no history
    make_report(results_dir)
    md = (results_dir / "report" / "report.md").read_text()
    # no exact row: said so, and A's gaps use the best run (100)
    assert "| toy | A | 2 | max | 100 | best_found | not run |" in md
    assert load_results(results_dir).references.set_index("instance").loc["A", "reference_kind"] == "best_found"
    assert f"toy: {NO_CERTIFIED} (no ECDF)." in md and f"No profiles: {NO_CERTIFIED} on any instance." in md


def test_hypervolumes_of_fronts_use_one_reference_per_instance():
    runs = pd.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "problem": "toy",
            "instance": "A",
            "heuristic": ["nsga2", "nsga2", "other"],
            # union's worst point: (0, 0); fronts' areas: 3*1 + 1*2 = 5, 2*2 = 4, 1*1 = 1
            "front": ["[[3, 1], [1, 3]]", "[[2, 2]]", "[[1, 1], [0, 0]]"],
        }
    )
    table = front_rows(runs).set_index("heuristic")
    assert table.loc["nsga2", "hypervolume median"] == 4.5 and table.loc["other", "hypervolume median"] == 1.0
    assert table.loc["nsga2", "front size median"] == 1.5
