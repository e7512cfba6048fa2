"""Parity with Torchreid's k-reciprocal re-ranking fed plain Euclidean distances (golden, 300×2000).

Torchreid's engine feeds the function squared distances, which it squares again; we follow the
function's own (and Zhong et al.'s) plain-distance semantics, the golden ``rerank_plain_euclidean``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reidkit.adapters.evaluation.rerank import KReciprocalReranker, rerank
from reidkit.domain.ranking import rank_metrics


def test_rerank_matches_plain_euclidean_golden(golden: Path) -> None:
    data = np.load(golden / "torchreid" / "market_eval.npz")
    reference = np.load(golden / "torchreid" / "rerank.npz")
    distmat = rerank(data["qf"], data["gf"], k1=20, k2=6, lambda_value=0.3)
    assert distmat.dtype == np.float32
    assert distmat.shape == reference["rerank_plain_euclidean"].shape
    assert np.abs(distmat - reference["rerank_plain_euclidean"]).max() <= 1e-5

    metrics = rank_metrics(distmat, data["q_pids"], data["g_pids"], data["q_camids"], data["g_camids"])
    assert abs(metrics.mAP - float(reference["mAP_plain_euclidean"])) <= 1e-6
    np.testing.assert_allclose(metrics.cmc, reference["cmc_plain_euclidean"], atol=1e-6)
    # The engine-path variant (distances squared twice) is a different function.
    assert np.abs(distmat - reference["rerank_engine_path"]).max() > 1e-2


def test_the_bound_reranker_is_the_function(golden: Path) -> None:
    data = np.load(golden / "torchreid" / "market_eval.npz")
    q, g = data["qf"][:50], data["gf"][:400]
    np.testing.assert_array_equal(KReciprocalReranker(k1=20, k2=6, lambda_value=0.3)(q, g), rerank(q, g))


def test_plugs_into_the_ranking_evaluator(golden: Path) -> None:
    from reidkit.adapters.evaluation.evaluator import RankingEvaluator
    from reidkit.domain.types import EmbeddedSet, FeatureMatrix

    data = np.load(golden / "torchreid" / "market_eval.npz")
    reference = np.load(golden / "torchreid" / "rerank.npz")
    query = EmbeddedSet(FeatureMatrix(data["qf"]), data["q_pids"], data["q_camids"])
    gallery = EmbeddedSet(FeatureMatrix(data["gf"]), data["g_pids"], data["g_camids"])
    metrics = RankingEvaluator(reranker=KReciprocalReranker()).evaluate(query, gallery)
    assert abs(metrics.mAP - float(reference["mAP_plain_euclidean"])) <= 1e-6
