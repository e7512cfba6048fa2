"""One contract, every BatchSource: identity batches over a DataLoader, pseudo-labelled batches
after a reset, joint source+target batches of the two, and the fake the use-case tests run on.

What the epoch loop and a resumed run may rely on whatever the source: ``len()`` is the exact
number of batches an epoch yields, and ``epoch(e)`` is a pure function of (seed, e): iterating it
again, or a freshly built source with the same seed, gives the same batches (augmentation
included), whatever else drew from torch's random generator in between. A random source gives
another epoch other batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
import torch
from attrs import frozen

from reidkit.adapters.data.batch import TrainingBatch
from reidkit.adapters.data.batches import identity_batches
from reidkit.adapters.data.loading import LoaderOptions
from reidkit.adapters.data.market import read_market
from reidkit.adapters.data.pseudo_batches import JointBatches, PseudoLabelledBatches
from reidkit.adapters.data.synth import ensure_synthetic
from reidkit.adapters.data.transforms import build_train_transform
from reidkit.domain.ports import BatchSource
from reidkit.domain.types import FeatureMatrix, ImageRecord, LabelSpace, PseudoLabels
from tests.support.fakes import FakeBatches, Journal

P, K, SEED = 2, 2, 0
TARGET_CLUSTERS = 4
FIELDS = ("images", "labels", "indexes", "domains")

# In-process augmentation (num_workers=0) draws from torch's global generator, which the loader
# reseeds from (seed, e) only when iteration starts; a draw between two batches (a training step's
# dropout) therefore changes the augmentation of every later batch of the epoch.
DRAWS_BETWEEN_BATCHES_SHIFT_AUGMENTATION = (
    "the transforms of each batch run when the loop asks for it and draw from torch's global RNG, "
    "reseeded from (seed, e) only when iteration starts: torch.rand between two batches changes "
    "the later batches' augmentation"
)


@frozen
class Case:
    """How to build one source (the same seed each time); ``random``: its epochs are random draws;
    ``interleaved_draws``: why draws between its batches change them (None: they do not)."""

    make: Callable[[], BatchSource]
    random: bool = True
    interleaved_draws: str | None = DRAWS_BETWEEN_BATCHES_SHIFT_AUGMENTATION


@pytest.fixture(scope="module")
def tiny_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return ensure_synthetic("tiny", 0, tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="module")
def source_records(tiny_roots: dict[str, Path]) -> tuple[ImageRecord, ...]:
    """The tiny preset's labelled source training images (64 of 16 people)."""
    return read_market(Path(tiny_roots["source"]), domain="source").train


@pytest.fixture(scope="module")
def target_records(tiny_roots: dict[str, Path]) -> tuple[ImageRecord, ...]:
    """The tiny preset's unlabelled target training images (64 of 16 people)."""
    return read_market(Path(tiny_roots["target"]), domain="target").train


def transform():  # noqa: ANN201 - torchvision's Compose
    """Random flips, crops and erasing: the batches show whether augmentation is reproduced too."""
    return build_train_transform(64, 32)


def loader_batch_source(request: pytest.FixtureRequest, *, num_batches: int = 3) -> Case:
    records = request.getfixturevalue("source_records")

    def make() -> BatchSource[TrainingBatch]:
        return identity_batches(
            records, transform(), ids_per_batch=P, instances_per_id=K, seed=SEED, stream="source",
            num_batches=num_batches,
        )

    return Case(make)


def loader_batch_source_with_workers(request: pytest.FixtureRequest) -> Case:
    """Two persistent worker processes: every sample's augmentation is seeded by its position in
    the epoch, so nothing drawn in this process between batches reaches it."""
    records = request.getfixturevalue("source_records")
    loading = LoaderOptions(num_workers=2, persistent_workers=True, prefetch_factor=2)

    def make() -> BatchSource[TrainingBatch]:
        return identity_batches(
            records, transform(), ids_per_batch=P, instances_per_id=K, seed=SEED, stream="source",
            num_batches=3, loading=loading,
        )

    return Case(make, interleaved_draws=None)


def pseudo_labels(records: tuple[ImageRecord, ...]) -> PseudoLabels:
    """Cluster = pid % TARGET_CLUSTERS, every fifth record an outlier."""
    ids = np.array([r.pid % TARGET_CLUSTERS for r in records], dtype=np.int64)
    ids[::5] = -1
    return PseudoLabels(ids)


