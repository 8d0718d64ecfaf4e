"""The ``bilevel-bench`` command: run grids, solve exact baselines, list what exists, make reports.

Bad input ends with one line ``error: <file>: <key>: <what is wrong>`` and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

from bilevel_bench import __version__
from bilevel_bench.errors import InputError


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler's stop), handled as Ctrl-C: the process pool's workers are stopped,
    the output directory's lock is released and finished runs stay saved. Without it Python dies at once and
    leaves its pool's workers running, orphaned."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _one_line_warning  # a skipped plugin is one line on stderr, not a traceback
    # a grid's pool of workers must be stopped on SIGTERM; other commands keep Python's default (die at once).
    # Handlers can only be set from the main thread.
    catch_sigterm = args.handler is _cmd_run and threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if catch_sigterm else None
    try:
        return _handle(args)
    finally:
        if catch_sigterm:
            signal.signal(signal.SIGTERM, previous)


def _handle(args: argparse.Namespace) -> int:
    """Run the command; every failure becomes one line and an exit status."""
    try:
        return int(args.handler(args) or 0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (stdout must stay open until exit)
        return 0
    except KeyboardInterrupt as exc:
        print("interrupted: finished runs are saved; run the same command again to resume", file=sys.stderr)
        return 128 + signal.SIGTERM if isinstance(exc, Terminated) else 130
    except OSError as exc:  # the disk is full, a path vanished, permissions changed under us
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(
            f"error: {exc.strerror or exc}{where}: free space or fix permissions, then run the same command again "
            "(finished runs are kept)",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # a bug: one line here, the traceback in a log file
        log = _crash_log(exc)
        print(f"internal error: {type(exc).__name__}: {exc} (traceback in {log}; please report it)", file=sys.stderr)
        return 1


def _crash_log(exc: BaseException) -> str:
    import tempfile
    import traceback

    handle, path = tempfile.mkstemp(prefix="bilevel-bench-crash-", suffix=".log")
    with os.fdopen(handle, "w") as log:
        log.write(f"bilevel-bench {__version__}, argv {sys.argv}\n")
        traceback.print_exception(exc, file=log)
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bilevel-bench",
        description="Benchmark metaheuristics against exact optima of bilevel pricing and production problems.",
    )
    parser.add_argument("--version", action="version", version=f"bilevel-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run an experiment grid (TOML)",
        description="Expand a grid (problems x instances x heuristics x seeds) into runs and execute them in "
        "parallel, appending rows to results/<grid>/runs.csv, history.csv and exact.csv as runs finish. "
        "Started again, it resumes and repeats nothing.",
    )
    run.add_argument("grid", type=Path, help="the grid TOML file")
    run.add_argument("--jobs", type=int, default=None, help="runs in parallel (default: the grid's n_jobs)")
    run.add_argument("--out", type=Path, default=None, help="output directory (default: results/<grid name>)")
    group = run.add_mutually_exclusive_group()
    group.add_argument(
        "--resume", dest="resume", action="store_true", default=True, help="skip finished runs (default)"
    )
    group.add_argument("--fresh", dest="resume", action="store_false", help="delete earlier results of this grid first")
    run.add_argument("--backend", choices=("loky", "dask"), default="loky", help="joblib backend (default loky)")
    run.add_argument("--scheduler", default=None, help="Dask scheduler address (with --backend dask)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--format",
        choices=("csv", "parquet", "both"),
        default="csv",
        help="csv (default); parquet or both also write the tables as Parquet at the end (the CSVs are always kept)",
    )
    run.add_argument("--dry-run", action="store_true", help="check the grid, print what it expands to, and exit")
    run.add_argument("--yes", action="store_true", help="run a grid larger than the size that asks for confirmation")
    run.set_defaults(handler=_cmd_run)

    exact = sub.add_parser(
        "exact",
        help="solve the exact single-level baseline of one instance",
        description="Solve the exact baseline of PROBLEM on INSTANCE (a shipped name, a JSON path or a "
        "generate:k=v,... spec) and print objective, status, bound, gap and time.",
    )
    exact.add_argument("problem", help="problem family (see `bilevel-bench list`)")
    exact.add_argument("instance", help="shipped name, JSON path, or generate:k=v,... spec")
    exact.add_argument("--time-limit", type=float, default=60.0, help="seconds (default 60)")
    exact.add_argument("--tie-break", choices=("optimistic", "pessimistic"), default="optimistic")
    exact.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a problem option of the family, as a grid's options (repeatable; see `bilevel-bench list`)",
    )
    exact.add_argument("--json", action="store_true", help="print one JSON object")
    exact.set_defaults(handler=_cmd_exact)

    lst = sub.add_parser(
        "list",
        help="list problems, shipped instances and heuristics",
        description="List the problem families, their shipped instances and the heuristics.",
    )
    lst.add_argument("--json", action="store_true", help="print one JSON object")
    lst.set_defaults(handler=_cmd_list)

    report = sub.add_parser(
        "report",
        help="make the report (report.html, report.md, figures) of a results directory",
        description="Build the benchmark report from the result tables in RESULTS_DIR alone (CSV or Parquet) into "
        "RESULTS_DIR/report: a self-contained report.html, report.md and figures/ (PNG, one-column PDF). The "
        "previous report is replaced in one atomic step.",
    )
    report.add_argument("results_dir", type=Path)
    report.add_argument("--problems", action="append", metavar="NAMES", help="only these families (comma-separated)")
    report.add_argument("--heuristics", action="append", metavar="LABELS", help="only these heuristic labels")
    report.add_argument("--format", default="md,html,pdf", help="any of md, html, pdf, comma-separated (default all)")
    report.add_argument("--out", type=Path, default=None, help="where the report goes (default RESULTS_DIR/report)")
    report.set_defaults(handler=_cmd_report)

    ioh = sub.add_parser(
        "export-ioh",
        help="export a results directory in the IOHprofiler format (IOHanalyzer, iohinspector)",
        description="Write the anytime data of RESULTS_DIR in the IOHprofiler format into OUT: one .json per "
        "heuristic and family, .dat files of evaluations and best-so-far (the gap in %%, minimised, or the "
        "leader value). OUT must be new, empty or an earlier export.",
    )
    ioh.add_argument("results_dir", type=Path)
    ioh.add_argument("out", type=Path)
    ioh.add_argument("--target", choices=("gap", "value"), default="gap", help="what is logged (default gap)")
    ioh.add_argument("--problems", action="append", metavar="NAMES", help="only these families (comma-separated)")
    ioh.add_argument("--heuristics", action="append", metavar="LABELS", help="only these heuristic labels")
    ioh.set_defaults(handler=_cmd_export_ioh)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from bilevel_bench.experiments.grid import LARGE_GRID, MAX_JOBS, load_grid
    from bilevel_bench.experiments.runner import run_grid, summary_table

    if args.jobs is not None and (args.jobs == 0 or args.jobs < -1 or args.jobs > MAX_JOBS):
        raise InputError("<cli>", "--jobs", f"must be >= 1 (at most {MAX_JOBS}) or -1, got {args.jobs}")
    grid = load_grid(args.grid)
    out_dir = args.out if args.out is not None else Path("results") / grid.name
    if grid.study is not None:
        if args.dry_run:
            _check_study(grid)
            print(f"study {grid.study}: config checked; it would write into {out_dir}")
            return 0
        return _run_study(grid, out_dir)
    if args.dry_run:
        print(_expansion(grid, out_dir))
        return 0
    total = grid.total_evaluations()
    if total > LARGE_GRID and not args.yes:
        raise InputError(
            grid.source,
            "<grid>",
            f"expands to {len(grid.runs())} runs and {total:,} leader evaluations in all "
            f"(more than {LARGE_GRID:,}); check it with --dry-run and confirm with --yes",
        )
    formats = ("csv",) if args.format == "csv" else ("csv", "parquet")
    run_grid(
        grid, out_dir, args.jobs, args.resume, args.backend, args.scheduler, progress=not args.quiet, formats=formats
    )
    table = summary_table(out_dir)
    print(f"results: {out_dir / 'runs.csv'}, {out_dir / 'history.csv'}, {out_dir / 'exact.csv'}")
    if not table.empty:
        with _wide_pandas():
            print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        failed = int(table["runs"].sum() - table["ok"].sum() - table["timeout"].sum())
        timeouts = int(table["timeout"].sum())
        if timeouts:
            print(
                f"{timeouts} of {int(table['runs'].sum())} runs ended on a clock before their budget (status "
                "timeout): their gaps are not comparable; raise the time limits or run on an idle machine"
            )
        if failed:
            print(f"{failed} runs failed (status failed; the cause is in runs.csv's error column)", file=sys.stderr)
            return 1
    return 0


def _check_study(grid: Any) -> Any:
    from bilevel_bench.experiments.studies import get_study

    return get_study(grid.study, grid.source).check(grid.config, grid.source)


def _expansion(grid: Any, out_dir: Path) -> str:
    """What a grid expands to: runs per family, instance and heuristic, the total, the exact baselines."""
    import pandas as pd

    runs = grid.runs()
    frame = pd.DataFrame(
        [
            {
                "problem": r.family,
                "instance": r.instance_spec,
                "heuristic": r.heuristic.label,
                "max_evals": r.budget.max_evals,
            }
            for r in runs
        ]
    )
    table = frame.groupby(["problem", "instance", "heuristic"], sort=True).agg(
        runs=("max_evals", "size"), max_evals=("max_evals", "first")
    )
    lines = [f"grid {grid.name} ({grid.source}) -> {out_dir}", table.reset_index().to_string(index=False)]
    per_family = frame.groupby("problem").size()
    lines.append("runs per family: " + ", ".join(f"{k} {v}" for k, v in per_family.items()))
    lines.append(f"total: {len(runs)} runs, {grid.total_evaluations():,} leader evaluations, seeds {grid.seeds}")
    exact = grid.exact_tasks()
    lines.append(
        f"exact baselines: {len(exact)}"
        + (": " + ", ".join(f"{t.family}:{t.instance_spec}" for t in exact) if exact else "")
    )
    return "\n".join(lines)


def _run_study(grid: Any, out_dir: Path) -> int:
    from bilevel_bench.experiments.studies import get_study

    study = get_study(grid.study, grid.source)
    settings = study.check(grid.config, grid.source)  # the whole config, before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    print(study.run(settings, out_dir))
    print(f"results: {out_dir}")
    return 0


#: The longest time limit a command accepts (about 4 months; beyond it a typo is likelier than an intent).
MAX_SECONDS = 10**7


def _cmd_exact(args: argparse.Namespace) -> int:
    from bilevel_bench.registry import get_family, resolve_instance

    if not (math.isfinite(args.time_limit) and 0 < args.time_limit <= MAX_SECONDS):
        raise InputError(
            "<cli>",
            "--time-limit",
            f"must be a positive number of seconds up to {MAX_SECONDS:g}, got {args.time_limit}",
        )
    family = get_family(args.problem)
    options = _options(family, args.option)
    instance = resolve_instance(family, args.instance)
    problem = family.make_problem(instance, args.tie_break, **options)
    result = problem.exact(time_limit=args.time_limit).as_dict()
    if args.json:
        print(json.dumps(_json_safe(result)))
    else:
        for key in ("objective", "status", "bound", "gap_pct", "time_s", "method", "notes", "verification"):
            print(f"{key:>12}: {result[key]}")
        print(f"{'solution':>12}: {json.dumps(_json_safe(result['solution']))}")
    return 0


def _options(family: Any, items: list[str]) -> dict[str, Any]:
    """``--option name=value`` pairs, each read as the option's declared type and checked."""
    options: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError("<cli>", "--option", f"expected NAME=VALUE, got {item!r}")
        if name in options:
            raise InputError("<cli>", f"--option {name}", "given twice")
        declared = family.problem_options.get(name)
        if declared is None:
            known = ", ".join(family.problem_options) or "none"
            raise InputError("<cli>", f"--option {name}", f"unknown option of family {family.name!r} (known: {known})")
        options[name] = declared.parse(text.strip(), "<cli>", f"--option {name}")
    return options


