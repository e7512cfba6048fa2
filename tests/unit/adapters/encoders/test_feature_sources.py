"""Feature sources: EncodedFeatures re-encodes (and normalises) the training images every call;
MemoryFeatures fills an empty hybrid memory once from the encoder and then only reads it back
(with ``refresh``, refills it every epoch); MeanOfFeatures averages normalised sources."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reidkit.adapters.clustering.centroids import class_centroids
from reidkit.adapters.encoders.feature_sources import EncodedFeatures, MemoryFeatures
from reidkit.adapters.encoders.mean_features import MeanOfFeatures
from reidkit.adapters.memory.cluster_memory import ClusterMemory
from reidkit.adapters.memory.global_update import GlobalMemoryUpdate
from reidkit.adapters.memory.hybrid_memory import HybridMemory
from reidkit.adapters.runtime.collectives import ProcessGroup
from reidkit.domain.types import FeatureMatrix, ImageRecord, LabelSpace, PseudoLabels
from tests.support.fakes import LookupEncoder

DIM = 4


def records(pids: list[int], prefix: str = "t") -> tuple[ImageRecord, ...]:
    return tuple(ImageRecord(f"{prefix}{i}.jpg", pid, i % 3) for i, pid in enumerate(pids))


TARGET = records([0, 1, 2, 3, 1, 2, 0, 3, 2], "target")
SOURCE = records([0, 0, 1, 2, 1, 2, 2], "source")
UDA = LabelSpace(source_classes=3)  # the three source identities


def encoder() -> LookupEncoder:
    # a per-camera shift makes the raw rows neither unit-length nor equal within a pid
    return LookupEncoder(dim=DIM, camera_shift=0.5)


def normalised(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values / np.linalg.norm(values, axis=1, keepdims=True)


def raw(records_: tuple[ImageRecord, ...]) -> np.ndarray:
    return LookupEncoder(dim=DIM, camera_shift=0.5).encode(records_).values


# -- EncodedFeatures ------------------------------------------------------------------------------


def test_encoded_features_are_the_normalised_encoder_rows_in_record_order():
    fake = encoder()
    features = EncodedFeatures(fake, TARGET).collect()
    assert isinstance(features, FeatureMatrix)
    assert features.values.shape == (len(TARGET), DIM)
    np.testing.assert_allclose(features.values, normalised(raw(TARGET)), rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(features.values, axis=1), 1.0, atol=1e-6)
    assert fake.calls == [len(TARGET)]


def test_encoded_features_reencode_on_every_call():
    fake = encoder()
    source = EncodedFeatures(fake, TARGET)
    source.collect()
    source.collect()
    assert fake.calls == [len(TARGET), len(TARGET)]


def test_encoded_features_without_normalisation_are_the_raw_rows():
    features = EncodedFeatures(encoder(), TARGET, normalize=False).collect()
    np.testing.assert_array_equal(features.values, raw(TARGET))


def test_encoded_features_need_records():
    with pytest.raises(ValueError, match="record"):
        EncodedFeatures(encoder(), [])


# -- MemoryFeatures -------------------------------------------------------------------------------


def test_an_empty_memory_is_filled_with_the_normalised_target_rows():
    fake, memory = encoder(), HybridMemory(DIM)
    features = MemoryFeatures(memory, fake, TARGET).collect()
    assert memory.initialized
    assert memory.num_source_classes == 0 and memory.num_target_rows == len(TARGET)
    np.testing.assert_allclose(memory.features.numpy(), normalised(raw(TARGET)), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(features.values, memory.snapshot().values)
    assert fake.calls == [len(TARGET)]


def test_source_records_add_one_normalised_centroid_row_per_source_identity():
    fake, memory = encoder(), HybridMemory(DIM, UDA)
    features = MemoryFeatures(memory, fake, TARGET, SOURCE).collect()
    source_rows = normalised(raw(SOURCE))
    pids = np.array([r.pid for r in SOURCE])
    centroids = normalised(np.stack([source_rows[pids == pid].mean(axis=0) for pid in range(3)]))
    assert memory.num_source_classes == 3
    np.testing.assert_allclose(memory.features[:3].numpy(), centroids, rtol=0, atol=1e-6)
    np.testing.assert_allclose(memory.features[3:].numpy(), normalised(raw(TARGET)), rtol=0, atol=1e-6)
    # what gets clustered is the target rows only
    assert len(features) == len(TARGET)
    np.testing.assert_allclose(features.values, normalised(raw(TARGET)), rtol=0, atol=1e-6)
    assert sorted(fake.calls) == sorted([len(TARGET), len(SOURCE)])


def test_the_encoder_runs_once_and_later_calls_read_the_memory_as_training_left_it():
    fake, memory = encoder(), HybridMemory(DIM, UDA)
    source = MemoryFeatures(memory, fake, TARGET, SOURCE)
    source.collect()
    calls = list(fake.calls)
    # training moves target row 2 (memory row 3 + 2)
    memory.update(torch.tensor([[0.0, 0.0, 0.0, 1.0]]), torch.tensor([3 + 2]))
    features = source.collect()
    assert fake.calls == calls
    np.testing.assert_array_equal(features.values, memory.snapshot().values)
    np.testing.assert_allclose(features.values[2], memory.features[5].numpy(), rtol=0, atol=0)
    assert not np.allclose(features.values[2], normalised(raw(TARGET))[2])


def test_a_memory_restored_from_a_state_dict_is_never_refilled():
    filled = HybridMemory(DIM, UDA)
    MemoryFeatures(filled, encoder(), TARGET, SOURCE).collect()
    filled.reset(filled.snapshot(), PseudoLabels(np.array([r.pid for r in TARGET])))
    filled.update(torch.tensor([[1.0, 1.0, 0.0, 0.0]]), torch.tensor([4]))
    restored = HybridMemory(DIM, UDA)
    restored.load_state_dict(filled.state_dict())

    fake = encoder()
    features = MemoryFeatures(restored, fake, TARGET, SOURCE).collect()
    assert fake.calls == []
    assert restored.num_source_classes == 3
    np.testing.assert_array_equal(features.values, filled.snapshot().values)
    assert torch.equal(restored.labels, filled.labels)


def test_collected_rows_feed_the_memory_reset():
    memory = HybridMemory(DIM, UDA)
    features = MemoryFeatures(memory, encoder(), TARGET, SOURCE).collect()
    labels = PseudoLabels(np.array([r.pid for r in TARGET]))
    memory.reset(features, labels)  # one label per collected row
    assert memory.labels[3:].tolist() == [3 + r.pid for r in TARGET]


def test_memory_features_need_target_records():
    with pytest.raises(ValueError, match="target"):
        MemoryFeatures(HybridMemory(DIM), encoder(), [])


def test_source_identities_with_a_gap_are_refused_and_the_memory_stays_empty():
    memory = HybridMemory(DIM, UDA)
    with pytest.raises(ValueError, match="contiguous"):
        MemoryFeatures(memory, encoder(), TARGET, records([0, 2, 2], "source")).collect()
    assert not memory.initialized


def test_refresh_reencodes_every_epoch_and_overwrites_what_training_wrote():
    fake, memory = encoder(), HybridMemory(DIM, UDA)
    source = MemoryFeatures(memory, fake, TARGET, SOURCE, refresh=True)
    source.collect()
    memory.update(torch.tensor([[0.0, 0.0, 0.0, 1.0]]), torch.tensor([3 + 2]))
    features = source.collect()
    assert sorted(fake.calls) == sorted([len(TARGET), len(SOURCE)] * 2)
    np.testing.assert_allclose(features.values, normalised(raw(TARGET)), rtol=0, atol=1e-6)
    np.testing.assert_allclose(memory.features[5].numpy(), normalised(raw(TARGET))[2], rtol=0, atol=1e-6)
    assert memory.num_source_classes == 3


def test_refresh_also_refills_a_restored_memory_from_the_encoder():
    filled = HybridMemory(DIM)
    MemoryFeatures(filled, encoder(), TARGET).collect()
    filled.update(torch.tensor([[1.0, 1.0, 0.0, 0.0]]), torch.tensor([4]))
    restored = HybridMemory(DIM)
    restored.load_state_dict(filled.state_dict())
    fake = encoder()
    features = MemoryFeatures(restored, fake, TARGET, refresh=True).collect()
    assert fake.calls == [len(TARGET)]
    np.testing.assert_allclose(features.values, normalised(raw(TARGET)), rtol=0, atol=1e-6)


def test_the_rows_are_the_centroids_then_the_target_rows_exactly_as_the_memory_keeps_them():
    source = MemoryFeatures(HybridMemory(DIM, UDA), encoder(), TARGET, SOURCE)
    rows = source.rows()
    source_rows = encoder().encode(SOURCE).normalized()
    centroids = class_centroids(source_rows, [r.pid for r in SOURCE])
    target_rows = encoder().encode(TARGET).normalized()
    np.testing.assert_array_equal(rows.values, np.concatenate([centroids.values, target_rows.values]))
    source.collect()
    # the memory normalises what it is given, exactly as when it concatenated the parts itself
    exact = torch.nn.functional.normalize(torch.from_numpy(np.array(rows.values)), dim=1)
    assert torch.equal(source.memory.features, exact)


def test_a_memory_whose_label_space_disagrees_with_the_source_identities_is_refused():
    # 2 source classes configured, 3 identities given: a centroid would pose as a target row
    with pytest.raises(ValueError, match="has 10 target rows for 9 target images: .* must be the 3 source identities"):
        MemoryFeatures(HybridMemory(DIM, LabelSpace(2)), encoder(), TARGET, SOURCE).collect()
    # 3 configured, 4 given
    with pytest.raises(ValueError, match="has 10 target rows for 9 target images: .* must be the 4 source identities"):
        MemoryFeatures(HybridMemory(DIM, UDA), encoder(), TARGET, records([0, 1, 2, 3], "s")).collect()
    # 3 configured, none given: the first three target rows would pose as source classes
    with pytest.raises(ValueError, match="has 6 target rows for 9 target images"):
        MemoryFeatures(HybridMemory(DIM, UDA), encoder(), TARGET).collect()


def test_any_memory_bank_can_be_filled_a_cluster_memory_or_a_distributed_decorator():
    cluster = ClusterMemory(DIM)
    features = MemoryFeatures(cluster, encoder(), TARGET).collect()
    assert cluster.num_clusters == len(TARGET)
    np.testing.assert_allclose(features.values, normalised(raw(TARGET)), rtol=0, atol=1e-6)
    inner = HybridMemory(DIM, UDA)
    decorated = GlobalMemoryUpdate(inner, ProcessGroup.single())
    features = MemoryFeatures(decorated, encoder(), TARGET, SOURCE).collect()
    assert inner.initialized and decorated.initialized
    np.testing.assert_array_equal(features.values, inner.snapshot().values)


# -- MeanOfFeatures -------------------------------------------------------------------------------


class FixedFeatures:
    """A feature source returning the same rows on every call."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = np.asarray(values, dtype=np.float64)

    def collect(self) -> FeatureMatrix:
        return FeatureMatrix(self.values)


def test_the_mean_is_the_normalised_average_of_the_normalised_sources():
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(6, DIM)) * 3.0, rng.normal(size=(6, DIM))
    mean = MeanOfFeatures([FixedFeatures(first), FixedFeatures(second)]).collect().values
    # a source's scale must not weigh it more: each is normalised before the average
    np.testing.assert_allclose(mean, normalised((normalised(first) + normalised(second)) / 2), atol=1e-6)


def test_sources_of_different_shapes_are_refused():
    rng = np.random.default_rng(1)
    sources = [FixedFeatures(rng.normal(size=(6, DIM))), FixedFeatures(rng.normal(size=(5, DIM)))]
    with pytest.raises(ValueError, match="disagree on shape"):
        MeanOfFeatures(sources).collect()
    with pytest.raises(ValueError, match="at least one"):
        MeanOfFeatures([])
