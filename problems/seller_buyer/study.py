"""The paper's Tables 2-5 next to this model's equilibria, with the deviation per number (``study = "seller_buyer.paper"``).

Config keys (all optional): ``alphas`` (Table 4), ``betas`` (Table 5), ``order`` (best-response order),
``max_rounds``, ``tie_break``, ``seed``, ``ga_evals`` (per GA best response), ``joint_ga_evals``.
Writes into ``out_dir``: ``table2_sellers.csv``, ``table3_buyer.csv``, ``table4_alpha.csv``,
``table5_beta.csv``, ``paper_consistency.csv`` (the paper's own numbers checked against its formulas) and
``game_methods.csv`` (exact vs GA iterated best response and the joint GA on the paper's example).
The model is not tuned to the tables: README.md explains why most numbers cannot match.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bilevel_bench.errors import InputError
from problems.seller_buyer.exact import exploitability
from problems.seller_buyer.follower import (
    buyer_response,
    demand,
    lot_size,
    markup,
    paper_prices,
    purchase_cost,
    revenue,
)
from problems.seller_buyer.game import GameResult, iterated_best_response, joint_ga, outcome
from problems.seller_buyer.instance import paper_instance

TABLE2_D = [93.603, 96.525, 65.403, 60.825, 94.986, 56.557, 38.141, 25.000, 90.480, 48.969]
TABLE2_PROFIT = [398.897, 411.350, 278.721, 259.213, 404.794, 241.025, 162.542, 106.54, 385.589, 208.687]
TABLE3 = {"M": 0.895, "P": 10.142, "buyer_profit": 1790.667, "V": 5.512}
TABLE4 = {1.7: (0.895, 5.512, 10.142), 2.2: (0.554, 3.454, 8.122), 2.4: (0.494, 3.094, 7.906)}  # M, V, P
TABLE5 = {
    0.08: (0.498, 5.82, 10.58),
    0.15: (0.895, 5.512, 10.142),
    0.17: (1.005, 5.441, 10.052),
    0.2: (1.173, 5.365, 9.97),
    0.3: (3.418, 5.586, 11.622),
    0.6: (5.066, 5.944, 14.355),
}


def _dev(ours: float, paper: float) -> tuple[float, float]:
    return ours - paper, 100.0 * (ours - paper) / paper if paper else math.nan


def _row(label: str, ours: float, paper: float, **extra: Any) -> dict[str, Any]:
    dev, pct = _dev(ours, paper)
    return {"quantity": label, "paper": paper, "ours": ours, "deviation": dev, "deviation_pct": pct, **extra}


def _check(label: str, table: float, formula: float, **extra: Any) -> dict[str, Any]:
    dev, pct = _dev(formula, table)
    return {"check": label, "paper_table": table, "formula": formula, "deviation": dev, "deviation_pct": pct, **extra}


def _get(config: dict[str, Any], key: str, default: Any, source: str) -> Any:
    value = config.get(key, default)
    if type(value) is not type(default) and not (isinstance(default, float) and isinstance(value, int)):
        raise InputError(source, key, f"expected {type(default).__name__}, got {value!r}")
    return value


def paper_tables(config: dict[str, Any], out_dir: Path, source: str) -> str:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    alphas = [float(a) for a in _get(config, "alphas", list(TABLE4), source)]
    betas = [float(b) for b in _get(config, "betas", list(TABLE5), source)]
    unknown = [a for a in alphas if a not in TABLE4] + [b for b in betas if b not in TABLE5]
    if unknown:
        raise InputError(source, "alphas/betas", f"{unknown[0]} is not in the paper's Tables 4-5")
    settings = {
        "order": _get(config, "order", "cyclic", source),
        "max_rounds": _get(config, "max_rounds", 50, source),
        "tie_break": _get(config, "tie_break", "optimistic", source),
        "seed": _get(config, "seed", 1, source),
    }
    base = iterated_best_response(paper_instance(), **settings)
    lines = [f"seller_buyer.paper: base equilibrium {_describe(base)}"]
    _table2(base).to_csv(out_dir / "table2_sellers.csv", index=False)
    t3 = _table3(base)
    t3.to_csv(out_dir / "table3_buyer.csv", index=False)
    lines.append(_format(t3, "Table 3 (buyer)"))
    for name, values, table, key in (("alpha", alphas, TABLE4, "table4_alpha"), ("beta", betas, TABLE5, "table5_beta")):
        frame = _sensitivity(name, values, table, settings)
        frame.to_csv(out_dir / f"{key}.csv", index=False)
        lines.append(_format(frame, f"{key} (M, V, P: paper vs ours)"))
    consistency = _consistency()
    consistency.to_csv(out_dir / "paper_consistency.csv", index=False)
    lines.append(_format(consistency, "the paper's numbers against its own formulas"))
    methods = _methods(settings, config, source)
    methods.to_csv(out_dir / "game_methods.csv", index=False)
    lines.append(_format(methods, "game methods on the paper's example"))
    lines.append(f"CSVs in {out_dir}")
    return "\n".join(lines)


def _describe(result: GameResult) -> str:
    return (
        f"({result.method}): rounds={result.rounds}, nash={result.nash}, exploitability={result.exploitability:.3g}, "
        f"outcome exploitability={max(result.outcome_gains.max(), 0):.4g}, accepted={int(result.accepted.sum())}"
    )


def _table2(result: GameResult) -> pd.DataFrame:
    rows = []
    for j in range(len(TABLE2_D)):
        dq, dq_pct = _dev(float(result.q[j]), TABLE2_D[j])
        dp, dp_pct = _dev(float(result.seller_profit[j]), TABLE2_PROFIT[j])
        rows.append(
            {
                "seller": j + 1,
                "D_paper": TABLE2_D[j],
                "D_offered_ours": float(result.D[j]),
                "q_accepted_ours": float(result.q[j]),
                "D_deviation": dq,
                "D_deviation_pct": dq_pct,
                "profit_paper": TABLE2_PROFIT[j],
                "profit_ours": float(result.seller_profit[j]),
                "profit_deviation": dp,
                "profit_deviation_pct": dp_pct,
                "R_ours": float(result.R[j]),
                "v_ours": float(result.v[j]),
                "gain_by_deviating": float(result.gains[j]),
            }
        )
    return pd.DataFrame(rows)


def _table3(result: GameResult) -> pd.DataFrame:
    return pd.DataFrame(
        [
            _row("M", result.M, TABLE3["M"]),
            _row("P", result.P, TABLE3["P"]),
            _row("buyer_profit", result.buyer_profit, TABLE3["buyer_profit"]),
            _row("V", result.V, TABLE3["V"]),
            _row("sum_q", float(result.q.sum()), float(sum(TABLE2_D))),
        ]
    )


def _sensitivity(name: str, values: list[float], table: dict, settings: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for value in values:
        kwargs = {"alpha": value} if name == "alpha" else {"beta": value}
        result = iterated_best_response(paper_instance(**kwargs), **settings)
        M, V, P = table[value]
        row: dict[str, Any] = {name: value}
        for label, ours, paper in (("M", result.M, M), ("V", result.V, V), ("P", result.P, P)):
            dev, pct = _dev(ours, paper)
            row |= {f"{label}_paper": paper, f"{label}_ours": ours, f"{label}_dev": dev, f"{label}_dev_pct": pct}
        row |= {"nash": result.nash, "exploitability": result.exploitability, "rounds": result.rounds}
        row |= {"accepted": int(result.accepted.sum()), "sum_q": float(result.q.sum())}
        rows.append(row)
    return pd.DataFrame(rows)


def _consistency() -> pd.DataFrame:
    """The paper's Tables 2-3 put into its own formulas (README.md walks through each line)."""
    inst = paper_instance()
    D = np.array(TABLE2_D)
    M, P, V, pi_b = TABLE3["M"], TABLE3["P"], TABLE3["V"], TABLE3["buyer_profit"]
    k = inst.alpha - inst.beta - 1.0
    Q = lot_size(inst, D, V)
    P_j, _ = paper_prices(inst, np.full(10, V), Q)
    eq8_profit = (P - M) * D.sum() - float(np.sum(purchase_cost(inst, D, V)))
    per_unit = np.array(TABLE2_PROFIT) / D
    eq10 = (V - 1.5) * D - 40.0 * D / Q
    v_paper = np.full(10, V)
    R_paper = markup(inst, D, v_paper)
    exploit, _, _ = exploitability(inst, D, R_paper)
    ours = buyer_response(inst, D, R_paper).solution
    rows = [
        _check("sum D(j) (Table 2) | K P^-a M^b at Table 3's P, M (eq. 1)", float(D.sum()), float(demand(inst, P, M))),
        _check("M/P (Table 3) | beta/alpha (eq. 8 closed forms)", M / P, inst.beta / inst.alpha),
        _check("P (Table 3) | lower bound alpha V/(alpha-beta-1) (eq. 8, A_b/Q >= 0)", P, inst.alpha * V / k),
        _check("P (Table 3) | eq. 8 weighted P_j at V and EOQ", P, float(P_j @ D / D.sum())),
        _check(
            "pi_s/D(j) (Table 2, mean of rows) | upper bound V - C_s (eq. 10)",
            float(per_unit.mean()),
            V - 1.5,
            spread_over_rows=float(per_unit.max() - per_unit.min()),
        ),
        _check("sum pi_s (Table 2) | eq. 10 at V and EOQ", float(sum(TABLE2_PROFIT)), float(eq10.sum())),
        _check("pi_b (Table 3) | eq. 8 objective at Tables 2-3 values, EOQ", pi_b, eq8_profit),
        _check(
            "pi_b (Table 3) | profit at the market-clearing P, M of sum D",
            pi_b,
            float(revenue(inst, D.sum()) - purchase_cost(inst, D, V).sum()),
        ),
        _check(
            "sum D(j) (Table 2) | units this model's buyer accepts of the paper's profile",
            float(D.sum()),
            float(ours["q"].sum()),
        ),
        _check("exploitability of the paper's profile (0 if Nash) | this model's exact value", 0.0, exploit),
    ]
    for name, table in (("alpha", TABLE4), ("beta", TABLE5)):
        for value, (M_t, _, P_t) in table.items():
            row_inst = paper_instance(**{name: value})
            rows.append(
                _check(
                    f"M/P (Table {4 if name == 'alpha' else 5}, {name} = {value:g}) | beta/alpha",
                    M_t / P_t,
                    row_inst.beta / row_inst.alpha,
                )
            )
            rows.append(
                _check(
                    f"sum D(j) at {name} = {value:g}: not published | K P^-a M^b at the table's P, M",
                    math.nan,
                    float(demand(row_inst, P_t, M_t)),
                )
            )
    return pd.DataFrame(rows)


