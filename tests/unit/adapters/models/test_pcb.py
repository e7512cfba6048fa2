"""PCB: six stripes with their own reduction and classifier, per-stripe logits for the ID loss,
the concatenated stripe descriptor at test time, and a training step on the tiny preset."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reidkit.adapters.losses.cross_entropy import CrossEntropyLoss
from reidkit.adapters.models.backbone import ReidOutput, build_reid_model
from reidkit.adapters.models.pcb import PCBNet
from tests.support.models import SIZES, train_steps


@pytest.fixture(scope="module")
def pcb() -> PCBNet:
    torch.manual_seed(0)
    return build_reid_model("resnet50", num_classes=7, head="pcb")


def test_train_outputs_per_stripe_logits_at_every_size(pcb):
    pcb.train()
    for height, width in SIZES:
        out = pcb(torch.randn(2, 3, height, width))
        assert isinstance(out, ReidOutput)
        assert out.logits.shape == (2, 6, 7)
        assert out.features.shape == (2, 6 * 2048) and out.embeddings.shape == (2, 6 * 2048)
    assert len(pcb.reductions) == len(pcb.classifiers) == 6
    assert pcb.reductions[0][0].out_features == 256  # the paper's 256-d h


def test_eval_returns_the_stripes_normalised_and_concatenated(pcb):
    pcb.eval()
    x = torch.randn(2, 3, 256, 128)
    with torch.no_grad():
        descriptor = pcb(x)
        stripes = pcb.stripes(x)
    assert descriptor.shape == (2, pcb.feature_dim) == (2, 6 * 2048)
    # Six stripes of the 16x8 map, top first, each L2-normalised.
    torch.testing.assert_close(descriptor.reshape(2, 6, 2048).norm(dim=2), torch.ones(2, 6))
    fmap = pcb.trunk(x)
    torch.testing.assert_close(stripes[:, 0], fmap[:, :, :3].mean(dim=(2, 3)))
    torch.testing.assert_close(stripes[:, 5], fmap[:, :, 13:].mean(dim=(2, 3)))


def test_reduced_descriptor_and_centroid_initialised_heads():
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU())
    model = PCBNet(trunk, 16, num_classes=3, parts=4, part_dim=5, test_features="reduced")
    assert model.eval()(torch.randn(2, 3, 8, 4)).shape == (2, 20)
    weights = model.resize_classifier(9, torch.randn(9, 20))
    assert [tuple(w.shape) for w in weights] == [(9, 5)] * 4
    assert all(w is c.weight for w, c in zip(weights, model.classifiers))  # in place: optimisers keep them
    torch.testing.assert_close(model.classifiers[2].weight.norm(dim=1), torch.ones(9))
    assert model.num_classes == 9
    pooled = PCBNet(trunk, 16, num_classes=3, parts=4, part_dim=5)
    with pytest.raises(ValueError, match="reduced"):
        pooled.resize_classifier(9, torch.randn(9, 64))
    pooled.resize_classifier(9)  # a random head resizes either way
    assert pooled.train()(torch.randn(2, 3, 8, 4)).logits.shape == (2, 4, 9)


def test_loading_follows_a_saved_head_size():
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU())
    saved = PCBNet(trunk, 16, num_classes=11, parts=2, part_dim=4)
    model = PCBNet(nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU()), 16, num_classes=1, parts=2, part_dim=4)
    model.load_state_dict(saved.state_dict())
    assert model.num_classes == 11


def test_id_loss_is_the_mean_of_the_stripes_losses(pcb):
    pcb.train()
    out = pcb(torch.randn(4, 3, 64, 32))
    labels = torch.tensor([0, 1, 2, 3])
    per_stripe = [F.cross_entropy(out.logits[:, i], labels, label_smoothing=0.1) for i in range(6)]
    torch.testing.assert_close(CrossEntropyLoss(0.1)(out.logits, labels), torch.stack(per_stripe).mean())


def test_what_pcb_refuses():
    with pytest.raises(ValueError, match="pooling='avg'"):
        build_reid_model("resnet18", num_classes=3, head="pcb", pooling="gem")
    with pytest.raises(ValueError, match="embedding_dim=0"):
        build_reid_model("resnet18", num_classes=3, head="pcb", embedding_dim=128)
    with pytest.raises(ValueError, match="head"):
        build_reid_model("resnet18", num_classes=3, head="mgn")


def test_a_training_step_on_the_tiny_preset():
    torch.manual_seed(0)
    model = build_reid_model("osnet_x0_25", num_classes=4, head="pcb", dropout=0.5)
    before = model.reductions[3][0].weight.detach().clone()
    reports = train_steps(model)
    assert all(torch.isfinite(torch.tensor(list(r.values()))).all() for r in reports)
    assert not torch.equal(before, model.reductions[3][0].weight)
