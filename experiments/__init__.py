"""Experiments: grids declared as TOML data (``grid.py``), run in parallel with resume (``runner.py``)."""
