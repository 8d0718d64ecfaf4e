"""The statistical comparison on handmade final gaps, checked against scipy, statsmodels' Holm procedure
worked by hand, and Demšar's table of Nemenyi's critical values."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bilevel_bench.experiments.report import MIN_BLOCKS, critical_difference, family_stats, gap_blocks, load_results

# Final gaps (%) of heuristics a, b, c on instances I1, I2 with seeds 1-3: six blocks (instance, seed).
GAPS = {
    "a": [0.5, 0.7, 0.2, 1.1, 0.9, 0.4],
    "b": [1.5, 1.2, 0.9, 2.0, 1.7, 1.6],
    "c": [0.6, 2.5, 3.0, 0.8, 2.2, 2.9],
}
BLOCKS = [("I1", 1), ("I1", 2), ("I1", 3), ("I2", 1), ("I2", 2), ("I2", 3)]
HEAD = "run_id,problem,instance,heuristic,seed,status,best_value,n_evals,max_evals,sense,reference_value,reference_kind,gap_pct"


def _row(instance: str, seed: int, heuristic: str, status: str, gap: float | None) -> str:
    value = "" if gap is None else 100 - gap
    return (
        f"{instance}|{heuristic}|{seed},toy,{instance},{heuristic},{seed},{status},{value},10,10,max,100,"
        f"proven_optimal,{'' if gap is None else gap}"
    )


def write(tmp_path: Path, extra: list[str] = (), gaps: dict[str, list[float]] = GAPS) -> Path:
    rows = [_row(i, s, h, "ok", g[k]) for h, g in gaps.items() for k, (i, s) in enumerate(BLOCKS)]
    (tmp_path / "runs.csv").write_text("\n".join([HEAD, *rows, *extra]) + "\n")
    return tmp_path


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, by hand."""
    order = np.argsort(p)
    adjusted = np.empty(len(p))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def test_friedman_and_holm_corrected_wilcoxon_agree_with_scipy(tmp_path):
    extra = [_row("I2", 4, "a", "ok", 0.3), _row("I2", 4, "b", "ok", 0.1), _row("I2", 4, "c", "timeout", 0.0)]
    runs = load_results(write(tmp_path, extra)).runs
    result = family_stats(runs, "toy")
    assert result.blocks.shape == (6, 3) and result.dropped == 1  # (I2, 4): c timed out, so the block is out
    statistic, p = stats.friedmanchisquare(GAPS["a"], GAPS["b"], GAPS["c"])
    assert result.friedman == (pytest.approx(statistic), pytest.approx(p))
    # average ranks per block (1 = smallest gap): a 1, 1, 1, 2, 1, 1 -> 7/6; b 3, 2, 2, 3, 2, 2 -> 14/6; c 15/6
    assert result.ranks.to_dict() == pytest.approx({"a": 7 / 6, "b": 14 / 6, "c": 15 / 6})
    pairs = list(itertools.combinations("abc", 2))
    raw = [stats.wilcoxon(GAPS[x], GAPS[y]).pvalue for x, y in pairs]
    table = result.wilcoxon.set_index(["heuristic A", "heuristic B"])
    assert [table.loc[pair, "p"] for pair in pairs] == pytest.approx(raw)
    assert [table.loc[pair, "p (Holm)"] for pair in pairs] == pytest.approx(holm(raw))
    assert [table.loc[pair, "W"] for pair in pairs] == [stats.wilcoxon(GAPS[x], GAPS[y]).statistic for x, y in pairs]
    assert table.loc[("a", "b"), "A better"] == 6 and table.loc[("a", "b"), "B better"] == 0
    assert table.loc[("a", "b"), "median gap difference A - B (%)"] == pytest.approx(-0.85)
    # with 6 blocks the exact two-sided p of a 6-0 sign pattern is 2/64: below 0.05 raw, Holm x3 = 0.09375
    assert table.loc[("a", "b"), "p"] == pytest.approx(2 / 64) and table.loc[("a", "b"), "p (Holm)"] == pytest.approx(
        0.09375
    )
    import scikit_posthocs as sp

    expected = sp.posthoc_nemenyi_friedman(pd.DataFrame(GAPS))
    assert np.allclose(result.nemenyi.to_numpy(), expected.to_numpy())
    # Demšar (2006), Table 5(a): q_0.05 = 2.343 for k = 3; CD = q sqrt(k (k + 1) / (6 N))
    assert result.cd == pytest.approx(2.343 * math.sqrt(3 * 4 / (6 * 6)), abs=1e-3)
    assert critical_difference(4, 10) == pytest.approx(2.569 * math.sqrt(4 * 5 / 60), abs=1e-3)


