"""The vectorised follower (numpy enumeration) against CP-SAT per customer: the optimal sets, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench.problems.retail.follower import choice_table, optimal_set_cpsat, solve_all, to_cents
from bilevel_bench.problems.retail.instance import generate


def tie_prone(seed: int, K: int = 40):
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


def test_vectorised_optimal_sets_agree_with_cpsat_on_2000_cases():
    """2,000 (customer, discount) cases: the optimum and the whole set of optimal choices agree."""
    rng = np.random.default_rng(7)
    cases = tied = 0
    for seed in range(25):
        inst = tie_prone(seed, K=40)
        table = choice_table(inst)
        zmax = to_cents(inst.zmax)
        for draw in range(2):
            if draw == 0:  # whole units: many exact ties
                z = rng.integers(0, inst.zmax.astype(int) + 1, (inst.S, inst.P)) * 100
            else:  # any cent
                z = rng.integers(0, zmax + 1, (inst.S, inst.P))
            fast = solve_all(table, z)
            for k in range(inst.K):
                best, members = optimal_set_cpsat(inst, k, z)
                assert best == fast.best[k], (seed, k, z)
                assert members == np.flatnonzero(fast.optimal[k]).tolist(), (seed, k, z)
                assert fast.index[k] == members[0]
                tied += len(members) > 1
                cases += 1
    assert cases == 2000
    assert tied > 250  # ties are common, so the sets are really compared


def test_optimal_values_by_hand():
    """One customer, one store, one product: f(home) = u - zb, f(store) = u - zb + z + h - I."""
    inst = generate(K=1, S=1, P=1, R=1, seed=0)
    inst = inst.replace(
        u=np.array([[10.0]]),
        z_base=np.array([6.0]),
        zmax=np.array([3.0]),
        h=np.array([0.5]),
        I=np.array([[2.0]]),
        avail=np.ones((1, 1), dtype=bool),
    )
    inst.validate("test")
    table = choice_table(inst)
    for z, best, members in ((149, 400, [0]), (150, 400, [0, 1]), (151, 401, [1])):
        opt = solve_all(table, np.array([[z]]))
        assert (opt.best[0], np.flatnonzero(opt.optimal[0]).tolist()) == (best, members)


def test_conflicts_remove_choices():
    """A conflict (k, home, s) forbids mixing home and store s for that customer: checked by hand."""
    inst = generate(K=1, S=1, P=2, R=1, seed=0)
    inst = inst.replace(
        cart=np.ones((1, 2), dtype=bool),
        avail=np.ones((1, 1), dtype=bool),
        w=np.ones((1, 2)),
        u=np.full((1, 2), 50.0),
        I=np.zeros((1, 1)),
    )
    inst.validate("test")
    # choices (home/store per product): 00, 01, 10, 11; with the conflict only 00 and 11 remain
    banned = inst.replace(conflicts=np.array([[0, 0, 1]]))
    assert (choice_table(inst).const[0] > -(10**15)).tolist() == [True, True, True, True]
    assert (choice_table(banned).const[0] > -(10**15)).tolist() == [True, False, False, True]


@pytest.mark.parametrize("seed", range(3))
def test_all_home_is_always_a_choice(seed):
    """The follower is never infeasible: choice 0 (everything home) is valid for every customer."""
    inst = tie_prone(seed)
    assert bool(np.all(choice_table(inst).const[:, 0] > -(10**15)))
