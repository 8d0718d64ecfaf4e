"""The report's numbers on small handmade CSVs whose answers are worked out by hand in the comments."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bilevel_bench.experiments.report import (
    ecdf,
    front_rows,
    load_results,
    make_report,
    performance_profile,
    performance_ratios,
    profile_times,
    runtimes,
    summary_rows,
    time_to_target,
)

INF = math.inf

RUNS = """run_id,grid,problem,instance,heuristic,algorithm,seed,max_evals,status,error,best_value,verified,wall_s,sense
toy|A|h1|1,t,toy,A,h1,ga,1,30,ok,,100,True,3.0,max
toy|A|h1|2,t,toy,A,h1,ga,2,30,ok,,99.2,True,2.5,max
toy|A|h2|1,t,toy,A,h2,de,1,30,failed,ValueError: boom,,,,max
toy|A|h2|2,t,toy,A,h2,de,2,30,ok,,99.95,True,4.0,max
toy|B|h1|1,t,toy,B,h1,ga,1,30,ok,,95,True,0.5,max
toy|B|h1|2,t,toy,B,h1,ga,2,30,ok,,95,True,1.5,max
toy|B|h2|1,t,toy,B,h2,de,1,30,ok,,50,True,0.3,max
toy|B|h2|2,t,toy,B,h2,de,2,30,ok,,,False,0.3,max
cost|C|h1|1,t,cost,C,h1,ga,1,30,ok,,50.5,True,0.4,min
"""
HISTORY = """run_id,problem,instance,heuristic,seed,checkpoint,n_evals,n_follower_solves,elapsed_s,best_value
toy|A|h1|1,toy,A,h1,1,0,10,20,1.0,80
toy|A|h1|1,toy,A,h1,1,1,20,40,2.0,99.5
toy|A|h1|1,toy,A,h1,1,2,30,60,3.0,100
toy|A|h1|2,toy,A,h1,2,0,10,20,0.5,90
toy|A|h1|2,toy,A,h1,2,1,20,40,1.5,99.2
toy|A|h1|2,toy,A,h1,2,2,30,60,2.5,99.2
toy|A|h2|2,toy,A,h2,2,0,10,10,4.0,99.95
toy|B|h1|1,toy,B,h1,1,0,10,20,0.5,95
toy|B|h1|2,toy,B,h1,2,0,10,20,0.7,60
toy|B|h1|2,toy,B,h1,2,1,20,40,1.5,95
toy|B|h2|1,toy,B,h2,1,0,10,20,0.3,50
toy|B|h2|2,toy,B,h2,2,0,10,20,0.3,
cost|C|h1|1,cost,C,h1,1,0,5,5,0.2,60
cost|C|h1|1,cost,C,h1,1,1,10,10,0.4,50.5
"""
EXACT = """problem,instance,sense,status,objective,bound,gap,time_s,method,notes
toy,A,max,optimal,100,100,0,2.0,mip,
toy,B,max,time_limit,90,120,0.333,60,mip,
cost,C,min,optimal,50,50,0,0.1,mip,
"""


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    (tmp_path / "runs.csv").write_text(RUNS)
    (tmp_path / "history.csv").write_text(HISTORY)
    (tmp_path / "exact.csv").write_text(EXACT)
    return tmp_path


def test_references_are_the_exact_optimum_or_the_best_verified_run(results_dir):
    refs = load_results(results_dir).references.set_index("instance")
    assert refs.loc["A", "reference"] == 100 and refs.loc["A", "kind"] == "exact optimum"
    # B: the solver stopped at its time limit with 90; the best verified run found 95
    assert refs.loc["B", "reference"] == 95 and refs.loc["B", "kind"] == "best known (best run)"
    assert refs.loc["C", "reference"] == 50 and refs.loc["C", "sense_ref"] == "min"


def test_gaps_in_the_leaders_sense(results_dir):
    gaps = load_results(results_dir).runs.set_index("run_id")["gap"]
    assert gaps["toy|A|h1|2"] == pytest.approx(0.8)  # (100 - 99.2) / 100
    assert gaps["toy|B|h2|1"] == pytest.approx(100 * 45 / 95)
    assert gaps["cost|C|h1|1"] == pytest.approx(1.0)  # min: (50.5 - 50) / 50
    assert gaps["toy|A|h2|1"] == INF and gaps["toy|B|h2|2"] == INF  # failed; no feasible decision


def test_values_within_the_tie_band_have_gap_zero():
    from bilevel_bench.experiments.report import gap_pct

    gaps = gap_pct([100.000002, 100.00001, 99.0, 50.000002], [100.0, 100.0, 100.0, 50.0], ["max", "max", "max", "min"])
    # band: 2 * (1e-6 + 1e-9 * |ref|) = 2.2e-6 at 100; beating by 1e-5 is reported (negative), never hidden
    assert gaps[0] == 0.0 and gaps[1] == pytest.approx(-1e-5) and gaps[2] == pytest.approx(1.0) and gaps[3] == 0.0


def test_summary_success_rates_times_and_solves_to_target(results_dir):
    results = load_results(results_dir)
    table = summary_rows(results.runs, results.history, ["problem", "heuristic"]).set_index(["problem", "heuristic"])
    h1, h2 = table.loc[("toy", "h1")], table.loc[("toy", "h2")]
    # h1 gaps: A 0, 0.8; B 0, 0
    assert (h1["≤0.1% rate"], h1["≤1% rate"], h1["≤5% rate"]) == (0.75, 1.0, 1.0)
    assert h1["gap % median"] == 0 and h1["gap % IQR"] == pytest.approx(0.2)  # quartiles of 0, 0, 0, 0.8
    # first checkpoints within 1 %: A s1 at 2.0 s / 40 solves, A s2 at 1.5 / 40, B s1 0.5 / 20, B s2 1.5 / 40
    assert h1["s to 1% (median of reached)"] == 1.5 and h1["solves to 1% (median of reached)"] == 40
    # h2 gaps: failed, 0.05, 47.37, no value
    assert (h2["runs"], h2["failed"], h2["≤0.1% rate"], h2["≤5% rate"]) == (4, 1, 0.25, 0.25)
    assert h2["gap % median"] == pytest.approx((0.05 + 100 * 45 / 95) / 2)
    assert h2["s to 1% (median of reached)"] == 4.0
    assert h2["no feasible"] == 1 and h2["unverified"] == 0  # B s2 found no feasible decision: not "unverified"
    cost = table.loc[("cost", "h1")]
    assert cost["≤1% rate"] == 1.0 and cost["≤0.1% rate"] == 0.0  # a gap of exactly 1 % reaches 1 %
    assert cost["s to 1% (median of reached)"] == 0.4 and cost["wall s median"] == 0.4


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


def test_profile_times_from_the_csvs_with_the_exact_solver_as_a_method(results_dir):
    results = load_results(results_dir)
    times = profile_times(results.runs, results.history, results.exact, 1.0)
    # A: h1 median(2.0, 1.5); h2 median(failed, 4.0) = inf; exact proved optimality in 2.0 s
    assert times.loc[("toy", "A")].to_dict() == {"h1": 1.75, "h2": INF, "exact": 2.0}
    # B: exact stopped at its time limit: inf; C: h2 never ran there
    assert times.loc[("toy", "B")].to_dict() == {"h1": 1.0, "h2": INF, "exact": INF}
    assert times.loc[("cost", "C")].to_dict() == {"h1": 0.4, "h2": INF, "exact": 0.1}
    profile = performance_profile(times, [1.0, 2 / 1.75, 4.0, 1e9])
    assert profile["h1"].tolist() == pytest.approx([2 / 3, 2 / 3, 1.0, 1.0])
    assert profile["exact"].tolist() == pytest.approx([1 / 3, 2 / 3, 2 / 3, 2 / 3])
    assert profile["h2"].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_make_report_writes_markdown_html_and_figures(results_dir):
    paths = make_report(results_dir)
    names = {p.name for p in paths}
    assert {"report.md", "report.html", "performance_profiles.png", "ecdf_toy.png", "convergence_toy_A.png"} <= names
    for path in paths:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (results_dir / "report.md").read_text()
    assert "best known (best run) (1/2)" in md  # the summary says which instances use a best-known value
    assert "| toy | h1 | 4 | 0 | 0 | 0 | 0 | 0 | 0.2 | 75% | 100% | 100% | 1.5 | 40 |" in md
    page = (results_dir / "report.html").read_text()
    assert page.count("<table>") == 5 and "figures/performance_profiles.png" in page
    assert "| toy | h2 | failed | ValueError: boom | 1 | A |" in md  # the failed runs, by message


def test_a_partial_last_line_is_ignored_and_the_file_left_alone(results_dir):
    path = results_dir / "history.csv"
    path.write_text(HISTORY + "cost|C|h1|1,cost,C,h1,1,2,1")
    before = path.read_bytes()
    assert len(load_results(results_dir).history) == len(HISTORY.strip().splitlines()) - 1
    assert path.read_bytes() == before
    assert np.isfinite(load_results(results_dir).history["elapsed_s"]).all()


def test_the_report_needs_only_runs_csv(results_dir):
    (results_dir / "exact.csv").unlink()
    (results_dir / "history.csv").unlink()
    make_report(results_dir)
    md = (results_dir / "report.md").read_text()
    assert "| toy | A | missing |" in md  # no exact row: said so, and A's gaps use the best run (100)
    assert load_results(results_dir).references.set_index("instance").loc["A", "kind"] == "best known (best run)"


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
