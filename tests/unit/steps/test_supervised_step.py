"""SupervisedStep: learns a toy batch, is bit-exact per seed, and resumes exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reidkit.adapters.losses.cross_entropy import CrossEntropyLoss
from reidkit.adapters.losses.triplet import TripletLoss
from reidkit.adapters.models.backbone import ReidNet
from reidkit.adapters.models.pooling import GlobalAveragePooling
from reidkit.adapters.runtime.checkpoint import TorchCheckpointer
from reidkit.adapters.steps.optim import WarmupSchedule, build_optimizer
from reidkit.adapters.steps.supervised import SupervisedStep
from reidkit.domain.types import StepReport, TrainingProgress

IDS, PER_ID = 4, 4


def toy_batch(epoch: int = 0, index: int = 0) -> dict:
    """4 identities x 4 images, each identity a distinct colour, plus noise fixed by (epoch, index)."""
    gen = torch.Generator().manual_seed(1000 * epoch + index)
    labels = torch.arange(IDS).repeat_interleave(PER_ID)
    colours = torch.eye(4)[:, :3] * 2 - 0.5
    images = colours[labels][:, :, None, None] + 0.3 * torch.randn(len(labels), 3, 8, 4, generator=gen)
    return {"image": images, "label": labels, "camid": torch.zeros_like(labels), "index": torch.arange(len(labels))}


def make_step(init_seed: int = 0, *, seed: int = 0, amp: bool = False, dropout: float = 0.3) -> SupervisedStep:
    torch.manual_seed(init_seed)
    trunk = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    model = ReidNet(trunk, 8, num_classes=IDS, pooling=GlobalAveragePooling(), dropout=dropout)
    optimizer = build_optimizer("adam", model, lr=1e-2, weight_decay=5e-4)
    return SupervisedStep(
        model,
        optimizer,
        scheduler=WarmupSchedule(optimizer, warmup_epochs=1, warmup_factor=0.5, milestones=[2]),
        cross_entropy=CrossEntropyLoss(0.1),
        triplet=TripletLoss(0.3),
        amp=amp,
        seed=seed,
    )


def train(step: SupervisedStep, epochs: range, steps: int = 3) -> list[StepReport]:
    reports = []
    for epoch in epochs:
        step.begin_epoch(epoch)
        reports += [step.run(toy_batch(epoch, i)) for i in range(steps)]
    return reports


def same_parameters(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_loss_decreases_on_a_separable_batch():
    step = make_step(dropout=0.0)
    step.begin_epoch(1)
    totals = [float(step.run(toy_batch()).losses["total"]) for _ in range(15)]
    # Label smoothing keeps CE above zero, so "clearly lower" rather than "near zero".
    assert sum(totals[-3:]) < 0.7 * sum(totals[:3])
    assert totals[-1] < totals[0]


def test_report_holds_detached_scalars_batch_size_and_lr():
    step = make_step()
    step.begin_epoch(0)
    report = step.run(toy_batch())
    assert set(report.losses) == {"ce", "triplet", "total"}
    for value in report.losses.values():
        assert isinstance(value, torch.Tensor) and value.ndim == 0 and not value.requires_grad
    assert float(report.losses["total"]) == pytest.approx(float(report.losses["ce"]) + float(report.losses["triplet"]))
    assert report.batch_size == IDS * PER_ID
    assert report.lr == pytest.approx(5e-3)  # warm-up epoch 0: 0.5 * 1e-2
    assert step.model.training


def test_same_seed_gives_bit_identical_parameters():
    a, b = make_step(), make_step()
    train(a, range(2))
    train(b, range(2))
    assert same_parameters(a.model, b.model)
    c = make_step(seed=1)  # same init, other dropout draws
    train(c, range(2))
    assert not same_parameters(a.model, c.model)


def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path):
    uninterrupted = make_step()
    train(uninterrupted, range(3))

    first = make_step()
    train(first, range(2))
    TorchCheckpointer(tmp_path, {"step": first}).save(TrainingProgress(epochs_done=2), is_best=False)
    torch.manual_seed(12345)  # whatever the global RNG did in between must not matter

    resumed = make_step(init_seed=99)
    progress = TorchCheckpointer(tmp_path, {"step": resumed}).restore()
    assert progress.epochs_done == 2
    train(resumed, range(progress.epochs_done, 3))
    assert same_parameters(uninterrupted.model, resumed.model)
    assert resumed.optimizer.param_groups[0]["lr"] == uninterrupted.optimizer.param_groups[0]["lr"]


def test_amp_on_cpu_uses_bfloat16_without_a_grad_scaler():
    step = make_step(amp=True)
    assert step.scaler is None
    report = train(step, range(1), steps=2)[-1]
    assert torch.isfinite(report.losses["total"])
    assert next(step.model.parameters()).dtype == torch.float32


def test_state_dict_covers_model_optimizer_and_scheduler():
    step = make_step()
    assert set(step.state_dict()) == {"model", "optimizer", "scheduler"}
    with pytest.raises(KeyError, match="scheduler"):
        step.load_state_dict({"model": {}, "optimizer": {}})


def test_needs_a_loss_and_a_classifier_for_cross_entropy():
    model = ReidNet(nn.Conv2d(3, 4, 1), 4, num_classes=0, pooling=GlobalAveragePooling())
    optimizer = build_optimizer("sgd", model, lr=0.1, weight_decay=0.0)
    with pytest.raises(ValueError, match="at least one loss"):
        SupervisedStep(model, optimizer)
    step = SupervisedStep(model, optimizer, cross_entropy=CrossEntropyLoss())
    step.begin_epoch(0)
    with pytest.raises(ValueError, match="no classifier"):
        step.run(toy_batch())
    triplet_only = SupervisedStep(model, optimizer, triplet=TripletLoss())
    triplet_only.begin_epoch(0)
    assert set(triplet_only.run(toy_batch()).losses) == {"triplet", "total"}



class RecordingTriplet(nn.Module):
    """Records the features it was given and returns their mean, so the step can backpropagate."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.seen.append(features.detach().clone())
        return features.mean()