def test_a_run_without_a_feasible_value_ranks_last(tmp_path):
    gaps = {h: list(g) for h, g in GAPS.items()}
    runs = load_results(write(tmp_path, gaps=gaps)).runs
    runs.loc[(runs["heuristic"] == "a") & (runs["instance"] == "I1") & (runs["seed"] == 1), "gap"] = math.inf
    result = family_stats(runs, "toy")
    assert result.blocks.loc[("I1", 1), "a"] == math.inf
    # block (I1, 1): a is now last (rank 3): a's mean rank (3 + 1 + 1 + 2 + 1 + 1) / 6
    assert result.ranks["a"] == pytest.approx(9 / 6)
    finite = np.array(gaps["a"])
    finite[0] = 1e9  # any value above every other gap gives the same ranks and signed ranks
    statistic, _ = stats.friedmanchisquare(finite, gaps["b"], gaps["c"])
    assert result.friedman[0] == pytest.approx(statistic)
    table = result.wilcoxon.set_index(["heuristic A", "heuristic B"])
    assert table.loc[("a", "b"), "p"] == pytest.approx(stats.wilcoxon(finite, gaps["b"]).pvalue)
    # the median difference is read from the gaps themselves: -1.2, -0.9, -0.8, -0.7, -0.5, inf
    assert table.loc[("a", "b"), "median gap difference A - B (%)"] == pytest.approx(-0.75)


def test_too_few_blocks_or_heuristics_is_said_plainly(tmp_path):
    few = {h: g[: MIN_BLOCKS - 1] for h, g in GAPS.items()}
    rows = [_row(i, s, h, "ok", g[k]) for h, g in few.items() for k, (i, s) in enumerate(BLOCKS[: MIN_BLOCKS - 1])]
    (tmp_path / "runs.csv").write_text("\n".join([HEAD, *rows]) + "\n")
    result = family_stats(load_results(tmp_path).runs, "toy")
    assert result.friedman is None and result.wilcoxon is None and "too few blocks" in result.message
    alone = load_results(write(tmp_path, gaps={"a": GAPS["a"]})).runs
    assert "too few heuristics" in family_stats(alone, "toy").message
    two = family_stats(load_results(write(tmp_path, gaps={"a": GAPS["a"], "b": GAPS["b"]})).runs, "toy")
    assert two.friedman is None and "at least 3 heuristics" in two.message
    assert two.wilcoxon["p"].tolist() == pytest.approx([stats.wilcoxon(GAPS["a"], GAPS["b"]).pvalue])


def test_blocks_are_instance_seed_pairs(tmp_path):
    blocks, dropped = gap_blocks(load_results(write(tmp_path)).runs)
    assert list(blocks.index) == BLOCKS and dropped == 0
    assert blocks["c"].tolist() == GAPS["c"]


def test_the_report_shows_the_tests(tmp_path):
    from bilevel_bench.experiments.report import make_report

    make_report(write(tmp_path), formats=["md"])
    md = (tmp_path / "report" / "report.md").read_text()
    statistic, p = stats.friedmanchisquare(GAPS["a"], GAPS["b"], GAPS["c"])
    assert f"Friedman χ² = {statistic:.3g}, p = {p:.3g}" in md
    assert "figures/cd_toy.png" in md and (tmp_path / "report" / "figures" / "cd_toy.png").is_file()
    assert "| a | b | 6 | 6 | 6 | 0 |" in md  # the Wilcoxon table: pair, blocks, non-zero differences, A/B better
