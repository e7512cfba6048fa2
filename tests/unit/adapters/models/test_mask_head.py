"""The foreground-mask head on a re-ID trunk, and one supervised step training it (issue 21)."""

from __future__ import annotations

import pytest
import torch

from reidkit.adapters.data.batch import TrainingBatch
from reidkit.adapters.losses.weighted import MaskRegression, id_and_triplet_losses
from reidkit.adapters.models.backbone import build_reid_model
from reidkit.adapters.models.mask_head import stage_channels
from reidkit.adapters.models.trunk import build_resnet_trunk
from reidkit.adapters.steps.supervised import SupervisedStep


def model(**options):
    torch.manual_seed(0)
    return build_reid_model("resnet18", num_classes=4, last_stride=2, pooling="gem", mask_head=True, **options)


def test_the_head_predicts_a_mask_at_the_input_size_in_train_mode_and_on_request():
    net = model().train()
    out = net(torch.randn(2, 3, 64, 48))
    assert out.mask.shape == (2, 1, 64, 48) and float(out.mask.min()) >= 0.0 and float(out.mask.max()) <= 1.0
    net.eval()
    assert net(torch.randn(2, 3, 64, 48)).shape == (2, 512)  # retrieval features, as without a head
    assert net.predict_mask(torch.randn(1, 3, 64, 48)).shape == (1, 1, 64, 48)


def test_the_stage_is_read_by_name_and_its_width_found_by_a_forward_pass():
    assert stage_channels(build_resnet_trunk("resnet18", last_stride=2), "layer3", 64, 64) == 256
    assert stage_channels(build_resnet_trunk("resnet50", last_stride=1), "layer3", 64, 64) == 1024
    with pytest.raises(ValueError, match="the trunk has no stage 'layer9'"):
        model(mask_stage="layer9")


def test_without_a_head_the_model_is_drawn_as_before():
    torch.manual_seed(0)
    plain = build_reid_model("resnet18", num_classes=4, last_stride=2, pooling="gem")
    headed = model()
    for name, value in plain.state_dict().items():
        assert torch.equal(value, headed.state_dict()[name]), name


def test_mask_attention_changes_what_is_pooled():
    images = torch.randn(2, 3, 64, 48)
    attention = model(mask_attention=True).eval()
    plain = model().eval()
    assert not torch.allclose(attention(images), plain(images))
    with pytest.raises(ValueError, match="needs a mask head"):
        build_reid_model("resnet18", num_classes=4, mask_attention=True)
    with pytest.raises(ValueError, match="PCB"):
        build_reid_model("resnet18", num_classes=4, head="pcb", mask_head=True)


@pytest.mark.parametrize("trains_mask", [False, True])
def test_under_attention_the_reid_loss_reaches_the_mask_only_when_asked(trains_mask):
    net = model(mask_attention=True, mask_attention_trains_mask=trains_mask).train()
    out = net(torch.randn(4, 3, 64, 48))
    torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1, 2, 3])).backward()  # no mask loss
    reached = [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in net.mask_head.parameters()]
    assert all(reached) if trains_mask else not any(reached)
    assert net.trunk.conv1.weight.grad.abs().sum() > 0  # the trunk learns either way
    with pytest.raises(ValueError, match="^attention_trains_mask lets the re-ID loss train the mask through the pooling: it needs attention$"):
        model(mask_attention_trains_mask=True)


def test_a_supervised_step_trains_the_head_on_the_batchs_boxes():
    net = model()
    losses = id_and_triplet_losses(
        ce_weight=1.0, label_smoothing=0.1, triplet_weight=1.0, triplet_margin=0.3, soft_margin=False,
        triplet_on="features", mask_weight=0.5, mask=MaskRegression("mse"),
    )  # fmt: skip
    step = SupervisedStep(net, torch.optim.Adam(net.parameters(), lr=1e-3), losses)
    step.begin_epoch(0)
    boxes = torch.tensor([[0.2, 0.1, 0.8, 0.9]] * 4)
    batch = TrainingBatch.of_domain(torch.randn(4, 3, 64, 48), torch.tensor([0, 0, 1, 1]), torch.arange(4), 0, boxes)
    head_before = [p.detach().clone() for p in net.mask_head.parameters()]
    report = step.run(batch)
    assert set(report.losses) == {"ce", "triplet", "mask", "total"}
    assert float(report.losses["total"]) == pytest.approx(
        float(report.losses["ce"]) + float(report.losses["triplet"]) + 0.5 * float(report.losses["mask"]), rel=1e-5
    )
    assert any(not torch.equal(a, b) for a, b in zip(head_before, net.mask_head.parameters()))
    unboxed = TrainingBatch.of_domain(torch.randn(4, 3, 64, 48), torch.tensor([0, 0, 1, 1]), torch.arange(4), 0)
    with pytest.raises(ValueError, match="needs a box per image: 4 masks, 0 boxes"):
        step.run(unboxed)
