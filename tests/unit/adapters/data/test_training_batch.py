"""TrainingBatch: the typed batch every batch source yields and every step reads."""

from __future__ import annotations

import pytest
import torch

from reidkit.adapters.data.batch import SOURCE_DOMAIN, TARGET_DOMAIN, TrainingBatch


def batch(n: int = 3, domain: int = SOURCE_DOMAIN, first_label: int = 0) -> TrainingBatch:
    return TrainingBatch.of_domain(
        torch.rand(n, 3, 4, 2), torch.arange(first_label, first_label + n), torch.arange(n), domain
    )


def test_of_domain_stamps_every_sample():
    made = batch(4, TARGET_DOMAIN)
    assert len(made) == 4 and made.domains.tolist() == [TARGET_DOMAIN] * 4
    assert made.domains.dtype == made.labels.dtype


def test_concat_keeps_order_and_relabelled_shifts_labels_only():
    source, target = batch(2), batch(3, TARGET_DOMAIN, first_label=10)
    joint = TrainingBatch.concat([source, target.relabelled(5)])
    assert joint.labels.tolist() == [0, 1, 15, 16, 17]
    assert joint.indexes.tolist() == [0, 1, 0, 1, 2]
    assert joint.domains.tolist() == [SOURCE_DOMAIN] * 2 + [TARGET_DOMAIN] * 3
    assert torch.equal(joint.images, torch.cat([source.images, target.images]))


def test_to_moves_every_field():
    moved = batch().to("cpu", non_blocking=False)
    assert all(getattr(moved, name).device.type == "cpu" for name in ("images", "labels", "indexes", "domains"))


@pytest.mark.parametrize("field", ["labels", "indexes", "domains"])
def test_fields_must_match_the_images_in_length(field):
    parts = {"images": torch.rand(3, 3, 4, 2), "labels": torch.zeros(3), "indexes": torch.zeros(3), "domains": torch.zeros(3)}
    parts[field] = torch.zeros(2)
    with pytest.raises(ValueError, match=rf"TrainingBatch.{field} must have shape \(3,\) like the images, got \(2,\)"):
        TrainingBatch(**parts)


def test_concat_of_nothing_is_refused():
    with pytest.raises(ValueError, match="at least one batch"):
        TrainingBatch.concat([])
