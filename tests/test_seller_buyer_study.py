"""The seller paper study: the paper's arithmetic (our reading of how its Tables 2-5 were computed) checked
against every published number, the split of each deviation into the paper's error and the model change,
and the study's config checks (``check_paper`` writes nothing)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bilevel_bench.errors import InputError
from bilevel_bench.experiments.studies import seller_buyer as study
from bilevel_bench.problems.seller_buyer.follower import demand
from bilevel_bench.problems.seller_buyer.game import outcome
from bilevel_bench.problems.seller_buyer.instance import paper_instance

ROWS = [(a, 0.15, *study.TABLE4[a]) for a in study.TABLE4] + [(1.7, b, *study.TABLE5[b]) for b in study.TABLE5]


@pytest.mark.parametrize(("alpha", "beta", "M", "V", "P"), ROWS)
def test_published_prices_are_the_papers_arithmetic(alpha, beta, M, V, P):
    """P = alpha (V + 0.25/(alpha - beta - 1)), M = beta (V + 0.25/(alpha - beta - 1)): A_b/Q = 0.25 (Q = 160),
    the denominator on A_b/Q only; the row labelled beta = 0.3 fits beta = 0.5 and nothing near 0.3."""
    fitted = 0.5 if beta == 0.3 else beta
    P_ar, M_ar = study.arithmetic_prices(alpha, fitted, V)
    assert abs(P_ar - P) <= 0.0012 and abs(M_ar - M) <= 0.0005  # three published decimals
    assert abs(P_ar - P) <= study.price_rounding(alpha)
    assert study.implied_beta(alpha, M, P) == pytest.approx(fitted, abs=2e-4)
    P_right, _ = study.formula_prices(alpha, beta, V)  # the formula with the parenthesis where eq. 8 has it
    assert abs(P_right - P) > 0.3  # so the published P is not eq. 8 at its own V and Q
    if beta == 0.3:
        assert abs(study.arithmetic_prices(alpha, 0.3, V)[0] - P) > 1.0


def test_seller_profits_add_the_setup_cost_and_demand_is_counted_ten_times():
    D, profits = np.array(study.TABLE2_D), np.array(study.TABLE2_PROFIT)
    per_unit = profits / D
    assert per_unit == pytest.approx(np.full(10, 5.512 - 1.5 + 0.25), abs=5e-4)  # V - C_s + A_s/Q
    assert np.all(np.abs(study.arithmetic_seller_profit(5.512, D) - profits) <= 0.04)
    assert np.all(per_unit > 5.512 - 1.5)  # eq. 10 can never exceed V - C_s per unit
    # V implied by the profits (5.5116) rounds to the published 5.512 and gives P = 10.142
    V = float(per_unit.mean()) + 1.5 - 0.25
    assert round(V, 3) == 5.512 and round(study.arithmetic_prices(1.7, 0.15, V)[0], 3) == 10.142
    inst = paper_instance()
    one_market = float(demand(inst, 10.142, 0.895))
    assert one_market == pytest.approx(67.055, abs=1e-3)
    assert D.sum() == pytest.approx(10 * one_market, abs=study.total_rounding(inst, 10.142, 0.895))
    assert abs(D.sum() - 10 * one_market) < 0.07


def test_deviation_splits_into_paper_error_and_model_change():
    inst = paper_instance()
    result = outcome(inst, inst.Dmax, np.full(inst.n, 1.8868682321618002), "fixed")
    t3 = study._table3(result).set_index("quantity")
    for q in ("M", "P", "sum_q", "buyer_profit"):
        row = t3.loc[q]
        assert row["error_pct"] + row["model_pct"] == pytest.approx(row["deviation_pct"], abs=1e-9)
    assert t3.loc["P", "cause"] == "paper_error+model" and bool(t3.loc["P", "arithmetic_reproduces"])
    assert t3.loc["P", "error_pct"] == pytest.approx(100 * (1.7 * 5.762 / 0.55 - 10.142) / 10.142, abs=1e-6)
    assert t3.loc["V", "cause"] == "model" and math.isnan(t3.loc["V", "error_pct"])
    assert t3.loc["buyer_profit", "cause"] == "paper_unexplained+model"
    assert t3.loc["sum_q", "error_pct"] == pytest.approx(-90.0, abs=0.01)  # a factor of 10
    t2 = study._table2(result)
    assert set(t2["profit_cause"]) == {"paper_error+model"}
    assert (t2["profit_arithmetic_dev"].abs() <= 0.04).all()


def test_check_paper_validates_and_writes_nothing(tmp_path):
    checked = study.check_paper({"name": "x", "study": "seller_buyer.paper", "max_rounds": 3}, "grid.toml")
    assert checked["game"]["max_rounds"] == 3 and checked["game"]["tie_break"] == "optimistic"
    with pytest.raises(InputError, match="not in the paper"):
        study.check_paper({"betas": [0.31]}, "grid.toml")
    with pytest.raises(InputError, match="unknown key"):
        study.check_paper({"tie": "optimistic"}, "grid.toml")
    assert list(tmp_path.iterdir()) == []
