"""One installed namespace: nothing generic at the top of site-packages, and a user's own ``problems/``,
``heuristics/`` or ``experiments/`` packages cannot shadow ours."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_the_wheel_installs_only_bilevel_bench(tmp_path):
    """``pip install .`` installs what the wheel holds: one package, with the folders as its subpackages."""
    source = tmp_path / "source"  # pip builds in the tree it is given: not in ours
    ignore = shutil.ignore_patterns(".git", "build", "results", ".ci-venv", "*.egg-info", "__pycache__", "tests")
    shutil.copytree(ROOT, source, symlinks=True, ignore=ignore)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("bilevel_bench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"bilevel_bench"}
    for package in ("problems/inventory", "heuristics", "experiments/studies"):
        assert f"bilevel_bench/{package}/__init__.py" in names
    assert "bilevel_bench/problems/inventory/data/seed.json" in names  # shipped data travels along
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "inventory = bilevel_bench.problems.inventory:FAMILY" in text and "ga = bilevel_bench.heuristics" in text


def test_nothing_generic_is_importable_at_top_level(tmp_path):
    code = "import importlib.util as u; print([n for n in ('problems', 'heuristics', 'experiments') if u.find_spec(n)])"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_a_users_own_packages_do_not_shadow_ours(tmp_path):
    """A working directory with its own experiments/, problems/ and heuristics/ packages whose import fails."""
    for name in ("experiments", "problems", "heuristics"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise RuntimeError('the user\\'s own {name} was imported')\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(tmp_path)}
    listed = subprocess.run(
        [sys.executable, "-m", "bilevel_bench", "list", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert "inventory" in json.loads(listed.stdout)["problems"]
    solved = subprocess.run(
        [sys.executable, "-m", "bilevel_bench", "exact", "inventory", "generate:n=1,T=2,q=1,seed=3", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert solved.returncode == 0 and json.loads(solved.stdout)["status"] == "optimal", solved.stderr
    script = tmp_path / "use_api.py"  # a script beside the user's packages: its folder comes first on sys.path
    script.write_text(
        "import bilevel_bench as bb\n"
        "p = bb.load_problem('inventory', 'generate:n=1,T=2,q=1,seed=3')\n"
        "r = bb.solve(p, 'ga', params={'pop_size': 10}, max_evals=50, seed=1)\n"
        "print(r.verified, bb.exact(p).status)\n"
    )
    used = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert used.returncode == 0 and used.stdout.split() == ["True", "optimal"], used.stderr
