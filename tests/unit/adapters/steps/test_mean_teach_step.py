"""MeanTeachStep: peer wiring (student 1 learns from teacher 2), EMA after each step, exact state."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from reidkit.adapters.data.batch import SOURCE_DOMAIN, TARGET_DOMAIN, TrainingBatch
from reidkit.adapters.losses.mutual import soft_softmax_triplet
from reidkit.adapters.losses.triplet import batch_hard_triplet
from reidkit.adapters.models.backbone import ReidNet
from reidkit.adapters.models.dsbn import convert_dsbn
from reidkit.adapters.models.mean_teacher import mean_teacher_of
from reidkit.adapters.models.pooling import GlobalAveragePooling
from reidkit.adapters.steps.mean_teach import MeanTeachStep
from reidkit.adapters.steps.optim import WarmupSchedule


def tiny(seed: int, *, dsbn: bool = False) -> ReidNet:
    torch.manual_seed(seed)
    trunk = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    model = ReidNet(trunk, 8, num_classes=4, pooling=GlobalAveragePooling())
    if dsbn:
        convert_dsbn(model)
    return model


def make_step(*, dsbn: bool = False, schedule: bool = False, **kwargs) -> MeanTeachStep:
    students = [tiny(0, dsbn=dsbn), tiny(1, dsbn=dsbn)]
    teachers = [mean_teacher_of(s) for s in students]
    optimizer = torch.optim.SGD([p for s in students for p in s.parameters() if p.requires_grad], lr=0.1)
    scheduler = WarmupSchedule(optimizer, warmup_epochs=1, milestones=[2]) if schedule else None
    return MeanTeachStep(students, teachers, optimizer, scheduler=scheduler, **kwargs)


def batch(seed: int = 0, domain: int = TARGET_DOMAIN) -> TrainingBatch:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(8, 2, 3, 16, 8, generator=generator)
    return TrainingBatch.of_domain(images, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), torch.arange(8), domain)


def test_each_student_learns_from_its_peers_teacher():
    step = make_step()
    for model in (*step.students, *step.teachers):
        model.train()
    images, labels = batch().images, batch().labels
    students = [s(images[:, i]) for i, s in enumerate(step.students)]
    teachers = [t(images[:, i]) for i, t in enumerate(step.teachers)]

    def student_1_gradient(teacher_outputs):
        soft = step.losses(students, teacher_outputs, labels)
        total = soft["soft_ce"] + soft["soft_triplet"]
        return torch.autograd.grad(total, (students[0].logits, students[0].features), retain_graph=True)

    def scaled(output):
        return output._replace(logits=3 * output.logits, features=3 * output.features)

    reference = student_1_gradient(teachers)
    own_changed = student_1_gradient([scaled(teachers[0]), teachers[1]])  # student 1's own teacher
    peer_changed = student_1_gradient([teachers[0], scaled(teachers[1])])  # student 2's teacher, its peer
    for same, ref in zip(own_changed, reference):
        torch.testing.assert_close(same, ref)
    assert not torch.allclose(peer_changed[0], reference[0])
    assert not torch.allclose(peer_changed[1], reference[1])


def test_a_step_trains_the_students_and_moves_each_teacher_towards_its_own_student():
    step = make_step(teacher_momentum=0.5)
    step.begin_epoch(0)
    step.run(batch())  # step 0: ramped momentum 0 -> teachers copy their students
    for student, teacher in zip(step.students, step.teachers):
        for s, t in zip(student.parameters(), teacher.parameters()):
            torch.testing.assert_close(t, s)
    before = [[p.clone() for p in t.parameters()] for t in step.teachers]
    report = step.run(batch(1))  # step 1: momentum min(1 - 1/2, 0.5) = 0.5
    for old, student, teacher in zip(before, step.students, step.teachers):
        for o, s, t in zip(old, student.parameters(), teacher.parameters()):
            torch.testing.assert_close(t, 0.5 * o + 0.5 * s)
    assert set(report.losses) == {"ce", "triplet", "soft_ce", "soft_triplet", "total"}
    assert step.global_step == 2


def test_total_weights_hard_and_soft_losses_as_mmt():
    step = make_step(soft_ce_weight=0.5, soft_triplet_weight=0.8)
    step.begin_epoch(0)
    losses = step.run(batch()).losses
    expected = 0.5 * losses["ce"] + 0.2 * losses["triplet"] + 0.5 * losses["soft_ce"] + 0.8 * losses["soft_triplet"]
    assert float(losses["total"]) == pytest.approx(float(expected), rel=1e-5)


def test_both_triplets_see_the_chosen_side_of_the_bnneck():
    images, labels = batch().images, batch().labels
    losses = {}
    for side in ("features", "embeddings"):
        step = make_step(triplet_on=side)
        for model in (*step.students, *step.teachers):
            model.train()
        students = [s(images[:, i]) for i, s in enumerate(step.students)]
        teachers = [t(images[:, i]) for i, t in enumerate(step.teachers)]
        losses[side] = step.losses(students, teachers, labels)
        hard = sum(batch_hard_triplet(getattr(s, side), labels, margin=None).loss for s in students)
        peers = (teachers[1], teachers[0])
        soft = sum(soft_softmax_triplet(getattr(s, side), getattr(t, side), labels) for s, t in zip(students, peers))
        torch.testing.assert_close(losses[side]["triplet"], hard)
        torch.testing.assert_close(losses[side]["soft_triplet"], soft)
    assert not torch.allclose(losses["features"]["triplet"], losses["embeddings"]["triplet"])


def test_state_round_trip_continues_exactly():
    first = make_step()
    first.begin_epoch(0)
    first.run(batch())
    saved = copy.deepcopy(first.state_dict())
    second = make_step()
    second.load_state_dict(saved)
    for step in (first, second):
        step.begin_epoch(1)
    a, b = first.run(batch(2)), second.run(batch(2))
    assert float(a.losses["total"]) == float(b.losses["total"])
    assert second.global_step == first.global_step == 2


def test_bad_settings_are_refused():
    students = [tiny(0), tiny(1)]
    optimizer = torch.optim.SGD(students[0].parameters(), lr=0.1)
    with pytest.raises(ValueError, match="2 students and 2 teachers"):
        MeanTeachStep(students[:1], students[:1], optimizer)
    with pytest.raises(ValueError, match="soft_ce_weight must be in"):
        MeanTeachStep(students, students, optimizer, soft_ce_weight=1.5)
    with pytest.raises(ValueError, match="triplet_on must be one of .* got 'logits'"):
        MeanTeachStep(students, students, optimizer, triplet_on="logits")
    with pytest.raises(KeyError, match="MeanTeachStep state lacks students, teachers, optimizer, global_step'$"):
        make_step().load_state_dict({})


def test_state_dict_keeps_the_checkpoint_layout():
    step = make_step()
    assert list(step.state_dict()) == ["students", "teachers", "optimizer", "global_step"]
    scheduled = make_step(schedule=True)
    assert list(scheduled.state_dict()) == ["students", "teachers", "optimizer", "global_step", "scheduler"]
    state = scheduled.state_dict()
    del state["scheduler"]
    with pytest.raises(KeyError, match="MeanTeachStep state lacks scheduler"):
        scheduled.load_state_dict(state)


def test_each_dsbn_model_routes_the_batch_by_its_domains():
    step = make_step(dsbn=True)
    step.begin_epoch(0)
    models = (*step.students, *step.teachers)
    before = [[bn.running_mean.clone() for bn in model.trunk[1].bns] for model in models]
    step.run(batch(domain=SOURCE_DOMAIN))
    for model, (source, target) in zip(models, before):
        assert not torch.equal(model.trunk[1].bns[SOURCE_DOMAIN].running_mean, source)
        assert torch.equal(model.trunk[1].bns[TARGET_DOMAIN].running_mean, target)
