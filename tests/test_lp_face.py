"""Tie-breaking on the follower's exact optimal face: a response may not mix in a slightly worse alternative.

A cap ``c @ y <= z1 + tol`` alone lets stage 2 shift a share tol / (cost difference) of the flow onto an
alternative that is worse by a hair; with a difference of 1e-5 and tol about 1e-6 that is a tenth of the flow,
and the leader's value moves by a tenth of the toll. Complementary slackness with stage 1's duals fixes the
face exactly (lp.optimal_face).
"""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench.lp import LinearProgram, ParametricLP, optimal_face, solve_lexicographic


def parallel_arcs(gap: float) -> LinearProgram:
    """One unit from s to t over two arcs: toll-free of cost 10, or tolled of cost 10 + gap."""
    return LinearProgram(
        c=np.array([10.0, 10.0 + gap]),
        A_ub=np.zeros((0, 2)),
        b_ub=np.zeros(0),
        A_eq=np.array([[1.0, 1.0]]),
        b_eq=np.array([1.0]),
        lb=np.zeros(2),
        ub=np.full(2, np.inf),
    )


TOLL = np.array([0.0, 5.0])  # what the leader earns per unit on each arc


@pytest.mark.parametrize("gap", [1e-5, 1e-4, 1e-3])
@pytest.mark.parametrize("tie_break", ["optimistic", "pessimistic"])
def test_a_slightly_worse_arc_gets_no_flow(gap, tie_break):
    for solution in (
        solve_lexicographic(parallel_arcs(gap), TOLL, tie_break)[0],
        ParametricLP(parallel_arcs(gap), TOLL).solve_lexicographic(tie_break)[0],
    ):
        assert solution.y == pytest.approx([1.0, 0.0], abs=1e-12) and solution.value == pytest.approx(10.0)


@pytest.mark.parametrize(("tie_break", "flow"), [("optimistic", [0.0, 1.0]), ("pessimistic", [1.0, 0.0])])
def test_an_exact_tie_goes_the_leaders_way_or_against_it(tie_break, flow):
    for solution in (
        solve_lexicographic(parallel_arcs(0.0), TOLL, tie_break)[0],
        ParametricLP(parallel_arcs(0.0), TOLL).solve_lexicographic(tie_break)[0],
    ):
        assert solution.y == pytest.approx(flow, abs=1e-12)


def test_the_face_holds_rows_with_duals_tight_and_fixes_priced_variables():
    lb, ub = np.zeros(3), np.array([4.0, np.inf, 2.0])
    face_lb, face_ub, tight = optimal_face(lb, ub, np.array([0.5, 0.0, -0.3]), np.array([0.0, -2.0]), 1e-9)
    assert face_ub.tolist() == [0.0, np.inf, 2.0] and face_lb.tolist() == [0.0, 0.0, 2.0]
    assert tight.tolist() == [False, True]