def _methods(settings: dict[str, Any], config: dict[str, Any], source: str) -> pd.DataFrame:
    inst = paper_instance()
    ga_evals = _get(config, "ga_evals", 150, source)
    joint_evals = _get(config, "joint_ga_evals", 150, source)
    rows = []
    for label, run in (
        ("iterated BR, exact", lambda: iterated_best_response(inst, **settings)),
        ("iterated BR, exact, random order", lambda: iterated_best_response(inst, **{**settings, "order": "random"})),
        (
            "iterated BR, exact, pessimistic ties",
            lambda: iterated_best_response(inst, **{**settings, "tie_break": "pessimistic"}),
        ),
        ("iterated BR, GA", lambda: iterated_best_response(inst, method="ga", ga_evals=ga_evals, **settings)),
        ("joint GA on exploitability", lambda: joint_ga(inst, seed=settings["seed"], max_evals=joint_evals)),
        (
            "zero-profit profile D = Dmax, R = 1 (optimistic)",
            lambda: outcome(inst, inst.Dmax, np.ones(inst.n), "fixed"),
        ),
        (
            "zero-profit profile D = Dmax, R = 1 (pessimistic)",
            lambda: outcome(inst, inst.Dmax, np.ones(inst.n), "fixed", "pessimistic"),
        ),
    ):
        start = time.perf_counter()
        result = run()
        rows.append(
            {
                **result.summary(),
                "method": label,
                "evaluations": result.evaluations,
                "seconds": time.perf_counter() - start,
            }
        )
    return pd.DataFrame(rows)


def _format(frame: pd.DataFrame, title: str) -> str:
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.precision", 4):
        return f"\n{title}\n{frame.to_string(index=False)}"
