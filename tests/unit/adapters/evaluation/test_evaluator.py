"""RankingEvaluator: the Evaluator port over pairwise_distance and rank_metrics."""

from __future__ import annotations

import numpy as np
import pytest

from reidkit.adapters.evaluation.distances import pairwise_distance
from reidkit.adapters.evaluation.evaluator import BlockReranker, EvaluationTiming, RankingEvaluator
from reidkit.adapters.evaluation.rerank import KReciprocalReranker
from reidkit.domain.ports import Evaluator
from reidkit.domain.ranking import rank_metrics
from reidkit.domain.types import EmbeddedSet, FeatureMatrix


@pytest.fixture
def sets():
    """12 identities seen by 3 cameras, features = identity centre + noise (a decent model)."""
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((12, 8))
    q_pids, g_pids = rng.integers(0, 12, 30), rng.integers(0, 12, 90)

    def embedded(pids):
        features = centres[pids] * rng.uniform(0.5, 2.0, (len(pids), 1)) + 0.6 * rng.standard_normal((len(pids), 8))
        return EmbeddedSet(FeatureMatrix(features), pids, rng.integers(0, 3, len(pids)))

    return embedded(q_pids), embedded(g_pids)


def expected(query, gallery, metric, max_rank=50):
    d = pairwise_distance(query.features.values, gallery.features.values, metric)
    return rank_metrics(d, query.pids, gallery.pids, query.camids, gallery.camids, max_rank=max_rank)


def test_satisfies_the_evaluator_port():
    assert isinstance(RankingEvaluator(), Evaluator)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
def test_scores_the_ranking_of_its_metric(sets, metric):
    query, gallery = sets
    got = RankingEvaluator(metric=metric, max_rank=10).evaluate(query, gallery)
    assert got.as_dict() == expected(query, gallery, metric, max_rank=10).as_dict()
    assert len(got.cmc) == 10 and got.num_queries == 30
    assert got.mAP > 0.3  # the features carry identity: far above chance


def test_euclidean_and_squared_euclidean_rank_alike(sets):
    query, gallery = sets
    plain = RankingEvaluator(metric="euclidean").evaluate(query, gallery)
    squared = RankingEvaluator(metric="sqeuclidean").evaluate(query, gallery)
    assert plain.as_dict() == squared.as_dict()


def test_normalize_makes_euclidean_rank_like_cosine(sets):
    query, gallery = sets
    raw = RankingEvaluator(metric="euclidean").evaluate(query, gallery)
    normalized = RankingEvaluator(metric="euclidean", normalize=True).evaluate(query, gallery)
    cosine = RankingEvaluator(metric="cosine").evaluate(query, gallery)
    assert normalized.mAP == pytest.approx(cosine.mAP, abs=1e-9)
    assert normalized.cmc == pytest.approx(cosine.cmc, abs=1e-9)
    assert raw.mAP != pytest.approx(cosine.mAP, abs=1e-6)  # the fixture's scales do matter


def test_timed_evaluate_reports_each_phase(sets):
    metrics, timing = RankingEvaluator().timed_evaluate(*sets)
    assert isinstance(timing, EvaluationTiming)
    assert timing.distance_s > 0 and timing.metrics_s > 0 and timing.rerank_s >= 0
    assert timing.total_s == pytest.approx(timing.distance_s + timing.rerank_s + timing.metrics_s)
    assert metrics.as_dict() == RankingEvaluator().evaluate(*sets).as_dict()


def test_reranker_gets_the_features_and_its_distances_are_ranked(sets):
    query, gallery = sets
    calls = []

    def reverse(query_feats, gallery_feats):
        calls.append((query_feats.shape, gallery_feats.shape, float(np.linalg.norm(query_feats, axis=1).max())))
        return -pairwise_distance(query_feats, gallery_feats, "cosine")  # the worst ranking, to see it scored

    metrics, timing = RankingEvaluator(normalize=True, reranker=reverse).timed_evaluate(query, gallery)
    assert calls == [((30, 8), (90, 8), pytest.approx(1.0))]  # normalised features, as asked
    d = -pairwise_distance(query.features.values, gallery.features.values, "cosine")
    assert metrics.as_dict() == rank_metrics(d, query.pids, gallery.pids, query.camids, gallery.camids).as_dict()
    assert timing.rerank_s > 0


def test_reranker_returning_the_wrong_shape_is_reported(sets):
    with pytest.raises(ValueError, match=r"reranker returned shape \(2, 2\), expected \(30, 90\)"):
        RankingEvaluator(reranker=lambda q, g: np.zeros((2, 2))).evaluate(*sets)


