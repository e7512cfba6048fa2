"""Label-smoothing cross-entropy equals its formula."""

from __future__ import annotations

import pytest
import torch

from reidkit.adapters.losses.cross_entropy import CrossEntropyLoss


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.3])
def test_matches_the_smoothed_target_formula(epsilon):
    torch.manual_seed(0)
    logits, targets = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 4, 0])
    log_p = torch.log_softmax(logits, dim=1)
    smoothed = torch.full_like(log_p, epsilon / 5)
    smoothed[torch.arange(6), targets] += 1 - epsilon
    expected = -(smoothed * log_p).sum(dim=1).mean()
    torch.testing.assert_close(CrossEntropyLoss(epsilon)(logits, targets), expected)


def test_default_epsilon_and_half_precision_logits():
    loss = CrossEntropyLoss()
    assert loss.epsilon == 0.1
    logits = torch.randn(4, 3).to(torch.bfloat16)
    assert loss(logits, torch.tensor([0, 1, 2, 0])).dtype == torch.float32


def test_epsilon_out_of_range():
    with pytest.raises(ValueError, match="epsilon"):
        CrossEntropyLoss(1.0)


def test_part_logits_average_the_per_part_losses():
    # A part-based head (PCB) stacks its stripes' logits as (N, parts, K): the loss is each
    # stripe's cross-entropy against the same labels, averaged over the stripes (Torchreid's
    # DeepSupervision) or summed (the PCB paper).
    torch.manual_seed(0)
    logits, targets = torch.randn(4, 6, 5), torch.tensor([0, 1, 2, 4])
    per_part = torch.stack([CrossEntropyLoss(0.1)(logits[:, p], targets) for p in range(6)])
    torch.testing.assert_close(CrossEntropyLoss(0.1)(logits, targets), per_part.mean())
    torch.testing.assert_close(CrossEntropyLoss(0.1, parts="sum")(logits, targets), per_part.sum())
    # Two-dimensional logits ignore the part reduction.
    torch.testing.assert_close(CrossEntropyLoss(0.1, parts="sum")(logits[:, 0], targets), per_part[0])
    with pytest.raises(ValueError, match="parts"):
        CrossEntropyLoss(parts="max")
