"""ReidNet: shapes per backbone and option, BNNeck train/eval outputs, classifier resets."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reidkit.adapters.models.backbone import ReidNet, ReidOutput, build_reid_model
from reidkit.adapters.models.pooling import GeneralizedMeanPooling, GlobalAveragePooling, build_pooling
from reidkit.adapters.models.trunk import build_resnet_trunk

IMAGES = (2, 3, 32, 16)


@pytest.fixture(scope="module")
def resnet18() -> ReidNet:
    torch.manual_seed(0)
    return build_reid_model("resnet18", num_classes=7)


def tiny_net(**kwargs) -> ReidNet:
    trunk = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
    options = {"num_classes": 5, "pooling": GlobalAveragePooling()} | kwargs
    return ReidNet(trunk, 8, **options)


@pytest.mark.parametrize("backbone,channels", [("resnet18", 512), ("resnet50", 2048)])
def test_train_mode_gives_features_and_logits(backbone, channels):
    model = build_reid_model(backbone, num_classes=7).train()
    out = model(torch.randn(*IMAGES))
    assert isinstance(out, ReidOutput)
    assert out.features.shape == (2, channels)
    assert out.logits.shape == (2, 7)


def test_all_backbones_build_with_their_width():
    for name, channels in [("resnet34", 512), ("resnet101", 2048)]:
        assert build_resnet_trunk(name).out_channels == channels
    with pytest.raises(ValueError, match="backbone"):
        build_resnet_trunk("vgg16")


def test_last_stride_one_doubles_the_final_map():
    x = torch.randn(1, 3, 64, 32)
    assert build_resnet_trunk("resnet18", last_stride=2)(x).shape[-2:] == (2, 1)
    assert build_resnet_trunk("resnet18", last_stride=1)(x).shape[-2:] == (4, 2)
    assert build_resnet_trunk("resnet50", last_stride=1)(x[..., :32, :16]).shape[-2:] == (2, 1)
    with pytest.raises(ValueError, match="last_stride"):
        build_resnet_trunk("resnet18", last_stride=3)


def test_eval_mode_returns_post_bnneck_embedding(resnet18):
    resnet18.eval()
    x = torch.randn(*IMAGES)
    with torch.no_grad():
        embedding = resnet18(x)
        pooled = resnet18.pool(resnet18.trunk(x))
    assert embedding.shape == (2, 512)
    torch.testing.assert_close(embedding, resnet18.neck(pooled))
    resnet18.train()


def test_without_bnneck_eval_returns_pooled_features():
    model = tiny_net(bnneck=False).eval()
    x = torch.rand(3, 3, 8, 4)
    torch.testing.assert_close(model(x), model.trunk(x).mean(dim=(2, 3)))
    assert model.neck is None


def test_bnneck_bias_is_frozen_at_zero_and_classifier_is_bias_free(resnet18):
    assert not resnet18.neck.bias.requires_grad
    assert torch.count_nonzero(resnet18.neck.bias) == 0
    assert resnet18.classifier.bias is None
    assert resnet18.classifier.weight.std() < 0.01  # normal(std=0.001) init


def test_embedding_layer_and_dropout():
    model = tiny_net(embedding_dim=6, dropout=0.5).train()
    out = model(torch.rand(4, 3, 8, 4))
    assert out.features.shape == (4, 6) and out.logits.shape == (4, 5)
    assert model.eval()(torch.rand(4, 3, 8, 4)).shape == (4, 6)
    assert isinstance(model.dropout, nn.Dropout)


def test_gem_lies_between_average_and_max_and_has_learnable_p():
    x = torch.rand(2, 4, 5, 5) + 0.1
    gem = GeneralizedMeanPooling()
    assert isinstance(gem.p, nn.Parameter) and float(gem.p.detach()) == 3.0
    pooled = gem(x)
    assert pooled.shape == (2, 4)
    assert torch.all(pooled >= x.mean(dim=(2, 3)) - 1e-6)
    assert torch.all(pooled <= x.amax(dim=(2, 3)) + 1e-6)
    # With p = 1 GeM is exactly average pooling (inputs above eps).
    with torch.no_grad():
        gem.p.fill_(1.0)
    torch.testing.assert_close(gem(x), GlobalAveragePooling()(x))
    # Zeros and negatives are clamped, so the gradient stays finite.
    gem = GeneralizedMeanPooling()
    y = torch.randn(2, 4, 3, 3, requires_grad=True)
    gem(y).sum().backward()
    assert torch.isfinite(y.grad).all() and torch.isfinite(gem.p.grad).all()


def test_gem_model_differs_from_avg_model():
    torch.manual_seed(1)
    avg = build_reid_model("resnet18", num_classes=3, pooling="avg").eval()
    torch.manual_seed(1)
    gem = build_reid_model("resnet18", num_classes=3, pooling="gem").eval()
    assert isinstance(gem.pool, GeneralizedMeanPooling)
    x = torch.randn(*IMAGES)
    with torch.no_grad():
        assert not torch.allclose(avg(x), gem(x))
    with pytest.raises(ValueError, match="pooling"):
        build_pooling("max")


def test_reset_classifier_uses_normalised_init_weights():
    model = tiny_net()
    centroids = torch.randn(9, 8) * 5
    model.reset_classifier(9, centroids)
    assert model.num_classes == 9
    torch.testing.assert_close(model.classifier.weight, torch.nn.functional.normalize(centroids, dim=1))
    assert model.train()(torch.rand(2, 3, 8, 4)).logits.shape == (2, 9)
    model.reset_classifier(4)
    assert model.classifier.weight.shape == (4, 8)
    with pytest.raises(ValueError, match=r"init_weights must have shape \(3, 8\)"):
        model.reset_classifier(3, torch.zeros(3, 7))


def test_zero_classes_means_no_logits_until_reset():
    model = tiny_net(num_classes=0).train()
    assert model(torch.rand(2, 3, 8, 4)).logits is None
    model.reset_classifier(2)
    assert model(torch.rand(2, 3, 8, 4)).logits.shape == (2, 2)


@pytest.mark.parametrize(
    "kwargs,culprit",
    [({"dropout": 1.0}, "dropout"), ({"embedding_dim": -1}, "embedding_dim"), ({"num_classes": -2}, "num_classes")],
)
def test_invalid_options_name_the_culprit(kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        tiny_net(**kwargs)


def test_train_mode_embeddings_equal_the_eval_embedding_path():
    model = tiny_net()
    model.train()
    images = torch.randn(4, 3, 32, 16)
    output = model(images)
    assert torch.allclose(output.embeddings, model.neck(output.features))


def test_resize_classifier_keeps_the_parameter_so_the_optimizer_still_trains_it():
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    weight = model.classifier.weight
    centroids = torch.randn(7, model.feature_dim)
    assert model.resize_classifier(7, centroids) is weight
    assert model.classifier.weight is weight and model.num_classes == 7
    assert torch.allclose(weight.norm(dim=1), torch.ones(7))
    model.train()
    before = weight.detach().clone()
    nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 16)).logits, torch.tensor([0, 1, 6, 6])).backward()
    optimizer.step()
    assert not torch.equal(before, weight.detach())


def test_state_with_another_head_size_loads_by_resizing():
    trained = tiny_net()
    trained.resize_classifier(9)
    fresh = tiny_net()
    fresh.load_state_dict(trained.state_dict())
    assert fresh.num_classes == 9
    assert torch.equal(fresh.classifier.weight, trained.classifier.weight)


def test_resize_classifier_refuses_a_model_without_head_and_bad_shapes():
    with pytest.raises(ValueError, match="build the model with num_classes >= 1"):
        tiny_net(num_classes=0).resize_classifier(3)
    with pytest.raises(ValueError, match=r"init_weights must have shape \(3, "):
        tiny_net().resize_classifier(3, torch.zeros(2, 5))
