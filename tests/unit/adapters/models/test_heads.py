"""ClassifierReset (a per-epoch head of one row per cluster, resized in place) and starting a
model from a source-trained checkpoint or export, classifier aside, or failing with one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from reidkit.adapters.data.batch import TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.losses.cross_entropy import CrossEntropyLoss
from reidkit.adapters.losses.weighted import WeightedLoss
from reidkit.adapters.models.backbone import ReidNet, build_reid_model
from reidkit.adapters.models.heads import (
    ClassifierReset,
    NoSourceRows,
    SourceClassRows,
    load_source_model,
    source_model_state,
)
from reidkit.adapters.models.pooling import GeneralizedMeanPooling, GlobalAveragePooling
from reidkit.adapters.runtime.checkpoint import TorchCheckpointer, export_model
from reidkit.adapters.steps.optim import WarmupSchedule
from reidkit.adapters.steps.supervised import SupervisedStep
from reidkit.domain.errors import CheckpointError
from reidkit.domain.types import FeatureMatrix, ImageRecord, LabelSpace, PseudoLabels, TrainingProgress

DIM = 8


def tiny_net(seed: int = 0, **kwargs) -> ReidNet:
    torch.manual_seed(seed)
    trunk = nn.Sequential(nn.Conv2d(3, DIM, 3, padding=1), nn.BatchNorm2d(DIM), nn.ReLU())
    options = {"num_classes": 5, "pooling": GlobalAveragePooling()} | kwargs
    return ReidNet(trunk, DIM, **options)


def train_once(model: ReidNet, optimizer: torch.optim.Optimizer) -> None:
    """One CE step so that every parameter has optimiser state."""
    model.train()
    images = torch.randn(6, 3, 16, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(6) % model.num_classes
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(images).logits, labels).backward()
    optimizer.step()


def clustered(n: int = 20, clusters: int = 3, seed: int = 0) -> tuple[FeatureMatrix, PseudoLabels]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % clusters
    labels[clusters::7] = -1  # position c keeps cluster c, so every cluster has a member
    return FeatureMatrix(rng.normal(size=(n, DIM))), PseudoLabels(labels)


def centroid_rows(features: FeatureMatrix, labels: PseudoLabels) -> torch.Tensor:
    values = features.values.astype(np.float64)
    rows = [values[labels.labels == c].mean(axis=0) for c in range(labels.num_clusters)]
    rows = np.stack(rows)
    return torch.from_numpy(rows / np.linalg.norm(rows, axis=1, keepdims=True)).float()


# -- ClassifierReset -------------------------------------------------------------------------------


@pytest.mark.parametrize("clusters", [3, 9])
def test_classifier_rows_become_the_normalised_centroids_of_the_clusters(clusters):
    model = tiny_net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    features, labels = clustered(n=30, clusters=clusters)
    ClassifierReset(model, optimizer, reset_optimizer=True).reset(features, labels)
    assert model.num_classes == clusters
    assert model.classifier.weight.shape == (clusters, DIM)
    torch.testing.assert_close(model.classifier.weight.detach(), centroid_rows(features, labels), rtol=0, atol=1e-6)
    model.train()
    assert model(torch.randn(2, 3, 16, 8)).logits.shape == (2, clusters)


def test_outliers_take_no_part_in_the_centroids():
    model = tiny_net()
    features, labels = clustered()
    wild = np.array(features.values)
    wild[labels.labels < 0] = 1e6  # would dominate any mean they took part in
    ClassifierReset(model, torch.optim.SGD(model.parameters(), lr=0.1), reset_optimizer=True).reset(
        FeatureMatrix(wild), labels
    )
    torch.testing.assert_close(model.classifier.weight.detach(), centroid_rows(features, labels), rtol=0, atol=1e-6)


def test_the_weight_stays_the_parameter_the_optimizer_holds():
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    weight = model.classifier.weight
    ClassifierReset(model, optimizer, reset_optimizer=False).reset(*clustered())
    assert model.classifier.weight is weight
    assert any(p is weight for group in optimizer.param_groups for p in group["params"])


def test_reset_optimizer_clears_every_parameters_state():
    model = tiny_net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_once(model, optimizer)
    assert len(optimizer.state) > 1
    ClassifierReset(model, optimizer, reset_optimizer=True).reset(*clustered())
    assert len(optimizer.state) == 0


def test_keeping_the_optimizer_drops_only_the_classifier_state():
    model = tiny_net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_once(model, optimizer)
    conv = model.trunk[0].weight
    moments = optimizer.state[conv]["exp_avg"].clone()
    ClassifierReset(model, optimizer, reset_optimizer=False).reset(*clustered())
    assert model.classifier.weight not in optimizer.state
    assert set(optimizer.state) == {p for p in model.parameters() if p.requires_grad} - {model.classifier.weight}
    assert torch.equal(optimizer.state[conv]["exp_avg"], moments)


@pytest.mark.parametrize("reset_optimizer", [True, False])
def test_training_goes_on_after_a_resize_and_moves_the_new_rows(reset_optimizer):
    model = tiny_net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train_once(model, optimizer)  # Adam moments of the old 5-row shape
    features, labels = clustered(clusters=3)
    ClassifierReset(model, optimizer, reset_optimizer=reset_optimizer).reset(features, labels)
    rows = model.classifier.weight.detach().clone()
    train_once(model, optimizer)  # would fail on a 5-row moment for a 3-row weight
    assert model.classifier.weight.shape == (3, DIM)
    assert not torch.equal(model.classifier.weight.detach(), rows)
    assert optimizer.state[model.classifier.weight]["exp_avg"].shape == (3, DIM)


def test_successive_epochs_resize_again():
    model = tiny_net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    reset = ClassifierReset(model, optimizer, reset_optimizer=False)
    for clusters in (4, 2, 7):
        features, labels = clustered(n=28, clusters=clusters, seed=clusters)
        reset.reset(features, labels)
        train_once(model, optimizer)
        assert model.num_classes == clusters


def test_a_model_built_without_classifier_cannot_be_resized():
    model = tiny_net(num_classes=0)
    with pytest.raises(ValueError, match="num_classes"):
        ClassifierReset(model, torch.optim.SGD(model.parameters(), lr=0.1), reset_optimizer=True).reset(*clustered())


class RecordingEncoder:
    """Encodes record i as row i of fixed features and records every call."""

    def __init__(self, features: np.ndarray):
        self.features = features
        self.calls: list[int] = []

    def encode(self, records):
        self.calls.append(len(records))
        return FeatureMatrix(self.features[[int(Path(r.path).stem) for r in records]])


def source_rows(classes: int = 4, per_class: int = 3, seed: int = 1) -> tuple[SourceClassRows, RecordingEncoder]:
    records = [ImageRecord(f"{i}.jpg", i % classes, 0) for i in range(classes * per_class)]
    encoder = RecordingEncoder(np.random.default_rng(seed).normal(size=(len(records), DIM)))
    return SourceClassRows(encoder, records, LabelSpace(source_classes=classes)), encoder


def test_a_joint_head_has_the_source_centroids_first_then_the_clusters():
    model = tiny_net()
    source, encoder = source_rows(classes=4)
    features, labels = clustered(clusters=3)
    ClassifierReset(model, torch.optim.Adam(model.parameters()), reset_optimizer=True, source=source).reset(features, labels)
    # centroids of the L2-normalised source features, as the clusters are of normalised features
    expected_source = centroid_rows(FeatureMatrix(encoder.features).normalized(), PseudoLabels(np.arange(12) % 4))
    assert model.num_classes == 4 + 3
    torch.testing.assert_close(model.classifier.weight[:4].detach(), expected_source, rtol=0, atol=1e-6)
    torch.testing.assert_close(model.classifier.weight[4:].detach(), centroid_rows(features, labels), rtol=0, atol=1e-6)
    assert encoder.calls == [12]


def test_later_epochs_keep_the_learned_source_rows_and_renew_only_the_clusters():
    model = tiny_net()
    source, encoder = source_rows(classes=4)
    head = ClassifierReset(model, torch.optim.Adam(model.parameters()), reset_optimizer=True, source=source)
    head.reset(*clustered(clusters=3))
    with torch.no_grad():
        model.classifier.weight[:4] *= 5.0  # "learned": no longer unit rows, which a re-init would restore
    learned = model.classifier.weight[:4].detach().clone()
    features, labels = clustered(n=30, clusters=6, seed=2)
    head.reset(features, labels)
    assert model.num_classes == 4 + 6
    torch.testing.assert_close(model.classifier.weight[:4].detach(), learned, rtol=0, atol=0)
    torch.testing.assert_close(model.classifier.weight[4:].detach(), centroid_rows(features, labels), rtol=0, atol=1e-6)
    assert encoder.calls == [12]  # the source is encoded once, for the first head


def test_a_restored_run_keeps_its_trained_source_rows():
    trained_model = tiny_net()
    source, _ = source_rows(classes=4)
    ClassifierReset(trained_model, None, reset_optimizer=True, source=source).reset(*clustered(clusters=3))
    with torch.no_grad():
        trained_model.classifier.weight[:4] *= 5.0
    state = source.state_dict()

    resumed = tiny_net(seed=1)
    resumed.load_state_dict(trained_model.state_dict())
    fresh, encoder = source_rows(classes=4)
    fresh.load_state_dict(state)
    ClassifierReset(resumed, None, reset_optimizer=True, source=fresh).reset(*clustered(clusters=2, seed=3))
    torch.testing.assert_close(resumed.classifier.weight[:4], trained_model.classifier.weight[:4], rtol=0, atol=0)
    assert encoder.calls == []


def test_source_rows_need_source_records():
    with pytest.raises(ValueError, match="labelled source training records"):
        SourceClassRows(RecordingEncoder(np.zeros((1, DIM))), [], LabelSpace())


def test_source_rows_must_agree_with_the_label_space():
    records = [ImageRecord(f"{i}.jpg", i % 4, 0) for i in range(8)]
    with pytest.raises(ValueError, match="the label space has 3 source classes, the source records 4"):
        SourceClassRows(RecordingEncoder(np.zeros((8, DIM))), records, LabelSpace(source_classes=3))


def test_without_a_source_the_head_is_the_clusters_alone_and_stays_so():
    model = tiny_net()
    head = ClassifierReset(model, torch.optim.Adam(model.parameters()), reset_optimizer=True, source=NoSourceRows())
    for seed in (0, 1):
        features, labels = clustered(clusters=3 + seed, seed=seed)
        head.reset(features, labels)
        assert model.num_classes == 3 + seed
        torch.testing.assert_close(model.classifier.weight.detach(), centroid_rows(features, labels), rtol=0, atol=1e-6)
    assert head.source.trained is False


# -- source models ---------------------------------------------------------------------------------


class StepState:
    """Stands for a training step as the checkpointer sees it."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model, self.optimizer = model, optimizer

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


