"""The ``Evaluator`` port: distances with torch, Market-1501 metrics with the domain's ranking."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

import attrs
import numpy as np
from attrs import Attribute, field, frozen, validators

from reidkit.adapters.evaluation.distances import (
    DEFAULT_CHUNK_ROWS,
    DEFAULT_MAX_BLOCK_BYTES,
    METRICS,
    Metric,
    pairwise_distance_blocks,
)
from reidkit.domain.ranking import BlockedRanking, SingleGalleryShotCmc
from reidkit.domain.types import EmbeddedSet, RetrievalMetrics


class Reranker(Protocol):
    """Query×gallery distances re-ranked from the features themselves, e.g. k-reciprocal
    re-ranking (``reidkit.adapters.evaluation.rerank.KReciprocalReranker``). Working from features
    lets it avoid the dense gallery×gallery matrix (about 1 GB of float32 for Market)."""

    def __call__(self, query_feats: np.ndarray, gallery_feats: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class BlockReranker(Reranker, Protocol):
    """A ``Reranker`` that can also hand its (Q, G) result over as consecutive ``(first_row,
    block)`` pairs of query rows, each at most ``max_block_bytes``: the evaluator then never
    holds the whole matrix (3.8 GB of float32 at MSMT17's test size)."""

    def blocks(
        self, query_feats: np.ndarray, gallery_feats: np.ndarray, *, max_block_bytes: int
    ) -> Iterable[tuple[int, np.ndarray]]: ...


@frozen
class EvaluationTiming:
    """Wall-clock seconds of one evaluation, by phase. ``distance_s`` includes normalisation;
    with a reranker its own distance work counts as ``rerank_s`` (0 without one)."""

    distance_s: float
    rerank_s: float
    metrics_s: float

    @property
    def total_s(self) -> float:
        return self.distance_s + self.rerank_s + self.metrics_s


def _metric(_instance: object, _attribute: object, value: str) -> None:
    if value not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {value!r}")


def _positive(_instance: object, attribute: Attribute, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be an integer >= 1, got {value!r}")


@frozen
class RankingEvaluator:
    """Ranks the gallery for every query by ``metric`` and scores it (Market-1501 protocol).

    ``normalize`` L2-normalises features first (then euclidean and cosine rank identically).
    ``chunk_rows`` bounds the query rows per distance GEMM. ``max_block_bytes`` bounds the
    query×gallery distances held at once: past it, distances are computed and scored in blocks
    of query rows (whole ``chunk_rows`` chunks), with exactly the metrics of the whole matrix.
    ``reranker``, when given, produces the query×gallery distances from the (normalised, if
    asked) features instead, so ``metric`` is then unused; it is much slower, hence off by
    default. A ``BlockReranker`` is asked for blocks within the same budget; any other reranker's
    whole matrix is scored as it comes.
    """

    metric: Metric = field(default="euclidean", validator=_metric)
    normalize: bool = False
    max_rank: int = field(default=50, validator=_positive)
    reranker: Reranker | None = None
    chunk_rows: int = field(default=DEFAULT_CHUNK_ROWS, validator=_positive)
    max_block_bytes: int = field(default=DEFAULT_MAX_BLOCK_BYTES, validator=_positive)
    # 0 = the Market CMC; N = CUHK03's classic single-gallery-shot CMC, the mean over N draws of one
    # gallery image per identity (mAP and mINP stay the Market protocol's)
    single_gallery_shot: int = field(default=0, validator=validators.ge(0))

    def evaluate(self, query: EmbeddedSet, gallery: EmbeddedSet) -> RetrievalMetrics:
        return self.timed_evaluate(query, gallery)[0]

    def timed_evaluate(self, query: EmbeddedSet, gallery: EmbeddedSet) -> tuple[RetrievalMetrics, EvaluationTiming]:
        """``evaluate`` plus the seconds each phase took (the CLI reports ``timing.total_s``)."""
        if query.features.dim != gallery.features.dim:
            raise ValueError(
                f"query features have dimension {query.features.dim} but gallery features {gallery.features.dim}"
            )
        t0 = time.perf_counter()
        ranking = BlockedRanking(query.pids, gallery.pids, query.camids, gallery.camids, max_rank=self.max_rank)
        single_shot = (
            SingleGalleryShotCmc(
                query.pids, gallery.pids, query.camids, gallery.camids, max_rank=self.max_rank, repeats=self.single_gallery_shot
            )
            if self.single_gallery_shot
            else None
        )
        started = time.perf_counter()
        scoring = started - t0
        q = query.features.normalized() if self.normalize else query.features
        g = gallery.features.normalized() if self.normalize else gallery.features
        if self.reranker is None:
            blocks = pairwise_distance_blocks(
                q.values, g.values, self.metric, chunk_rows=self.chunk_rows, max_block_bytes=self.max_block_bytes
            )
        else:
            blocks = self._reranked(q.values, g.values)
        producing = time.perf_counter() - started  # distances (or re-ranking), block by block
        normalising = producing if self.reranker is not None else 0.0
        iterator = iter(blocks)
        while True:
            t0 = time.perf_counter()
            item = next(iterator, None)
            t1 = time.perf_counter()
            producing += t1 - t0
            if item is None:
                break
            first_row, block = item
            del item
            ranking.add(first_row, block)
            if single_shot is not None:
                single_shot.add(first_row, block)
            del block  # before the next block is made: one block alive at a time
            scoring += time.perf_counter() - t1
        t0 = time.perf_counter()
        metrics = ranking.result()
        if single_shot is not None:
            metrics = attrs.evolve(metrics, cmc=single_shot.result()[: len(metrics.cmc)])
        scoring += time.perf_counter() - t0
        if self.reranker is None:
            timing = EvaluationTiming(distance_s=producing, rerank_s=0.0, metrics_s=scoring)
        else:
            timing = EvaluationTiming(distance_s=normalising, rerank_s=producing - normalising, metrics_s=scoring)
        return metrics, timing

    def _reranked(self, q: np.ndarray, g: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        expected = (len(q), len(g))
        if isinstance(self.reranker, BlockReranker):
            for first_row, block in self.reranker.blocks(q, g, max_block_bytes=self.max_block_bytes):
                if block.ndim != 2 or block.shape[1] != expected[1]:
                    raise ValueError(f"reranker returned a block of shape {block.shape}, expected (rows, {expected[1]})")
                yield first_row, block
                del block
            return
        result = np.asarray(self.reranker(q, g))  # type: ignore[misc]
        if result.shape != expected:
            raise ValueError(f"reranker returned shape {result.shape}, expected {expected}")
        yield 0, result
