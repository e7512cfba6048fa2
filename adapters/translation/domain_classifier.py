"""How much of the domain gap a translation closed, measured by a judge that never saw a translation.

A small CNN learns to tell real source images from real target images. Shown translated source
images, the share it calls "target" says how target-like the translation made them: untranslated
source images give the baseline (near 0 for a good judge), a perfect translation would approach the
share for real target images. The GAN's own discriminator cannot serve: it is trained against the
generator and so scores the translation on a moving scale.

The judge is deliberately small and trained briefly: it should pick up the low-level style (colour,
illumination, texture) that image translation changes, not memorise identities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WIDTHS = (16, 32, 64, 64)
MIN_SIDE = 16


class DomainClassifier(nn.Module):
    """Four stride-2 3x3 conv blocks, a global average pool and one logit for "target".

    The pool makes it indifferent to the input size (any H, W >= 16), so the same judge fits
    Market's 256x128 crops and a test's 32x16 ones.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for width in WIDTHS:
            layers += [
                nn.Conv2d(in_channels, width, kernel_size=3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            in_channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(in_channels, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) images in [-1, 1] to (N,) logits; positive means "target"."""
        pooled = self.features(images).mean(dim=(2, 3))
        return self.head(pooled).squeeze(1)


def _check_images(name: str, images: torch.Tensor) -> None:
    shape = tuple(images.shape)
    if images.dim() != 4 or shape[1] != 3 or min(shape[2:]) < MIN_SIDE:
        raise ValueError(f"{name} images must be (N, 3, H, W) with H, W >= {MIN_SIDE}, got shape {shape}")
    if shape[0] == 0:
        raise ValueError(f"{name} image set is empty (shape {shape})")


def _index_stream(size: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """``length`` indices into a set of ``size``: fresh permutations back to back, so the smaller
    set is repeated evenly rather than sampled with replacement."""
    repeats = -(-length // size)
    return torch.cat([torch.randperm(size, generator=generator) for _ in range(repeats)])[:length]


def _random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flip = torch.rand(images.shape[0], generator=generator) < 0.5
    flip = flip.to(images.device).view(-1, 1, 1, 1)
    return torch.where(flip, images.flip(-1), images)


def train_domain_classifier(
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    seed: int,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 1e-3,
    device: str | torch.device = "cpu",
) -> DomainClassifier:
    """Train a judge on real source vs real target images; returned in eval mode on ``device``.

    Every batch is half source, half target, so an unbalanced pair of sets cannot teach it to
    answer the majority domain. An epoch is one pass over the larger set. All randomness (weights,
    order, flips) comes from ``seed`` through a private generator and a forked global RNG, so a
    run that trains a judge mid-way draws the same numbers afterwards as one that does not.
    """
    _check_images("source", source)
    _check_images("target", target)
    if source.shape[1:] != target.shape[1:]:
        raise ValueError(
            f"source and target images differ in shape: {tuple(source.shape[1:])} vs {tuple(target.shape[1:])}"
        )
    if epochs < 1 or batch_size < 2:
        raise ValueError(f"need epochs >= 1 and batch_size >= 2, got epochs={epochs}, batch_size={batch_size}")
    device = torch.device(device)
    # The weights are drawn on the CPU, so only the CPU generator is forked and seeded: seeding
    # with torch.manual_seed would also reseed (and so change) every CUDA generator.
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        classifier = DomainClassifier()
    classifier.to(device).train()
    optimizer = torch.optim.Adam(classifier.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    half = batch_size // 2
    steps = -(-max(source.shape[0], target.shape[0]) // half)
    labels = torch.cat([torch.zeros(half), torch.ones(half)]).to(device)
    for _ in range(epochs):
        source_order = _index_stream(source.shape[0], steps * half, generator)
        target_order = _index_stream(target.shape[0], steps * half, generator)
        for step in range(steps):
            window = slice(step * half, (step + 1) * half)
            batch = torch.cat(
                [
                    source[source_order[window].to(source.device)].to(device, torch.float32),
                    target[target_order[window].to(target.device)].to(device, torch.float32),
                ]
            )
            batch = _random_flip(batch, generator)
            loss = F.binary_cross_entropy_with_logits(classifier(batch), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return classifier.eval()


def target_share(classifier: DomainClassifier, images: torch.Tensor, *, batch_size: int = 256) -> float:
    """Fraction of ``images`` the judge calls "target" (logit > 0)."""
    _check_images("scored", images)
    was_training = classifier.training
    device = next(classifier.parameters()).device
    classifier.eval()
    hits = 0
    try:
        with torch.no_grad():
            for start in range(0, images.shape[0], batch_size):
                batch = images[start : start + batch_size].to(device, torch.float32)
                hits += int((classifier(batch) > 0).sum().item())
    finally:
        classifier.train(was_training)
    return hits / images.shape[0]


def classifier_accuracy(classifier: DomainClassifier, source: torch.Tensor, target: torch.Tensor) -> float:
    """Balanced accuracy on held-out real images: how far to trust the judge's shares at all."""
    return 0.5 * ((1.0 - target_share(classifier, source)) + target_share(classifier, target))
