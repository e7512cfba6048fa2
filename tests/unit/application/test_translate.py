"""Translate driven by recording fakes (no torch, no files): train, then render each split once
and publish the pairs, unless the rendering was made by these very weights."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence

import attrs
import pytest

from reidkit.application.epoch_loop import EpochLoop, Schedule
from reidkit.application.translate import Translate, made_by_epochs
from reidkit.domain.ports import TranslatedDataset, Translator
from reidkit.domain.types import ImageRecord, TrainingProgress
from tests.support.fakes import FakeBatches, Journal, MemoryCheckpointer, RecordingObserver, RecordingStep

SPLITS = {
    "bounding_box_train": [ImageRecord(f"/src/train/{i:04d}_c{i % 2 + 1}.jpg", pid=i, camid=i % 2, domain="market")
                           for i in range(3)],
    "query": [ImageRecord("/src/query/0010_c1.jpg", pid=10, camid=0, domain="market")],
    "bounding_box_test": [ImageRecord(f"/src/test/0010_c{c + 1}.jpg", pid=10, camid=c, domain="market", dataset=1)
                          for c in (1, 2)],
}


class FakeLoop:
    """Stands for the EpochLoop: ``run`` journals and returns the given progress."""

    def __init__(self, journal: Journal, progress: TrainingProgress) -> None:
        self.journal, self.progress = journal, progress

    def run(self) -> TrainingProgress:
        self.journal("train")
        return self.progress


class RecordingTranslator:
    """Renders a record as the same record under ``out_dir``, journalling each call."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.calls: list[tuple[tuple[ImageRecord, ...], str]] = []

    def translate(self, records: Sequence[ImageRecord], out_dir: str) -> tuple[ImageRecord, ...]:
        self.journal("translate", out_dir)
        self.calls.append((tuple(records), out_dir))
        return tuple(attrs.evolve(r, path=f"{out_dir}/{r.path.rsplit('/', 1)[-1]}") for r in records)


class MemoryRendering:
    """A TranslatedDataset kept in memory; ``made_by`` is what the last publication recorded."""

    def __init__(self, journal: Journal, made_by: str | None = None) -> None:
        self.journal, self.made_by = journal, made_by
        self.published: list[tuple[dict, str]] = []

    def split_dir(self, folder: str) -> str:
        return f"/rendered/{folder}"

    def is_current(self, made_by: str) -> bool:
        self.journal("is_current", made_by)
        return self.made_by == made_by

    def publish(self, splits: Mapping[str, Sequence[tuple[ImageRecord, ImageRecord]]], made_by: str) -> None:
        self.journal("publish", made_by)
        self.published.append(({folder: tuple(pairs) for folder, pairs in splits.items()}, made_by))
        self.made_by = made_by


def make(journal: Journal, *, epochs_done: int = 5, made_by: str | None = None) -> Translate:
    return Translate(
        loop=FakeLoop(journal, TrainingProgress(epochs_done=epochs_done, best_score=0.25)),  # type: ignore[arg-type]
        translator=RecordingTranslator(journal),
        rendering=MemoryRendering(journal, made_by),
        splits=SPLITS,
    )


def test_the_fakes_satisfy_the_ports():
    journal = Journal()
    assert isinstance(RecordingTranslator(journal), Translator)
    assert isinstance(MemoryRendering(journal), TranslatedDataset)


def test_trains_then_renders_each_split_once_then_publishes_the_pairs():
    journal = Journal()
    translate = make(journal, epochs_done=5)
    progress = translate.run()

    assert progress == TrainingProgress(epochs_done=5, best_score=0.25)
    made_by = made_by_epochs(progress)
    assert journal.events == [
        ("train",),
        ("is_current", made_by),
        ("translate", "/rendered/bounding_box_train"),
        ("translate", "/rendered/query"),
        ("translate", "/rendered/bounding_box_test"),
        ("publish", made_by),
    ]
    assert [records for records, _ in translate.translator.calls] == [tuple(r) for r in SPLITS.values()]

    ((splits, published_by),) = translate.rendering.published
    assert published_by == made_by
    assert set(splits) == set(SPLITS)
    for folder, records in SPLITS.items():
        pairs = splits[folder]
        assert [original for original, _ in pairs] == records
        for original, rendered in pairs:
            assert rendered.path == f"/rendered/{folder}/{original.path.rsplit('/', 1)[-1]}"
            assert (rendered.pid, rendered.camid, rendered.domain, rendered.dataset) == (
                original.pid, original.camid, original.domain, original.dataset)


def test_made_by_names_the_trained_epochs():
    assert "5" in made_by_epochs(TrainingProgress(epochs_done=5))
    assert made_by_epochs(TrainingProgress(epochs_done=5)) != made_by_epochs(TrainingProgress(epochs_done=6))
    # Only the epochs matter: the same weights evaluated differently are the same translator.
    assert made_by_epochs(TrainingProgress(epochs_done=5)) == made_by_epochs(TrainingProgress(epochs_done=5, best_score=0.9))


def test_a_current_rendering_is_not_rendered_again():
    journal = Journal()
    translate = make(journal, epochs_done=5, made_by=made_by_epochs(TrainingProgress(epochs_done=5)))
    progress = translate.run()
    assert progress.epochs_done == 5
    assert journal.names() == ["train", "is_current"]
    assert translate.translator.calls == []
    assert translate.rendering.published == []


def test_a_stale_rendering_is_rendered_again():
    journal = Journal()
    stale = made_by_epochs(TrainingProgress(epochs_done=3))
    translate = make(journal, epochs_done=5, made_by=stale)
    translate.run()
    assert journal.names() == ["train", "is_current", "translate", "translate", "translate", "publish"]
    assert translate.rendering.published[0][1] == made_by_epochs(TrainingProgress(epochs_done=5))
    assert translate.rendering.made_by != stale


def test_a_second_run_reuses_the_first_runs_rendering():
    journal = Journal()
    translate = make(journal, epochs_done=4)
    translate.run()
    translate.run()
    assert journal.names().count("translate") == len(SPLITS)
    assert len(translate.rendering.published) == 1


def test_a_failed_rendering_is_not_published():
    journal = Journal()
    translate = make(journal)

    def broken(records, out_dir):  # noqa: ANN001, ANN202
        journal("translate", out_dir)
        if out_dir.endswith("query"):
            raise OSError("disk full")
        return tuple(records)

    translate.translator.translate = broken  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk full"):
        translate.run()
    assert "publish" not in journal.names()
    assert translate.rendering.published == []


def test_with_the_real_epoch_loop_a_finished_run_only_renders():
    """Resumed after its last epoch, the loop trains nothing and the translator is named by the
    restored epochs."""
    journal = Journal()
    loop = EpochLoop(
        batches=FakeBatches(journal, batches_per_epoch=2),
        step=RecordingStep(journal),
        checkpointer=MemoryCheckpointer(journal, TrainingProgress(epochs_done=3)),
        observer=RecordingObserver(journal),
        schedule=Schedule(epochs=3),
    )
    translate = Translate(loop=loop, translator=RecordingTranslator(journal), rendering=MemoryRendering(journal),
                          splits=SPLITS)
    progress = translate.run()
    assert progress.epochs_done == 3
    assert "step" not in journal.names()
    assert ("publish", made_by_epochs(TrainingProgress(epochs_done=3))) in journal.events


def test_the_use_case_imports_no_machinery():
    code = (
        "import sys; import reidkit.application.translate; "
        "heavy = {'torch', 'torchvision', 'faiss', 'PIL', 'structlog', 'dependency_injector'} & set(sys.modules); "
        "print(sorted(heavy)); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
