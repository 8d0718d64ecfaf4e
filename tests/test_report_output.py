"""The report as files: the command line, formats and filters, the page's contents, bad input, and the
atomic replacement of an earlier report (a report killed midway never leaves a page naming missing files)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bilevel_bench.experiments.report import load_results, make_report, summary_rows

WARNING = "values are upper bounds under heuristic routing"


def write_results(directory: Path) -> Path:
    """Family toy: A (proven optimum 100) and B (best found 95); family cost: C (proven optimum 50, min);
    heuristics h1, h2, seeds 1-3; one timeout (with a gap that would change the medians), two failed runs whose
    messages differ only in their timing."""
    runs, history = [], []
    for problem, instance, sense, ref, kind in (
        ("toy", "A", "max", 100.0, "proven_optimal"),
        ("toy", "B", "max", 95.0, "best_found"),
        ("cost", "C", "min", 50.0, "proven_optimal"),
    ):
        for heuristic, skill in (("h1", 1.0), ("h2", 2.0)):
            for seed in (1, 2, 3):
                run_id = f"{problem}|{instance}|{heuristic}|{seed}"
                status, error = "ok", ""
                if (instance, heuristic, seed) == ("A", "h2", 3):
                    status, error = "timeout", "hard time limit of 120 s reached after 130.7 s"
                if instance == "C" and heuristic == "h2" and seed < 3:
                    status, error = "failed", f"RuntimeError: solver stalled after {seed * 1.37:.2f} s at x.py:3"
                gaps = [skill * 8 / (k + 1) + seed * 0.1 for k in range(6)] if status != "failed" else []
                if status == "timeout":
                    gaps = [0.0]
                for k, gap in enumerate(gaps):
                    value = ref * (1 - gap / 100) if sense == "max" else ref * (1 + gap / 100)
                    history.append(
                        {
                            "run_id": run_id,
                            "problem": problem,
                            "instance": instance,
                            "heuristic": heuristic,
                            "seed": seed,
                            "checkpoint": k,
                            "n_evals": 10 * (k + 1),
                            "n_follower_solves": 20 * (k + 1),
                            "elapsed_s": 0.1 * (k + 1),
                            "best_value": value,
                            "sense": sense,
                            "reference_value": ref,
                            "reference_kind": kind,
                            "gap_pct": gap,
                        }
                    )
                final = gaps[-1] if gaps else None
                runs.append(
                    {
                        "run_id": run_id,
                        "grid": "g",
                        "problem": problem,
                        "instance": instance,
                        "heuristic": heuristic,
                        "algorithm": "ga",
                        "seed": seed,
                        "status": status,
                        "error": error,
                        "sense": sense,
                        "max_evals": 60,
                        "n_evals": 10 * len(gaps) if gaps else None,
                        "best_value": None if final is None else history[-1]["best_value"],
                        "verified": True,
                        "reference_value": ref,
                        "reference_kind": kind,
                        "gap_pct": final,
                        "wall_s": 1.0,
                        "size_n_var": {"A": 2, "B": 4, "C": 3}[instance],
                        "warnings": WARNING if instance == "B" else "",
                    }
                )
    pd.DataFrame(runs).to_csv(directory / "runs.csv", index=False)
    pd.DataFrame(history).to_csv(directory / "history.csv", index=False)
    exact = "problem,instance,sense,status,objective,bound,gap_pct,time_s,method,reference_kind,warnings\n"
    exact += (
        "toy,A,max,optimal,100,100,0,0.35,mip,proven_optimal,\ncost,C,min,optimal,50,50,0,0.05,mip,proven_optimal,\n"
    )
    (directory / "exact.csv").write_text(exact)
    return directory


def cli(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bilevel_bench", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def figures_named(page: Path) -> list[str]:
    return re.findall(r"\]\((figures/[^)]+)\)", page.read_text())


def test_tables_list_timeouts_apart_group_failures_and_show_warnings(tmp_path):
    make_report(write_results(tmp_path), formats=["md"])
    md = (tmp_path / "report" / "report.md").read_text()
    assert "1 of 18 runs ended on a clock before their budget (status `timeout`) and 2 failed" in md
    assert "| toy | A | h2 | 3 | 10 of 60 | " in md  # the timeout, listed on its own
    # the failed runs differ only in their timing: one cause, two runs
    assert "| cost | h2 | failed | RuntimeError: solver stalled after <t> s at x.py:3 | 2 | C | 1, 2 |" in md
    assert f"| toy | B | {WARNING} | 6 | no |" in md  # the warnings, per instance
    results = load_results(tmp_path)
    table = summary_rows(results.runs, results.history, ["problem", "instance", "heuristic"])
    a_h2 = table.set_index(["instance", "heuristic"]).loc[("A", "h2")]
    # the timed-out run (gap 0) is not in the statistics: the median of seeds 1 and 2 is (16/6 + 0.1 + 16/6 + 0.2)/2
    assert a_h2["timeout"] == 1 and a_h2["gap % median"] == pytest.approx(16 / 6 + 0.15)
    assert a_h2["≤5% rate"] == 1.0 and a_h2["certified runs"] == 2
    for caption in re.findall(r"^\*((?:Final gap|Median final gap|Convergence|Runtime ECDFs|Critical).*)\*$", md, re.M):
        assert "gaps vs" in caption  # every figure says which reference its gaps are against


@pytest.mark.slow
def test_formats_filters_and_one_column_pdfs(tmp_path):
    results_dir = write_results(tmp_path)
    done = cli("report", results_dir, "--format", "html", "--problems", "toy")
    assert done.returncode == 0, done.stderr
    report = results_dir / "report"
    assert sorted(p.name for p in report.iterdir()) == ["figures", "report.html"]
    assert not any((report / "figures").iterdir())  # html only: figures embedded, no files
    page = (report / "report.html").read_text()
    assert "data:image/png;base64," in page and "<td>toy</td>" in page and "<td>cost</td>" not in page
    done = cli("report", results_dir, "--format", "pdf", "--heuristics", "h1")
    assert done.returncode == 0, done.stderr
    pdfs = list((results_dir / "report" / "figures").glob("*.pdf"))
    assert pdfs and not list((results_dir / "report").glob("report.*"))
    for pdf in pdfs:
        width = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf.read_bytes())
        assert width is not None and float(width.group(1)) == pytest.approx(3.5 * 72)  # one column: 3.5 in
    assert len(list(results_dir.glob(".report-*"))) == 1  # the earlier report's directory was removed


@pytest.mark.slow
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path):
    results_dir = write_results(tmp_path)
    runs = pd.read_csv(results_dir / "runs.csv")
    cases = {
        "header only": runs.iloc[:0],
        "missing columns": runs.drop(columns=["reference_kind", "gap_pct"]),
    }
    for name, frame in cases.items():
        frame.to_csv(results_dir / "runs.csv", index=False)
        before = sorted(os.listdir(results_dir))
        done = cli("report", results_dir)
        assert done.returncode == 2, name
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error: "), done.stderr
        assert sorted(os.listdir(results_dir)) == before, name
    (results_dir / "runs.csv").write_text("run_id,problem\n")
    assert "missing column" in cli("report", results_dir).stderr
    runs.to_csv(results_dir / "runs.csv", index=False)
    for args in (("--problems", "nope"), ("--format", "docx"), ("--heuristics", "h1,zz")):
        done = cli("report", results_dir, *args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert not (results_dir / "report").exists() and not list(results_dir.glob(".report*"))


def _consistent(results_dir: Path) -> None:
    link = results_dir / "report"
    assert link.is_symlink() and link.resolve().is_dir()
    md, page = link / "report.md", link / "report.html"
    assert md.is_file() and page.is_file()
    named = figures_named(md)
    assert named and all((link / name).is_file() for name in named)
    assert page.read_text().rstrip().endswith("</html>")


@pytest.mark.slow
def test_a_killed_report_leaves_the_previous_one_whole(tmp_path):
    results_dir = write_results(tmp_path)
    start = time.monotonic()
    assert cli("report", results_dir, "--format", "md,html").returncode == 0
    duration = time.monotonic() - start
    _consistent(results_dir)
    first = os.readlink(results_dir / "report")
    interrupted = 0
    for fraction in (0.4, 0.75, 0.95):
        process = subprocess.Popen(
            [sys.executable, "-m", "bilevel_bench", "report", str(results_dir), "--format", "md,html"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(duration * fraction)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        _consistent(results_dir)  # the old report or the new one, whole
        interrupted += any(p.name.endswith(".tmp") for p in results_dir.glob(".report-*"))
    assert interrupted  # at least one kill came while a report was being built
    assert cli("report", results_dir, "--format", "md,html").returncode == 0
    _consistent(results_dir)
    assert os.readlink(results_dir / "report") != first
    assert [p.name for p in results_dir.glob(".report-*")] == [os.readlink(results_dir / "report")]  # leftovers gone


def test_warnings_split_on_the_separator_outside_parentheses():
    from bilevel_bench.experiments.report import split_warnings

    text = "bounds are heuristic; alpha - beta <= 2 (the paper requires > 2; Q is then vacuous); last"
    assert split_warnings(text) == [
        "bounds are heuristic",
        "alpha - beta <= 2 (the paper requires > 2; Q is then vacuous)",
        "last",
    ]
