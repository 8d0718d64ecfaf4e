"""The results schema: every column of every output file, its type, unit and meaning, in one place.

The runner writes these columns, :func:`bilevel_bench.read_results` reads them back with these dtypes
(empty columns keep their declared type), ``docs/results.md`` documents them (a test checks that it lists
every column here), and ``time`` columns are the ones excluded when two runs of a grid are compared for
reproducibility. Three families of columns are generated per grid, flat rather than JSON (as benchopt's
``p_solver_*``): ``param_<name>`` (a heuristic parameter), ``size_<name>`` (an instance dimension) and
``option_<name>`` (a problem option).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

Kind = Literal["str", "int", "float", "bool", "json"]


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    meaning: str
    unit: str = ""
    time: bool = False  # depends on the machine and its load: excluded from reproducibility comparisons


def _cols(*rows: tuple) -> list[Column]:
    return [Column(*row) for row in rows]


#: Columns whose names are generated per grid, by prefix.
PREFIXES = {
    "param_": Column("param_<name>", "json", "a heuristic parameter's value (number, bool or string)"),
    "size_": Column(
        "size_<name>", "int", "an instance dimension, as the family reports it; size_n_var: leader variables"
    ),
    "option_": Column("option_<name>", "json", "a problem option's value (the family's declared options)"),
}

RUNS = _cols(
    ("run_id", "str", "problem|instance|heuristic label|seed: unique within a grid"),
    ("grid", "str", "the grid's name"),
    ("grid_hash", "str", "hash of the grid's content, the content of every instance it names and the package version"),
    ("problem", "str", "the problem family"),
    ("instance", "str", "the instance as the grid names it (shipped name, path or generate: spec)"),
    ("heuristic", "str", "the heuristic's label in the grid"),
    ("algorithm", "str", "the registered heuristic behind the label"),
    ("seed", "int", "the run's seed"),
    ("tie_break", "str", "optimistic or pessimistic reading of the followers' ties"),
    ("max_evals", "int", "the budget: leader evaluations", "evaluations"),
    ("max_seconds", "float", "safety net checked between batches (a run it ends is a timeout)", "s"),
    ("time_limit_s", "float", "hard safety net: the deadline every solver call sees", "s"),
    ("status", "str", "ok (ran to its budget), timeout (a clock ended it first) or failed (an error)"),
    ("error", "str", "what ended a failed or timed-out run, one line"),
    ("stop_reason", "str", "max_evals, max_seconds, timeout or stalled (nothing left to try)"),
    ("restarts", "int", "times the algorithm stopped by itself and was started again"),
    (
        "constraints",
        "str",
        "the constraint handling the run used: feasibility_first, repair or epsilon (auto resolved)",
    ),
    ("sampling", "str", "the initial sample: default (the algorithm's own) or hpr (bilevel-aware starts)"),
    ("sense", "str", "max or min: the leader's sense; values are in it (a profit is a profit)"),
    ("best_value", "float", "the best bilevel-feasible leader value the run found; empty if none", "leader units"),
    ("best_violation", "float", "the violation of the run's best decision (0: feasible)"),
    (
        "verified",
        "bool",
        "the run found a feasible decision and its re-evaluation from scratch reproduces best_value; false if it found none (verify_status infeasible:...) or if the two disagree",
    ),
    ("verify_value", "float", "the re-evaluated leader value of the best decision", "leader units"),
    ("verify_status", "str", "agree, mismatch, infeasible:<follower status> or no_solution"),
    ("reference_value", "float", "the value gap_pct is measured against", "leader units"),
    ("reference_kind", "str", "proven_optimal, published_optimal, published_best_known, exact_incumbent or best_found"),
    (
        "gap_pct",
        "float",
        "100 (reference - best) / max(|reference|, 1) in the leader's sense (0 within the tie band)",
        "%",
    ),
    ("beats_reference", "bool", "the verified value is better than the reference beyond the tie band"),
    ("n_evals", "int", "leader evaluations used (cache hits included)", "evaluations"),
    ("n_unique", "int", "leader decisions whose followers were solved", "evaluations"),
    ("n_follower_solves", "int", "solver calls inside followers (both tie-break stages count)", "solves"),
    ("n_follower_failures", "int", "candidates whose follower was infeasible, unbounded or at a limit"),
    ("cache_hits", "int", "evaluations answered from the run's cache", "evaluations"),
    ("wall_s", "float", "wall-clock seconds of the run", "s", True),
    ("cpu_s", "float", "CPU seconds of the run, its evaluation workers included", "s", True),
    ("follower_s", "float", "seconds spent solving followers, summed over workers", "s", True),
    ("exact_value", "float", "the exact baseline's re-verified objective", "leader units"),
    ("exact_status", "str", "the exact baseline's status (optimal, feasible, ..., published)"),
    ("exact_bound", "float", "the exact baseline's bound", "leader units"),
    (
        "hypervolume",
        "float",
        "NSGA-II: hypervolume of the front against the run's own nadir (not comparable across runs)",
    ),
    ("front", "json", "NSGA-II: the non-dominated (leader value, follower welfare) pairs, both maximised"),
    ("best_decision", "json", "the best decision, named by the family (flat vector under no key)"),
    ("work", "json", "the family's own work counters summed over workers (e.g. routing calls)"),
    ("warnings", "str", "modelling warnings of the problem, '; '-separated"),
    ("host_cpus", "int", "CPUs the run's process could use"),
    ("load_avg_1m", "float", "the host's 1-minute load average when the run started", "", True),
    ("bilevel_bench_version", "str", "package versions"),
    ("pymoo_version", "str", ""),
    ("ortools_version", "str", ""),
    ("numpy_version", "str", ""),
)

HISTORY = _cols(
    ("run_id", "str", "the run (runs.csv)"),
    ("problem", "str", "the problem family"),
    ("instance", "str", "the instance"),
    ("heuristic", "str", "the heuristic's label"),
    ("seed", "int", "the run's seed"),
    ("checkpoint", "int", "0, 1, ...: one per evaluated batch"),
    ("n_evals", "int", "leader evaluations so far", "evaluations"),
    ("n_follower_solves", "int", "follower solver calls so far", "solves"),
    ("elapsed_s", "float", "wall seconds since the run started", "s", True),
    ("cpu_s", "float", "CPU seconds so far, workers included", "s", True),
    ("best_value", "float", "best feasible leader value so far; empty before the first", "leader units"),
    ("sense", "str", "max or min"),
    ("reference_value", "float", "as in runs.csv", "leader units"),
    ("reference_kind", "str", "as in runs.csv"),
    ("gap_pct", "float", "the best-so-far's gap to the reference", "%"),
)

EXACT = _cols(
    ("problem", "str", "the problem family"),
    ("instance", "str", "the instance"),
    ("sense", "str", "max or min"),
    ("status", "str", "optimal, feasible, infeasible, unbounded, unsupported, error or published"),
    ("objective", "float", "the re-verified objective of the baseline's decision", "leader units"),
    ("bound", "float", "the proven bound", "leader units"),
    ("gap_pct", "float", "100 |bound - objective| / |objective|", "%"),
    ("time_s", "float", "seconds the baseline took", "s", True),
    ("time_limit_s", "float", "the baseline's time limit", "s"),
    ("method", "str", "what the baseline is"),
    ("notes", "str", "what it found, solver values, why a status was downgraded"),
    ("verification", "str", "agree, mismatch, infeasible or no_decision: the decision re-evaluated with the follower"),
    ("reference_kind", "str", "what this row offers as reference (proven_optimal, published_optimal, ...)"),
    ("decision", "json", "the flat leader vector of the baseline's decision"),
    ("warnings", "str", "modelling warnings"),
)

FILES = {"runs.csv": RUNS, "history.csv": HISTORY, "exact.csv": EXACT}


def names(columns: list[Column]) -> list[str]:
    return [c.name for c in columns]


def time_columns() -> set[str]:
    return {c.name for cols in FILES.values() for c in cols if c.time}


def kind_of(file: str, column: str) -> Kind:
    """The declared kind of a column (generated columns by their prefix); unknown columns are strings."""
    for col in FILES[file]:
        if col.name == column:
            return col.kind
    for prefix, col in PREFIXES.items():
        if column.startswith(prefix):
            return col.kind
    return "str"
