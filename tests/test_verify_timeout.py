"""An exact result whose re-evaluation runs out of time is labelled so, never reported as proven."""

from __future__ import annotations

import math

import pytest

from bilevel_bench import limits, verify
from bilevel_bench.api import load_problem
from bilevel_bench.problem import LIMIT, Evaluation, ExactResult, ExactStatus, FollowerResponse


def _cut(problem, x, **overrides):
    """A re-evaluation stopped by its deadline (as exact routing of a large retail instance is)."""
    assert limits.time_left() <= 5.0  # the re-evaluation runs under the limit verify_exact was given
    return Evaluation(math.nan, 1e6, FollowerResponse(LIMIT, math.nan, {}, 1, 5.0, "cut by the deadline"))


@pytest.mark.parametrize(
    ("status", "objective", "expected"),
    [
        (ExactStatus.OPTIMAL, 234652.3156, ExactStatus.FEASIBLE),  # a proof we could not check is no proof
        (ExactStatus.FEASIBLE, 200000.0, ExactStatus.FEASIBLE),
        (ExactStatus.FEASIBLE, math.nan, ExactStatus.ERROR),  # no value at all
    ],
)
def test_a_reevaluation_cut_by_its_limit_is_labelled_timeout(monkeypatch, status, objective, expected):
    problem = load_problem("inventory", "seed")
    monkeypatch.setattr(verify, "reevaluate", _cut)
    x = [0.0] * len(problem.bounds()[0])
    result = verify.verify_exact(problem, ExactResult(objective, 250000.0, status, 1.0, {"x": x}, "test"), 5.0)
    assert result.verification == "timeout"
    assert result.status is expected
    assert "did not finish within its 5 s limit" in result.notes
    assert result.objective == objective or (math.isnan(objective) and math.isnan(result.objective))
