"""Shared fixtures: small hand-built instances whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from bilevel_bench.problems.inventory.instance import InventoryInstance, seed_instance


@pytest.fixture(scope="session")
def seed() -> InventoryInstance:
    return seed_instance()


@pytest.fixture
def tie_instance() -> InventoryInstance:
    """One product, one period: x = 10 forced on a customer who needs d >= 5 (p = 10).

    The customer's cost is 10 d = 50 whatever it does with the 5 extra units: hold them (I = 5 + S <= 8)
    and subcontract S in [0, 3]. Optimistic: S = 0, I = 5, leader F = 50 - 2*10 - 1*5 = 25.
    Pessimistic: S = 3, I = 8, F = 50 - 20 - 8 - 3*3 = 13.
    """
    one = np.ones((1, 1))
    return InventoryInstance(
        name="tie",
        seed=None,
        p=10 * one,
        c=2 * one,
        h=1 * one,
        s=3 * one,
        f=0 * one,
        r=np.zeros(1),
        y=np.ones(1),
        B=np.ones(1),
        Ibar=np.array([100.0]),
        a=np.ones((1, 1, 1)),
        b=np.array([[20.0]]),
        Dd=np.ones((1, 1)),
        Dv=np.zeros((1, 1)),
        d0=np.array([5.0]),
        vmax=np.zeros((1, 1)),
        inventory_cap=8.0,
        subcontract_cap=6.0,
    )
