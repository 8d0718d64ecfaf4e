"""The README's code runs: the Python API example, and the plugin of "Writing a plugin" installed as an outside
distribution (its entry points and its module, taken verbatim from the README) and used by the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"


def readme_block(tag: str) -> str:
    """The fenced code block right after ``<!-- README-TEST: tag -->``."""
    match = re.search(rf"<!-- README-TEST: {re.escape(tag)} -->\s*```\w*\n(.*?)```", README.read_text(), re.DOTALL)
    assert match, f"README has no block tagged {tag}"
    return match.group(1)


def install_plugin(site: Path, name: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]) -> Path:
    """A distribution as pip would leave it: the modules and a dist-info with METADATA and entry_points.txt."""
    for relative, code in modules.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = []
    for group, entries in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{key} = {value}" for key, value in entries.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    return site


def cli(*args: str, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, "-m", "bilevel_bench", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_the_python_api_example_runs(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(readme_block("api"))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[1] == "True"  # the GA's value re-verified
    status, objective, _ = lines[-3].split()
    assert status == "optimal" and abs(float(objective) - 234652.3156) < 1e-3  # the seed's proven optimum
    assert "GA gap to the proven optimum" in lines[-2]


def readme_plugin(site: Path) -> Path:
    config = tomllib.loads(readme_block("plugin-entry-points"))
    groups = config["project"]["entry-points"]
    return install_plugin(site, "bb-toy", groups, {"bb_toy/__init__.py": readme_block("plugin-module")})


def test_the_readme_plugin_is_listed_solved_and_run(tmp_path):
    site = readme_plugin(tmp_path / "site")
    listed = cli("list", "--json", cwd=tmp_path, pythonpath=site)
    assert listed.returncode == 0, listed.stderr
    payload = json.loads(listed.stdout)
    assert "toy" in payload["problems"] and "toy_sweep" in payload["heuristics"]
    solved = cli("exact", "toy", "generate:n=5,seed=1", "--json", cwd=tmp_path, pythonpath=site)
    assert solved.returncode == 0, solved.stderr
    result = json.loads(solved.stdout)
    # valuations 47, 51, 75, 95, 4 (seed 1): price 47 sells to four, 188 beats 4*5, 51*3, 75*2 and 95
    assert result["status"] == "optimal" and result["verification"] == "agree"
    assert result["solution"]["x"] == [47.0] and result["objective"] == 188.0
    grid = tmp_path / "toy.toml"
    grid.write_text(
        'name = "toy"\nseeds = [1, 2]\n[budget]\nmax_evals = 60\n[[problems]]\nfamily = "toy"\n'
        'instances = ["generate:n=5,seed=1"]\n[[heuristics]]\nname = "toy_sweep"\n[[heuristics]]\nname = "ga"\n'
        "params = { pop_size = 10 }\n"
    )
    ran = cli("run", str(grid), "--out", str(tmp_path / "out"), "--quiet", cwd=tmp_path, pythonpath=site)
    assert ran.returncode == 0, ran.stderr
    runs = (tmp_path / "out" / "runs.csv").read_text()
    assert runs.count("toy|generate:n=5,seed=1|toy_sweep|") == 2 and runs.count("|ga|") == 2
    assert ",proven_optimal," in runs


def test_broken_plugins_are_one_line_each_and_the_rest_still_loads(tmp_path):
    site = readme_plugin(tmp_path / "site")
    install_plugin(
        site,
        "bb-broken",
        {
            "bilevel_bench.families": {
                "ghost": "bb_no_such_module:FAMILY",  # import error
                "hollow": "bb_broken:NOTHING",  # missing attribute
                "inventory": "bb_broken:TOY_AGAIN",  # a name taken by a shipped family
            },
            "bilevel_bench.heuristics": {"wrong": "bb_broken:NOT_A_HEURISTIC"},  # wrong type
        },
        {"bb_broken/__init__.py": "from bb_toy import FAMILY as TOY_AGAIN\nNOT_A_HEURISTIC = 42\n"},
    )
    listed = cli("list", "--json", cwd=tmp_path, pythonpath=site)
    assert listed.returncode == 0, listed.stderr
    warnings = [line for line in listed.stderr.splitlines() if line]
    assert len(warnings) == 4 and all(line.startswith("warning: plugin ") for line in warnings), listed.stderr
    text = "\n".join(warnings)
    assert (
        "'ghost' (entry point bilevel_bench.families: ghost = bb_no_such_module:FAMILY from distribution bb-broken"
        in text
    )
    assert "ModuleNotFoundError" in text and "'hollow'" in text and "AttributeError" in text
    assert "'inventory'" in text and "named 'toy', not 'inventory'" in text
    assert "'wrong'" in text and "expected a bilevel_bench.heuristics.registry.Heuristic, got int" in text
    payload = json.loads(listed.stdout)
    assert {"inventory", "retail", "toy"} <= set(payload["problems"]) and "ghost" not in payload["problems"]
    assert "ga" in payload["heuristics"] and "toy_sweep" in payload["heuristics"]
