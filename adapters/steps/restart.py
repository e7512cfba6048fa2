"""GLC's restart: a training step's modules put back to the weights they had when the run was built
(its starting model), and its optimiser's state cleared, so training continues from the start
on corrected labels. A ``Restartable``."""

from __future__ import annotations

import structlog
import torch

from reidkit.adapters.steps.base import OptimizingStep

_log = structlog.get_logger(__name__)


class RestartFromStart:
    """Keeps a CPU copy of ``step``'s modules as built (before any checkpoint is restored into
    them: the use-case restores when it runs), and ``restart`` loads it back.

    An entry whose shape has changed since (a classifier head resized to this epoch's clusters) is
    left alone: what is sized by the labels is reset from them right after the correction. The
    optimiser's moments and step counts are cleared; its learning rate stays on the run's
    schedule (GLC re-creates its SGD at a fixed rate; docs/adaptation.md)."""

    def __init__(self, step: OptimizingStep) -> None:
        self.step = step
        self._start = [
            {name: value.detach().to("cpu", copy=True) for name, value in module.state_dict().items()}
            for module in step.step_modules()
        ]

    def restart(self) -> None:
        kept = 0
        for module, start in zip(self.step.step_modules(), self._start, strict=True):
            current = module.state_dict()
            with torch.no_grad():
                for name, value in start.items():
                    if name in current and current[name].shape == value.shape:
                        current[name].copy_(value)
                        kept += 1
        self.step.optimizer.state.clear()
        _log.info("restarted from the starting weights", tensors=kept)
