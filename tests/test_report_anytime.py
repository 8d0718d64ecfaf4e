"""Anytime measures (ERT, fixed budget) on a handmade history, checked against values worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bilevel_bench.experiments.report import (
    NO_CERTIFIED,
    ert,
    ert_rows,
    fixed_budget_rows,
    gap_at_budget,
    load_results,
)

HEAD = "run_id,problem,instance,heuristic,seed,status,best_value,n_evals,n_follower_solves,max_evals,sense"
REF = ",reference_value,reference_kind,gap_pct"
# Family toy, instance A, reference 100 (proven optimal, max): a value v has gap 100 - v (%).
# Family other, instance B: the reference is the best run's value (best_found).
RUNS = f"""{HEAD}{REF}
r1,toy,A,h,1,ok,99.95,100,200,100,max,100,proven_optimal,0.05
r2,toy,A,h,2,ok,98,100,150,100,max,100,proven_optimal,2
r3,toy,A,h,3,ok,99.2,100,200,100,max,100,proven_optimal,0.8
r4,toy,A,h,4,failed,,30,45,100,max,100,proven_optimal,
r5,toy,A,h,5,timeout,99.99,10,20,100,max,100,proven_optimal,0.01
q1,other,B,h,1,ok,10,40,40,40,min,10,best_found,0
q2,other,B,h,2,ok,11,40,40,40,min,10,best_found,10
"""
# (n_evals, n_follower_solves, gap): r1 (20, 40, 10) (40, 80, 3) (60, 120, 0.5) (100, 200, 0.05);
# r2 (20, 30, 8) (50, 90, 4) (100, 150, 2); r3 (25, 50, no value yet) (100, 200, 0.8); r4 failed: no history;
# r5 timed out after reaching 0.01 at 10 evaluations (left out of every measure)
HISTORY = """run_id,problem,instance,heuristic,seed,checkpoint,n_evals,n_follower_solves,elapsed_s,best_value,sense,reference_value,reference_kind,gap_pct
r1,toy,A,h,1,0,20,40,0.1,90,max,100,proven_optimal,10
r1,toy,A,h,1,1,40,80,0.2,97,max,100,proven_optimal,3
r1,toy,A,h,1,2,60,120,0.3,99.5,max,100,proven_optimal,0.5
r1,toy,A,h,1,3,100,200,0.5,99.95,max,100,proven_optimal,0.05
r2,toy,A,h,2,0,20,30,0.1,92,max,100,proven_optimal,8
r2,toy,A,h,2,1,50,90,0.3,96,max,100,proven_optimal,4
r2,toy,A,h,2,2,100,150,0.6,98,max,100,proven_optimal,2
r3,toy,A,h,3,0,25,50,0.1,,max,100,proven_optimal,
r3,toy,A,h,3,1,100,200,0.4,99.2,max,100,proven_optimal,0.8
r5,toy,A,h,5,0,10,20,9.9,99.99,max,100,proven_optimal,0.01
q1,other,B,h,1,0,20,20,0.1,12,min,10,best_found,20
q1,other,B,h,1,1,40,40,0.2,10,min,10,best_found,0
q2,other,B,h,2,0,20,20,0.2,11,min,10,best_found,10
"""


@pytest.fixture
def results(tmp_path: Path):
    (tmp_path / "runs.csv").write_text(RUNS)
    (tmp_path / "history.csv").write_text(HISTORY)
    return load_results(tmp_path)


def test_ert_follows_coco(results):
    trials = results.runs[(results.runs["problem"] == "toy") & ~results.runs["timeout"]]
    # 5 %: r1 reaches it at 40 evaluations (80 solves), r2 at 50 (90), r3 at 100 (200); r4 failed after 30 (45)
    assert ert(trials, results.history, 5.0) == (pytest.approx((40 + 50 + 100 + 30) / 3), 3, 4)
    assert ert(trials, results.history, 5.0, "n_follower_solves")[0] == pytest.approx((80 + 90 + 200 + 45) / 3)
    # 1 %: r1 at 60 (120); r2 never, 100 evaluations (150 solves) spent; r3 at 100 (200); r4 30 (45)
    assert ert(trials, results.history, 1.0) == (pytest.approx((60 + 100 + 100 + 30) / 2), 2, 4)
    assert ert(trials, results.history, 1.0, "n_follower_solves")[0] == pytest.approx((120 + 150 + 200 + 45) / 2)
    # 0.1 %: only r1, at its last checkpoint
    assert ert(trials, results.history, 0.1) == (pytest.approx(330.0), 1, 4)
    assert ert(trials, results.history, 0.01) == (math.inf, 0, 4)


def test_ert_table_leaves_timeouts_out_and_needs_a_certified_reference(results):
    table = ert_rows(results.runs, results.history).set_index("problem")
    toy = table.loc["toy"]
    # r5 reached 0.01 % after 10 evaluations: counted, it would make ERT(0.1 %) = (330 + 10) / 2 = 170
    assert toy["ERT 0.1% (evals)"] == pytest.approx(330.0) and toy["reached 0.1%"] == "1/4"
    assert toy["ERT 1% (evals)"] == pytest.approx(145.0) and toy["ERT 1% (solves)"] == pytest.approx(257.5)
    assert toy["ERT 5% (evals)"] == pytest.approx(220 / 3) and toy["reached 5%"] == "3/4"
    assert toy["certified instances"] == 1
    assert table.loc["other", "certified instances"] == NO_CERTIFIED
    assert math.isnan(table.loc["other", "ERT 1% (evals)"])


def test_fixed_budget_gaps(results):
    ok = results.runs[results.runs["ok"] & (results.runs["problem"] == "toy")]
    # at 10 evaluations nobody has a checkpoint; at 50: r1 3 (at 40), r2 4 (at 50), r3 no value yet (at 25)
    assert gap_at_budget(ok, results.history, 0.1).tolist() == [math.inf] * 3
    assert gap_at_budget(ok, results.history, 0.5).tolist() == [3.0, 4.0, math.inf]
    assert gap_at_budget(ok, results.history, 1.0).tolist() == [0.05, 2.0, 0.8]
    table = fixed_budget_rows(results.runs, results.history).set_index("problem")
    toy = table.loc["toy"]
    assert toy["runs"] == 3  # the failed and the timed-out run are not in a gap statistic
    assert toy["median gap % at 10% budget"] == math.inf
    assert toy["median gap % at 50% budget"] == 4.0 and toy["median gap % at 100% budget"] == 0.8
    assert toy["gaps vs"] == "proven_optimal"
    other = table.loc["other"]  # not success-based: shown, against the best run, and said so
    assert other["median gap % at 50% budget"] == 15.0 and other["median gap % at 100% budget"] == 5.0
    assert other["gaps vs"] == "best_found"
