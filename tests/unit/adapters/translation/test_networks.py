"""CycleGAN / SPGAN networks: shapes at the two re-ID sizes, the checks, the seeded init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reidkit.adapters.translation.networks import MetricNet, PatchDiscriminator, ResnetGenerator, init_gan_weights


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_generator_keeps_the_size_at_256x128():
    gen = ResnetGenerator(blocks=9).eval()
    images = torch.randn(1, 3, 256, 128) * 3
    with torch.no_grad():
        out = gen(images)
    assert out.shape == images.shape
    assert out.abs().max() <= 1.0  # tanh output
    assert out.std() > 0


@pytest.mark.parametrize("blocks", [6, 3])
def test_generator_keeps_the_size_at_128x64(blocks):
    gen = ResnetGenerator(blocks=blocks)
    residuals = [m for m in gen.modules() if type(m).__name__ == "_ResidualBlock"]
    assert len(residuals) == blocks
    images = torch.randn(2, 3, 128, 64)
    with torch.no_grad():
        out = gen(images)
    assert out.shape == images.shape
    assert -1.0 <= out.min() and out.max() <= 1.0


def test_generator_matches_cyclegans_parameter_count():
    # CycleGAN reports 11.378 M parameters for resnet_9blocks and 2.765 M for the basic D.
    assert _params(ResnetGenerator()) == 11_378_179
    assert _params(PatchDiscriminator()) == 2_764_737


def test_generator_norm_is_instance_norm_without_affine_or_running_stats():
    gen = ResnetGenerator(blocks=1)
    norms = [m for m in gen.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 2 + 2 + 2 + 1  # stem + 2 down + 2 in the block + 2 up
    assert all(not m.affine and not m.track_running_stats for m in norms)
    convs = [m for m in gen.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(c.bias is not None for c in convs)


def test_generator_refuses_sizes_not_divisible_by_4():
    gen = ResnetGenerator(blocks=1)
    with pytest.raises(ValueError, match="130x64"):
        gen(torch.randn(1, 3, 130, 64))


def test_generator_needs_a_block():
    with pytest.raises(ValueError, match="blocks=0"):
        ResnetGenerator(blocks=0)


@pytest.mark.parametrize(("size", "expected"), [((256, 128), (30, 14)), ((128, 64), (14, 6))])
def test_patch_discriminator_map_size(size, expected):
    disc = PatchDiscriminator(layers=3)
    with torch.no_grad():
        out = disc(torch.randn(2, 3, *size))
    assert out.shape == (2, 1, *expected)
    assert out.min() < 0  # no activation on the last layer (LSGAN)


def test_patch_discriminator_first_layer_has_no_norm():
    disc = PatchDiscriminator()
    assert isinstance(disc.model[0], nn.Conv2d) and isinstance(disc.model[1], nn.LeakyReLU)
    assert disc.model[-1].out_channels == 1


@pytest.mark.parametrize(("size", "flat"), [((256, 128), 2048), ((128, 64), 512)])
def test_metric_net_sizes_its_first_linear_from_the_input(size, flat):
    net = MetricNet(height=size[0], width=size[1], dim=64).eval()
    assert net.head[0].in_features == flat  # the published 2048 is right only at 256x128
    with torch.no_grad():
        out = net(torch.randn(3, 3, *size))
    assert out.shape == (3, 64)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))


def test_metric_net_refuses_too_small_inputs():
    with pytest.raises(ValueError, match="64x32"):
        MetricNet(height=64, width=32)
    MetricNet(height=64, width=64)  # exactly 1x1 after six halvings: allowed


def test_metric_net_refuses_another_input_size():
    net = MetricNet(height=256, width=128)
    with pytest.raises(ValueError, match="256x128.*128x64"):
        net(torch.randn(1, 3, 128, 64))


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_init_is_seeded_and_leaves_the_global_rng_alone():
    a, b, c = (MetricNet(height=64, width=64, dim=8) for _ in range(3))
    disc = PatchDiscriminator(width=8)
    rng = torch.get_rng_state()
    init_gan_weights(a, seed=1)
    init_gan_weights(b, seed=1)
    init_gan_weights(c, seed=2)
    init_gan_weights(disc, seed=1)
    assert torch.equal(torch.get_rng_state(), rng)
    sa, sb, sc = _state(a), _state(b), _state(c)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    weights = [k for k in sa if k.endswith("weight")]
    assert len(weights) == 5 and all(not torch.equal(sa[k], sc[k]) for k in weights)
    assert all(torch.count_nonzero(sa[k]) == 0 for k in sa if k.endswith("bias"))
    conv_b = disc.model[0].bias
    assert torch.count_nonzero(conv_b) == 0


def test_init_draws_from_the_gan_normal():
    net = nn.Sequential(nn.Conv2d(16, 64, 3), nn.BatchNorm2d(64), nn.Linear(64, 64))
    init_gan_weights(net, seed=0, gain=0.02)
    conv, bn, lin = net
    for w, mean in ((conv.weight, 0.0), (lin.weight, 0.0), (bn.weight, 1.0)):
        assert abs(float(w.detach().mean()) - mean) < 0.005
        assert float(w.detach().std()) == pytest.approx(0.02, rel=0.2)
    for b in (conv.bias, bn.bias, lin.bias):
        assert torch.count_nonzero(b) == 0
