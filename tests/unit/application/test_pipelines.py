"""The pipelines sequence their stages: starting models first, adaptation from them; the demo's
adaptations from the source model, and none without a target score."""

from __future__ import annotations

from reidkit.application.pipelines import AdaptFromStart, Demo
from reidkit.domain.types import RetrievalMetrics, RunResult


def metrics(value: float) -> RetrievalMetrics:
    return RetrievalMetrics(mAP=value, mINP=value, cmc=[value], num_queries=1, num_valid_queries=1)


def test_adaptation_starts_from_the_models_trained_first():
    order = []

    def train(name, path):
        def run():
            order.append(name)
            return RunResult({"target": metrics(0.1)}, model=path)

        return run

    def adapt(models):
        order.append(("adapt", dict(models)))
        return RunResult({"target": metrics(0.5)}, model="adapted.pt")

    made, adapted = AdaptFromStart(
        starting={"adapt.source_model": train("source", "s.pt"), "mean_teach.peer_source_model": train("peer", "p.pt")},
        adapt=adapt,
    ).run()
    assert order == ["source", "peer", ("adapt", {"adapt.source_model": "s.pt", "mean_teach.peer_source_model": "p.pt"})]
    assert set(made) == {"adapt.source_model", "mean_teach.peer_source_model"} and adapted.model == "adapted.pt"


def test_nothing_to_train_first_adapts_at_once():
    made, adapted = AdaptFromStart(starting={}, adapt=lambda models: RunResult({}, model=str(len(models)))).run()
    assert made == {} and adapted.model == "0"


def test_the_demo_adapts_the_source_model_and_reports_the_gain():
    seen = []
    demo = Demo(
        train=lambda: ({"target": metrics(0.05)}, RunResult({"source": metrics(0.8), "target": metrics(0.4)}, model="best.pt")),
        adaptations={"a": lambda path: seen.append(path) or RunResult({"target": metrics(0.6)})},
    )
    result = demo.run()
    assert seen == ["best.pt"]
    assert result.untrained["target"].mAP == 0.05
    assert round(result.gain("a", "target"), 6) == 0.2


def test_the_demo_skips_adaptation_when_training_never_scored_the_target():
    seen = []
    demo = Demo(
        train=lambda: ({}, RunResult({"source": metrics(0.8)}, model="best.pt")),
        adaptations={"a": lambda path: seen.append(path) or RunResult({})},
    )
    assert demo.run().adapted == {} and seen == []
