"""Every malformed input in ``tests/data/bad/`` gets exit status 2 and one clear line naming the file, the
key and what is wrong; no traceback, and no run starts (no results directory appears).

``expected.toml`` (and ``expected_<family>.toml``, one per family, so that families add cases without touching
a shared file) lists, per file, the key the message must name and words it must contain. Grids
(``*.toml``) go through ``bilevel-bench run``; instance files (``<family>_*.json`` and the formats a family
reads, such as CVRPLIB ``.vrp``) through ``bilevel-bench exact <family> FILE``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bilevel_bench.cli import main
from bilevel_bench.registry import families

BAD = Path(__file__).parent / "data" / "bad"
EXPECTED = {
    name: case for path in sorted(BAD.glob("expected*.toml")) for name, case in tomllib.loads(path.read_text()).items()
}


def test_the_corpus_is_complete():
    files = {p.name for p in BAD.iterdir() if p.is_file() and not p.name.startswith("expected")}
    assert files == set(EXPECTED) and len(files) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_input_is_refused_clearly(name, tmp_path, capsys):
    path = BAD / name
    out = tmp_path / "out"
    if path.suffix == ".toml":
        argv = ["run", str(path), "--out", str(out), "--quiet"]
    else:
        family = max((f for f in families() if name.startswith(f + "_")), key=len)
        argv = ["exact", family, str(path)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    message = lines[0]
    expected = EXPECTED[name]
    assert message.startswith(f"error: {path}: {expected['key']}: "), message
    assert expected["words"] in message, message
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists()
