"""SupervisedStep: learns a toy batch, is bit-exact per seed, and resumes exactly; its weighted
losses read the model output they name and add up in order."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reidkit.adapters.data.batch import SOURCE_DOMAIN, TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.losses.cross_entropy import CrossEntropyLoss
from reidkit.adapters.losses.triplet import TripletLoss
from reidkit.adapters.losses.weighted import WeightedLoss, id_and_triplet_losses
from reidkit.adapters.models.backbone import ReidNet
from reidkit.adapters.models.dsbn import convert_dsbn
from reidkit.adapters.models.pooling import GlobalAveragePooling
from reidkit.adapters.runtime.checkpoint import TorchCheckpointer
from reidkit.adapters.steps.base import StepRuntime
from reidkit.adapters.steps.optim import WarmupSchedule, build_optimizer
from reidkit.adapters.steps.supervised import SupervisedStep
from reidkit.domain.types import StepReport, TrainingProgress

IDS, PER_ID = 4, 4


def toy_batch(epoch: int = 0, index: int = 0) -> TrainingBatch:
    """4 identities x 4 images, each identity a distinct colour, plus noise fixed by (epoch, index)."""
    gen = torch.Generator().manual_seed(1000 * epoch + index)
    labels = torch.arange(IDS).repeat_interleave(PER_ID)
    colours = torch.eye(4)[:, :3] * 2 - 0.5
    images = colours[labels][:, :, None, None] + 0.3 * torch.randn(len(labels), 3, 8, 4, generator=gen)
    return TrainingBatch.of_domain(images, labels, torch.arange(len(labels)), TARGET_DOMAIN)


def ce_and_triplet(ce_weight: float = 1.0, triplet_weight: float = 1.0, triplet_on: str = "features"):
    return id_and_triplet_losses(
        ce_weight=ce_weight,
        label_smoothing=0.1,
        triplet_weight=triplet_weight,
        triplet_margin=0.3,
        soft_margin=False,
        triplet_on=triplet_on,
    )


def make_step(
    init_seed: int = 0, *, seed: int = 0, amp: bool = False, dropout: float = 0.3, losses=None
) -> SupervisedStep:
    torch.manual_seed(init_seed)
    trunk = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    model = ReidNet(trunk, 8, num_classes=IDS, pooling=GlobalAveragePooling(), dropout=dropout)
    optimizer = build_optimizer("adam", model, lr=1e-2, weight_decay=5e-4)
    return SupervisedStep(
        model,
        optimizer,
        losses if losses is not None else ce_and_triplet(),
        scheduler=WarmupSchedule(optimizer, warmup_epochs=1, warmup_factor=0.5, milestones=[2]),
        runtime=StepRuntime(amp=amp, seed=seed),
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
    with pytest.raises(KeyError, match="SupervisedStep state lacks scheduler"):
        step.load_state_dict({"model": {}, "optimizer": {}})
    with pytest.raises(KeyError, match="SupervisedStep state lacks model, optimizer, scheduler"):
        step.load_state_dict({})


def test_a_dsbn_model_routes_each_sample_by_the_batch_domains():
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    model = ReidNet(trunk, 8, num_classes=IDS, pooling=GlobalAveragePooling())
    convert_dsbn(model)  # before the optimiser: the per-domain BN parameters are new tensors
    step = SupervisedStep(model, build_optimizer("sgd", model, lr=0.1, weight_decay=0.0), ce_and_triplet())
    step.begin_epoch(0)
    bns = model.trunk[1].bns
    before = [bn.running_mean.clone() for bn in bns]
    target = toy_batch()
    step.run(TrainingBatch.of_domain(target.images, target.labels, target.indexes, SOURCE_DOMAIN))
    assert not torch.equal(bns[SOURCE_DOMAIN].running_mean, before[SOURCE_DOMAIN])
    assert torch.equal(bns[TARGET_DOMAIN].running_mean, before[TARGET_DOMAIN])
    step.run(target)
    assert not torch.equal(bns[TARGET_DOMAIN].running_mean, before[TARGET_DOMAIN])


def test_needs_a_loss_and_a_classifier_for_cross_entropy():
    model = ReidNet(nn.Conv2d(3, 4, 1), 4, num_classes=0, pooling=GlobalAveragePooling())
    optimizer = build_optimizer("sgd", model, lr=0.1, weight_decay=0.0)
    with pytest.raises(ValueError, match="at least one loss"):
        SupervisedStep(model, optimizer, ())
    step = SupervisedStep(model, optimizer, ce_and_triplet(triplet_weight=0.0))
    step.begin_epoch(0)
    with pytest.raises(ValueError, match="'ce' reads the logits but the model has no classifier"):
        step.run(toy_batch())
    triplet_only = SupervisedStep(model, optimizer, ce_and_triplet(ce_weight=0.0))
    triplet_only.begin_epoch(0)
    assert set(triplet_only.run(toy_batch()).losses) == {"triplet", "total"}


def test_the_total_adds_the_weighted_losses_in_order():
    step = make_step(losses=ce_and_triplet(ce_weight=0.25, triplet_weight=2.0))
    step.begin_epoch(0)
    losses = step.run(toy_batch()).losses
    expected = torch.zeros(()) + 0.25 * losses["ce"] + 2.0 * losses["triplet"]
    assert torch.equal(losses["total"], expected)  # bit for bit: the same additions in the same order
    assert float(losses["total"]) != pytest.approx(float(losses["ce"] + losses["triplet"]))


def test_losses_of_the_same_name_are_refused():
    model = ReidNet(nn.Conv2d(3, 4, 1), 4, num_classes=2, pooling=GlobalAveragePooling())
    optimizer = build_optimizer("sgd", model, lr=0.1, weight_decay=0.0)
    twice = (WeightedLoss("ce", CrossEntropyLoss(), 1.0, reads="logits"),) * 2
    with pytest.raises(ValueError, match="distinct names"):
        SupervisedStep(model, optimizer, twice)
    with pytest.raises(TypeError, match="WeightedLoss"):
        SupervisedStep(model, optimizer, [CrossEntropyLoss()])


# -- id_and_triplet_losses ------------------------------------------------------------------------


def test_id_and_triplet_losses_are_ce_on_the_logits_then_the_triplet_on_the_chosen_side():
    ce, triplet = ce_and_triplet(ce_weight=0.5, triplet_weight=1.5, triplet_on="embeddings")
    assert (ce.name, ce.weight, ce.reads) == ("ce", 0.5, "logits")
    assert isinstance(ce.loss, CrossEntropyLoss) and ce.loss.epsilon == 0.1
    assert (triplet.name, triplet.weight, triplet.reads) == ("triplet", 1.5, "embeddings")
    assert isinstance(triplet.loss, TripletLoss) and triplet.loss.margin == 0.3
    soft = id_and_triplet_losses(
        ce_weight=1.0, label_smoothing=0.0, triplet_weight=1.0, triplet_margin=0.3, soft_margin=True, triplet_on="features"
    )
    assert soft[1].loss.margin is None


def test_a_zero_weighted_loss_is_left_out_and_no_loss_at_all_is_refused():
    assert [loss.name for loss in ce_and_triplet(ce_weight=0.0)] == ["triplet"]
    assert [loss.name for loss in ce_and_triplet(triplet_weight=0.0)] == ["ce"]
    with pytest.raises(ValueError, match="both 0"):
        ce_and_triplet(ce_weight=0.0, triplet_weight=0.0)
    with pytest.raises(ValueError, match="ce_weight must be finite and >= 0"):
        ce_and_triplet(ce_weight=-1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "total"}, "other than 'total'"),
        ({"name": ""}, "non-empty"),
        ({"weight": -0.5}, "finite and >= 0"),
        ({"weight": float("nan")}, "finite and >= 0"),
        ({"reads": "neck"}, "reads one of"),
    ],
)
def test_weighted_loss_refuses_bad_fields(kwargs, match):
    fields = {"name": "ce", "loss": CrossEntropyLoss(), "weight": 1.0, "reads": "logits"} | kwargs
    with pytest.raises(ValueError, match=match):
        WeightedLoss(**fields)


# -- StepRuntime ----------------------------------------------------------------------------------


def test_step_runtime_converts_the_device_and_defaults_to_one_cpu_process():
    runtime = StepRuntime("cpu")
    assert runtime.device == torch.device("cpu") and isinstance(runtime.device, torch.device)
    assert (runtime.amp, runtime.seed) == (False, 0)
    assert runtime.replicas.wrap(nn.Identity()).__class__ is nn.Identity  # LocalReplica: no wrapper


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", None])
def test_step_runtime_refuses_a_bad_seed(seed):
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        StepRuntime(seed=seed)



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
        model,
        torch.optim.SGD(model.parameters(), lr=0.0),
        [WeightedLoss("triplet", recording, 1.0, reads=triplet_on)],
    )
    step.begin_epoch(0)
    batch = toy_batch()
    step.run(batch)
    expected = getattr(model(batch.images), triplet_on).detach()  # lr 0: the model is unchanged
    assert torch.allclose(recording.seen[0], expected)
    # the two sides differ (the neck normalises), so the assertion above tells them apart
    assert not torch.allclose(model(batch.images).features, model(batch.images).embeddings)


def test_triplet_on_names_an_output_of_the_model():
    with pytest.raises(ValueError, match="triplet_on must be one of .* got 'logits'"):
        ce_and_triplet(triplet_on="logits")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_amp_uses_a_grad_scaler_that_is_checkpointed(tmp_path):
    step = make_step(amp=True)
    step = SupervisedStep(
        step.model, step.optimizer, ce_and_triplet(), scheduler=step.scheduler,
        runtime=StepRuntime("cuda", amp=True),
    )  # fmt: skip
    assert step.scaler is not None
    report = train(step, range(1), steps=2)[-1]
    assert torch.isfinite(report.losses["total"]) and report.losses["total"].device.type == "cuda"
    assert "scaler" in step.state_dict()
    TorchCheckpointer(tmp_path, {"step": step}).save(TrainingProgress(epochs_done=1), is_best=False)
    assert TorchCheckpointer(tmp_path, {"step": step}).restore().epochs_done == 1
