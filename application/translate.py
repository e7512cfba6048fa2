"""Translate: learn an image translator between two domains, then render a dataset in the other
domain's style (CycleGAN, SPGAN).

    train the translator on the shared epoch loop (checkpoints, exact resume, a preview of the
        translations at each evaluation)
    unless the rendering in the run folder was made by these very weights:
        for each split of the source dataset: render it through the translator
        publish the rendering (a manifest: which image came from which, and what made it)

The rendered dataset keeps the source's identities, cameras and file names, so a supervised or
adaptation run trains on it as it would on the source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import define

from reidkit.application.epoch_loop import EpochLoop
from reidkit.domain.ports import TranslatedDataset, Translator
from reidkit.domain.types import ImageRecord, TrainingProgress


@define
class Translate:
    """``splits`` maps a folder of the rendered dataset to the source records rendered into it.
    ``made_by`` names the trained translator from the loop's progress (its epochs), so that a
    rendering is redone when the run has trained further."""

    loop: EpochLoop
    translator: Translator
    rendering: TranslatedDataset
    splits: Mapping[str, Sequence[ImageRecord]]

    def run(self) -> TrainingProgress:
        progress = self.loop.run()
        made_by = made_by_epochs(progress)
        if not self.rendering.is_current(made_by):
            pairs = {}
            for folder, records in self.splits.items():
                rendered = self.translator.translate(records, self.rendering.split_dir(folder))
                pairs[folder] = tuple(zip(records, rendered, strict=True))
            self.rendering.publish(pairs, made_by)
        return progress


def made_by_epochs(progress: TrainingProgress) -> str:
    return f"translator after epoch {progress.epochs_done}"