@pytest.mark.parametrize("triplet_on", ["features", "embeddings"])
def test_triplet_sees_the_chosen_side_of_the_bnneck(triplet_on):
    torch.manual_seed(0)
    model = ReidNet(nn.Conv2d(3, 4, 1), 4, num_classes=0, pooling=GlobalAveragePooling())
    recording = RecordingTriplet()
    step = SupervisedStep(
        model, torch.optim.SGD(model.parameters(), lr=0.0), triplet=recording, triplet_on=triplet_on
    )
    step.begin_epoch(0)
    batch = toy_batch()
    step.run(batch)
    expected = getattr(model(batch["image"]), triplet_on).detach()  # lr 0: the model is unchanged
    assert torch.allclose(recording.seen[0], expected)
    # the two sides differ (the neck normalises), so the assertion above tells them apart
    assert not torch.allclose(model(batch["image"]).features, model(batch["image"]).embeddings)


def test_triplet_on_names_an_output_of_the_model():
    model = ReidNet(nn.Conv2d(3, 4, 1), 4, num_classes=0, pooling=GlobalAveragePooling())
    optimizer = build_optimizer("sgd", model, lr=0.1, weight_decay=0.0)
    with pytest.raises(ValueError, match="triplet_on must be one of .* got 'logits'"):
        SupervisedStep(model, optimizer, triplet=TripletLoss(), triplet_on="logits")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_amp_uses_a_grad_scaler_that_is_checkpointed(tmp_path):
    step = make_step(amp=True)
    step = SupervisedStep(
        step.model, step.optimizer, scheduler=step.scheduler, cross_entropy=CrossEntropyLoss(),
        triplet=TripletLoss(), device="cuda", amp=True,
    )  # fmt: skip
    assert step.scaler is not None
    report = train(step, range(1), steps=2)[-1]
    assert torch.isfinite(report.losses["total"]) and report.losses["total"].device.type == "cuda"
    assert "scaler" in step.state_dict()
    TorchCheckpointer(tmp_path, {"step": step}).save(TrainingProgress(epochs_done=1), is_best=False)
    assert TorchCheckpointer(tmp_path, {"step": step}).restore().epochs_done == 1
