"""The adversarial and metric losses of CycleGAN / SPGAN.

LSGAN (Mao et al. 2017) replaces the log loss because it gives steadier GAN training; the
contrastive loss (Hadsell et al. 2006) drives SPGAN's similarity-preserving constraint.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Metric = Callable[[torch.Tensor], torch.Tensor]


def lsgan_loss(prediction: torch.Tensor, real: bool) -> torch.Tensor:
    """Mean squared error of a PatchGAN score map against 1 (real) or 0 (fake), in float32: the
    map may come out of bf16 autocast, too coarse for a loss."""
    prediction = prediction.float()
    target = torch.full_like(prediction, 1.0 if real else 0.0)
    return F.mse_loss(prediction, target)


def contrastive_loss(a: torch.Tensor, b: torch.Tensor, *, same: bool, margin: float = 2.0) -> torch.Tensor:
    """Contrastive loss over the row pairs (a[i], b[i]): similar pairs are pulled together,
    dissimilar ones pushed out to ``margin`` and left alone beyond it."""
    if margin <= 0:
        raise ValueError(f"contrastive margin must be > 0, got {margin}")
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"contrastive_loss needs two (N, D) tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    # pairwise_distance adds eps=1e-6 to the difference, as the reference implementation does.
    d = F.pairwise_distance(a.float(), b.float())
    if same:
        return d.pow(2).mean()
    return (margin - d).clamp(min=0).pow(2).mean()


def spgan_generator_metric_loss(
    metric: Metric,
    real_a: torch.Tensor,
    real_b: torch.Tensor,
    fake_a: torch.Tensor,
    fake_b: torch.Tensor,
    *,
    margin: float = 2.0,
) -> torch.Tensor:
    """The generators' similarity-preserving term. fake_b = G(real_a) and fake_a = F(real_b).

    A translated image keeps its source's identity, so it should embed close to its source
    (self-similarity) and, since the two domains share no identity, far from the real images of
    the domain it was translated into (domain dissimilarity). Gradient flows into the fakes: that
    is the point.
    """
    e_real_a, e_real_b, e_fake_a, e_fake_b = (metric(x) for x in (real_a, real_b, fake_a, fake_b))
    pos_ab = contrastive_loss(e_real_a, e_fake_b, same=True, margin=margin)
    pos_ba = contrastive_loss(e_real_b, e_fake_a, same=True, margin=margin)
    neg_b = contrastive_loss(e_fake_b, e_real_b, same=False, margin=margin)
    neg_a = contrastive_loss(e_fake_a, e_real_a, same=False, margin=margin)
    # The published SPGAN weighting.
    return (pos_ab + pos_ba + 0.5 * (neg_b + neg_a)) / 4


def spgan_metric_loss(
    metric: Metric,
    real_a: torch.Tensor,
    real_b: torch.Tensor,
    fake_a: torch.Tensor,
    fake_b: torch.Tensor,
    *,
    margin: float = 2.0,
) -> torch.Tensor:
    """The metric network's own loss. The fakes are detached here: this step trains the metric
    only, and must not push gradient into the generators."""
    e_real_a, e_real_b = metric(real_a), metric(real_b)
    e_fake_a, e_fake_b = metric(fake_a.detach()), metric(fake_b.detach())
    pos_ab = contrastive_loss(e_real_a, e_fake_b, same=True, margin=margin)
    pos_ba = contrastive_loss(e_real_b, e_fake_a, same=True, margin=margin)
    neg = contrastive_loss(e_real_a, e_real_b, same=False, margin=margin)
    # The published SPGAN weighting.
    return (pos_ab + pos_ba + 2 * neg) / 3
