"""PseudoLabelledBatches (P x K batches over this epoch's pseudo labels, rebuilt by ``reset``) and
JointBatches (a source batch followed by a target batch, with per-row domain ids)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reidkit.adapters.data.batch import SOURCE_DOMAIN, TARGET_DOMAIN
from reidkit.adapters.data.batches import LoaderBatchSource
from reidkit.adapters.data.datasets import ImageDataset
from reidkit.adapters.data.market import read_market
from reidkit.adapters.data.pseudo_batches import JointBatches, PseudoLabelledBatches
from reidkit.adapters.data.samplers import IdentitySampler
from reidkit.adapters.data.synth import ensure_synthetic
from reidkit.adapters.data.transforms import build_test_transform, build_train_transform
from reidkit.domain.errors import PseudoLabelError
from reidkit.domain.types import FeatureMatrix, ImageRecord, LabelSpace, PseudoLabels

P, K = 3, 2


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    return ensure_synthetic("tiny", 0, tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="module")
def target(roots) -> tuple[ImageRecord, ...]:
    return read_market(roots["target"], domain="target").train


@pytest.fixture(scope="module")
def source(roots) -> tuple[ImageRecord, ...]:
    return read_market(roots["source"], domain="source").train


def features_for(records) -> FeatureMatrix:
    return FeatureMatrix(np.zeros((len(records), 4), dtype=np.float32))


def labels_with_outliers(records, num_clusters: int, every_nth_outlier: int = 4) -> PseudoLabels:
    """Cluster = pid % num_clusters, with every n-th record an outlier (-1)."""
    ids = np.array([r.pid % num_clusters for r in records], dtype=np.int64)
    ids[::every_nth_outlier] = -1
    return PseudoLabels(ids)


def make_batches(records, *, num_batches: int = 3, seed: int = 0, transform=None, **kwargs) -> PseudoLabelledBatches:
    return PseudoLabelledBatches(
        records,
        transform or build_test_transform(64, 32),
        instances_per_id=K,
        ids_per_batch=P,
        num_batches=num_batches,
        seed=seed,
        **kwargs,
    )


def collect(batches) -> list[dict[str, torch.Tensor]]:
    """Each TrainingBatch as a dict of its fields, for comparing epochs."""
    return [{k: getattr(b, k) for k in ("images", "labels", "indexes", "domains")} for b in batches]


def same_batches(a, b) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) for x, y in zip(a, b)
    )


def test_epoch_before_reset_raises_runtime_error(target):
    batches = make_batches(target)
    with pytest.raises(RuntimeError, match="reset"):
        next(iter(batches.epoch(0)))


def test_constructor_rejects_no_batches_and_no_records(target):
    with pytest.raises(ValueError, match="num_batches"):
        make_batches(target, num_batches=0)
    with pytest.raises(ValueError, match="record"):
        make_batches(())


def test_reset_rejects_labels_of_another_length(target):
    batches = make_batches(target)
    labels = PseudoLabels(np.zeros(len(target) - 1, dtype=np.int64))
    with pytest.raises(ValueError, match="pseudo labels"):
        batches.reset(features_for(target[:-1]), labels)


def test_fewer_clusters_than_ids_per_batch_raise_pseudo_label_error_naming_the_setting(target):
    batches = make_batches(target)
    labels = labels_with_outliers(target, num_clusters=P - 1)
    with pytest.raises(PseudoLabelError) as caught:
        batches.reset(features_for(target), labels)
    assert str(caught.value) == (
        f"the pseudo labels have {P - 1} clusters ({labels.num_outliers} outliers) but a step needs train.ids_per_batch=3: "
        "lower it, or retune what made the labels (the labeler, e.g. pseudo_labeler.eps, or a correction's correct.* settings)"
    )
    # still unusable: a failed reset leaves no labels behind
    with pytest.raises(RuntimeError):
        next(iter(batches.epoch(0)))


def test_all_outliers_raise_pseudo_label_error(target):
    batches = make_batches(target)
    with pytest.raises(PseudoLabelError, match="0 clusters"):
        batches.reset(features_for(target), PseudoLabels(np.full(len(target), -1)))


def test_batches_are_p_by_k_of_pseudo_labels_with_target_domain_and_never_outliers(target):
    batches = make_batches(target, num_batches=4)
    labels = labels_with_outliers(target, num_clusters=5)
    batches.reset(features_for(target), labels)
    got = collect(batches.epoch(0))
    assert len(batches) == 4 == len(got)
    for batch in got:
        assert batch["images"].shape == (P * K, 3, 64, 32)
        # the label of every row is the pseudo label of its record, not the record's pid
        assert batch["labels"].tolist() == [int(labels.labels[i]) for i in batch["indexes"]]
        assert (batch["labels"] >= 0).all()
        values = batch["labels"].tolist()
        assert len(set(values)) == P and all(values.count(v) == K for v in values)
        assert batch["domains"].dtype == batch["labels"].dtype and batch["domains"].shape == (P * K,)
        assert (batch["domains"] == TARGET_DOMAIN).all()


def test_an_epoch_is_exactly_num_batches_whatever_the_cluster_count(target):
    # 3 clusters of mostly outliers hold only a handful of images, yet 7 batches are promised
    few = make_batches(target, num_batches=7)
    few.reset(features_for(target), labels_with_outliers(target, num_clusters=3, every_nth_outlier=2))
    assert len(collect(few.epoch(0))) == 7
    # many clusters (one per identity) but only 2 batches asked for
    many = make_batches(target, num_batches=2)
    many.reset(features_for(target), PseudoLabels([r.pid for r in target]))
    assert len(collect(many.epoch(0))) == 2


def test_outlier_records_are_never_sampled(target):
    batches = make_batches(target, num_batches=20)
    labels = labels_with_outliers(target, num_clusters=4, every_nth_outlier=3)
    batches.reset(features_for(target), labels)
    seen = {int(i) for batch in batches.epoch(0) for i in batch.indexes}
    outliers = set(np.flatnonzero(labels.labels < 0).tolist())
    assert seen and not seen & outliers


def test_reset_replaces_the_labels_of_the_next_epoch(target):
    batches = make_batches(target, num_batches=3)
    first = labels_with_outliers(target, num_clusters=4)
    batches.reset(features_for(target), first)
    collect(batches.epoch(0))
    # the next epoch's labels: a different clustering with other outliers
    second = PseudoLabels(np.array([(r.pid // 2) if i % 5 else -1 for i, r in enumerate(target)]))
    batches.reset(features_for(target), second)
    for batch in batches.epoch(1):
        assert batch.labels.tolist() == [int(second.labels[i]) for i in batch.indexes]
        assert all(int(second.labels[i]) >= 0 for i in batch.indexes)


def test_own_domain_id_is_stamped_on_every_row(target):
    batches = make_batches(target, domain=SOURCE_DOMAIN)
    batches.reset(features_for(target), labels_with_outliers(target, num_clusters=4))
    assert all((batch.domains == SOURCE_DOMAIN).all() for batch in batches.epoch(0))


def test_epoch_batches_depend_only_on_seed_and_epoch(target):
    transform = build_train_transform(64, 32)
    labels = labels_with_outliers(target, num_clusters=5)
    a, b = make_batches(target, transform=transform), make_batches(target, transform=transform)
    a.reset(features_for(target), labels)
    b.reset(features_for(target), labels)
    first = collect(a.epoch(1))
    torch.rand(100)  # unrelated draws in between change nothing
    assert same_batches(first, collect(b.epoch(1)))
    assert same_batches(first, collect(a.epoch(1)))
    assert not same_batches(first, collect(a.epoch(2)))
    other_seed = make_batches(target, transform=transform, seed=1)
    other_seed.reset(features_for(target), labels)
    assert not same_batches(first, collect(other_seed.epoch(1)))


# -- JointBatches ----------------------------------------------------------------------------


def source_batches(records, *, num_batches: int, transform=None) -> LoaderBatchSource:
    dataset = ImageDataset(records, transform or build_test_transform(64, 32))
    sampler = IdentitySampler([r.pid for r in records], K, P, seed=5, num_batches=num_batches)
    return LoaderBatchSource(dataset, sampler, sampler.batch_size, seed=5)


def target_batches(records, *, num_batches: int, transform=None) -> PseudoLabelledBatches:
    batches = make_batches(records, num_batches=num_batches, transform=transform)
    batches.reset(features_for(records), labels_with_outliers(records, num_clusters=5))
    return batches


def test_joint_batch_is_the_source_batch_then_the_target_batch(source, target):
    src = source_batches(source, num_batches=2)
    tgt = target_batches(target, num_batches=2)
    joint = collect(JointBatches(src, tgt, LabelSpace()).epoch(3))
    alone = list(zip(collect(src.epoch(3)), collect(tgt.epoch(3))))
    assert len(joint) == 2
    for batch, (s, t) in zip(joint, alone):
        for key in ("images", "labels", "indexes"):
            assert torch.equal(batch[key], torch.cat([s[key], t[key]])), key
        assert batch["domains"].tolist() == [SOURCE_DOMAIN] * (P * K) + [TARGET_DOMAIN] * (P * K)


def test_joint_domain_ids_override_what_either_source_carried(source, target):
    # both halves are PseudoLabelledBatches stamped with the target domain: the join decides
    a = target_batches(source, num_batches=1)
    b = target_batches(target, num_batches=1)
    (batch,) = collect(JointBatches(a, b, LabelSpace()).epoch(0))
    assert batch["domains"].tolist() == [SOURCE_DOMAIN] * (P * K) + [TARGET_DOMAIN] * (P * K)


def test_joint_length_and_epoch_stop_at_the_shorter_source(source, target):
    joint = JointBatches(source_batches(source, num_batches=3), target_batches(target, num_batches=2), LabelSpace())
    assert len(joint) == 2 == len(collect(joint.epoch(0)))
    joint = JointBatches(source_batches(source, num_batches=1), target_batches(target, num_batches=2), LabelSpace())
    assert len(joint) == 1 == len(collect(joint.epoch(0)))


def test_joint_epochs_with_augmentation_repeat_exactly(source, target):
    transform = build_train_transform(64, 32)
    joint = JointBatches(
        source_batches(source, num_batches=2, transform=transform),
        target_batches(target, num_batches=2, transform=transform),
        LabelSpace(),
    )
    first = collect(joint.epoch(1))
    torch.rand(10)
    assert same_batches(first, collect(joint.epoch(1)))
    assert not same_batches(first, collect(joint.epoch(2)))


def test_the_label_space_moves_only_the_target_labels_past_the_source_classes(source, target):
    src = source_batches(source, num_batches=1)
    tgt = target_batches(target, num_batches=1)
    (plain,) = collect(JointBatches(src, tgt, LabelSpace()).epoch(0))
    (shifted,) = collect(JointBatches(src, tgt, LabelSpace(source_classes=100)).epoch(0))
    n = P * K
    assert torch.equal(shifted["labels"][:n], plain["labels"][:n])
    assert torch.equal(shifted["labels"][n:], plain["labels"][n:] + 100)
    assert int(shifted["labels"][n:].min()) >= 100 > int(shifted["labels"][:n].max())


def test_joint_batches_need_a_label_space(source, target):
    with pytest.raises(TypeError, match="label_space must be a LabelSpace, got int"):
        JointBatches(source_batches(source, num_batches=1), target_batches(target, num_batches=1), 100)


@pytest.mark.parametrize("classes", [-1, 1.5, True])
def test_a_label_space_refuses_a_bad_class_count(classes):
    with pytest.raises(ValueError, match="source_classes must be an int >= 0"):
        LabelSpace(source_classes=classes)
