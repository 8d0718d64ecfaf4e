"""The ``procurement.sweep`` study on a tiny configuration: CSVs, baselines agreeing, bad keys rejected."""

from __future__ import annotations

import pandas as pd
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.experiments.studies.procurement import check_sweep, sweep

TINY = {"name": "t", "study": "procurement.sweep", "instances": ["hm_example"], "deltas": [1.0, 2.0],
        "seeds": [1], "params": {"pop_size": 10}, "max_evals": 100, "n_jobs": 1}  # fmt: skip


def test_sweep_writes_rows_and_baselines_agree(tmp_path):
    text = sweep(check_sweep(dict(TINY), "tiny.toml"), tmp_path)
    frame = pd.read_csv(tmp_path / "sweep.csv")
    assert set(frame["method"]) == {"closed_form", "centralized", "decentralized", "ga_centralized",
                                    "ga_decentralized"}  # fmt: skip
    for _, group in frame.groupby("value"):
        costs = group.set_index("method")["cost"]
        assert costs["centralized"] == pytest.approx(costs["closed_form"], rel=1e-6)
        assert costs["decentralized"] == pytest.approx(costs["closed_form"], rel=1e-6)
    # delta = 2: the closed form pays E[sum d phi] = 11 and serves 1.5 suppliers on average
    row = frame[(frame["value"] == 2.0) & (frame["method"] == "closed_form")].iloc[0]
    assert row["cost"] == pytest.approx(11.75) and row["transfers"] == pytest.approx(11.0)
    assert row["active"] == pytest.approx(1.5)
    assert (tmp_path / "sweep_summary.csv").exists() and "ga_decentralized" in text


def test_sweep_rejects_unknown_keys_and_bad_values(tmp_path):
    with pytest.raises(InputError, match="delta_values"):
        check_sweep({**TINY, "delta_values": [1.0]}, "bad.toml")
    with pytest.raises(InputError, match="deltas"):
        check_sweep({**TINY, "deltas": [-1.0]}, "bad.toml")
