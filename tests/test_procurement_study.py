"""The ``procurement.sweep`` study on a tiny configuration: CSVs, baselines agreeing, variants, bad keys rejected."""

from __future__ import annotations

import pandas as pd
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.experiments.studies.procurement import check_sweep, sweep

TINY = {
    "name": "t",
    "study": "procurement.sweep",
    "instances": ["hm_example"],
    "deltas": [1.0, 2.0],
    "seeds": [1],
    "params": {"pop_size": 10},
    "max_evals": 100,
    "n_jobs": 1,
}


@pytest.mark.slow
def test_sweep_writes_rows_and_baselines_agree(tmp_path):
    config = {
        **TINY,
        "variants": [
            {
                "label": "expost_ir",
                "expost_ir": True,
                "instances": ["generate:model=hm,n=2,m=2,seed=1"],
                "deltas": [2.0],
            },
            {
                "label": "elastic",
                "elastic": True,
                "instances": ["ldm_example"],
                "gammas": [0.5],
                "versions": ["decentralized"],
            },
        ],
    }
    text = sweep(check_sweep(config, "tiny.toml"), tmp_path)
    frame = pd.read_csv(tmp_path / "sweep.csv")
    base = frame[frame["variant"] == "base"]
    assert set(base["method"]) == {"closed_form", "centralized", "decentralized", "ga_centralized", "ga_decentralized"}
    for _, group in base.groupby("value"):
        costs = group.set_index("method")["cost"]
        assert costs["centralized"] == pytest.approx(costs["closed_form"], rel=1e-9)
        assert costs["decentralized"] == pytest.approx(costs["closed_form"], rel=1e-9)
    # delta = 2: the closed form pays E[sum d phi] = 11 and serves 1.5 suppliers on average
    row = base[(base["value"] == 2.0) & (base["method"] == "closed_form")].iloc[0]
    assert row["cost"] == pytest.approx(11.75) and row["transfers"] == pytest.approx(11.0)
    assert row["active"] == pytest.approx(1.5)
    assert (tmp_path / "sweep_summary.csv").exists() and "ga_decentralized" in text
    points = pd.read_csv(tmp_path / "sweep_points.csv").set_index(["variant", "instance"])
    assert points.loc[("base", "hm_example"), "dec_minus_cen"].abs().max() < 1e-9
    # ex-post IR: the decentralized buyer pays more, and SCIP proves it (numbers as in test_procurement_repair)
    expost = points.loc[("expost_ir", "gen-hm-n2-m2-s1")]
    assert expost["centralized"] == pytest.approx(11.4634829, abs=1e-7)
    assert expost["dec_minus_cen"] == pytest.approx(11.470949 - 11.4634829, abs=2e-6)
    assert bool(expost["dec_above_cen_proven"])
    # elastic ldm_example (re-anchored, = ldm_elastic_example): centralized -7.5225351, decentralized -7.457277
    elastic = points.loc[("elastic", "ldm_example")]
    assert elastic["centralized"] == pytest.approx(-7.5225351, abs=1e-6)
    assert elastic["decentralized"] == pytest.approx(-7.457277, abs=2e-6) and bool(elastic["dec_above_cen_proven"])
    assert elastic["ga_decentralized_gap_to_cen_pct"] >= elastic["ga_decentralized_gap_to_dec_pct"] >= 0.0
    assert "ga_centralized_median" not in points.columns or pd.isna(elastic.get("ga_centralized_median"))


def test_sweep_rejects_unknown_keys_and_bad_values():
    with pytest.raises(InputError, match="delta_values"):
        check_sweep({**TINY, "delta_values": [1.0]}, "bad.toml")
    with pytest.raises(InputError, match="deltas"):
        check_sweep({**TINY, "deltas": [-1.0]}, "bad.toml")
    with pytest.raises(InputError, match=r"variants\[0\]\.expost"):
        check_sweep({**TINY, "variants": [{"label": "x", "expost": True}]}, "bad.toml")
    with pytest.raises(InputError, match=r"variants\[0\]\.elastic: expected bool"):
        check_sweep({**TINY, "variants": [{"label": "x", "elastic": 1}]}, "bad.toml")
    with pytest.raises(InputError, match=r"variants\[1\]\.label"):
        check_sweep({**TINY, "variants": [{"label": "x"}, {"label": "x"}]}, "bad.toml")
    with pytest.raises(InputError, match=r"variants\[0\]\.versions"):
        check_sweep({**TINY, "variants": [{"label": "x", "versions": ["both"]}]}, "bad.toml")
    # every point's instance is built while checking: gamma 0.75 with three suppliers breaks R
    bad = {**TINY, "instances": ["generate:model=ldm,n=3,m=2,seed=1,gamma=0.3"], "gammas": [0.75]}
    with pytest.raises(InputError, match=r"instances\[0\].*gamma"):
        check_sweep(bad, "bad.toml")