def trained_source(seed: int = 0, **kwargs) -> ReidNet:
    model = tiny_net(seed, num_classes=6, **kwargs)
    train_once(model, torch.optim.SGD(model.parameters(), lr=0.1))  # running stats move too
    return model


def save_checkpoint(directory, model: nn.Module) -> None:
    step = StepState(model, torch.optim.SGD(model.parameters(), lr=0.1))
    TorchCheckpointer(directory, {"step": step}).save(TrainingProgress(epochs_done=3), is_best=True)


def assert_loaded_all_but_the_classifier(target: ReidNet, source: ReidNet, classifier_before: torch.Tensor) -> None:
    got, want = target.state_dict(), source.state_dict()
    for name, value in want.items():
        if not name.startswith("classifier."):
            assert torch.equal(got[name], value), name
    assert torch.equal(target.classifier.weight.detach(), classifier_before)


@pytest.mark.parametrize("name", ["epoch_0003.pt", "best.pt"])
def test_load_from_a_training_checkpoint_skips_the_source_classifier(tmp_path, name):
    source = trained_source()
    save_checkpoint(tmp_path, source)
    target = tiny_net(seed=1, num_classes=4)  # the target head has another size
    before = target.classifier.weight.detach().clone()
    load_source_model(target, tmp_path / name)
    assert_loaded_all_but_the_classifier(target, source, before)
    assert target.num_classes == 4