def _cmd_list(args: argparse.Namespace) -> int:
    from bilevel_bench.experiments.studies import studies
    from bilevel_bench.heuristics.registry import heuristics
    from bilevel_bench.registry import families

    known = families()
    if args.json:
        payload = {
            "problems": {
                name: {
                    "instances": fam.shipped(),
                    "description": fam.description,
                    "options": {k: _json_safe(o.default) for k, o in fam.problem_options.items()},
                }
                for name, fam in known.items()
            },
            "heuristics": list(heuristics()),
            "studies": list(studies()),
        }
        print(json.dumps(payload))
        return 0
    print("problems:")
    for name, fam in known.items():
        print(f"  {name}: {fam.description}")
        print(f"    shipped instances: {', '.join(fam.shipped()) or '(none)'}")
        try:
            params = ", ".join(fam.generator_parameters())
        except Exception as exc:  # a plugin family whose modules do not import: say so, list the others
            print(f"    generator: unavailable ({type(exc).__name__}: {exc})")
        else:
            print(f"    generator: generate:{params.replace(', ', '=..,')}=..")
        for option, declared in fam.problem_options.items():
            allowed = f" (one of {', '.join(map(str, declared.choices))})" if declared.choices else ""
            print(f"    option {option} = {declared.default!r}{allowed}: {declared.description}")
    print("heuristics:")
    for name, spec in heuristics().items():
        print(f"  {name}: {spec.description}")
    print("studies:")
    for name, study in studies().items():
        print(f"  {name}: {study.description}")
    return 0


