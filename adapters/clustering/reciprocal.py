"""k-reciprocal encoding (Zhong et al., CVPR'17), kept sparse: O(N·k) memory, no Python row loops.

For every point i the encoding ``V[i]`` is a distribution over i's *expanded k-reciprocal set*:

1. R(i, k) = { j in the first k neighbours of i : i in the first k neighbours of j }. With A the
   0/1 kNN matrix, R = A ∧ Aᵀ (an element-wise product).
2. For each candidate c in R(i, k_full), its half set R(c, k_half) is merged in when more than
   2/3 of it lies in R(i, k_full). The overlaps |R(c, k_half) ∩ R(i, k_full)| for all (i, c) at
   once are ``R_full @ R_halfᵀ`` read at R_full's pattern; the accepted half sets are then merged
   with one more product (accepted @ R_half).
3. V[i, j] = softmax_j(-scale_i · d²(i, j)) over that set.

Query expansion replaces V[i] by the mean of the rows of i's first k2 neighbours: a sparse
product with the row-averaging matrix.

Two conventions exist upstream and both are parameters here rather than copies of the code:
OpenUnReID/SpCL/Cluster Contrast search exactly k1 neighbours (self included, so ``k_full = k1``)
with weights softmax(-d²); Zhong's re-ranking uses k1 + 1 neighbours and softmax(-d²/max_j d²).
Both use ``k_half = round(k1 / 2) + 1`` (numpy's round-half-to-even, as upstream).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# Bytes of feature rows gathered at once when measuring pairs: small enough to stay in cache and
# to reuse the allocation (a 128 MB gather was 10x slower per row, mostly page faults).
_GATHER_BYTES = 1 << 21


def half_size(k1: int) -> int:
    """Number of neighbour columns of the half sets: round(k1 / 2) + 1, rounded half to even."""
    return int(np.around(k1 / 2.0)) + 1


def self_first(distances: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Put each point first in its own neighbour list, with distance 0.

    With exact duplicates the search may list a twin before the point itself, or (more than k
    twins) leave it out; upstream then gets an empty reciprocal set and a NaN row. We break that
    tie in favour of the point itself, which is what every non-degenerate input already has.
    """
    n = indices.shape[0]
    rows = np.arange(n)
    is_self = indices == rows[:, None]
    if is_self[:, 0].all():
        distances = distances.copy()
        distances[:, 0] = 0.0
        return distances, indices
    order = np.argsort(~is_self, axis=1, kind="stable")
    idx = np.take_along_axis(indices, order, axis=1)
    dist = np.take_along_axis(distances, order, axis=1)
    missing = ~is_self.any(axis=1)
    idx[missing, 1:] = idx[missing, :-1]
    dist[missing, 1:] = dist[missing, :-1]
    idx[:, 0] = rows
    dist[:, 0] = 0.0
    return dist, idx


def neighbour_matrix(indices: np.ndarray, k: int, value: float = 1.0) -> sp.csr_matrix:
    """(N, N) CSR with ``value`` at the first k neighbours of every row (empty slots skipped)."""
    n = indices.shape[0]
    cols = indices[:, :k]
    valid = cols >= 0
    counts = valid.sum(axis=1)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    data = np.full(int(indptr[-1]), value, dtype=np.float32)
    m = sp.csr_matrix((data, cols[valid].astype(np.int64), indptr), shape=(n, n))
    # An approximate index may repeat a neighbour; a set has it once.
    m.sum_duplicates()
    m.data[:] = value
    return m


def reciprocal_sets(indices: np.ndarray, k: int) -> sp.csr_matrix:
    """0/1 CSR R with R[i, j] = 1 iff each of i, j is among the other's first k neighbours."""
    a = neighbour_matrix(indices, k)
    r = a.multiply(a.T).tocsr()
    r.sort_indices()
    return r


def expanded_sets(indices: np.ndarray, k_full: int, k_half: int) -> sp.csr_matrix:
    """0/1 CSR of the expanded k-reciprocal sets (step 2 of the module docstring), sorted."""
    n = indices.shape[0]
    r_full = reciprocal_sets(indices, k_full)
    r_half = reciprocal_sets(indices, k_half)
    # overlap[i, c] = |R(c, k_half) ∩ R(i, k_full)|, kept only where c is in R(i, k_full).
    overlap = r_full.multiply(r_full @ r_half.T).tocsr()
    rows = np.repeat(np.arange(n), np.diff(overlap.indptr))
    half_sizes = np.diff(r_half.indptr).astype(np.float64)
    # Same float comparison as upstream: len(intersection) > 2/3 * len(candidate's half set).
    accepted = overlap.data > (2.0 / 3.0) * half_sizes[overlap.indices]
    acc = sp.csr_matrix(
        (np.ones(int(accepted.sum()), np.float32), (rows[accepted], overlap.indices[accepted])), shape=(n, n)
    )
    expanded = (r_full + acc @ r_half).tocsr()
    expanded.data[:] = 1.0
    expanded.sort_indices()
    return expanded


