"""Frozen copy of ``reidkit.adapters.evaluation.rerank`` as it was before re-ranking learned to
work in blocks of query rows (issue 25): the blocked implementation must give these values to
the bit, ties included. Not maintained: only the tests read it. ``_BLOCK`` is a module global
so tests can force many blocks, as they do on the real module."""

from __future__ import annotations

import numpy as np

from reidkit.adapters.clustering.overlap import min_sums_of_rows
from reidkit.adapters.clustering.reciprocal import encode, half_size, query_expansion, self_first

# Rows per distance block: large enough for an efficient GEMM, small enough (16 MB) that the
# element-wise passes over a block stay cheap.
_BLOCK = 2048



def rerank(
    query_feats: np.ndarray,
    gallery_feats: np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> np.ndarray:
    """(Q, G) float32 re-ranked distances between the rows of ``query_feats`` and ``gallery_feats``."""
    check_parameters(k1, k2, lambda_value)
    q = np.ascontiguousarray(query_feats, dtype=np.float32)
    g = np.ascontiguousarray(gallery_feats, dtype=np.float32)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"query {q.shape} and gallery {g.shape} features must be (N, D) with the same D")
    num_q = q.shape[0]
    if num_q == 0 or g.shape[0] == 0:
        return np.zeros((num_q, g.shape[0]), dtype=np.float32)
    x = np.concatenate([q, g])
    n = x.shape[0]
    k_full = min(k1 + 1, n)
    distances, indices, row_max, out = _neighbour_pass(x, num_q, k_full)
    distances, indices = self_first(distances, indices)
    # All-zero rows (every point identical) have no scale: their original distances stay 0.
    scale = 1.0 / np.where(row_max > 0, row_max, 1.0)
    v = encode(x, distances, indices, k_full, min(half_size(k1), n), row_scale=scale)
    vqe = query_expansion(v, indices, min(k2, n))
    for rows, overlap in min_sums_of_rows(vqe, np.arange(num_q), other=vqe[num_q:]):
        s = overlap.astype(np.float32)
        jaccard = np.float32(1.0) - s / (np.float32(2.0) - s)
        original = out[rows] * scale[rows, None].astype(np.float32)
        out[rows] = jaccard * np.float32(1.0 - lambda_value) + original * np.float32(lambda_value)
    return out


def check_parameters(k1: int, k2: int, lambda_value: float) -> None:
    if k1 < 1:
        raise ValueError(f"k1 must be >= 1, got {k1}")
    if k2 < 1:
        raise ValueError(f"k2 must be >= 1, got {k2}")
    if not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"lambda_value must be in [0, 1], got {lambda_value}")


class KReciprocalReranker:
    """``rerank`` with its parameters bound: ``reranker(query_feats, gallery_feats) -> (Q, G)``."""

    def __init__(self, k1: int = 20, k2: int = 6, lambda_value: float = 0.3) -> None:
        check_parameters(k1, k2, lambda_value)  # fail at construction, not at the first evaluation
        self.k1, self.k2, self.lambda_value = k1, k2, lambda_value

    def __call__(self, query_feats: np.ndarray, gallery_feats: np.ndarray) -> np.ndarray:
        return rerank(query_feats, gallery_feats, self.k1, self.k2, self.lambda_value)


