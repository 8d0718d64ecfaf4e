"""The MIBLP follower (CP-SAT and SCIP engines) against independent answers.

- enumeration of every integer y (``follower.brute_force``) on tiny random instances with small objective
  coefficients, so that ties are frequent, in both readings, with coupling rows, rational rows and every
  row type; the graded infeasibility against scipy's LP (HiGHS);
- scipy's MILP (HiGHS) on random followers with continuous and unbounded variables (the SCIP engine);
- the published BOBILib decisions of every shipped instance reproduce the published objective values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from bilevel_bench.problem import OPTIMAL, tie_tolerance
from bilevel_bench.problems.miblp import FAMILY
from bilevel_bench.problems.miblp.follower import Split, brute_force, cpsat_applies
from bilevel_bench.problems.miblp.instance import NO_BOUND, MiblpInstance
from bilevel_bench.problems.miblp.problem import MiblpProblem


def tiny(seed: int, continuous: bool = False) -> MiblpInstance:
    """A random MIBLP with 1-2 leader and 1-3 follower variables, rows of every type, optional coupling rows."""
    rng = np.random.default_rng(seed)
    n_x, n_y = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    n = n_x + n_y
    m_f, m_u = int(rng.integers(1, 4)), int(rng.integers(0, 3))
    m = m_f + m_u
    A = (rng.integers(-3, 4, (m, n)) * (rng.random((m, n)) < 0.75)).astype(float)
    if seed % 5 == 0:
        A = A / 2.0  # rational rows: CP-SAT scales them
    follower_cols = np.sort(rng.choice(n, n_y, replace=False))
    lo = np.zeros(n, dtype=np.int64)
    lo[follower_cols] = rng.integers(-1, 1, n_y)
    hi = lo + rng.integers(1, 4, n)
    hi[np.setdiff1d(np.arange(n), follower_cols)] = 2
    v0 = rng.integers(lo, hi + 1)  # a point the rows are built around, so that many are feasible
    hi = hi.astype(float)
    act = A @ v0
    row_lo, row_hi = np.full(m, -NO_BOUND), np.full(m, NO_BOUND)
    for i in range(m):
        kind = rng.integers(4)
        if kind == 0:
            row_hi[i] = act[i] + rng.integers(-1, 3)
        elif kind == 1:
            row_lo[i] = act[i] - rng.integers(-1, 3)
        elif kind == 2 and i < m_f:
            row_lo[i] = row_hi[i] = act[i]
        else:
            row_lo[i], row_hi[i] = act[i] - rng.integers(0, 2), act[i] + rng.integers(0, 2)
    follower_rows = np.arange(m_f)
    integer = np.ones(n, dtype=bool)
    if continuous:
        integer[follower_cols[rng.random(n_y) < 0.5]] = False
        hi[follower_cols[rng.random(n_y) < 0.3]] = NO_BOUND  # unbounded above
    rows, cols = np.nonzero(A)
    return MiblpInstance(
        name=f"tiny-{seed}",
        seed=seed,
        obj=rng.integers(-2, 3, n).astype(float),
        follower_cols=follower_cols,
        follower_obj=rng.integers(-2, 3, n_y).astype(float),
        follower_rows=follower_rows,
        a_row=rows,
        a_col=cols,
        a_val=A[rows, cols].astype(float),
        row_lower=row_lo,
        row_upper=row_hi,
        col_lower=lo,
        col_upper=hi.astype(float),
        integer=integer,
    )


def leader_points(problem: MiblpProblem) -> list[np.ndarray]:
    lo = problem.mps_lower
    hi = problem.mps_upper
    grids = np.meshgrid(*[np.arange(a, b + 1) for a, b in zip(lo, hi, strict=True)], indexing="ij")
    return [p.astype(float) for p in np.stack(grids, axis=-1).reshape(-1, len(lo))]


def lp_phase_one(problem: MiblpProblem, x: np.ndarray) -> float:
    """The minimum total slack of the follower's rows over the LP relaxation, by scipy's HiGHS."""
    sp = problem.sp
    m, n_y = sp.Gy.shape
    gx = sp.Gx @ x
    c = np.concatenate([np.zeros(n_y), np.ones(2 * m)])
    M = np.hstack([sp.Gy, np.eye(m), -np.eye(m)])
    bounds = [
        (a if np.isfinite(a) else None, b if np.isfinite(b) else None) for a, b in zip(sp.y_lo, sp.y_hi, strict=True)
    ]
    bounds += [(0, None)] * (2 * m)
    A_ub = np.vstack([M, -M])
    b_ub = np.concatenate(
        [np.where(np.isfinite(sp.f_hi), sp.f_hi - gx, 1e30), np.where(np.isfinite(sp.f_lo), gx - sp.f_lo, 1e30)]
    )
    result = linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    assert result.status == 0
    return float(result.fun)


@pytest.mark.parametrize("engine", ["cpsat", "scip"])
def test_follower_matches_enumeration_with_ties(engine):
    """Every leader decision of 120 tiny instances, both tie rules: status, follower value, leader value,
    coupling feasibility and the graded infeasibility agree with enumeration."""
    checked = tied = infeasible = coupled = 0
    for seed in range(120):
        inst = tiny(seed)
        for tie_break in ("optimistic", "pessimistic"):
            problem = MiblpProblem(inst, tie_break=tie_break, follower_engine=engine)
            sp = problem.sp
            assert cpsat_applies(sp) == ""
            for x in leader_points(problem):
                status, fvalue, lvalue, milp_slack = brute_force(sp, x, tie_break)
                evaluation = problem.evaluate(x)
                response = evaluation.follower
                if status != OPTIMAL:
                    assert response.status == "infeasible", (seed, x)
                    lp = lp_phase_one(problem, x)
                    assert response.infeasibility == pytest.approx(lp, abs=1e-6), (seed, x)
                    assert response.infeasibility <= milp_slack + 1e-9
                    infeasible += 1
                    continue
                assert response.status == OPTIMAL, (seed, x, response.detail)
                assert response.value == pytest.approx(fvalue, abs=1e-9), (seed, x)
                assert problem.leader_objective(x, response) == pytest.approx(lvalue, abs=1e-9), (seed, x, tie_break)
                y_all = _optimal_ys(sp, x, fvalue)
                tied += len({float(sp.cy @ y) for y in y_all}) > 1
                if len(sp.coupling) and tie_break == "optimistic":
                    coupled += 1
                    ux = sp.Hx[sp.coupling] @ x
                    ok = [
                        np.all(
                            (sp.Hy[sp.coupling] @ y >= sp.u_lo[sp.coupling] - ux - 1e-9)
                            & (sp.Hy[sp.coupling] @ y <= sp.u_hi[sp.coupling] - ux + 1e-9)
                        )
                        for y in y_all
                    ]
                    y = response.solution["y"]
                    mine = np.all(
                        (sp.Hy[sp.coupling] @ y >= sp.u_lo[sp.coupling] - ux - 1e-9)
                        & (sp.Hy[sp.coupling] @ y <= sp.u_hi[sp.coupling] - ux + 1e-9)
                    )
                    assert bool(mine) == any(ok), (seed, x)
                checked += 1
    assert checked > 700 and tied > 100 and infeasible > 300 and coupled > 100, (checked, tied, infeasible, coupled)


def _optimal_ys(sp: Split, x: np.ndarray, fvalue: float) -> list[np.ndarray]:
    import itertools

    gx = sp.Gx @ x
    out = []
    for point in itertools.product(*[range(int(a), int(b) + 1) for a, b in zip(sp.y_lo, sp.y_hi, strict=True)]):
        y = np.array(point, dtype=float)
        act = sp.Gy @ y
        if np.all(act >= sp.f_lo - gx - 1e-9) and np.all(act <= sp.f_hi - gx + 1e-9) and abs(sp.d @ y - fvalue) < 1e-9:
            out.append(y)
    return out


def scipy_follower(problem: MiblpProblem, x: np.ndarray) -> tuple[str, float, float]:
    """(status, follower value, leader value) of the lexicographic follower by scipy's MILP (HiGHS)."""
    sp = problem.sp
    gx = sp.Gx @ x
    rows = LinearConstraint(sp.Gy, sp.f_lo - gx, sp.f_hi - gx)
    bounds = Bounds(sp.y_lo, sp.y_hi)
    first = milp(sp.d, constraints=[rows], bounds=bounds, integrality=sp.y_int.astype(int))
    if first.status == 4:  # HiGHS: "infeasible or unbounded"; a feasible point decides
        feasible = milp(np.zeros_like(sp.d), constraints=[rows], bounds=bounds, integrality=sp.y_int.astype(int))
        return ("unbounded" if feasible.status == 0 else "infeasible"), math.nan, math.nan
    if first.status == 2:
        return "infeasible", math.nan, math.nan
    if first.status == 3:
        return "unbounded", math.nan, math.nan
    assert first.status == 0, first.message
    cap = LinearConstraint(sp.d[None, :], -np.inf, first.fun + tie_tolerance(first.fun))
    sign = 1.0 if problem.tie_break == "optimistic" else -1.0
    second = milp(sign * sp.cy, constraints=[rows, cap], bounds=bounds, integrality=sp.y_int.astype(int))
    if second.status in (3, 4):  # stage 1's optimum is feasible here: "infeasible or unbounded" is unbounded
        return "unbounded", math.nan, math.nan
    assert second.status == 0, second.message
    return OPTIMAL, float(first.fun), float(sp.cx @ x + sign * second.fun + sp.offset)


