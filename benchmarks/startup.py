"""Start-up time of the command line: ``--help``, ``--version`` and ``list``, in fresh processes.

Run: python benchmarks/startup.py [--repeats 5]

Each command is started ``repeats`` times, interleaved; the best wall time of each is printed with the load
average. ``list`` must stay under a second on an idle 2-core machine: it imports families, heuristics and
studies lazily (their solvers, pymoo, pandas and matplotlib are imported only when used). For comparison the
script also times a bare ``python -c pass`` and ``import pandas`` / ``import ortools.sat.python.cp_model``,
which ``list`` avoids.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from common import footer, header

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "bilevel-bench --help": [sys.executable, "-m", "bilevel_bench", "--help"],
    "bilevel-bench --version": [sys.executable, "-m", "bilevel_bench", "--version"],
    "bilevel-bench list": [sys.executable, "-m", "bilevel_bench", "list"],
    "import pandas (avoided)": [sys.executable, "-c", "import pandas"],
    "import cp_model (avoided)": [sys.executable, "-c", "import ortools.sat.python.cp_model"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    header("command-line start-up, best of interleaved repeats")
    best = dict.fromkeys(COMMANDS, float("inf"))
    for _ in range(args.repeats):
        for name, argv in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            best[name] = min(best[name], time.perf_counter() - start)
    for name, seconds in best.items():
        print(f"{name:<28}{seconds:8.3f} s")
    print(f"list / bare interpreter: {best['bilevel-bench list'] / best['python -c pass']:.1f}x")
    footer()


if __name__ == "__main__":
    main()