def test_load_from_the_checkpoint_of_a_supervised_training_run(tmp_path):
    source = tiny_net(num_classes=6)
    optimizer = torch.optim.Adam(source.parameters(), lr=1e-3)
    step = SupervisedStep(
        source,
        optimizer,
        [WeightedLoss("ce", CrossEntropyLoss(0.1), 1.0, reads="logits")],
        scheduler=WarmupSchedule(optimizer, warmup_epochs=1, milestones=[5]),
    )
    step.begin_epoch(0)
    label = torch.arange(6) % 6
    step.run(TrainingBatch.of_domain(torch.randn(6, 3, 16, 8), label, label, TARGET_DOMAIN))
    TorchCheckpointer(tmp_path, {"step": step}).save(TrainingProgress(epochs_done=1), is_best=False)
    target = tiny_net(seed=1, num_classes=3)
    before = target.classifier.weight.detach().clone()
    load_source_model(target, tmp_path / "epoch_0001.pt")
    assert_loaded_all_but_the_classifier(target, source, before)


def test_load_from_an_exported_state_dict(tmp_path):
    source = trained_source()
    export_model(tmp_path / "model.pt", source)
    target = tiny_net(seed=1, num_classes=2)
    before = target.classifier.weight.detach().clone()
    load_source_model(target, tmp_path / "model.pt")
    assert_loaded_all_but_the_classifier(target, source, before)


def test_load_into_a_model_without_classifier(tmp_path):
    source = trained_source()
    export_model(tmp_path / "model.pt", source)
    target = tiny_net(seed=1, num_classes=0)
    load_source_model(target, tmp_path / "model.pt")
    got = target.state_dict()
    assert "classifier.weight" not in got
    assert all(torch.equal(got[k], v) for k, v in source.state_dict().items() if not k.startswith("classifier."))


