"""One contract, every LabelConsumer: Cluster Contrast's centroids, SpCL's hybrid memory (target-only
and with source classes), the distributed-update decorator in one process, the per-epoch classifier
head (target clusters alone and joint with the source classes), the pseudo-labelled batches and
the recording fake.

What the epoch may rely on whatever the consumer: a reset with this epoch's labels (clusters and
outliers, one per sample) succeeds, what the consumer exposes afterwards (memory rows, classes,
classifier logits, the identities its batches draw) is sized by those labels, the next epoch's
reset with another cluster count resizes it, and labels of another length than it was built for
are refused with a ValueError that leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from attrs import frozen
from torch import nn

from reidkit.adapters.data.market import read_market
from reidkit.adapters.data.pseudo_batches import PseudoLabelledBatches
from reidkit.adapters.data.synth import ensure_synthetic
from reidkit.adapters.data.transforms import build_test_transform
from reidkit.adapters.memory.cluster_memory import ClusterMemory
from reidkit.adapters.memory.global_update import GlobalMemoryUpdate
from reidkit.adapters.memory.hybrid_memory import HybridMemory
from reidkit.adapters.models.backbone import ReidNet
from reidkit.adapters.models.heads import ClassifierReset, NoSourceRows, SourceClassRows
from reidkit.adapters.models.pooling import GlobalAveragePooling
from reidkit.adapters.runtime.collectives import ProcessGroup
from reidkit.domain.ports import LabelConsumer
from reidkit.domain.types import FeatureMatrix, ImageRecord, LabelSpace, PseudoLabels
from tests.support.fakes import Journal, LookupEncoder, RecordingConsumer

DIM, SAMPLES, SOURCE_CLASSES = 8, 16, 3
# K samples per cluster, the rest outliers: every count below leaves outliers among 16 samples, and
# with P = 2 identities per batch each count's clusters are all drawn within one 3-batch epoch.
K, P, NUM_BATCHES = 2, 2, 3
CLUSTER_COUNTS = (4, 6, 2)


def labels_for(samples: int, clusters: int) -> PseudoLabels:
    """Samples 0..K*clusters-1 in clusters i % clusters (K each), every later sample an outlier."""
    ids = np.full(samples, -1, dtype=np.int64)
    ids[: K * clusters] = np.arange(K * clusters) % clusters
    return PseudoLabels(ids)


def features_for(samples: int, seed: int = 0) -> FeatureMatrix:
    return FeatureMatrix(np.random.default_rng(seed).normal(size=(samples, DIM)))


def clusters(labels: PseudoLabels) -> int:
    return labels.num_clusters


@frozen
class Case:
    """How to build one consumer and what to look at. ``samples``: the number of samples its labels
    have (what it is built for, where something fixes that). ``observe`` returns the size the
    consumer has now and ``implied`` the size a reset with these labels must give it."""

    make: Callable[[], LabelConsumer]
    samples: int
    observe: Callable[[LabelConsumer], int]
    implied: Callable[[PseudoLabels], int] = clusters


# -- the memories ----------------------------------------------------------------------------------


def cluster_memory(request: pytest.FixtureRequest) -> Case:
    def make() -> ClusterMemory:
        memory = ClusterMemory(DIM)
        memory.initialize(features_for(SAMPLES, seed=5))  # each sample its own cluster, as SpCL starts
        return memory

    return Case(make, SAMPLES, observe=lambda memory: memory.snapshot().values.shape[0])


def hybrid_target_classes(memory: HybridMemory | GlobalMemoryUpdate) -> int:
    """The classes the target rows fall in (a cluster's rows share one, an outlier has its own)."""
    inner = memory.inner if isinstance(memory, GlobalMemoryUpdate) else memory
    return len(torch.unique(inner.labels[inner.num_source_classes :]))


def clusters_and_outliers(labels: PseudoLabels) -> int:
    return labels.num_clusters + labels.num_outliers


def hybrid_memory(source_classes: int, *, decorated: bool = False) -> Callable[[pytest.FixtureRequest], Case]:
    def build(request: pytest.FixtureRequest) -> Case:
        def make() -> HybridMemory | GlobalMemoryUpdate:
            memory = HybridMemory(DIM, LabelSpace(source_classes))
            # it resets over its target rows, so it is filled first: source centroids, then one row per sample
            memory.initialize(features_for(source_classes + SAMPLES, seed=5))
            return GlobalMemoryUpdate(memory, ProcessGroup(rank=0, world_size=1)) if decorated else memory

        return Case(make, SAMPLES, observe=hybrid_target_classes, implied=clusters_and_outliers)

    return build


# -- the classifier heads --------------------------------------------------------------------------


def tiny_net() -> ReidNet:
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Conv2d(3, DIM, 3, padding=1), nn.ReLU())
    return ReidNet(trunk, DIM, num_classes=5, pooling=GlobalAveragePooling())


