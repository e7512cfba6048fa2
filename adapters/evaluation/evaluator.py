"""The ``Evaluator`` port: distances with torch, Market-1501 metrics with the domain's ranking."""

from __future__ import annotations

import time
from typing import Protocol

import numpy as np
from attrs import Attribute, field, frozen

from reidkit.adapters.evaluation.distances import DEFAULT_CHUNK_ROWS, METRICS, Metric, pairwise_distance
from reidkit.domain.ranking import rank_metrics
from reidkit.domain.types import EmbeddedSet, RetrievalMetrics


class Reranker(Protocol):
    """Query×gallery distances re-ranked from the features themselves, e.g. k-reciprocal
    re-ranking (``reidkit.adapters.evaluation.rerank.KReciprocalReranker``). Working from features
    lets it avoid the dense gallery×gallery matrix (about 1 GB of float32 for Market)."""

    def __call__(self, query_feats: np.ndarray, gallery_feats: np.ndarray) -> np.ndarray: ...


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
    ``chunk_rows`` bounds the query rows per distance GEMM. ``reranker``, when given, produces the
    query×gallery distances from the (normalised, if asked) features instead, so ``metric`` is
    then unused; it is much slower, hence off by default.
    """

    metric: Metric = field(default="euclidean", validator=_metric)
    normalize: bool = False
    max_rank: int = field(default=50, validator=_positive)
    reranker: Reranker | None = None
    chunk_rows: int = field(default=DEFAULT_CHUNK_ROWS, validator=_positive)

    def evaluate(self, query: EmbeddedSet, gallery: EmbeddedSet) -> RetrievalMetrics:
        return self.timed_evaluate(query, gallery)[0]

    def timed_evaluate(self, query: EmbeddedSet, gallery: EmbeddedSet) -> tuple[RetrievalMetrics, EvaluationTiming]:
        """``evaluate`` plus the seconds each phase took (the CLI reports ``timing.total_s``)."""
        if query.features.dim != gallery.features.dim:
            raise ValueError(
                f"query features have dimension {query.features.dim} but gallery features {gallery.features.dim}"
            )
        started = time.perf_counter()
        q = query.features.normalized() if self.normalize else query.features
        g = gallery.features.normalized() if self.normalize else gallery.features
        if self.reranker is None:
            distmat = pairwise_distance(q.values, g.values, self.metric, chunk_rows=self.chunk_rows)
            distance_done = rerank_done = time.perf_counter()
        else:
            distance_done = time.perf_counter()
            distmat = self._reranked(q.values, g.values)
            rerank_done = time.perf_counter()
        metrics = rank_metrics(
            distmat, query.pids, gallery.pids, query.camids, gallery.camids, max_rank=self.max_rank
        )
        timing = EvaluationTiming(
            distance_s=distance_done - started,
            rerank_s=rerank_done - distance_done,
            metrics_s=time.perf_counter() - rerank_done,
        )
        return metrics, timing

    def _reranked(self, q: np.ndarray, g: np.ndarray) -> np.ndarray:
        result = np.asarray(self.reranker(q, g))  # type: ignore[misc]
        if result.shape != (len(q), len(g)):
            raise ValueError(f"reranker returned shape {result.shape}, expected {(len(q), len(g))}")
        return result
