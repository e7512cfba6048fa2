"""The translation-quality judge: it must separate the domains by style, be reproducible, and leave
the global RNG alone."""

from __future__ import annotations

import pytest
import torch

from reidkit.adapters.translation.domain_classifier import (
    DomainClassifier,
    classifier_accuracy,
    target_share,
    train_domain_classifier,
)

H, W = 32, 16


def _domain(n: int, tint_channel: int, generator: torch.Generator) -> torch.Tensor:
    """Dark-ish noise with one channel lifted: red (0) for the source, blue (2) for the target."""
    images = (-0.5 + 0.25 * torch.randn(n, 3, H, W, generator=generator)).clamp(-1, 1)
    images[:, tint_channel] = (images[:, tint_channel] + 0.5).clamp(-1, 1)
    return images


def _recolour(source: torch.Tensor) -> torch.Tensor:
    """Swap red and blue: a source image with the target's tint, i.e. a perfect "translation"."""
    return source[:, [2, 1, 0]]


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    return {
        "source": _domain(300, 0, generator),
        "target": _domain(200, 2, generator),  # unbalanced on purpose: batches are balanced anyway
        "held_source": _domain(200, 0, generator),
        "held_target": _domain(200, 2, generator),
    }


@pytest.fixture(scope="module")
def trained(data):
    return train_domain_classifier(data["source"], data["target"], seed=3, epochs=3)


def test_the_classifier_takes_any_size_from_16():
    classifier = DomainClassifier().eval()
    for shape in [(2, 3, 16, 16), (2, 3, 64, 32), (1, 3, 17, 23)]:
        assert classifier(torch.zeros(shape)).shape == (shape[0],)


def test_trained_judge_separates_the_domains(data, trained):
    assert not trained.training
    assert classifier_accuracy(trained, data["held_source"], data["held_target"]) > 0.9
    assert target_share(trained, data["held_source"]) < 0.1
    assert target_share(trained, data["held_target"]) > 0.9


def test_recoloured_source_counts_as_target(data, trained):
    assert target_share(trained, _recolour(data["held_source"])) > 0.9


def test_target_share_restores_the_mode_and_batches(data, trained):
    trained.train()
    try:
        small = target_share(trained, data["held_target"], batch_size=7)
        assert trained.training
    finally:
        trained.eval()
    assert small == target_share(trained, data["held_target"])


def test_same_seed_same_judge(data, trained):
    again = train_domain_classifier(data["source"], data["target"], seed=3, epochs=3)
    for (name, a), (_, b) in zip(trained.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    with torch.no_grad():
        assert torch.equal(trained(data["held_source"]), again(data["held_source"]))


def test_another_seed_another_judge(data):
    one = train_domain_classifier(data["source"][:64], data["target"][:64], seed=1, epochs=1)
    two = train_domain_classifier(data["source"][:64], data["target"][:64], seed=2, epochs=1)
    assert not torch.equal(one.head.weight, two.head.weight)


def test_training_leaves_the_global_rng_alone(data):
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    train_domain_classifier(data["source"][:64], data["target"][:64], seed=5, epochs=1)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize(
    ("source", "target", "needle"),
    [
        (torch.zeros(0, 3, H, W), torch.zeros(4, 3, H, W), "source image set is empty"),
        (torch.zeros(4, 3, H, W), torch.zeros(0, 3, H, W), "target image set is empty"),
        (torch.zeros(4, 3, H, W), torch.zeros(4, 3, H, 2 * W), "differ in shape"),
        (torch.zeros(4, 1, H, W), torch.zeros(4, 1, H, W), "source images must be (N, 3, H, W)"),
    ],
)
def test_bad_sets_are_refused_on_one_line(source, target, needle):
    with pytest.raises(ValueError) as caught:
        train_domain_classifier(source, target, seed=0)
    assert needle in str(caught.value)
    assert "\n" not in str(caught.value)
