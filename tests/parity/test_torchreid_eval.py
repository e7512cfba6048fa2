"""Parity of the ranking metrics with Torchreid's and OpenUnReID's Market-1501 evaluators.

Golden data (see ../shared/golden/*/): Torchreid v1.4.0 ``eval_market1501`` on a stored squared-L2
distance matrix, and OpenUnReID ``evaluate_rank`` on stored features.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from reidkit.adapters.evaluation.evaluator import RankingEvaluator
from reidkit.domain.ranking import rank_metrics
from reidkit.domain.types import EmbeddedSet, FeatureMatrix


@pytest.fixture
def market(golden):
    npz = np.load(golden / "torchreid" / "market_eval.npz")
    return {key: npz[key] for key in npz.files}, json.loads((golden / "torchreid" / "market_eval.json").read_text())


def _sets(z):
    return (
        EmbeddedSet(FeatureMatrix(z["qf"]), z["q_pids"], z["q_camids"]),
        EmbeddedSet(FeatureMatrix(z["gf"]), z["g_pids"], z["g_camids"]),
    )


def _assert_matches(metrics, cmc, mAP):
    assert len(metrics.cmc) == 50
    np.testing.assert_allclose(metrics.cmc, cmc, rtol=0, atol=1e-6)
    assert metrics.mAP == pytest.approx(float(mAP), abs=1e-6)


def test_stored_distance_matrix_reproduces_torchreid(market):
    z, info = market
    m = rank_metrics(z["distmat"], z["q_pids"], z["g_pids"], z["q_camids"], z["g_camids"], max_rank=50)
    _assert_matches(m, z["cmc"], z["mAP"])
    assert (m.num_queries, m.num_valid_queries) == (300, info["results_python_eval_market1501"]["num_valid_q"])
    # Torchreid's Cython evaluator agrees with its Python one to float32 precision, and with us.
    _assert_matches(m, z["cmc_cython"], z["mAP_cython"])


def test_mINP_matches_the_independent_reference(market):
    z, info = market
    m = rank_metrics(z["distmat"], z["q_pids"], z["g_pids"], z["q_camids"], z["g_camids"])
    reference = info["mINP_reference_not_torchreid"]["value"]
    assert m.mINP == pytest.approx(reference, abs=1e-9)
    assert m.mINP == pytest.approx(float(z["mINP_reference_not_torchreid"]), abs=1e-9)


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
def test_evaluator_from_features_reproduces_torchreid_euclidean(market, metric):
    # Torchreid's "euclidean" is squared; the plain distance ranks identically.
    z, _ = market
    _assert_matches(RankingEvaluator(metric=metric).evaluate(*_sets(z)), z["cmc"], z["mAP"])


def test_evaluator_from_features_reproduces_torchreid_cosine(market):
    z, info = market
    m = RankingEvaluator(metric="cosine").evaluate(*_sets(z))
    _assert_matches(m, z["cmc_cosine"], z["mAP_cosine"])
    assert m.mAP == pytest.approx(info["results_cosine_metric"]["mAP"], abs=1e-6)


# OpenUnReID ------------------------------------------------------------------------------------

# One pair decides the last digits of the OpenUnReID mAP: for query 262, gallery 99 (a match) and
# 780 (a miss) are 2.1e-7 apart in float64, about two float32 ulps. Our float32 GEMM puts the match
# first; the machine that made the golden file rounded them the other way. Every other pair is at
# least 4e-7 apart. The test therefore ranks float64 distances (no such accident) and applies the
# golden machine's order to that one pair: then the numbers must agree to 1e-6.
NEAR_TIE = {"query": 262, "match": 99, "miss": 780}


@pytest.fixture
def openunreid(golden):
    root = golden / "openunreid"
    features = np.load(root / "features_n2000_d256.npy")
    pids = np.load(root / "gt_labels_n2000.npy")
    cams = np.load(root / "eval_cams_n2000.npy")
    is_query = np.load(root / "eval_query_mask_n2000.npy")
    expected = json.loads((root / "expected.json").read_text())["eval_n2000"]["euclidean_sq_L2"]
    q = EmbeddedSet(FeatureMatrix(features[is_query]), pids[is_query], cams[is_query])
    g = EmbeddedSet(FeatureMatrix(features[~is_query]), pids[~is_query], cams[~is_query])
    return q, g, expected


def _float64_sq_l2(q, g):
    q, g = q.astype(np.float64), g.astype(np.float64)
    return (q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2 * q @ g.T


def test_openunreid_eval_n2000(openunreid):
    q, g, expected = openunreid
    d = _float64_sq_l2(q.features.values, g.features.values)
    i, match, miss = NEAR_TIE["query"], NEAR_TIE["match"], NEAR_TIE["miss"]
    assert g.pids[match] == q.pids[i] != g.pids[miss] and g.camids[match] != q.camids[i]
    assert 0 < d[i, miss] - d[i, match] < 3e-7  # the near-tie described above
    d[i, miss] = np.nextafter(d[i, match], -np.inf)
    m = rank_metrics(d, q.pids, g.pids, q.camids, g.camids, max_rank=50)
    assert (m.num_queries, m.num_valid_queries) == (423, 423)
    assert m.mAP == pytest.approx(expected["mAP"], abs=1e-6)
    for k in (1, 5, 10):
        assert m.rank(k) == pytest.approx(expected[f"top{k}"], abs=1e-6)


def test_openunreid_eval_n2000_through_the_float32_evaluator(openunreid):
    # Our own float32 pipeline: CMC exact; mAP off by at most the near-tie's share of one query's
    # AP (1.6e-5 here; another BLAS may tip one more ~2-ulp pair, hence the margin).
    q, g, expected = openunreid
    m = RankingEvaluator(metric="sqeuclidean").evaluate(q, g)
    for k in (1, 5, 10):
        assert m.rank(k) == pytest.approx(expected[f"top{k}"], abs=1e-6)
    assert m.mAP == pytest.approx(expected["mAP"], abs=5e-5)
