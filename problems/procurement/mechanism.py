"""IR and IC of a direct mechanism (x(theta), t(theta)), as HM.jl ``GenerateInputs`` builds them, plus ex-post IR.

For supplier i, let W_i[k, s] = f_-i(theta_-i(s)) if supplier i has type k in profile s, else 0. Then the
interim transfer and allocation of type k are W_i t_i and W_i x_i, and the rows are, in the source's order:

- IR (i, k):        W_i[k] t_i - theta^k W_i[k] x_i >= 0                         (n m rows)
- IC (i, k, k'):    W_i[k] t_i - theta^k W_i[k] x_i >= W_i[k'] t_i - theta^k W_i[k'] x_i   (n m (m-1) rows)
- ex-post IR (i, s), only when ``instance.expost_ir``: f_-i(theta_-i(s)) (t_is - theta_i(s) x_is) >= 0
  (n m^n rows, after the IC rows). The weight f_-i puts these rows in the same unit as the interim ones
  (expected money of a supplier of that type: the ex-post rows of (i, k) sum to the interim IR row (i, k)),
  so that violations add up in one currency. Ex-post IR implies interim IR; the interim rows stay.

All are linear in (x, t): :func:`constraint_matrices` returns them as ``Gx @ x + Gt @ t >= 0`` over the flat
vectors in the source's order (x = [x_1(theta^1) .. x_n(theta^1), x_1(theta^2) ..]), HM.jl's bGx and bGt.
"""

from __future__ import annotations

import numpy as np

from bilevel_bench.problems.procurement.instance import ProcurementInstance


def interim_weights(inst: ProcurementInstance) -> np.ndarray:
    """W[i, k, s] = f_-i(theta_-i(s)) where supplier i has type k in profile s, else 0."""
    K = inst.profiles()
    prob = inst.profile_probabilities()
    W = np.zeros((inst.n, inst.m, len(K)))
    for i in range(inst.n):
        own = inst.marginals[i, K[:, i]]
        W[i, K[:, i], np.arange(len(K))] = prob / own
    return W


def constraint_matrices(inst: ProcurementInstance) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(Gx, Gt, names) with IR, IC, then ex-post IR rows, ``Gx @ x + Gt @ t >= 0`` on the flat source-order vectors."""
    W = interim_weights(inst)
    S, n, m = W.shape[2], inst.n, inst.m
    rows_x, rows_t, names = [], [], []

    def row(i: int, coef_t: np.ndarray, coef_x: np.ndarray) -> None:
        gx, gt = np.zeros((S, n)), np.zeros((S, n))
        gx[:, i], gt[:, i] = coef_x, coef_t
        rows_x.append(gx.ravel())
        rows_t.append(gt.ravel())

    for i in range(n):
        for k in range(m):
            row(i, W[i, k], -inst.types[k] * W[i, k])
            names.append(f"IR[{i},{k}]")
    for i in range(n):
        for k in range(m):
            for k2 in range(m):
                if k2 != k:
                    row(i, W[i, k] - W[i, k2], -inst.types[k] * (W[i, k] - W[i, k2]))
                    names.append(f"IC[{i},{k},{k2}]")
    if inst.expost_ir:
        K = inst.profiles()
        for i in range(n):
            for s in range(S):
                weight = np.zeros(S)
                weight[s] = W[i, K[s, i], s]
                row(i, weight, -inst.types[K[s, i]] * weight)
                names.append(f"EPIR[{i},{s}]")
    return np.array(rows_x), np.array(rows_t), names


def slacks(inst: ProcurementInstance, X: np.ndarray, T: np.ndarray) -> np.ndarray:
    """IR, IC (and ex-post IR) slacks (>= 0 when satisfied) of allocations X and transfers T, both [profiles, n]."""
    Gx, Gt, _ = constraint_matrices(inst)
    return np.asarray(Gx @ np.ravel(X) + Gt @ np.ravel(T))


def shortfall(inst: ProcurementInstance, X: np.ndarray, T: np.ndarray, tol: float = 0.0) -> float:
    """Total IR/IC shortfall sum_rows max(0, -slack), rows short by at most ``tol`` counted as met."""
    short = -slacks(inst, X, T)
    return float(np.sum(np.where(short > tol, short, 0.0)))


def interim(inst: ProcurementInstance, X: np.ndarray) -> np.ndarray:
    """[n, m] expected allocation (or transfer) of supplier i with type k: sum_s W[i, k, s] X[s, i]."""
    return np.asarray(np.einsum("iks,si->ik", interim_weights(inst), X))


def expected_cost(inst: ProcurementInstance, X: np.ndarray, T: np.ndarray) -> float:
    """The buyer's expected cost E[sum_i t_i + 1/2 x'Qx + q@x + k] (minus the source's objective)."""
    Q, q, k = inst.quadratic()
    per_profile = T.sum(axis=1) + 0.5 * np.einsum("si,ij,sj->s", X, Q, X) + X @ q + k
    return float(inst.profile_probabilities() @ per_profile)
