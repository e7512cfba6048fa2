"""k-reciprocal re-ranking (Zhong et al., CVPR'17), sparse and blocked: never an N×N matrix.

Semantics are those of the original code as vendored by Torchreid (``utils/rerank.py``) fed with
**plain** Euclidean distances, which it squares: on the N = Q + G points pooled together,

- d²(i, j) divided by row i's maximum over all N points ("original distance"),
- k-reciprocal sets over k1 + 1 neighbours, half sets over round(k1/2) + 1, weights
  exp(-original distance) normalised per row, query expansion over the first k2 neighbours,
- Jaccard 1 - S / (2 - S) of the query rows against everything, and
  final = (1 - λ)·Jaccard + λ·original distance, on the Q × G block.

(Torchreid's own engine passes *squared* distances, so it works on d⁴; we do not copy that.)

Where Torchreid holds several dense N×N buffers (8.9 GB at Market test size), this walks the
N×N squared distances once, in square blocks of the upper triangle (the matrix is symmetric,
so half the GEMM work), keeping only: each row's maximum, each row's k best candidate
neighbours so far, and, when it fits the block budget, the Q × G block that is the output anyway.
Candidates are screened with a per-row bound: the (k1+1)-th smallest distance within the row's
own diagonal block can only be larger than the true (k1+1)-th neighbour distance, and so can the
k-th best found so far, so anything farther is dropped as soon as its block is computed.
The encodings, query expansion and Jaccard then run on sparse matrices (``reidkit.adapters.
clustering.reciprocal`` and ``overlap``), the last one over query rows only.

Every query row needs the whole pass (its scale is a maximum over all N points, its encoding
needs every point's neighbours), so the output cannot be emitted during it. When the Q × G result
exceeds the budget (MSMT17's test split: 3.8 GB of float32), ``rerank_blocks`` keeps only its
first block of query rows in the pass and, afterwards, recomputes each later block with the
pass's own GEMMs (same operands, same shapes: the same bits) before its Jaccard rows: up to one
Q × G distance matrix of extra work (5/6 of one at MSMT17's size), for a peak of one block
instead of the whole matrix.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
import structlog

from reidkit.adapters.clustering.overlap import min_sums_of_rows
from reidkit.adapters.clustering.reciprocal import encode, half_size, query_expansion, self_first

# Rows per distance block: large enough for an efficient GEMM, small enough (16 MB) that the
# element-wise passes over a block stay cheap.
_BLOCK = 2048
# The (Q, G) result is held whole up to this many bytes (Market-1501 test: 214 MB); past it,
# ``rerank_blocks`` hands it over in blocks of query rows (MSMT17 test: 3.8 GB whole).
DEFAULT_MAX_BLOCK_BYTES = 1 << 30
# Candidate neighbours gathered before they are merged into each row's k best so far (whose
# k-th distance then screens later blocks harder): as many as those N·k best (a merge then
# costs about twice what it keeps; more often re-sorts them for little), within [2**16, 2**22]
# (16 bytes each: at most 64 MB). None: that rule; tests set a number.
_PENDING: int | None = None

_log = structlog.get_logger(__name__)


def rerank(
    query_feats: np.ndarray,
    gallery_feats: np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> np.ndarray:
    """(Q, G) float32 re-ranked distances between the rows of ``query_feats`` and ``gallery_feats``."""
    q, g = _inputs(query_feats, gallery_feats, k1, k2, lambda_value)
    if len(q) == 0 or len(g) == 0:
        return np.zeros((len(q), len(g)), dtype=np.float32)
    ((_, out),) = _reranked_rows(q, g, k1, k2, lambda_value, max_block_bytes=None)
    return out


def rerank_blocks(
    query_feats: np.ndarray,
    gallery_feats: np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
    *,
    max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES,
) -> Iterator[tuple[int, np.ndarray]]:
    """``rerank``'s rows as consecutive ``(first_row, block)`` pairs, each block at most
    ``max_block_bytes`` where it can be (see below), the values those of ``rerank`` to the bit.

    When the whole (Q, G) result fits the budget it is one block, filled during the neighbour
    pass as ``rerank`` does. Otherwise the pass fills only the first block, and each later
    block's raw distances are recomputed afterwards by the very GEMMs of the pass (same
    operands, same shapes), which adds up to one (Q, G) distance matrix of work. A block is made
    of whole 2,048-row distance blocks when one fits the budget; a smaller budget splits them,
    recomputing their GEMMs for every piece. Drop each block before asking for the next to keep
    one alive at a time.
    """
    if isinstance(max_block_bytes, bool) or not isinstance(max_block_bytes, int) or max_block_bytes < 1:
        raise ValueError(f"max_block_bytes must be an integer >= 1, got {max_block_bytes!r}")
    q, g = _inputs(query_feats, gallery_feats, k1, k2, lambda_value)
    if len(q) == 0 or len(g) == 0:
        return iter([(0, np.zeros((len(q), len(g)), dtype=np.float32))] if len(q) else [])
    return _reranked_rows(q, g, k1, k2, lambda_value, max_block_bytes=max_block_bytes)


def check_parameters(k1: int, k2: int, lambda_value: float) -> None:
    if k1 < 1:
        raise ValueError(f"k1 must be >= 1, got {k1}")
    if k2 < 1:
        raise ValueError(f"k2 must be >= 1, got {k2}")
    if not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"lambda_value must be in [0, 1], got {lambda_value}")


class KReciprocalReranker:
    """``rerank`` with its parameters bound: ``reranker(query_feats, gallery_feats) -> (Q, G)``,
    and ``reranker.blocks(query_feats, gallery_feats, max_block_bytes=...)`` for the evaluator."""

    def __init__(self, k1: int = 20, k2: int = 6, lambda_value: float = 0.3) -> None:
        check_parameters(k1, k2, lambda_value)  # fail at construction, not at the first evaluation
        self.k1, self.k2, self.lambda_value = k1, k2, lambda_value

    def __call__(self, query_feats: np.ndarray, gallery_feats: np.ndarray) -> np.ndarray:
        return rerank(query_feats, gallery_feats, self.k1, self.k2, self.lambda_value)

    def blocks(
        self, query_feats: np.ndarray, gallery_feats: np.ndarray, *, max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES
    ) -> Iterator[tuple[int, np.ndarray]]:
        return rerank_blocks(
            query_feats, gallery_feats, self.k1, self.k2, self.lambda_value, max_block_bytes=max_block_bytes
        )


def _inputs(
    query_feats: np.ndarray, gallery_feats: np.ndarray, k1: int, k2: int, lambda_value: float
) -> tuple[np.ndarray, np.ndarray]:
    check_parameters(k1, k2, lambda_value)
    q = np.ascontiguousarray(query_feats, dtype=np.float32)
    g = np.ascontiguousarray(gallery_feats, dtype=np.float32)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"query {q.shape} and gallery {g.shape} features must be (N, D) with the same D")
    return q, g


def _reranked_rows(
    q: np.ndarray, g: np.ndarray, k1: int, k2: int, lambda_value: float, *, max_block_bytes: int | None
) -> Iterator[tuple[int, np.ndarray]]:
    """The re-ranked rows; ``max_block_bytes=None`` asks for the whole result as one block."""
    num_q, num_g = len(q), len(g)
    x = np.concatenate([q, g])
    n = x.shape[0]
    k_full = min(k1 + 1, n)
    started = time.perf_counter()
    sq_norms = np.einsum("ij,ij->i", x, x)
    spans = _spans(n, k_full)
    if max_block_bytes is None or num_q * num_g * 4 <= max_block_bytes:
        ranges = [(0, num_q)]
    else:
        ranges = _output_ranges(num_q, num_g, spans, max_block_bytes)
    # The first block is filled during the pass (as the whole result is when it fits); the
    # others are recomputed after it.
    out = np.empty((ranges[0][1], num_g), dtype=np.float32)
    distances, indices, row_max = _neighbour_pass(x, sq_norms, spans, num_q, k_full, out)
    distances, indices = self_first(distances, indices)
    neighbours_done = time.perf_counter()
    # All-zero rows (every point identical) have no scale: their original distances stay 0.
    scale = 1.0 / np.where(row_max > 0, row_max, 1.0)
    v = encode(x, distances, indices, k_full, min(half_size(k1), n), row_scale=scale)
    vqe = query_expansion(v, indices, min(k2, n))
    del v, distances, indices
    gallery_vqe = vqe[num_q:]
    encoded = time.perf_counter()
    timings = {"recompute_s": 0.0, "jaccard_s": 0.0}

    def log(blocks: int) -> None:
        _log.debug(
            "re-ranking",
            queries=num_q,
            gallery=num_g,
            blocks=blocks,
            neighbours_s=round(neighbours_done - started, 3),
            encoding_s=round(encoded - neighbours_done, 3),
            recompute_s=round(timings["recompute_s"], 3),
            jaccard_s=round(timings["jaccard_s"], 3),
        )

    _final_rows(out, 0, vqe, gallery_vqe, scale, lambda_value)
    timings["jaccard_s"] = time.perf_counter() - encoded
    yield 0, out
    del out
    for r0, r1 in ranges[1:]:
        t0 = time.perf_counter()
        block = np.empty((r1 - r0, num_g), dtype=np.float32)
        _query_gallery_rows(x, sq_norms, spans, num_q, r0, r1, block)
        t1 = time.perf_counter()
        _final_rows(block, r0, vqe, gallery_vqe, scale, lambda_value)
        timings["recompute_s"] += t1 - t0
        timings["jaccard_s"] += time.perf_counter() - t1
        yield r0, block
        del block
    log(len(ranges))


def _final_rows(
    block: np.ndarray, r0: int, vqe: sp.csr_matrix, gallery_vqe: sp.csr_matrix, scale: np.ndarray, lambda_value: float
) -> None:
    """Turn the raw squared distances of query rows ``r0 : r0 + len(block)`` into the final
    distances, in place: (1 - λ)·Jaccard + λ·d²/row maximum. Each row's Σmin is computed alone
    (``min_sums_of_rows`` adds a row's terms in the same order whatever rows come with it), so a
    row's value does not depend on the block it falls in."""
    for rows, overlap in min_sums_of_rows(vqe, np.arange(r0, r0 + len(block)), other=gallery_vqe):
        s = overlap.astype(np.float32)
        jaccard = np.float32(1.0) - s / (np.float32(2.0) - s)
        original = block[rows - r0] * scale[rows, None].astype(np.float32)
        block[rows - r0] = jaccard * np.float32(1.0 - lambda_value) + original * np.float32(lambda_value)


def _spans(n: int, k: int) -> list[tuple[int, int]]:
    edges = [*range(0, n, _BLOCK), n]
    if len(edges) > 2 and edges[-1] - edges[-2] < k:
        # A last block narrower than k could not bound its rows: fold it into the one before.
        del edges[-2]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _squared_block(x: np.ndarray, sq_norms: np.ndarray, span_a: tuple[int, int], span_b: tuple[int, int]) -> np.ndarray:
    """Squared distances between two spans of rows: the only place they are computed, so the
    recomputed query×gallery rows are the neighbour pass's to the bit (a span against itself is
    numpy's symmetric product, exactly symmetric)."""
    (a, ea), (b, eb) = span_a, span_b
    d = x[a:ea] @ x[b:eb].T
    d *= -2.0
    d += sq_norms[a:ea, None]
    d += sq_norms[None, b:eb]
    return d


def _output_ranges(num_q: int, num_g: int, spans: list[tuple[int, int]], max_block_bytes: int) -> list[tuple[int, int]]:
    """Query row ranges of at most ``max_block_bytes`` each: whole spans, grouped while they fit,
    or, for a span that alone does not, equal pieces of it (at least one row each)."""
    fit = max(1, max_block_bytes // (num_g * 4))
    ranges: list[tuple[int, int]] = []
    joinable = False  # whether the last range is made of whole spans
    for a, ea in spans:
        if a >= num_q:
            break
        end = min(ea, num_q)
        if end - a > fit:
            ranges.extend((r, min(r + fit, end)) for r in range(a, end, fit))
            joinable = False
        elif joinable and end - ranges[-1][0] <= fit:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((a, end))
            joinable = True
    return ranges


def _query_gallery_rows(
    x: np.ndarray,
    sq_norms: np.ndarray,
    spans: list[tuple[int, int]],
    num_q: int,
    r0: int,
    r1: int,
    out: np.ndarray,
) -> None:
    """Raw squared distances (clamped at 0) of query rows ``r0:r1`` to every gallery item, into
    ``out``, by the neighbour pass's GEMMs: for each span holding some of the rows, its blocks
    against the spans holding gallery columns (never before its own: queries come first)."""
    for ia, (a, ea) in enumerate(spans):
        if ea <= r0 or a >= r1:
            continue
        lo, hi = max(a, r0), min(ea, r1, num_q)
        for ib in range(ia, len(spans)):
            b, eb = spans[ib]
            if eb <= num_q:
                continue
            d = _squared_block(x, sq_norms, spans[ia], spans[ib])
            c0 = max(b, num_q)
            out[lo - r0 : hi - r0, c0 - num_q : eb - num_q] = d[lo - a : hi - a, c0 - b :]
    np.maximum(out, 0.0, out=out)  # float32 cancellation can leave tiny negatives


def _neighbour_pass(
    x: np.ndarray,
    sq_norms: np.ndarray,
    spans: list[tuple[int, int]],
    num_q: int,
    k: int,
    out: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass over the upper-triangle blocks of the squared distances.

    Returns the k nearest (squared distance, index) of every row, nearest first, and every row's
    maximum squared distance; the raw squared distances of the first ``len(out)`` query rows to
    the gallery go to ``out``.
    numpy throughout: its single-threaded element-wise passes beat torch's two threads on
    these 16 MB blocks (2-4x when the cores are shared), and the GEMM is BLAS either way.

    Which k a row keeps, ties included, is fixed by this rule: its k smallest within its own
    diagonal block (``argpartition``'s pick), plus whatever elsewhere is strictly closer than
    the largest of those, the k smallest of all by (distance, block order). Candidates are
    merged into each row's k best every so often (``_PENDING``); the k-th best so far then
    screens later blocks too, which changes no pick (nothing farther can enter) but keeps the
    candidates few: the memory stays O(N·k) whatever N (the pass before this kept every
    candidate under the diagonal bound, about N·k·N/2048 of them: 1.1 GB at MSMT17's size).
    """
    n = x.shape[0]
    row_max = np.zeros(n, dtype=np.float32)
    bound = np.full(n, np.inf, dtype=np.float32)
    best = _BestSoFar(n, k)
    pending_limit = _PENDING if _PENDING is not None else min(max(n * k, 1 << 16), 1 << 22)

    def block(ia: int, ib: int) -> np.ndarray:
        (a, ea), (b, eb) = spans[ia], spans[ib]
        d = _squared_block(x, sq_norms, spans[ia], spans[ib])
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
        # Ties among a row's candidates go by block order, and within this block by pick order:
        # the order key a + position sits inside the block's own column range.
        order = np.tile(np.arange(cols.shape[1], dtype=np.int32), rows) + a
        best.add(r + a, cols.ravel().astype(np.int32) + a, values.ravel(), order)
    best.merge()
    # Off the diagonal only what is strictly closer than the bound can matter (a tie with the
    # k-th distance cannot displace a candidate already held), and nothing farther than the k-th
    # best so far; both keep the candidates few, also when many points coincide.
    threshold = best.threshold(bound)
    for ia, (a, ea) in enumerate(spans):
        for ib in range(ia + 1, len(spans)):
            b, eb = spans[ib]
            d = block(ia, ib)
            r, c, v = keep(d, d < threshold[a:ea, None])
            best.add(r + a, c + b, v, c + b)
            r, c, v = keep(d, d < threshold[None, b:eb])
            best.add(c + b, r + a, v, r + a)
            if best.pending >= pending_limit:
                best.merge()
                threshold = best.threshold(bound)
    np.maximum(out, 0.0, out=out)  # float32 cancellation can leave tiny negatives
    best.merge()
    return best.distances, best.indices.astype(np.int64), row_max.astype(np.float64)


class _BestSoFar:
    """Each row's k best candidates so far by (distance clamped at 0, order key), and the
    candidates not yet merged in."""

    def __init__(self, n: int, k: int) -> None:
        self.n, self.k = n, k
        self.distances = np.full((n, k), np.inf, dtype=np.float32)
        self.indices = np.full((n, k), -1, dtype=np.int32)
        self.order = np.full((n, k), -1, dtype=np.int32)
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.pending = 0

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, order: np.ndarray) -> None:
        if len(rows):
            self._parts.append((rows, cols, np.maximum(vals, 0.0), order))
            self.pending += len(rows)

    def threshold(self, bound: np.ndarray) -> np.ndarray:
        """Per row: what a candidate's raw distance must be below to be kept: under ``bound``,
        and no farther than the k-th best so far."""
        kth = np.nextafter(self.distances[:, -1], np.float32(np.inf))
        return np.minimum(bound, kth)

    def merge(self) -> None:
        if not self._parts:
            return
        held = self.indices >= 0
        parts = [(np.nonzero(held)[0].astype(np.int32), self.indices[held], self.distances[held], self.order[held])]
        parts += self._parts
        self._parts, self.pending = [], 0
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        vals = np.concatenate([p[2] for p in parts])
        order = np.concatenate([p[3] for p in parts])
        del parts
        self.distances, self.indices, self.order = _smallest_per_row(rows, cols, vals, order, self.n, self.k)


def _copy_query_gallery(d: np.ndarray, a: int, b: int, num_q: int, out: np.ndarray) -> None:
    """Copy the part of block (a, b) with query rows and gallery columns into ``out``, which
    holds the first ``len(out)`` query rows."""
    rows_end = min(a + d.shape[0], num_q, len(out))
    cols_start = max(b, num_q)
    cols_end = b + d.shape[1]
    if a < rows_end and cols_start < cols_end:
        out[a:rows_end, cols_start - num_q : cols_end - num_q] = d[: rows_end - a, cols_start - b :]


def _smallest_per_row(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, order: np.ndarray, n: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k smallest candidates of each row by (value, order key), ordered so; padded with
    (inf, -1, -1) where a row has fewer. Values must be >= 0."""
    # float32 >= 0 orders like its int32 bit pattern, so (row, value) packs into one int64 key.
    # (abs turns a -0.0, whose sign bit would spill into the row bits, into +0.0.)
    key = (rows.astype(np.int64) << 32) | np.abs(vals).view(np.int32).astype(np.int64)
    ranked = np.argsort(key, kind="stable")
    sorted_key = key[ranked]
    equal = sorted_key[1:] == sorted_key[:-1]
    if equal.any():
        # Equal distances in a row: the order key decides, within each run of equal keys (runs
        # stay where they are, so only their members are re-sorted).
        in_run = np.zeros(len(key), dtype=bool)
        in_run[1:] = equal
        in_run[:-1] |= equal
        at = np.flatnonzero(in_run)
        members = ranked[at]
        ranked[at] = members[np.lexsort((order[members], sorted_key[at]))]
    del key, sorted_key
    rows = rows[ranked]
    starts = np.searchsorted(rows, np.arange(n))
    rank = np.arange(len(rows)) - starts[rows]
    kept = ranked[rank < k]
    at_row, at_rank = rows[rank < k], rank[rank < k]
    distances = np.full((n, k), np.inf, dtype=np.float32)
    indices = np.full((n, k), -1, dtype=np.int32)
    keys = np.full((n, k), -1, dtype=np.int32)
    distances[at_row, at_rank] = vals[kept]
    indices[at_row, at_rank] = cols[kept]
    keys[at_row, at_rank] = order[kept]
    return distances, indices, keys