def logit_width(head: ClassifierReset) -> int:
    """How many classes the training loss now scores a batch against."""
    head.model.train()
    with torch.no_grad():
        return int(head.model(torch.zeros(2, 3, 8, 4)).logits.shape[1])


def classifier_reset(*, with_source: bool) -> Callable[[pytest.FixtureRequest], Case]:
    def build(request: pytest.FixtureRequest) -> Case:
        def make() -> ClassifierReset:
            model = tiny_net()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            if not with_source:
                return ClassifierReset(model, optimizer, source=NoSourceRows())
            # the source's training records, SOURCE_CLASSES identities with K images each, encoded by a
            # recording fake (one-hot of the pid)
            records = [ImageRecord(f"source/{i}.jpg", i % SOURCE_CLASSES, 0) for i in range(K * SOURCE_CLASSES)]
            source = SourceClassRows(LookupEncoder(dim=DIM), records, LabelSpace(SOURCE_CLASSES))
            return ClassifierReset(model, optimizer, source=source)

        offset = SOURCE_CLASSES if with_source else 0
        return Case(make, SAMPLES, observe=logit_width, implied=lambda labels: offset + labels.num_clusters)

    return build


# -- the pseudo-labelled batches -------------------------------------------------------------------


@pytest.fixture(scope="module")
def target_records(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageRecord, ...]:
    """The tiny preset's unlabelled target training images (64 of 16 people)."""
    roots = ensure_synthetic("tiny", 0, tmp_path_factory.mktemp("synthetic"))
    return read_market(Path(roots["target"]), domain="target").train


def identities_drawn(batches: PseudoLabelledBatches) -> int:
    """The clusters one epoch's batches draw. Every cluster here has exactly K images, one K-chunk,
    and the sampler draws P distinct clusters per batch until fewer than P have a chunk left, so an
    epoch of at least clusters / P batches draws every cluster (and never an outlier: -1 is no id)."""
    seen = torch.cat([batch.labels for batch in batches.epoch(0)])
    assert int(seen.min()) >= 0
    return len(torch.unique(seen))


def pseudo_labelled_batches(request: pytest.FixtureRequest) -> Case:
    records = request.getfixturevalue("target_records")

    def make() -> PseudoLabelledBatches:
        return PseudoLabelledBatches(
            records, build_test_transform(64, 32), instances_per_id=K, ids_per_batch=P, num_batches=NUM_BATCHES, seed=0
        )

    return Case(make, len(records), observe=identities_drawn)


# -- the recording fake ----------------------------------------------------------------------------


def recording_fake(request: pytest.FixtureRequest) -> Case:
    def last_reset_clusters(fake: RecordingConsumer) -> int:
        samples, labels = fake.resets[-1]
        assert samples == len(labels)
        return int(labels.max()) + 1

    return Case(lambda: RecordingConsumer(Journal(), "fake"), SAMPLES, observe=last_reset_clusters)


