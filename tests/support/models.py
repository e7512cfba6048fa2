"""What the backbone tests share: input sizes, a parameter count, and one training step on a
batch shaped like the tiny preset's."""

from __future__ import annotations

import torch
from torch import nn

# The standard re-ID input, the embedded data's and the tiny preset's (height, width).
STANDARD, EMBEDDED, TINY = (256, 128), (128, 64), (64, 32)
SIZES = (STANDARD, EMBEDDED, TINY)
# The tiny preset's P x K batch: 4 identities x 2 images.
TINY_IDS, TINY_PER_ID = 4, 2


def parameter_count(*modules: nn.Module) -> int:
    return sum(p.numel() for module in modules for p in module.parameters())


def tiny_batch(seed: int = 0):  # noqa: ANN201 - a TrainingBatch
    """A TrainingBatch shaped like the tiny preset's: 4 ids x 2 images of 64x32, each identity a
    distinct colour plus noise."""
    from reidkit.adapters.data.batch import SOURCE_DOMAIN, TrainingBatch

    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(TINY_IDS).repeat_interleave(TINY_PER_ID)
    colours = torch.rand(TINY_IDS, 3, 1, 1, generator=gen) * 2 - 1
    images = colours[labels] + 0.3 * torch.randn(len(labels), 3, *TINY, generator=gen)
    return TrainingBatch.of_domain(images, labels, torch.arange(len(labels)), SOURCE_DOMAIN)


def train_steps(model: nn.Module, steps: int = 2, *, lr: float = 3.5e-4) -> list[dict[str, float]]:
    """``steps`` SupervisedSteps (BoT's ID + triplet losses, Adam) on tiny batches; each step's
    losses as floats. The model's parameters must change and every loss must be finite."""
    from reidkit.adapters.losses.weighted import id_and_triplet_losses
    from reidkit.adapters.steps.base import StepRuntime
    from reidkit.adapters.steps.optim import build_optimizer
    from reidkit.adapters.steps.supervised import SupervisedStep

    losses = id_and_triplet_losses(
        ce_weight=1.0, label_smoothing=0.1, triplet_weight=1.0, triplet_margin=0.3, soft_margin=False, triplet_on="features"
    )
    optimizer = build_optimizer("adam", model, lr=lr, weight_decay=5e-4)
    step = SupervisedStep(model, optimizer, losses, runtime=StepRuntime(seed=0))
    step.begin_epoch(0)
    return [{name: float(value) for name, value in step.run(tiny_batch(i)).losses.items()} for i in range(steps)]