def test_source_model_state_reads_the_model_weights_of_either_file(tmp_path):
    source = trained_source()
    save_checkpoint(tmp_path / "run", source)
    export_model(tmp_path / "model.pt", source)
    for path in (tmp_path / "run" / "epoch_0003.pt", tmp_path / "model.pt"):
        state = source_model_state(path)
        assert state.keys() == source.state_dict().keys()
        assert all(torch.equal(state[k], v) for k, v in source.state_dict().items())


def test_a_checkpoint_without_a_step_component_has_no_model_weights(tmp_path):
    holder = StepState(trained_source(), torch.optim.SGD(trained_source().parameters(), lr=0.1))
    TorchCheckpointer(tmp_path, {"trainer": holder}).save(TrainingProgress(epochs_done=1), is_best=False)
    with pytest.raises(CheckpointError, match="no model weights"):
        load_source_model(tiny_net(), tmp_path / "epoch_0001.pt")


def test_a_damaged_checkpoint_is_refused(tmp_path):
    save_checkpoint(tmp_path, trained_source())
    path = tmp_path / "epoch_0003.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_source_model(tiny_net(), path)


def test_a_checkpoint_whose_save_never_finished_says_so(tmp_path):
    save_checkpoint(tmp_path, trained_source())
    (tmp_path / "epoch_0003.pt.sha256").unlink()
    with pytest.raises(CheckpointError, match="without its .sha256 file was never finished"):
        load_source_model(tiny_net(), tmp_path / "epoch_0003.pt")


def test_a_missing_file_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_source_model(tiny_net(), tmp_path / "nothing.pt")


def assert_refused_untouched(target: ReidNet, path, *fragments: str) -> str:
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError) as caught:
        load_source_model(target, path)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert all(torch.equal(target.state_dict()[k], v) for k, v in before.items())  # nothing half-loaded
    return message


def test_an_embedding_layer_the_source_lacks_is_named_with_the_shape_mismatches(tmp_path):
    save_checkpoint(tmp_path, build_reid_model("resnet18", num_classes=3, last_stride=2))
    target = build_reid_model("resnet18", num_classes=3, last_stride=2, embedding_dim=64)
    assert_refused_untouched(
        target,
        tmp_path / "epoch_0003.pt",
        "missing: embedding.bias, embedding.weight",
        "other shape: neck.",
        str(tmp_path / "epoch_0003.pt"),
    )


def test_gem_pooling_parameter_missing_from_an_average_pooled_source(tmp_path):
    export_model(tmp_path / "avg.pt", trained_source())
    target = tiny_net(seed=1, pooling=GeneralizedMeanPooling())
    message = assert_refused_untouched(target, tmp_path / "avg.pt", "missing: pool.p")
    assert "unexpected" not in message and "other shape" not in message


def test_gem_pooling_parameter_unexpected_in_an_average_pooled_target(tmp_path):
    export_model(tmp_path / "gem.pt", trained_source(pooling=GeneralizedMeanPooling()))
    message = assert_refused_untouched(tiny_net(seed=1), tmp_path / "gem.pt", "unexpected: pool.p")
    assert "missing" not in message


def test_long_lists_of_names_are_cut_to_four_with_a_count(tmp_path):
    export_model(tmp_path / "small.pt", build_reid_model("resnet18", num_classes=3, last_stride=2))
    target = build_reid_model("resnet34", num_classes=3, last_stride=2)
    message = assert_refused_untouched(target, tmp_path / "small.pt", "missing: ", "more)")
    assert len(message) < 1000


class _Teachers:
    """A mean-teacher step's checkpoint state: students and teachers as lists."""

    def __init__(self, students, teachers) -> None:
        self.students, self.teachers = students, teachers

    def state_dict(self) -> dict:
        return {"students": [s.state_dict() for s in self.students], "teachers": [t.state_dict() for t in self.teachers]}

    def load_state_dict(self, state: dict) -> None:
        raise AssertionError("not restored here")


def test_weights_are_found_where_the_method_keeps_them(tmp_path):
    students, teachers = [tiny_net(1), tiny_net(2)], [tiny_net(3), tiny_net(4)]
    TorchCheckpointer(tmp_path, {"step": _Teachers(students, teachers)}).save(TrainingProgress(epochs_done=1), is_best=True)
    state = source_model_state(tmp_path / "best.pt", ("step", "teachers", 0))
    assert all(torch.equal(state[k], v) for k, v in teachers[0].state_dict().items())
    with pytest.raises(CheckpointError, match=r"best\.pt has no model weights at step/teachers/2 \(components: \['step'\]\)"):
        source_model_state(tmp_path / "best.pt", ("step", "teachers", 2))
    with pytest.raises(CheckpointError, match="no model weights at step/model"):
        source_model_state(tmp_path / "best.pt")
