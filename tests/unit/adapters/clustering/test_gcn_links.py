"""GLC's correction network: the focal loss, the graph, the edge head, the cluster reconstruction
and the refiner's contract."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from structlog.testing import capture_logs
from torch import nn

from reidkit.adapters.clustering.gcn_links import (
    EdgeHead,
    GcnLinkRefiner,
    adjacency,
    clusters_from_links,
    focal_loss,
    knn_graph,
    subgraphs_for,
)
from reidkit.adapters.clustering.knn import ExactKnn
from reidkit.domain.ports import LabelCorrector, LabelRefiner
from reidkit.domain.types import FeatureMatrix, PseudoLabels


def blobs(ids: int = 30, per_id: int = 8, dim: int = 16, noise: float = 0.6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(ids), per_id)
    x = rng.normal(size=(ids, dim))[truth] + rng.normal(scale=noise, size=(len(truth), dim))
    return x.astype(np.float32), truth


def small_refiner(**changes: object) -> GcnLinkRefiner:
    settings = {"knn": ExactKnn(), "k": 10, "hidden": 32, "subgraphs_per_epoch": 2, "edge_chunks": 4,
                "optimizer": "adam", "lr": 1e-2, "min_subgraph_size": 20, **changes}  # fmt: skip
    return GcnLinkRefiner(**settings)


# -- the focal loss ------------------------------------------------------------------------------


def test_the_focal_loss_matches_hand_computed_values() -> None:
    logits = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    targets = torch.tensor([1, 0, 0])
    p = [0.5, math.exp(2) / (math.exp(2) + 1), 1 / (1 + math.e)]  # softmax probability of each target
    expected = sum(-((1 - q) ** 2) * math.log(q) for q in p) / 3
    assert focal_loss(logits, targets, gamma=2.0).item() == pytest.approx(expected, rel=1e-6)
    # gamma 0 is the cross-entropy
    assert focal_loss(logits, targets, gamma=0.0).item() == pytest.approx(nn.functional.cross_entropy(logits, targets).item(), rel=1e-6)


# -- the graph and the network ----------------------------------------------------------------------


def test_the_adjacency_is_sparse_symmetric_in_its_edges_with_self_loops_and_rows_summing_to_one() -> None:
    x, _ = blobs()
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    indices, similarities = knn_graph(x, 5, ExactKnn())
    assert indices.shape == (len(x), 5) and (indices[:, 0] == np.arange(len(x))).all()
    np.testing.assert_allclose(similarities[:, 0], 1.0, atol=1e-5)
    a = adjacency(indices, similarities)
    assert a.nnz <= len(x) * (2 * 4 + 1)  # at most both directions of the kNN edges, and the diagonal
    np.testing.assert_allclose(np.asarray(a.sum(axis=1)).ravel(), 1.0, rtol=1e-6)
    assert (a.diagonal() > 0).all()
    pattern = (a > 0).astype(int)
    assert (pattern != pattern.T).nnz == 0


def test_the_edge_head_is_the_mlp_on_the_concatenated_node_embeddings() -> None:
    torch.manual_seed(0)
    head = EdgeHead(6)
    h = torch.randn(5, 6)
    first, second = torch.tensor([0, 1, 4, 2]), torch.tensor([3, 3, 0, 2])
    concatenated = nn.Sequential(head.pair, head.act, head.out)(torch.cat([h[first], h[second]], dim=1))
    torch.testing.assert_close(head(h, first, second), concatenated)


def test_the_subgraph_budget_is_upstreams_at_markets_size_and_shrinks_with_the_data() -> None:
    assert subgraphs_for(12_936) == 203
    assert subgraphs_for(200_000) == 203
    assert subgraphs_for(1_800) == 29
    assert subgraphs_for(10) == 1


# -- the cluster reconstruction --------------------------------------------------------------------


def clique(members: list[int]) -> list[tuple[int, int]]:
    return [(i, j) for i in members for j in members if i != j]


def test_the_shared_neighbour_filter_cuts_a_bridge_between_two_cliques() -> None:
    # two 5-cliques, joined by one kept link both ways (4 <-> 5): the two ends share no kept
    # neighbour, so the bridge goes and the cliques stay two clusters
    links = np.array([*clique([0, 1, 2, 3, 4]), *clique([5, 6, 7, 8, 9]), (4, 5), (5, 4)])
    labels = clusters_from_links(links, 10, shared_threshold=0.6, min_cluster_size=5)
    assert labels.tolist() == [0] * 5 + [1] * 5

def test_an_edge_survives_only_above_the_shared_threshold() -> None:
    # in a 5-clique each end shares 3 of its 4 kept neighbours with the other: 0.75
    links = np.array(clique([0, 1, 2, 3, 4]))
    assert clusters_from_links(links, 5, shared_threshold=0.74, min_cluster_size=5).tolist() == [0] * 5
    assert clusters_from_links(links, 5, shared_threshold=0.75, min_cluster_size=5).tolist() == [-1] * 5


def test_components_below_the_minimum_size_become_outliers() -> None:
    links = np.array([*clique([0, 1, 2, 3, 4]), *clique([5, 6, 7])])
    labels = clusters_from_links(links, 10, shared_threshold=0.6, min_cluster_size=5)
    assert labels.tolist() == [0] * 5 + [-1] * 5
    assert clusters_from_links(np.zeros((0, 2), dtype=np.int64), 4, 0.6, 5).tolist() == [-1] * 4


def test_a_kept_link_to_a_sample_with_no_kept_links_of_its_own_is_dropped() -> None:
    # 5 -> 0 is kept but 5 keeps nothing else and nobody links to it: it shares no neighbour
    links = np.array([*clique([0, 1, 2, 3, 4]), (5, 0)])
    assert clusters_from_links(links, 6, 0.6, 5).tolist() == [0] * 5 + [-1]


# -- the refiner ---------------------------------------------------------------------------------


def noisy_labels(truth: np.ndarray, seed: int = 0) -> PseudoLabels:
    """Pairs of identities merged, some samples left out: what a clustering gets wrong."""
    rng = np.random.default_rng(seed)
    labels = np.where(truth % 5 == 0, truth + 1, truth)
    labels[rng.random(len(truth)) < 0.1] = -1
    _, labels[labels >= 0] = np.unique(labels[labels >= 0], return_inverse=True)
    return PseudoLabels(labels)


def test_the_refiner_keeps_the_length_marks_outliers_and_is_a_refiner_and_a_corrector() -> None:
    x, truth = blobs()
    refiner = small_refiner()
    assert isinstance(refiner, LabelRefiner) and isinstance(refiner, LabelCorrector)
    labels = refiner.refine(FeatureMatrix(x), noisy_labels(truth))
    assert len(labels) == len(x)
    sizes = np.bincount(labels.labels[labels.labels >= 0])
    assert labels.num_clusters > 0 and sizes.min() >= 5  # smaller components became -1


def test_the_refiner_is_deterministic_per_seed_and_epoch_and_leaves_the_global_generators_alone() -> None:
    x, truth = blobs(noise=1.0)
    features, labels = FeatureMatrix(x), noisy_labels(truth)
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    before = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone())
    first = small_refiner(seed=3).at_epoch(4).refine(features, labels)
    after = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone())
    assert before[0] == after[0] and (before[1] == after[1]).all() and torch.equal(before[2], after[2])
    assert np.array_equal(small_refiner(seed=3).at_epoch(4).refine(features, labels).labels, first.labels)
    trained = [small_refiner(seed=3).at_epoch(e).train(x[labels.labels >= 0], labels.labels[labels.labels >= 0])[0] for e in (4, 5)]
    assert not torch.equal(trained[0].linear.weight, trained[1].linear.weight)  # another epoch, other draws


def test_training_reports_its_progress_about_every_tenth_of_the_subgraphs() -> None:
    x, truth = blobs()
    labels = noisy_labels(truth)
    clustered = labels.labels >= 0
    with capture_logs() as logs:
        small_refiner(subgraphs_per_epoch=10, epochs=2).train(x[clustered], labels.labels[clustered])
    progress = [entry for entry in logs if entry["event"] == "glc: training the link network"]
    assert [entry["subgraphs"] for entry in progress] == [f"{i}/20" for i in range(2, 21, 2)]
    assert all(math.isfinite(entry["focal_loss"]) and entry["focal_loss"] >= 0 and entry["nodes"] >= 20 for entry in progress)


def test_the_refiner_corrects_merged_identities_on_separable_features() -> None:
    from reidkit.adapters.clustering.quality import TrueIdentityScorer

    x, truth = blobs(noise=0.5)
    labels = noisy_labels(truth)
    scorer = TrueIdentityScorer(truth)
    corrected = small_refiner(subgraphs_per_epoch=4, edge_chunks=10).refine(FeatureMatrix(x), labels)
    before, after = scorer.score(labels), scorer.score(corrected)
    assert after["precision"] > before["precision"] + 0.2  # the merged identities are apart again
    assert after["ari"] > before["ari"] + 0.15 and corrected.num_outliers < 0.1 * len(x)


def test_any_feature_size_works() -> None:
    x, truth = blobs(dim=7)
    assert len(small_refiner().refine(FeatureMatrix(x), noisy_labels(truth))) == len(x)


def test_fewer_than_two_clusters_are_returned_unchanged() -> None:
    x, _ = blobs()
    labels = PseudoLabels(np.where(np.arange(len(x)) < 10, 0, -1))
    assert small_refiner().refine(FeatureMatrix(x), labels) is labels


def test_a_refiner_with_no_subgraph_large_enough_keeps_the_labels() -> None:
    x, truth = blobs()
    labels = noisy_labels(truth)
    refiner = small_refiner(member_fraction=0.1, cluster_num=1)
    assert refiner.refine(FeatureMatrix(x), labels) is labels


def test_labels_of_another_length_are_refused() -> None:
    x, truth = blobs()
    with pytest.raises(ValueError, match=r"^239 labels for 240 samples$"):
        small_refiner().refine(FeatureMatrix(x), PseudoLabels(noisy_labels(truth).labels[:-1]))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"k": 0}, "k must be an int >= 1, got 0"),
        ({"member_fraction": 1.5}, r"member_fraction must be in \(0, 1\], got 1.5"),
        ({"link_threshold": 1.0}, r"link_threshold must be in \[0, 1\), got 1.0"),
        ({"optimizer": "rmsprop"}, "'optimizer' must be in"),
    ],
)
def test_the_settings_are_validated(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        small_refiner(**changes)


def test_the_shared_neighbour_counts_in_blocks_are_the_dense_products() -> None:
    from scipy.sparse import csr_matrix

    from reidkit.adapters.clustering.gcn_links import shared_neighbours

    rng = np.random.default_rng(0)
    links = np.unique(rng.integers(0, 12, size=(60, 2)), axis=0)
    links = links[links[:, 0] != links[:, 1]]
    kept = csr_matrix((np.ones(len(links)), (links[:, 0], links[:, 1])), shape=(12, 12))
    dense = kept.toarray()
    expected = (dense @ dense.T)[links[:, 0], links[:, 1]]
    np.testing.assert_array_equal(shared_neighbours(kept, links, block=7), expected)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (the GPU suite runs it)")
def test_on_cuda_the_network_trains_on_the_device_and_corrects_as_on_the_cpu() -> None:
    from reidkit.adapters.clustering.quality import TrueIdentityScorer

    x, truth = blobs(noise=0.5)
    labels = noisy_labels(truth)
    clustered = labels.labels >= 0
    refiner = small_refiner(subgraphs_per_epoch=4, edge_chunks=10, device="cuda")
    gcn, head, _ = refiner.train(x[clustered], labels.labels[clustered])
    assert all(p.is_cuda for p in [*gcn.parameters(), *head.parameters()])
    scorer = TrueIdentityScorer(truth)
    on_cuda = scorer.score(refiner.refine(FeatureMatrix(x), labels))
    on_cpu = scorer.score(small_refiner(subgraphs_per_epoch=4, edge_chunks=10).refine(FeatureMatrix(x), labels))
    assert on_cuda["ari"] > scorer.score(labels)["ari"] + 0.15  # the merged identities are apart again
    assert abs(on_cuda["ari"] - on_cpu["ari"]) < 0.05