def test_scip_follower_matches_scipy_milp_with_continuous_and_unbounded_variables():
    checked = unbounded = 0
    for seed in range(60):
        inst = tiny(1000 + seed, continuous=True)
        for tie_break in ("optimistic", "pessimistic"):
            problem = MiblpProblem(inst, tie_break=tie_break)
            sp = problem.sp
            if len(sp.coupling):  # scipy's reference here has no coupling-row stage
                continue
            assert problem.engine.name == ("CP-SAT" if cpsat_applies(sp) == "" else "SCIP")
            for x in leader_points(problem):
                status, fvalue, lvalue = scipy_follower(problem, x)
                response = problem.follower_response(x)
                assert response.status == status, (seed, x, response.detail)
                if status == OPTIMAL:
                    assert response.value == pytest.approx(fvalue, abs=1e-5)  # the tie band and SCIP's tolerances
                    assert problem.leader_objective(x, response) == pytest.approx(lvalue, abs=1e-5), (
                        seed,
                        x,
                        tie_break,
                    )
                    checked += 1
                unbounded += status == "unbounded"
    assert checked > 150 and unbounded > 5, (checked, unbounded)


def test_optimistic_is_never_worse_than_pessimistic():
    for seed in range(40):
        inst = tiny(seed)
        opt, pes = MiblpProblem(inst), MiblpProblem(inst, tie_break="pessimistic")
        for x in leader_points(opt):
            a, b = opt.evaluate(x), pes.evaluate(x)
            if a.follower.ok and b.follower.ok:
                assert a.value <= b.value + 1e-9


