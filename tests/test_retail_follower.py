"""The vectorised follower (numpy enumeration) against CP-SAT per customer, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench.problems.retail.follower import choice_table, solve_all, solve_cpsat_customer, to_cents
from bilevel_bench.problems.retail.instance import generate


def _tie_prone(seed: int, K: int = 40):
    """An instance with money in whole units and many shared values, so that ties are frequent."""
    rng = np.random.default_rng(seed)
    S, P = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    inst = generate(K=K, S=S, P=P, R=2, seed=seed)
    z_base = rng.integers(2, 6, P).astype(float)
    conflicts = []
    for k in rng.choice(K, size=K // 4, replace=False):
        a, b = rng.choice(S + 1, size=2, replace=False)
        conflicts.append((int(k), int(a), int(b)))
    inst = inst.replace(
        u=np.where(inst.cart, z_base[None, :] + rng.integers(0, 3, (K, P)), 0.0),
        I=np.where(inst.avail, rng.integers(0, 4, (K, S)), 0).astype(float),
        h=rng.integers(-1, 2, P).astype(float),
        z_base=z_base,
        zmax=z_base,
        avail=inst.avail | (rng.uniform(size=(K, S)) < 0.4),
        conflicts=np.array(conflicts, dtype=np.int64).reshape(-1, 3),
    )
    inst = inst.replace(I=np.where(inst.avail, inst.I + 1, 0.0))
    inst.validate("test")
    return inst


@pytest.mark.parametrize("tie_break", ["optimistic", "pessimistic"])
def test_vectorised_follower_agrees_with_cpsat_on_5000_cases_per_tie_rule(tie_break):
    """5,000 (customer, discount) cases per tie rule, 10,000 in all, drawn independently for each rule."""
    rng = np.random.default_rng(7 if tie_break == "optimistic" else 8)
    cases = ties = differs = 0
    for seed in range(25):
        inst = _tie_prone(seed)
        table = choice_table(inst)
        zmax = to_cents(inst.zmax)
        for draw in range(5):
            if draw < 3:  # whole units: many exact ties
                z = rng.integers(0, inst.zmax.astype(int) + 1, (inst.S, inst.P)) * 100
            else:  # any cent
                z = rng.integers(0, zmax + 1, (inst.S, inst.P))
            fast = solve_all(table, z, tie_break)
            other = solve_all(table, z, "pessimistic" if tie_break == "optimistic" else "optimistic")
            values = table.const + np.einsum("msp,sp->m", table.takes, z)[None, :]
            ties += int(np.sum((values == values.max(axis=1, keepdims=True)).sum(axis=1) > 1))
            differs += int(np.sum(fast.index != other.index))
            for k in range(inst.K):
                index, option, value, revenue = solve_cpsat_customer(inst, k, z, tie_break)
                assert (index, value, revenue) == (fast.index[k], fast.value[k], fast.revenue[k]), (seed, k, z)
                assert np.array_equal(option, fast.option[k])
                cases += 1
    assert cases == 5000
    assert ties > 500  # ties are common, so the tie rule is really exercised
    assert differs > 100  # and optimistic and pessimistic really differ on them


def test_conflicts_remove_choices():
    """A conflict (k, home, s) forbids mixing home and store s for that customer: checked by hand."""
    inst = generate(K=1, S=1, P=2, R=1, seed=0)
    inst = inst.replace(cart=np.ones((1, 2), dtype=bool), avail=np.ones((1, 1), dtype=bool),
                        w=np.ones((1, 2)), u=np.full((1, 2), 50.0), I=np.zeros((1, 1)))
    inst.validate("test")
    # choices (home/store per product): 00, 01, 10, 11; with the conflict only 00 and 11 remain
    banned = inst.replace(conflicts=np.array([[0, 0, 1]]))
    assert (choice_table(inst).const[0] > -(10**15)).tolist() == [True, True, True, True]
    assert (choice_table(banned).const[0] > -(10**15)).tolist() == [True, False, False, True]