def reset_pseudo_labelled(records: tuple[ImageRecord, ...], num_batches: int) -> PseudoLabelledBatches:
    """Pseudo-labelled batches after this epoch's reset (before it they have no batches)."""
    batches = PseudoLabelledBatches(
        records, transform(), instances_per_id=K, ids_per_batch=P, num_batches=num_batches, seed=SEED
    )
    batches.reset(FeatureMatrix(np.zeros((len(records), 4))), pseudo_labels(records))
    return batches


def pseudo_labelled_batches(request: pytest.FixtureRequest) -> Case:
    records = request.getfixturevalue("target_records")
    return Case(lambda: reset_pseudo_labelled(records, num_batches=3))


def joint_batches(request: pytest.FixtureRequest) -> Case:
    # the halves differ in length (3 source, 2 target batches): the joint source has the shorter's
    source = loader_batch_source(request, num_batches=3)
    records = request.getfixturevalue("target_records")
    space = LabelSpace(source_classes=len({r.pid for r in request.getfixturevalue("source_records")}))
    return Case(lambda: JointBatches(source.make(), reset_pseudo_labelled(records, num_batches=2), space))


def fake_batches(request: pytest.FixtureRequest) -> Case:
    return Case(lambda: FakeBatches(Journal(), batches_per_epoch=3), random=False, interleaved_draws=None)


CASES: dict[str, Callable[[pytest.FixtureRequest], Case]] = {
    "loader_batch_source": loader_batch_source,
    "loader_batch_source_with_workers": loader_batch_source_with_workers,
    "pseudo_labelled_batches": pseudo_labelled_batches,
    "joint_batches": joint_batches,
    "fake_batches": fake_batches,
}
RANDOM = ["joint_batches", "loader_batch_source", "loader_batch_source_with_workers", "pseudo_labelled_batches"]


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param](request)


@pytest.fixture(params=RANDOM)
def random_case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param](request)


def collect(batches: Iterable[object], *, draw_between: bool = False) -> list[object]:
    """One epoch's batches; with ``draw_between`` torch's global generator is drawn from after
    every batch, as a training step's dropout does."""
    seen = []
    for batch in batches:
        seen.append(batch)
        if draw_between:
            torch.rand(100)
    return seen


def assert_same_batches(actual: list[object], expected: list[object]) -> None:
    """Every tensor field of every TrainingBatch equal (the fake's batches are plain items)."""
    assert len(actual) == len(expected)
    for position, (a, b) in enumerate(zip(actual, expected)):
        if isinstance(b, TrainingBatch):
            assert isinstance(a, TrainingBatch)
            for name in FIELDS:
                assert torch.equal(getattr(a, name), getattr(b, name)), f"batch {position}: {name}"
        else:
            assert a == b, f"batch {position}"


def differ(a: list[object], b: list[object]) -> bool:
    try:
        assert_same_batches(a, b)
    except AssertionError:
        return True
    return False


# -- the contract ----------------------------------------------------------------------------------


def test_len_is_the_exact_number_of_batches_of_every_epoch(case: Case) -> None:
    source = case.make()
    expected = len(source)
    assert expected > 0
    for epoch in (0, 1):
        assert len(collect(source.epoch(epoch))) == expected, f"epoch {epoch}"
        assert len(source) == expected


def test_an_epoch_is_the_same_when_iterated_again_or_by_a_fresh_source(case: Case) -> None:
    source = case.make()
    reference = collect(source.epoch(1))
    torch.rand(100)  # someone else drawing from the global generator between the epochs
    assert_same_batches(collect(source.epoch(1)), reference)
    made_early = source.epoch(1)
    collect(source.epoch(0))  # another epoch iterated between making this one and iterating it
    torch.rand(10)
    assert_same_batches(collect(made_early), reference)
    fresh = case.make()  # a resumed process: same seed, nothing iterated before
    torch.manual_seed(1234)
    assert_same_batches(collect(fresh.epoch(1)), reference)


def test_draws_between_the_batches_of_an_epoch_do_not_change_them(case: Case, request: pytest.FixtureRequest) -> None:
    if case.interleaved_draws is not None:
        request.applymarker(pytest.mark.xfail(strict=True, raises=AssertionError, reason=case.interleaved_draws))
    source = case.make()
    reference = collect(source.epoch(0))
    assert_same_batches(collect(source.epoch(0), draw_between=True), reference)


def test_another_epoch_draws_other_batches(random_case: Case) -> None:
    source = random_case.make()
    first, second = collect(source.epoch(0)), collect(source.epoch(1))
    assert differ(first, second)
    # not only the order: the epochs sample other images, or augment them otherwise
    assert any(not torch.equal(a.images, b.images) for a, b in zip(first, second))
