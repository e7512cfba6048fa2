"""Pipelines: runs that need other runs first. Each stage is a run the composition root builds
(from a profile) and hands over as a callable; the pipeline decides what runs when and what each
stage starts from.

    AdaptFromStart (`reidkit adapt`):
        for each starting model the adaptation lacks (source model, MMT's peer, USL's backbone):
            train it
        adapt, starting from them

    Demo (`reidkit demo`):
        score the untrained encoder, then train on the labelled source (its target score is
        direct transfer)
        for each adaptation: adapt the source model to the unlabelled target; its gain
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from attrs import define, field, frozen

from reidkit.domain.types import RetrievalMetrics, RunResult


@define
class AdaptFromStart:
    """``starting`` maps each setting that names a missing starting model to the run that trains
    it; ``adapt`` runs the adaptation given the trained files by setting."""

    starting: Mapping[str, Callable[[], RunResult]]
    adapt: Callable[[Mapping[str, str]], RunResult]

    def run(self) -> tuple[dict[str, RunResult], RunResult]:
        """The starting runs by setting, and the adaptation's result."""
        made = {setting: train() for setting, train in self.starting.items()}
        return made, self.adapt({setting: result.model for setting, result in made.items()})


@frozen
class DemoResult:
    untrained: Mapping[str, RetrievalMetrics]
    trained: RunResult
    adapted: Mapping[str, RunResult] = field(factory=dict)

    def gain(self, name: str, domain: str) -> float:
        """mAP the adaptation ``name`` added on ``domain`` over direct transfer."""
        return self.adapted[name].metrics[domain].mAP - self.trained.metrics[domain].mAP


@define
class Demo:
    """``train`` scores the untrained encoder and then trains on the source (one run folder);
    ``adaptations`` map a name to the run that adapts a source model file. Each adaptation starts
    from the source training's best model, and none runs when that training never scored
    ``target``."""

    train: Callable[[], tuple[Mapping[str, RetrievalMetrics], RunResult]]
    adaptations: Mapping[str, Callable[[str], RunResult]] = field(factory=dict)
    target: str = "target"

    def run(self) -> DemoResult:
        untrained, trained = self.train()
        if self.target not in trained.metrics:
            return DemoResult(untrained, trained)
        adapted = {name: adapt(trained.model) for name, adapt in self.adaptations.items()}
        return DemoResult(untrained, trained, adapted)
