"""A deliberately naive, dense, loop-per-row statement of the k-reciprocal Jaccard distance, for
checking the sparse implementation on small inputs (written from the algorithm's description,
not from any upstream code)."""

from __future__ import annotations

import numpy as np


def reciprocal(rank: np.ndarray, i: int, k: int) -> list[int]:
    return [int(j) for j in rank[i, :k] if i in rank[j, :k]]


def dense_jaccard(x: np.ndarray, k1: int, k2: int, *, zhong: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(Jaccard N×N, the distances the weights used). ``zhong``: k1 + 1 neighbours and squared
    distances divided by each row's maximum (re-ranking); otherwise k1 neighbours, raw d²."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    dist = d2 / d2.max(axis=1, keepdims=True) if zhong else d2
    rank = np.argsort(dist, axis=1, kind="stable")
    k_full = min(k1 + 1 if zhong else k1, n)
    k_half = min(int(np.around(k1 / 2)) + 1, n)
    v = np.zeros((n, n))
    for i in range(n):
        r = reciprocal(rank, i, k_full)
        expanded = list(r)
        for c in r:
            rc = reciprocal(rank, c, k_half)
            if len(set(rc) & set(r)) > 2 / 3 * len(rc):
                expanded += rc
        e = np.unique(expanded)
        w = np.exp(-dist[i, e])
        v[i, e] = w / w.sum()
    vqe = np.stack([v[rank[i, : min(k2, n)]].mean(axis=0) for i in range(n)])
    s = np.array([[np.minimum(vqe[i], vqe[j]).sum() for j in range(n)] for i in range(n)])
    return 1.0 - s / (2.0 - s), dist


def dense_rerank(q: np.ndarray, g: np.ndarray, k1: int, k2: int, lam: float) -> np.ndarray:
    jac, dist = dense_jaccard(np.concatenate([q, g]), k1, k2, zhong=True)
    nq = len(q)
    return (1 - lam) * jac[:nq, nq:] + lam * dist[:nq, nq:]