def _names(values: list[str] | None) -> list[str] | None:
    """Repeatable, comma-separated names (``--problems a,b --problems c``)."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()] or None


def _cmd_report(args: argparse.Namespace) -> int:
    from bilevel_bench.experiments.report import make_report

    paths = make_report(args.results_dir, _names(args.problems), _names(args.heuristics), args.format, args.out)
    figures = [p for p in paths if p.parent.name == "figures"]
    for path in [p for p in paths if p not in figures]:
        print(path)
    if figures:
        kinds = ", ".join(sorted({p.suffix[1:] for p in figures}))
        print(f"{figures[0].parent}/: {len(figures)} figure files ({kinds})")
    return 0


def _cmd_export_ioh(args: argparse.Namespace) -> int:
    from bilevel_bench.experiments.ioh import export_ioh

    export = export_ioh(args.results_dir, args.out, args.target, _names(args.problems), _names(args.heuristics))
    left = ", ".join(f"{n} {status}" for status, n in sorted(export.left_out.items()))
    print(f"{export.out}: {export.runs} runs in the IOHprofiler format" + (f" (left out: {left})" if left else ""))
    return 0


def _json_safe(value: Any) -> Any:
    """NaN and inf are not JSON: print them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _one_line_warning(
    message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    print(f"warning: {message}", file=sys.stderr)


class _wide_pandas:
    def __enter__(self) -> None:
        import pandas as pd

        self._ctx = pd.option_context("display.width", 200, "display.max_columns", 30)
        self._ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)


if __name__ == "__main__":
    sys.exit(main())
