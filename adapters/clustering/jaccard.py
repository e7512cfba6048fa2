"""k-reciprocal Jaccard distance (OpenUnReID / SpCL / Cluster Contrast semantics), as a sparse graph.

d(i, j) = 1 - S / (2 - S), S = Σ_k min(V_i[k], V_j[k]) over the query-expanded k-reciprocal
encodings (``reciprocal.py``), negative values clipped to 0. Pairs whose encodings share no
column are at exactly 1.0 and are never stored: that is what makes the result sparse.

Upstream semantics kept on purpose (``/work/shared/golden/openunreid/README.md``): exact L2 kNN
of **k1** columns including the point itself (not k1 + 1), half sets of round(k1/2) + 1 columns,
softmax(-d²) weights without max-normalisation, query expansion over the first k2 neighbours.

Two shapes of result, both symmetric float32 CSR with the diagonal stored:

- ``max_distance=None``: every pair sharing a column (what the golden dense matrix holds below
  1.0). Cost grows with the number of such pairs: for tests and small N.
- ``max_distance=eps``: only pairs at distance <= eps, the "radius graph" DBSCAN needs. Pairs are
  first screened with an exact upper bound of S (``overlap.candidate_pairs``), so the cost is
  one sparse product plus a merge per surviving pair, and memory stays O(N·k).

Rows of the returned graph are ordered by distance (ties in a fixed order), the layout sklearn's
precomputed-sparse neighbour search expects; it may hold explicit zeros (identical encodings),
which count as neighbours there.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from reidkit.adapters.clustering.knn import ExactKnn, KnnSearch
from reidkit.adapters.clustering.overlap import (
    candidate_pairs,
    min_sums_of_pairs,
    min_sums_of_rows,
    row_sums,
)
from reidkit.adapters.clustering.reciprocal import encode, half_size, query_expansion, self_first

# Slack on the candidate screen: the bound is computed in float32, the exact sum in float64.
_SCREEN_SLACK = 1e-4


def jaccard_from_overlap(overlap: np.ndarray) -> np.ndarray:
    """float32 1 - S / (2 - S), clipped at 0 (float32 arithmetic, as upstream)."""
    s = np.asarray(overlap, dtype=np.float32)
    return np.maximum(np.float32(1.0) - s / (np.float32(2.0) - s), np.float32(0.0))


def overlap_for_distance(distance: float) -> float:
    """Smallest S with 1 - S / (2 - S) <= distance."""
    return 2.0 * (1.0 - distance) / (2.0 - distance)


def neighbours(features: np.ndarray, k1: int, k2: int, knn: KnnSearch | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The self-first kNN table the encodings need: max(k1, k2) columns, capped at N."""
    x = np.ascontiguousarray(features, dtype=np.float32)
    distances, indices = (knn or ExactKnn()).search(x, min(max(k1, k2), x.shape[0]))
    return self_first(distances, indices)


def jaccard_graph(
    features: np.ndarray,
    *,
    k1: int = 30,
    k2: int = 6,
    max_distance: float | None = None,
    knn: KnnSearch | None = None,
) -> sp.csr_matrix:
    """Symmetric (N, N) float32 CSR of k-reciprocal Jaccard distances (see the module docstring).

    k1 and k2 are capped at N, so tiny inputs behave as if every point were a neighbour."""
    _check(k1, k2, max_distance)
    if int(np.shape(features)[0]) == 0:
        return sp.csr_matrix((0, 0), dtype=np.float32)
    distances, indices = neighbours(features, k1, k2, knn)
    return jaccard_graph_from_neighbours(features, distances, indices, k1=k1, k2=k2, max_distance=max_distance)


def jaccard_graph_from_neighbours(
    features: np.ndarray,
    distances: np.ndarray,
    indices: np.ndarray,
    *,
    k1: int = 30,
    k2: int = 6,
    max_distance: float | None = None,
) -> sp.csr_matrix:
    """``jaccard_graph`` from a precomputed self-first table (``neighbours``), e.g. to time the
    search and the rest separately, or to reuse one search for several settings."""
    _check(k1, k2, max_distance)
    x = np.ascontiguousarray(features, dtype=np.float32)
    n = x.shape[0]
    v = encode(x, distances, indices, min(k1, n), min(half_size(k1), n))
    vqe = query_expansion(v, indices, min(k2, n))
    diagonal = jaccard_from_overlap(row_sums(vqe))
    if max_distance is None:
        return _sharing_graph(vqe, diagonal)
    return _radius_graph(vqe, diagonal, max_distance)


def _check(k1: int, k2: int, max_distance: float | None) -> None:
    if k1 < 1:
        raise ValueError(f"k1 must be >= 1, got {k1}")
    if k2 < 1:
        raise ValueError(f"k2 must be >= 1, got {k2}")
    if max_distance is not None and not 0.0 <= max_distance < 1.0:
        raise ValueError(f"max_distance must be in [0, 1) or None, got {max_distance}")


def _sharing_graph(vqe: sp.csr_matrix, diagonal: np.ndarray) -> sp.csr_matrix:
    n = vqe.shape[0]
    rows, cols, overlaps = [], [], []
    for block_rows, block in min_sums_of_rows(vqe, np.arange(n)):
        r, c = np.nonzero(block)
        rows.append(block_rows[r])
        cols.append(c)
        overlaps.append(block[r, c])
    i, j = np.concatenate(rows), np.concatenate(cols)
    d = jaccard_from_overlap(np.concatenate(overlaps))
    off = i != j
    return _graph(n, i[off], j[off], d[off], diagonal)


def _radius_graph(vqe: sp.csr_matrix, diagonal: np.ndarray, max_distance: float) -> sp.csr_matrix:
    n = vqe.shape[0]
    i, j = candidate_pairs(vqe, overlap_for_distance(max_distance) - _SCREEN_SLACK)
    d = jaccard_from_overlap(min_sums_of_pairs(vqe, i, j))
    keep = d <= max_distance
    i, j, d = i[keep], j[keep], d[keep]
    return _graph(n, np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([d, d]), diagonal)


def _graph(n: int, i: np.ndarray, j: np.ndarray, d: np.ndarray, diagonal: np.ndarray) -> sp.csr_matrix:
    """CSR from off-diagonal triples plus the full diagonal, each row ordered by distance.

    Built from raw arrays so that explicit zero distances survive as stored entries."""
    rows = np.concatenate([np.asarray(i, np.int64), np.arange(n, dtype=np.int64)])
    cols = np.concatenate([np.asarray(j, np.int64), np.arange(n, dtype=np.int64)])
    data = np.concatenate([np.asarray(d, np.float32), diagonal.astype(np.float32)])
    # Distances are >= 0 float32, which order like their int32 bit patterns: one int64 key
    # (row, distance) sorts the lot; equal distances keep their (deterministic) input order.
    # (abs turns a -0.0, whose sign bit would spill into the row bits, into +0.0.)
    order = np.argsort((rows << 32) | np.abs(data).view(np.int32).astype(np.int64), kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
    graph = sp.csr_matrix((data[order], cols[order], indptr), shape=(n, n))
    graph.has_sorted_indices = False
    return graph


def densify(graph: sp.csr_matrix, fill: float = 1.0) -> np.ndarray:
    """Dense copy with ``fill`` where nothing is stored (for tests against dense references)."""
    dense = np.full(graph.shape, fill, dtype=np.float32)
    rows = np.repeat(np.arange(graph.shape[0]), np.diff(graph.indptr))
    dense[rows, graph.indices] = graph.data
    return dense
