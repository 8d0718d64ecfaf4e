"""Imports point down only: core -> problems -> heuristics -> experiments -> interfaces (api, cli).

Every module of the installed package is parsed with ``ast`` (imports inside functions included) and each
import of a ``bilevel_bench`` module is checked against the layers. The one exception is documented in
``bilevel_bench/__init__.py``: its module ``__getattr__`` hands the public API over from ``bilevel_bench.api``
on first use (so ``import bilevel_bench`` stays light).
"""

from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path

import bilevel_bench

ROOT = Path(bilevel_bench.__file__).parent
LAYERS = {"core": 0, "problems": 1, "heuristics": 2, "experiments": 3, "interface": 4}
INTERFACES = {"bilevel_bench.api", "bilevel_bench.cli", "bilevel_bench.__main__"}
ALLOWED = {("bilevel_bench", "bilevel_bench.api")}  # the lazy re-export of the API (see the module docstring)


def layer(module: str) -> str:
    parts = module.split(".")
    if module in INTERFACES:
        return "interface"
    if len(parts) > 1 and parts[1] in ("problems", "heuristics", "experiments"):
        return parts[1]
    return "core"


def modules() -> dict[str, Path]:
    found = {}
    paths = [Path(d) / f for d, _, files in os.walk(ROOT, followlinks=True) for f in files if f.endswith(".py")]
    for path in sorted(paths):  # the walk follows the links to problems/, heuristics/, experiments/
        relative = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(relative.parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolved against the module's package
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                base = importlib.util.resolve_name("." * node.level + base, package)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "bilevel_bench" or name.startswith("bilevel_bench.")}


def known(name: str, names: set[str]) -> str | None:
    """The module an import refers to (``from pkg import name`` may name a module or an attribute)."""
    while name:
        if name in names:
            return name
        name = name.rpartition(".")[0]
    return None


def upward_edges() -> list[tuple[str, str]]:
    found = modules()
    edges = []
    for module, path in found.items():
        for imported in imports(path, module):
            target = known(imported, set(found))
            if target is None or (module, target) in ALLOWED:
                continue
            if LAYERS[layer(target)] > LAYERS[layer(module)]:
                edges.append((module, target))
    return sorted(set(edges))


def test_every_layer_has_modules():
    assert {layer(m) for m in modules()} == set(LAYERS)
    assert len(modules()) > 60


def test_no_module_imports_a_higher_layer():
    assert upward_edges() == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The check itself can fail: a core module that imported the runner would be caught."""
    fake = tmp_path / "bilevel_bench"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "evil.py").write_text("def f():\n    from bilevel_bench.experiments.runner import run_grid\n")
    (fake / "experiments").mkdir()
    (fake / "experiments" / "__init__.py").write_text("")
    (fake / "experiments" / "runner.py").write_text("run_grid = None\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", fake)
    assert upward_edges() == [("bilevel_bench.evil", "bilevel_bench.experiments.runner")]
