"""Several labelled training splits as one, for multi-dataset training (Torchreid's
``dataset1 + dataset2``): identities and cameras are offset so that no two datasets share one, and
every record carries its dataset's number."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import attrs

from reidkit.domain.types import ReidDataset


def combined_training_split(datasets: Sequence[ReidDataset]) -> ReidDataset:
    """The training splits of ``datasets``, in order: dataset i's pids and camera ids follow the
    largest of those before it (a split's pids are 0..n-1, so the result's are too), and its records get ``dataset = i``. Query and gallery are left out: every
    dataset is evaluated on its own. One dataset comes back as it is."""
    if not datasets:
        raise ValueError("no training split to combine")
    if len(datasets) == 1:
        return datasets[0]
    records, pid_offset, cam_offset = [], 0, 0
    for index, dataset in enumerate(datasets):
        if not dataset.train:
            raise ValueError(f"domain {dataset.name!r} has no training images to combine")
        records += [attrs.evolve(r, pid=r.pid + pid_offset, camid=r.camid + cam_offset, dataset=index) for r in dataset.train]
        pid_offset += max(r.pid for r in dataset.train) + 1
        cam_offset += max(r.camid for r in dataset.train) + 1
    return ReidDataset("+".join(d.name for d in datasets), records, (), (), identities_known=all(d.identities_known for d in datasets))


def combined_all(dataset: ReidDataset, junk_pids: Collection[int] = ()) -> ReidDataset:
    """Torchreid's ``combineall``: the query and gallery records join the training split, each
    identity relabelled after the training ones (the same identity in query and gallery, one
    label), ``junk_pids`` (a dataset's distractors) left out. Query and gallery stay as they
    are; scores on them then measure nothing but memory. A dataset without a training split
    starts its labels at 0."""
    extra = [r for r in (*dataset.query, *dataset.gallery) if r.pid not in junk_pids]
    start = max((r.pid for r in dataset.train), default=-1) + 1
    labels = {pid: start + i for i, pid in enumerate(sorted({r.pid for r in extra}))}
    train = (*dataset.train, *(attrs.evolve(r, pid=labels[r.pid]) for r in extra))
    return attrs.evolve(dataset, train=train)