def _neighbour_pass(
    x: np.ndarray, num_q: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pass over the upper-triangle blocks of the squared distances.

    Returns the k nearest (squared distance, index) of every row, nearest first, every row's
    maximum squared distance, and the raw Q × G squared distances.
    numpy throughout: its single-threaded element-wise passes beat torch's two threads on
    these 16 MB blocks (2-4x when the cores are shared), and the GEMM is BLAS either way.
    """
    n = x.shape[0]
    sq_norms = np.einsum("ij,ij->i", x, x)
    edges = [*range(0, n, _BLOCK), n]
    if len(edges) > 2 and edges[-1] - edges[-2] < k:
        # A last block narrower than k could not bound its rows: fold it into the one before.
        del edges[-2]
    spans = list(zip(edges[:-1], edges[1:], strict=True))
    row_max = np.zeros(n, dtype=np.float32)
    bound = np.full(n, np.inf, dtype=np.float32)
    out = np.empty((num_q, n - num_q), dtype=np.float32)
    # Survivors by (row block, column block), concatenated in that order at the end.
    parts: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def block(ia: int, ib: int) -> np.ndarray:
        (a, ea), (b, eb) = spans[ia], spans[ib]
        d = x[a:ea] @ x[b:eb].T
        d *= -2.0
        d += sq_norms[a:ea, None]
        d += sq_norms[None, b:eb]
        _copy_query_gallery(d, a, b, num_q, out)
        np.maximum(row_max[a:ea], d.max(axis=1), out=row_max[a:ea])
        np.maximum(row_max[b:eb], d.max(axis=0), out=row_max[b:eb])
        return d

    def keep(d: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        flat = np.flatnonzero(mask)
        r, c = np.divmod(flat, d.shape[1])
        return r.astype(np.int32), c.astype(np.int32), d.ravel()[flat]

    # Diagonal blocks first: each row's k smallest there (exactly k, whatever the ties), whose
    # largest bounds the row's true k-th neighbour distance.
    for ia, (a, _) in enumerate(spans):
        d = block(ia, ia)
        rows = d.shape[0]
        if d.shape[1] > k:
            cols = np.argpartition(d, k - 1, axis=1)[:, :k]
        else:
            cols = np.broadcast_to(np.arange(d.shape[1]), (rows, d.shape[1]))
        values = np.take_along_axis(d, cols, axis=1)
        if d.shape[1] >= k:
            bound[a : a + rows] = values.max(axis=1)
        r = np.repeat(np.arange(rows, dtype=np.int32), cols.shape[1])
        parts[ia, ia] = (r + a, cols.ravel().astype(np.int32) + a, values.ravel())
    # Off the diagonal only what is strictly closer than the bound can matter (a tie with the
    # k-th distance cannot displace a candidate already held), which also keeps the survivors
    # few when many points coincide.
    for ia, (a, ea) in enumerate(spans):
        for ib in range(ia + 1, len(spans)):
            b, eb = spans[ib]
            d = block(ia, ib)
            r, c, v = keep(d, d < bound[a:ea, None])
            parts[ia, ib] = (r + a, c + b, v)
            r, c, v = keep(d, d < bound[None, b:eb])
            parts[ib, ia] = (c + b, r + a, v)
    np.maximum(out, 0.0, out=out)  # float32 cancellation can leave tiny negatives
    ordered = [parts[key] for key in sorted(parts)]
    rows = np.concatenate([p[0] for p in ordered])
    cols = np.concatenate([p[1] for p in ordered])
    vals = np.maximum(np.concatenate([p[2] for p in ordered]), 0.0)
    distances, indices = _smallest_per_row(rows, cols, vals, n, k)
    return distances, indices, row_max.astype(np.float64), out


def _copy_query_gallery(d: np.ndarray, a: int, b: int, num_q: int, out: np.ndarray) -> None:
    """Copy the part of block (a, b) with query rows and gallery columns into ``out``."""
    rows_end = min(a + d.shape[0], num_q)
    cols_start = max(b, num_q)
    cols_end = b + d.shape[1]
    if a < rows_end and cols_start < cols_end:
        out[a:rows_end, cols_start - num_q : cols_end - num_q] = d[: rows_end - a, cols_start - b :]


def _smallest_per_row(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest candidates of each row, ordered by value (equal values keep their input
    order, so the result is deterministic)."""
    # float32 >= 0 orders like its int32 bit pattern, so (row, value) packs into one int64 key.
    # (abs turns a -0.0, whose sign bit would spill into the row bits, into +0.0.)
    key = (rows.astype(np.int64) << 32) | np.abs(vals).view(np.int32).astype(np.int64)
    order = np.argsort(key, kind="stable")
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(n))
    rank = np.arange(len(rows)) - starts[rows]
    kept = rank < k
    indices = np.full((n, k), -1, dtype=np.int64)
    distances = np.full((n, k), np.inf, dtype=np.float32)
    indices[rows[kept], rank[kept]] = cols[kept]
    distances[rows[kept], rank[kept]] = vals[kept]
    return distances, indices
