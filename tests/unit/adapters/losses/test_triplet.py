"""Batch-hard triplet loss against hand-computed values and a per-anchor loop."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from reidkit.adapters.losses.triplet import SoftmaxTripletLoss, TripletLoss, batch_hard_triplet, euclidean_distances, softmax_triplet

# Points on a line: labels 0 at 0 and 1, labels 1 at 3 and 5.
FEATURES = torch.tensor([[0.0], [1.0], [3.0], [5.0]])
LABELS = torch.tensor([0, 0, 1, 1])
# Hardest positive / negative per anchor: (1, 3), (1, 2), (2, 2), (2, 4).
GAPS = [1 - 3, 1 - 2, 2 - 2, 2 - 4]


def test_hand_computed_hard_margin():
    out = batch_hard_triplet(FEATURES, LABELS, margin=0.3)
    expected = sum(max(0.0, g + 0.3) for g in GAPS) / 4  # only anchor 2 violates: 0.3 / 4
    assert float(out.loss) == pytest.approx(expected) == pytest.approx(0.075)
    assert float(out.precision) == pytest.approx(0.75)  # anchor 2 has d_an == d_ap
    assert float(TripletLoss()(FEATURES, LABELS)) == pytest.approx(0.075)


def test_hand_computed_soft_margin():
    expected = sum(math.log1p(math.exp(g)) for g in GAPS) / 4
    assert float(TripletLoss(soft_margin=True)(FEATURES, LABELS)) == pytest.approx(expected)
    assert float(TripletLoss(margin=None)(FEATURES, LABELS)) == pytest.approx(expected)


# The hardest (d_ap, d_an) per anchor of FEATURES: (1, 3), (1, 2), (2, 2), (2, 4).
PAIRS = [(1.0, 3.0), (1.0, 2.0), (2.0, 2.0), (2.0, 4.0)]


def test_hand_computed_softmax_triplet():
    def by_hand(weight: float) -> float:
        total = 0.0
        for d_ap, d_an in PAIRS:
            norm = math.log(math.exp(d_ap) + math.exp(d_an))
            total += -weight * (d_ap - norm) - (1 - weight) * (d_an - norm)
        return total / len(PAIRS)

    assert float(softmax_triplet(FEATURES, LABELS, weight=0.3).loss) == pytest.approx(by_hand(0.3))
    assert float(SoftmaxTripletLoss(0.3)(FEATURES, LABELS)) == pytest.approx(by_hand(0.3))
    # weight 0 is the soft margin: softplus(d_ap - d_an)
    assert float(SoftmaxTripletLoss(0.0)(FEATURES, LABELS)) == pytest.approx(float(TripletLoss(soft_margin=True)(FEATURES, LABELS)))


def test_the_softmax_triplet_without_valid_anchors_is_a_zero_in_the_graph_and_its_weight_is_checked():
    features = torch.tensor([[0.0], [1.0]], requires_grad=True)
    out = softmax_triplet(features, torch.tensor([0, 1]), weight=0.3)  # no anchor has a positive
    assert float(out.loss) == 0.0
    out.loss.backward()
    assert features.grad is not None and float(features.grad.abs().sum()) == 0.0
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        SoftmaxTripletLoss(1.0)


def test_euclidean_distances_in_two_dimensions():
    dist = euclidean_distances(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
    torch.testing.assert_close(dist, torch.tensor([[1e-6, 5.0], [5.0, 1e-6]]))


def reference(features, labels, margin):
    losses = []
    for i in range(len(labels)):
        d = torch.linalg.norm(features - features[i], dim=1)
        pos = [d[j] for j in range(len(labels)) if labels[j] == labels[i] and j != i]
        neg = [d[j] for j in range(len(labels)) if labels[j] != labels[i]]
        losses.append(F.relu(max(pos) - min(neg) + margin))
    return torch.stack(losses).mean()


def test_vectorised_matches_a_per_anchor_loop_and_normalisation():
    torch.manual_seed(0)
    features, labels = torch.randn(12, 8), torch.arange(4).repeat_interleave(3)
    torch.testing.assert_close(TripletLoss(0.5)(features, labels), reference(features, labels, 0.5))
    normed = TripletLoss(0.5, normalize=True)
    torch.testing.assert_close(normed(features * 7, labels), reference(F.normalize(features), labels, 0.5))


def test_gradients_are_finite_with_duplicate_features():
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], requires_grad=True)
    TripletLoss(1.0)(features, LABELS).backward()
    assert torch.isfinite(features.grad).all()


def test_anchors_without_a_positive_or_negative_are_skipped():
    # Anchor 3 (label 2) has no positive; the loss averages over the other three only.
    features = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
    labels = torch.tensor([0, 0, 1, 2])
    out = batch_hard_triplet(features, labels, margin=0.3)
    # anchor0: (1, 3) -> 0; anchor1: (1, 2) -> 0; anchor2 has no positive either.
    assert float(out.loss) == 0.0
    single = torch.zeros(3, 2, requires_grad=True)
    loss = TripletLoss()(single, torch.tensor([0, 0, 0]))  # no negatives at all
    loss.backward()
    assert float(loss.detach()) == 0.0


def test_negative_margin_is_rejected():
    with pytest.raises(ValueError, match="margin"):
        TripletLoss(-0.1)