def squared_distances_of_pairs(features: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 ||x_r - x_c||² for each pair, as ||x_r||² + ||x_c||² - 2 x_r·x_c (faiss' formula),
    gathered chunk by chunk so that memory stays O(chunk · D)."""
    sq_norms = np.einsum("ij,ij->i", features, features)
    out = np.empty(len(rows), dtype=np.float32)
    chunk = max(1, _GATHER_BYTES // max(1, features.shape[1] * features.itemsize))
    for s in range(0, len(rows), chunk):
        r, c = rows[s : s + chunk], cols[s : s + chunk]
        dots = np.einsum("ij,ij->i", features[r], features[c])
        out[s : s + chunk] = sq_norms[r] + sq_norms[c] - 2.0 * dots
    return np.maximum(out, 0.0)


def _known_distances(
    expanded: sp.csr_matrix, distances: np.ndarray, indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each stored entry of ``expanded``: its squared distance from the kNN table when the
    pair is in it, and a mask of the entries that are (most are: the set grows by 2-hop
    neighbours only through the half sets)."""
    n = indices.shape[0]
    valid = (indices >= 0).ravel()
    table_keys = (np.repeat(np.arange(n, dtype=np.int64), indices.shape[1]) * n + indices.ravel())[valid]
    table_dist = distances.ravel()[valid]
    order = np.argsort(table_keys, kind="stable")
    table_keys, table_dist = table_keys[order], table_dist[order]
    entry_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(expanded.indptr))
    keys = entry_rows * n + expanded.indices
    pos = np.minimum(np.searchsorted(table_keys, keys), len(table_keys) - 1)
    found = table_keys[pos] == keys
    return np.where(found, table_dist[pos], np.float32(0.0)).astype(np.float32), found


def encode(
    features: np.ndarray,
    distances: np.ndarray,
    indices: np.ndarray,
    k_full: int,
    k_half: int,
    row_scale: np.ndarray | None = None,
) -> sp.csr_matrix:
    """The k-reciprocal encoding V (float32 CSR, each row summing to 1).

    ``distances``/``indices`` is the self-first neighbour table (squared L2) with at least
    ``k_full`` columns; pairs of the expanded sets outside it are measured from ``features``.
    ``row_scale`` multiplies row i's squared distances before the softmax (Zhong's 1/max_j d²).
    """
    n = indices.shape[0]
    expanded = expanded_sets(indices, k_full, k_half)
    if np.any(np.diff(expanded.indptr) == 0):
        raise ValueError("indices must list every point among its own neighbours (see self_first)")
    sq, found = _known_distances(expanded, distances, indices)
    entry_rows = np.repeat(np.arange(n), np.diff(expanded.indptr))
    missing = np.flatnonzero(~found)
    if missing.size:
        sq[missing] = squared_distances_of_pairs(features, entry_rows[missing], expanded.indices[missing])
    logits = -sq.astype(np.float64)
    if row_scale is not None:
        logits *= np.asarray(row_scale, dtype=np.float64)[entry_rows]
    # Softmax per row, shifted by the row's largest logit so that far-apart (unnormalised)
    # features cannot underflow every weight of a row to zero; mathematically a no-op.
    # Every row holds at least the point itself (self_first), so no reduceat segment is empty.
    row_max = np.maximum.reduceat(logits, expanded.indptr[:-1])
    weights = np.exp(logits - row_max[entry_rows])
    weights /= np.bincount(entry_rows, weights, minlength=n)[entry_rows]
    return sp.csr_matrix((weights.astype(np.float32), expanded.indices, expanded.indptr), shape=(n, n))


def query_expansion(v: sp.csr_matrix, indices: np.ndarray, k2: int) -> sp.csr_matrix:
    """Row i becomes the mean of the rows of its first k2 neighbours (itself included)."""
    averaging = neighbour_matrix(indices, k2)
    counts = np.diff(averaging.indptr)
    averaging.data /= np.repeat(counts, counts).astype(np.float32)
    expanded = (averaging @ v).tocsr()
    expanded.sort_indices()
    return expanded