def test_mismatched_feature_dimensions_are_reported(sets):
    query, gallery = sets
    narrow = EmbeddedSet(FeatureMatrix(gallery.features.values[:, :4]), gallery.pids, gallery.camids)
    with pytest.raises(ValueError, match="dimension 8 but gallery features 4"):
        RankingEvaluator().evaluate(query, narrow)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "l1"}, "metric must be one of"),
        ({"max_rank": 0}, "max_rank must be"),
        ({"chunk_rows": -1}, "chunk_rows must be"),
        ({"max_block_bytes": 0}, "max_block_bytes must be"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RankingEvaluator(**kwargs)


@pytest.fixture
def tied_sets():
    """Small-integer features, some rows repeated: distances tie all over each row."""
    rng = np.random.default_rng(8)
    x = rng.integers(0, 3, (150, 6)).astype(np.float32)
    x[rng.integers(0, 150, 40)] = x[rng.integers(0, 150, 40)]
    pids, cams = rng.integers(0, 8, 150), rng.integers(0, 3, 150)
    return EmbeddedSet(FeatureMatrix(x[:37]), pids[:37], cams[:37]), EmbeddedSet(FeatureMatrix(x[37:]), pids[37:], cams[37:])


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
@pytest.mark.parametrize("block", [1, 3, 5, 8, 12, 36])
def test_blocked_evaluation_equals_the_whole_matrix_exactly(tied_sets, metric, block):
    """Blocks of query rows (a budget of ``block`` rows; 5, 8, 12 and 36 do not divide the 37
    queries) give the very CMC, mAP and mINP of the whole matrix computed with the same GEMMs.
    (A budget under one ``chunk_rows`` chunk narrows the GEMMs to fit it, and a narrower GEMM
    may round differently: cosine does here, so below 4 rows the whole matrix is computed with
    the same narrower chunks.)"""
    query, gallery = tied_sets
    row_bytes = 4 * len(gallery.pids)
    chunk_rows = min(4, block)
    whole = RankingEvaluator(metric=metric, chunk_rows=chunk_rows).evaluate(query, gallery)
    d = pairwise_distance(query.features.values, gallery.features.values, metric, chunk_rows=chunk_rows)
    assert whole.as_dict() == rank_metrics(d, query.pids, gallery.pids, query.camids, gallery.camids).as_dict()
    blocked = RankingEvaluator(metric=metric, chunk_rows=4, max_block_bytes=block * row_bytes).evaluate(query, gallery)
    assert blocked.as_dict() == whole.as_dict()
    assert (blocked.mAP, blocked.mINP, blocked.cmc) == (whole.mAP, whole.mINP, whole.cmc)


def test_the_evaluator_never_holds_the_whole_matrix(tied_sets, monkeypatch):
    query, gallery = tied_sets
    from reidkit.domain import ranking

    seen = []
    original = ranking.BlockedRanking.add

    def spy(self, first_row, distances):
        seen.append((first_row, distances.shape))
        return original(self, first_row, distances)

    monkeypatch.setattr(ranking.BlockedRanking, "add", spy)
    RankingEvaluator(chunk_rows=4, max_block_bytes=10 * 4 * 113).evaluate(query, gallery)
    assert seen == [(0, (8, 113)), (8, (8, 113)), (16, (8, 113)), (24, (8, 113)), (32, (5, 113))]


@pytest.mark.parametrize("block", [1, 9, 36])
def test_reranked_evaluation_in_blocks_equals_the_whole_matrix_exactly(tied_sets, block):
    query, gallery = tied_sets
    reranker = KReciprocalReranker(k1=6, k2=3)
    assert isinstance(reranker, BlockReranker)
    whole = RankingEvaluator(reranker=reranker).evaluate(query, gallery)
    d = reranker(query.features.values, gallery.features.values)
    assert whole.as_dict() == rank_metrics(d, query.pids, gallery.pids, query.camids, gallery.camids).as_dict()
    budget = block * 4 * len(gallery.pids)
    metrics, timing = RankingEvaluator(reranker=reranker, max_block_bytes=budget).timed_evaluate(query, gallery)
    assert metrics.as_dict() == whole.as_dict()
    assert timing.rerank_s > 0 and timing.metrics_s > 0


def test_a_block_reranker_is_asked_for_blocks_within_the_budget(sets):
    query, gallery = sets
    asked = []

    class Halves:
        def __call__(self, q, g):
            raise AssertionError("the whole matrix was asked for")

        def blocks(self, q, g, *, max_block_bytes):
            asked.append(max_block_bytes)
            d = pairwise_distance(q, g, "euclidean")
            yield 0, d[:13]
            yield 13, d[13:]

    metrics = RankingEvaluator(reranker=Halves(), max_block_bytes=12345).evaluate(query, gallery)
    assert asked == [12345]
    assert metrics.as_dict() == expected(query, gallery, "euclidean").as_dict()


def test_the_single_gallery_shot_cmc_replaces_only_the_cmc():
    from reidkit.domain.ranking import SingleGalleryShotCmc

    rng = np.random.default_rng(3)
    q_pids, g_pids = rng.integers(0, 5, 9), rng.integers(0, 5, 30)
    query = EmbeddedSet(FeatureMatrix(rng.random((9, 8)).astype(np.float32)), q_pids, np.zeros(9, dtype=np.int64))
    gallery = EmbeddedSet(FeatureMatrix(rng.random((30, 8)).astype(np.float32)), g_pids, np.ones(30, dtype=np.int64))
    market = RankingEvaluator(max_rank=5).evaluate(query, gallery)
    single = RankingEvaluator(max_rank=5, single_gallery_shot=10, max_block_bytes=4 * 30 * 4).evaluate(query, gallery)
    assert (single.mAP, single.mINP, single.num_valid_queries) == (market.mAP, market.mINP, market.num_valid_queries)
    expected = SingleGalleryShotCmc(q_pids, g_pids, query.camids, gallery.camids, max_rank=5, repeats=10)
    expected.add(0, pairwise_distance(query.features.values, gallery.features.values))
    np.testing.assert_allclose(single.cmc, expected.result())
    assert single.cmc != market.cmc
