"""The gap to a reference, in both senses, with the tie band: values equal up to the follower's tie
tolerance have gap 0 (hand-computed cases)."""

from __future__ import annotations

import math

import pytest

from bilevel_bench.problem import tie_tolerance
from bilevel_bench.problems.inventory.instance import generate
from bilevel_bench.problems.inventory.problem import InventoryProblem


def _problem(sense: str) -> InventoryProblem:
    problem = InventoryProblem(generate(n=1, T=2, q=1, seed=1))
    problem.sense = sense  # instance attribute: only gap_pct reads it here
    return problem


@pytest.mark.parametrize(
    ("sense", "value", "reference", "gap"),
    [
        ("max", 90.0, 100.0, 10.0),  # short of a maximum by 10 %
        ("max", 110.0, 100.0, -10.0),  # beats the reference: negative, never hidden
        ("min", 110.0, 100.0, 10.0),
        ("min", 90.0, -100.0, 190.0),  # a minimum of -100 missed by 190: |reference| in the denominator
        ("max", 100.0 + 1.5 * tie_tolerance(100.0), 100.0, 0.0),  # inside the tie band: equal
        (
            "max",
            100.0 + 3.0 * tie_tolerance(100.0),
            100.0,
            -3.0 * tie_tolerance(100.0),
        ),  # outside it: 100 * shortfall / 100
        ("max", math.nan, 100.0, math.nan),
        ("min", 1.0, 0.0, 100.0),  # a reference of 0 (BOBILib knapsack): one unit off is 100 %, not 1e11 %
        ("max", 0.25, 0.5, 25.0),  # |reference| < 1: the shortfall in leader units, times 100
        ("min", -1.5, -2.0, 25.0),  # |reference| >= 1: relative, as everywhere else
    ],
)
def test_gap_pct(sense, value, reference, gap):
    result = _problem(sense).gap_pct(value, reference)
    if math.isnan(gap):
        assert math.isnan(result)
    else:
        assert result == pytest.approx(gap, rel=1e-9, abs=1e-15)
