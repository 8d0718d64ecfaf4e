"""The paper's Tables 2-5 next to this model's equilibria, with the deviation per number (``study = "seller_buyer.paper"``).

It also holds the game's heuristic methods (GA best responses, the joint GA), which belong to the
experiments layer because they run heuristics; the family's exact game is ``problems/seller_buyer/game.py``.

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
from bilevel_bench.heuristics.run import Budget, run_heuristic
from bilevel_bench.problems.seller_buyer.exact import exploitability
from bilevel_bench.problems.seller_buyer.follower import (
    buyer_response,
    demand,
    lot_size,
    markup,
    paper_prices,
    purchase_cost,
    revenue,
)
from bilevel_bench.problems.seller_buyer.game import TOL, BestResponseFn, GameResult, iterated_best_response, outcome
from bilevel_bench.problems.seller_buyer.instance import SellerBuyerInstance, paper_instance
from bilevel_bench.problems.seller_buyer.problem import ExploitabilityProblem, SellerBestResponseProblem

# -- heuristic methods of the game (the experiments layer: they run heuristics) ----------------------------


def ga_best_response(
    inst: SellerBuyerInstance,
    j: int,
    D: np.ndarray,
    R: np.ndarray,
    seed: int,
    tie_break: str = "optimistic",
    params: dict[str, Any] | None = None,
    max_evals: int = 300,
) -> tuple[float, float, float, int]:
    """Seller j's best response by pymoo GA: (D_j, R_j, profit, evaluations)."""
    problem = SellerBestResponseProblem(inst, tie_break, seller=j, profile=[*map(float, D), *map(float, R)])
    run = run_heuristic(problem, "ga", params or {"pop_size": 20}, seed, Budget(max_evals=max_evals))
    assert run.best_x is not None  # the box of a best response is never empty
    x = run.best_x
    return float(x[0]), float(x[1]), float(run.best_value), run.counters.n_evals


def ga_best_responses(seed: int, params: dict[str, Any] | None = None, max_evals: int = 300) -> BestResponseFn:
    """GA best responses for :func:`iterated_best_response`, each seeded from (seed, round, seller)."""

    def respond(
        inst: SellerBuyerInstance, j: int, D: np.ndarray, R: np.ndarray, rnd: int, tie_break: str
    ) -> tuple[float, float, float, int]:
        ga_seed = int(np.random.SeedSequence([seed, rnd, j]).generate_state(1)[0])
        return ga_best_response(inst, j, D, R, ga_seed, tie_break, params, max_evals)

    return respond


def iterated_ga_best_response(
    inst: SellerBuyerInstance, seed: int = 0, ga_evals: int = 300, ga_params: dict[str, Any] | None = None, **kwargs: Any
) -> GameResult:
    """Iterated best response with GA best responses."""
    respond = ga_best_responses(seed, ga_params, ga_evals)
    return iterated_best_response(inst, seed=seed, best_response_fn=respond, method="ga", **kwargs)


def joint_ga(
    inst: SellerBuyerInstance,
    seed: int = 0,
    max_evals: int = 200,
    params: dict[str, Any] | None = None,
    tie_break: str = "optimistic",
    tol: float = TOL,
    n_grid: int = 101,
) -> GameResult:
    """A GA over all sellers' offers minimising exploitability (``n_grid`` inside; exact ``N_GRID`` at the end)."""
    problem = ExploitabilityProblem(inst, tie_break, n_grid=n_grid)
    run = run_heuristic(problem, "ga", params or {"pop_size": 20}, seed, Budget(max_evals=max_evals))
    assert run.best_x is not None
    D, R = problem.split(run.best_x)
    return outcome(inst, D, R, "joint GA (min exploitability)", tie_break, tol, evaluations=run.counters.n_evals)


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
    if type(value) is not type(default):
        raise InputError(source, key, f"expected {type(default).__name__}, got {value!r}")
    return value


KEYS = {"name", "study", "description", "alphas", "betas", "order", "max_rounds", "tie_break", "seed", "ga_evals",
        "joint_ga_evals"}  # fmt: skip


def check_paper(config: dict[str, Any], source: str) -> dict[str, Any]:
    """The study's settings from its grid, every key checked (nothing is run or written)."""
    unknown = sorted(set(config) - KEYS)
    if unknown:
        raise InputError(source, unknown[0], f"unknown key (allowed: {', '.join(sorted(KEYS))})")
    alphas = [_number(a, source, "alphas") for a in _get(config, "alphas", list(TABLE4), source)]
    betas = [_number(b, source, "betas") for b in _get(config, "betas", list(TABLE5), source)]
    unknown_values = [a for a in alphas if a not in TABLE4] + [b for b in betas if b not in TABLE5]
    if unknown_values:
        raise InputError(source, "alphas/betas", f"{unknown_values[0]} is not in the paper's Tables 4-5")
    order = _get(config, "order", "cyclic", source)
    if order not in ("cyclic", "reverse", "random"):
        raise InputError(source, "order", f"{order!r} is not one of cyclic, reverse, random")
    tie_break = _get(config, "tie_break", "optimistic", source)
    if tie_break not in ("optimistic", "pessimistic"):
        raise InputError(source, "tie_break", f"{tie_break!r} is not one of optimistic, pessimistic")
    game = {
        "order": order,
        "max_rounds": _count(config, "max_rounds", 50, source, 10_000),
        "tie_break": tie_break,
        "seed": _count(config, "seed", 1, source, 2**32 - 1, low=0),
    }
    return {
        "alphas": alphas,
        "betas": betas,
        "game": game,
        "ga_evals": _count(config, "ga_evals", 150, source, 1_000_000),
        "joint_ga_evals": _count(config, "joint_ga_evals", 150, source, 1_000_000),
    }


def _number(value: Any, source: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(source, key, f"expected finite numbers, got {value!r}")
    return float(value)


def _count(config: dict[str, Any], key: str, default: int, source: str, high: int, low: int = 1) -> int:
    value = _get(config, key, default, source)
    if not low <= value <= high:
        raise InputError(source, key, f"must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def paper_tables(checked: dict[str, Any], out_dir: Path) -> str:
    """Run the study with settings from :func:`check_paper`; write its CSVs into ``out_dir``."""
    settings = checked["game"]
    alphas, betas = checked["alphas"], checked["betas"]
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
    methods = _methods(settings, checked["ga_evals"], checked["joint_ga_evals"])
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


def _methods(settings: dict[str, Any], ga_evals: int, joint_evals: int) -> pd.DataFrame:
    inst = paper_instance()
    rows = []
    for label, run in (
        ("iterated BR, exact", lambda: iterated_best_response(inst, **settings)),
        ("iterated BR, exact, random order", lambda: iterated_best_response(inst, **{**settings, "order": "random"})),
        (
            "iterated BR, exact, pessimistic ties",
            lambda: iterated_best_response(inst, **{**settings, "tie_break": "pessimistic"}),
        ),
        ("iterated BR, GA", lambda: iterated_ga_best_response(inst, ga_evals=ga_evals, **settings)),
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