CASES: dict[str, Callable[[pytest.FixtureRequest], Case]] = {
    "cluster_memory": cluster_memory,
    "hybrid_memory": hybrid_memory(0),
    "hybrid_memory_with_source": hybrid_memory(SOURCE_CLASSES),
    "global_update_hybrid_memory": hybrid_memory(SOURCE_CLASSES, decorated=True),
    "classifier_reset": classifier_reset(with_source=False),
    "classifier_reset_with_source": classifier_reset(with_source=True),
    "pseudo_labelled_batches": pseudo_labelled_batches,
    "recording_fake": recording_fake,
}

# Refuse labels of another length than they were built for: the hybrid memory (one row per target
# sample, with or without its distributed decorator) and the pseudo-labelled batches (one label per
# record). Not in this list, and why:
#   cluster_memory, classifier_reset(_with_source): nothing fixes their sample count; each reset
#     brings its own features and sizes them anew (they do refuse features and labels that disagree,
#     see the test below);
#   recording_fake: records whatever it is given, without any check.
FIXED_LENGTH = ["global_update_hybrid_memory", "hybrid_memory", "hybrid_memory_with_source", "pseudo_labelled_batches"]

# Refuse features and labels of different lengths. Not in this list, and why:
#   pseudo_labelled_batches: it never reads the features (only the labels), so it does not check them;
#   recording_fake: records whatever it is given.
CHECKS_FEATURES = [
    "classifier_reset",
    "classifier_reset_with_source",
    "cluster_memory",
    "global_update_hybrid_memory",
    "hybrid_memory",
    "hybrid_memory_with_source",
]


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param](request)


@pytest.fixture(params=FIXED_LENGTH)
def fixed_length_case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param](request)


@pytest.fixture(params=CHECKS_FEATURES)
def feature_checking_case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param](request)


def reset(consumer: LabelConsumer, case: Case, num_clusters: int) -> PseudoLabels:
    labels = labels_for(case.samples, num_clusters)
    consumer.reset(features_for(case.samples, seed=num_clusters), labels)
    return labels


# -- the contract ----------------------------------------------------------------------------------


def test_is_a_label_consumer(case: Case) -> None:
    assert isinstance(case.make(), LabelConsumer)


def test_a_reset_sizes_the_consumer_by_the_labels_and_each_later_reset_resizes_it(case: Case) -> None:
    consumer = case.make()
    sizes = []
    for num_clusters in CLUSTER_COUNTS:
        labels = reset(consumer, case, num_clusters)
        assert labels.num_outliers > 0 or num_clusters * K == case.samples
        assert case.observe(consumer) == case.implied(labels), f"after a reset with {num_clusters} clusters"
        sizes.append(case.observe(consumer))
    assert len(set(sizes)) == len(CLUSTER_COUNTS)  # each reset really changed the size


@pytest.mark.parametrize("delta", [-1, 1])
def test_labels_of_another_length_than_it_was_built_for_are_refused_and_change_nothing(
    fixed_length_case: Case, delta: int
) -> None:
    case = fixed_length_case
    consumer = case.make()
    labels = reset(consumer, case, CLUSTER_COUNTS[0])
    wrong = case.samples + delta
    with pytest.raises(ValueError, match=str(wrong)):
        consumer.reset(features_for(wrong), labels_for(wrong, CLUSTER_COUNTS[1]))
    assert case.observe(consumer) == case.implied(labels)


def test_features_and_labels_of_different_lengths_are_refused_and_change_nothing(feature_checking_case: Case) -> None:
    case = feature_checking_case
    consumer = case.make()
    labels = reset(consumer, case, CLUSTER_COUNTS[0])
    with pytest.raises(ValueError):
        consumer.reset(features_for(case.samples - 1), labels_for(case.samples, CLUSTER_COUNTS[1]))
    assert case.observe(consumer) == case.implied(labels)
