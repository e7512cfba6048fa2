"""What people look at while a translator trains: at each evaluation, a grid of fixed source
images, their translation, the translation cycled back, and a random target image beside each,
written to the run folder (``previews/epoch_NNN.png``) and to TensorBoard."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reidkit.adapters.data.images import load_image
from reidkit.adapters.data.transforms import build_gan_transform
from reidkit.adapters.translation.grid import grid_tensor, image_grid
from reidkit.domain.types import ImageRecord, PseudoLabels, RetrievalMetrics, StepReport, TrainingProgress

PREVIEW_DIR = "previews"


def preview_images(
    records: Sequence[ImageRecord], count: int, *, seed: int, height: int, width: int
) -> torch.Tensor:
    """``count`` of ``records`` (drawn once from ``seed``: the same images at every evaluation)
    as a [-1, 1] batch at the translator's input size."""
    if not records:
        raise ValueError("no images to preview")
    chosen = np.random.default_rng(seed).choice(len(records), size=min(count, len(records)), replace=False)
    transform = build_gan_transform(height, width, flip_p=0.0)
    return torch.stack([transform(load_image(records[int(i)].path)) for i in sorted(chosen)])


class TranslationPreview:
    """A ``TrainingObserver`` (rank 0 only: wrap it as the run's observers are) that writes the
    grid after the epochs ``evaluates_after`` picks. ``to_target`` and ``to_source`` are the
    generators (modules, read at each preview); ``source`` and ``target`` fixed [-1, 1] batches."""

    def __init__(
        self,
        to_target: nn.Module,
        to_source: nn.Module,
        source: torch.Tensor,
        target: torch.Tensor,
        run_dir: str | Path,
        *,
        evaluates_after: Callable[[int], bool],
        tensorboard: bool = True,
    ) -> None:
        self.to_target, self.to_source = to_target, to_source
        self.source, self.target = source, target
        self.folder = Path(run_dir) / PREVIEW_DIR
        self.events = Path(run_dir) / "events"
        self.evaluates_after = evaluates_after
        self.tensorboard = tensorboard
        self.written: list[Path] = []

    def render(self) -> torch.Tensor:
        """The grid's columns side by side: (rows, columns, 3, H, W) in [-1, 1]."""
        device = next(self.to_target.parameters()).device
        modes = self.to_target.training, self.to_source.training
        self.to_target.eval()
        self.to_source.eval()
        try:
            with torch.no_grad():
                source = self.source.to(device)
                translated = self.to_target(source)
                cycled = self.to_source(translated)
        finally:
            self.to_target.train(modes[0])
            self.to_source.train(modes[1])
        target = self.target[torch.arange(len(source)) % len(self.target)]
        return torch.stack([source.cpu(), translated.float().cpu(), cycled.float().cpu(), target.cpu()], dim=1)

    def on_epoch_end(self, epoch: int) -> None:
        if not self.evaluates_after(epoch):
            return
        columns = self.render().unbind(dim=1)
        grid = image_grid(columns)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"epoch_{epoch + 1:03d}.png"
        grid.save(path)
        self.written.append(path)
        if self.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            with SummaryWriter(str(self.events)) as writer:
                writer.add_image("translation/source|translated|cycled|target", grid_tensor(grid), epoch + 1)

    def on_run_start(self, *, start_epoch: int, epochs: int, steps_per_epoch: int) -> None:
        return None

    def on_epoch_start(self, epoch: int) -> None:
        return None

    def on_step(self, epoch: int, step: int, report: StepReport) -> None:
        return None

    def on_evaluation(self, epoch: int, name: str, metrics: RetrievalMetrics) -> None:
        return None

    def on_pseudo_labels(self, epoch: int, labels: PseudoLabels, quality: Mapping[str, float]) -> None:
        return None

    def on_run_end(self, progress: TrainingProgress) -> None:
        return None