def test_published_decisions_reproduce_published_values():
    """Every shipped BOBILib instance: fixing the library's leader decision, the exact optimistic follower
    gives the library's objective value (and a bilevel-feasible point)."""
    names = FAMILY.shipped()
    assert len(names) == 50
    for name in names:
        inst = MiblpInstance.load(FAMILY.data_dir / f"{name}.json")
        assert inst.published_status == "optimal" and len(inst.published_x)
        evaluation = MiblpProblem(inst).evaluate(inst.published_x)
        assert evaluation.feasible, (name, evaluation.follower.detail)
        assert evaluation.value == pytest.approx(inst.published_objective, abs=1e-6), name


def test_graded_infeasibility_of_denegre_is_the_rows_overflow():
    """DeNegre rows are a x + b y <= r with b >= 0: the least slack is sum_i max(0, a_i x - r_i) (y = 0)."""
    inst = MiblpInstance.load(FAMILY.data_dir / "miblp_20_15_50_0110_10_1.json")
    problem = MiblpProblem(inst)
    sp = problem.sp
    x = problem.bounds()[1]  # the box's upper corner overfills rows
    response = problem.follower_response(x)
    assert response.status == "infeasible"
    overflow = np.maximum(sp.f_lo - sp.Gx @ x, 0.0).sum()  # rows stored as -a x - b y >= -r
    assert overflow > 0 and response.infeasibility == pytest.approx(overflow)
    assert problem.evaluate(x).violation > problem.evaluate(np.minimum(x, 1.0)).violation
