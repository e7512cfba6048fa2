"""DSBN: conversion, per-sample routing (stats, outputs, gradients), folding back to a plain model."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from reidkit.adapters.models.backbone import ReidNet, build_reid_model
from reidkit.adapters.models.dsbn import (
    DomainRouter,
    DomainSpecificBatchNorm,
    convert_dsbn,
    domains,
    fold_dsbn,
    has_dsbn,
    set_eval_domain,
)
from reidkit.adapters.models.weights import read_state_dict
from reidkit.adapters.runtime.checkpoint import export_model

BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
INTERLEAVED = torch.tensor([0, 1, 1, 0, 1, 0])


def plain_model() -> ReidNet:
    torch.manual_seed(0)
    model = build_reid_model("resnet18", num_classes=5, last_stride=2)
    # Non-trivial running statistics, so "every domain starts as a copy" means something.
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, 32, 16) * 2 + 0.5)
    return model


def images(n: int = 6, *, seed: int = 1, shift: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 16, generator=generator) * scale + shift


def batchnorms(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if isinstance(m, BATCHNORMS)}


def dsbns(model: nn.Module) -> dict[str, DomainSpecificBatchNorm]:
    return {name: m for name, m in model.named_modules() if isinstance(m, DomainSpecificBatchNorm)}


def domain_state(model: nn.Module, domain: int) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{key}": value.clone()
        for name, layer in dsbns(model).items()
        for key, value in layer.bns[domain].state_dict().items()
    }


@pytest.fixture
def converted() -> tuple[ReidNet, ReidNet]:
    """(original, DSBN copy of it)."""
    original = plain_model()
    model = copy.deepcopy(original)
    convert_dsbn(model)
    return original, model


# -- conversion ------------------------------------------------------------------------------


def test_convert_replaces_every_batchnorm_and_nothing_else(converted):
    original, model = converted
    before = batchnorms(original)
    assert len(before) == 21  # resnet18: 20 in the trunk, plus the BNNeck
    assert set(dsbns(model)) == set(before)
    for name, layer in dsbns(model).items():
        assert len(layer.bns) == 2
        assert all(type(bn) is type(before[name]) for bn in layer.bns)
    # Every BatchNorm left in the model is a domain copy inside a DSBN.
    assert all(".bns." in name for name in batchnorms(model))
    # Every other module and every non-BN tensor is untouched.
    others = {n: type(m) for n, m in original.named_modules() if n not in before}
    assert {n: type(m) for n, m in model.named_modules() if n in others} == others
    plain_state = {k: v for k, v in original.state_dict().items() if k.rsplit(".", 1)[0] not in before}
    state = model.state_dict()
    for key, value in plain_state.items():
        assert torch.equal(state[key], value), key
    # Each domain is a full copy of its original: weights and running statistics.
    for name, bn in before.items():
        for domain in range(2):
            for key, value in bn.state_dict().items():
                assert torch.equal(state[f"{name}.bns.{domain}.{key}"], value)
    assert "trunk.bn1.bns.0.weight" in state and "neck.bns.1.running_var" in state
    assert not any("router" in key for key in state)


def test_eval_output_unchanged_right_after_conversion(converted):
    original, model = converted
    original.eval(), model.eval()
    x = images()
    with torch.no_grad():
        expected = original(x)
        for domain in range(2):
            set_eval_domain(model, domain)
            assert torch.allclose(model(x), expected, atol=1e-6)


def test_convert_returns_router_stored_on_the_model():
    model = plain_model()
    router = convert_dsbn(model, num_domains=3, target_domain=2)
    assert isinstance(router, DomainRouter)
    assert model.domain_router is router
    assert router.eval_domain == 2 and router.domains is None
    assert all(layer.router is router and layer.num_domains == 3 for layer in dsbns(model).values())
    assert has_dsbn(model) and not has_dsbn(plain_model())


@pytest.mark.parametrize("num_domains,target", [(1, 0), (0, 0), (2, 2), (2, -1), (3, 5)])
def test_convert_rejects_bad_domain_counts(num_domains, target):
    model = plain_model()
    with pytest.raises(ValueError, match="domain"):
        convert_dsbn(model, num_domains, target)
    assert not has_dsbn(model) and not dsbns(model)


def test_convert_rejects_models_without_batchnorm_and_second_conversion():
    with pytest.raises(ValueError, match="no BatchNorm"):
        convert_dsbn(nn.Sequential(nn.Linear(3, 3), nn.ReLU()))
    with pytest.raises(ValueError, match="wrap"):
        convert_dsbn(nn.BatchNorm1d(3))
    model = plain_model()
    convert_dsbn(model)
    with pytest.raises(ValueError, match="twice"):
        convert_dsbn(model)


def test_deepcopy_gets_its_own_router_shared_by_its_layers(converted):
    _, model = converted
    clone = copy.deepcopy(model)
    assert clone.domain_router is not model.domain_router
    assert all(layer.router is clone.domain_router for layer in dsbns(clone).values())
    set_eval_domain(clone, 0)
    assert model.domain_router.eval_domain == 1


# -- train-mode routing ----------------------------------------------------------------------


def test_interleaved_routing_matches_separate_models_per_domain(converted):
    original, model = converted
    references = [copy.deepcopy(original).train() for _ in range(2)]
    model.train()
    x = images()
    with domains(model, INTERLEAVED):
        out = model(x)
    for domain, reference in enumerate(references):
        mask = INTERLEAVED == domain
        expected = reference(x[mask])
        assert torch.allclose(out.features[mask], expected.features, atol=1e-5)
        assert torch.allclose(out.logits[mask], expected.logits, atol=1e-5)
        # Each domain's running statistics moved exactly as its own model's did.
        ref_bns = batchnorms(reference)
        for name, layer in dsbns(model).items():
            assert torch.allclose(layer.bns[domain].running_mean, ref_bns[name].running_mean, atol=1e-5), name
            assert torch.allclose(layer.bns[domain].running_var, ref_bns[name].running_var, atol=1e-5), name
            assert layer.bns[domain].num_batches_tracked == ref_bns[name].num_batches_tracked


def test_shared_weight_gradient_is_the_sum_of_both_domains(converted):
    original, model = converted
    references = [copy.deepcopy(original).train() for _ in range(2)]
    model.train()
    x = images()
    with domains(model, INTERLEAVED):
        out = model(x)
    (out.features.square().sum() + out.logits.sum()).backward()
    for domain, reference in enumerate(references):
        ref = reference(x[INTERLEAVED == domain])
        (ref.features.square().sum() + ref.logits.sum()).backward()
    expected = references[0].trunk.conv1.weight.grad + references[1].trunk.conv1.weight.grad
    assert relative_error(model.trunk.conv1.weight.grad, expected) < 1e-4
    for domain in range(2):
        expected = references[domain].neck.weight.grad
        assert relative_error(model.neck.bns[domain].weight.grad, expected) < 1e-4


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).norm() / expected.norm())


def test_only_the_batch_domains_statistics_change(converted):
    _, model = converted
    model.train()
    before = [domain_state(model, d) for d in range(2)]
    with domains(model, torch.ones(4, dtype=torch.long)):
        model(images(4, shift=3.0))
    after = [domain_state(model, d) for d in range(2)]
    for key, value in before[0].items():
        assert torch.equal(after[0][key], value), key
    changed = [key for key, value in before[1].items() if not torch.equal(after[1][key], value)]
    assert len(changed) == 3 * 21  # running mean, var and batch count of every layer


def test_frozen_bnneck_bias_stays_frozen_and_both_domains_get_gradients(converted):
    _, model = converted
    assert all(not bn.bias.requires_grad for bn in model.neck.bns)
    assert all(bn.weight.requires_grad for bn in model.neck.bns)
    model.train()
    with domains(model, INTERLEAVED):
        out = model(images())
    (out.features.square().sum() + out.logits.square().sum()).backward()
    for layer in (model.trunk.bn1, model.trunk.layer4[1].bn2, model.neck):
        for bn in layer.bns:
            assert bn.weight.grad is not None and bn.weight.grad.abs().sum() > 0
    assert all(bn.bias.grad is None for bn in model.neck.bns)


def test_absent_domain_gets_no_gradient(converted):
    _, model = converted
    model.train()
    with domains(model, torch.zeros(3, dtype=torch.long)):
        out = model(images(3))
    out.features.square().sum().backward()
    assert model.trunk.bn1.bns[0].weight.grad is not None
    assert model.trunk.bn1.bns[1].weight.grad is None


def test_train_forward_without_domains_asks_for_the_context(converted):
    _, model = converted
    model.train()
    with pytest.raises(ValueError, match=r"with domains\(model, domain_ids\)"):
        model(images())
    # ... and the context clears the ids on exit.
    with domains(model, INTERLEAVED):
        model(images())
    assert model.domain_router.domains is None
    with pytest.raises(ValueError, match="domain ids"):
        model(images())


def test_domain_ids_that_do_not_fit_are_rejected(converted):
    _, model = converted
    model.train()
    with pytest.raises(ValueError, match="6 samples but 4 domain ids"):
        with domains(model, torch.tensor([0, 1, 0, 1])):
            model(images())
    for bad in (torch.tensor([0, 2]), torch.tensor([-1, 0]), torch.tensor([0.0, 1.0]), torch.zeros(2, 1, dtype=torch.long)):
        with pytest.raises(ValueError, match="domain ids"):
            with domains(model, bad):
                pass
    assert model.domain_router.domains is None


def test_domains_context_nests_and_restores():
    model = plain_model()
    router = convert_dsbn(model)
    outer, inner = torch.tensor([0, 1]), torch.tensor([1, 1, 0])
    with domains(model, outer):
        with domains(model, inner):
            assert torch.equal(router.domains, inner)
        assert torch.equal(router.domains, outer)
        with domains(model, None):  # None changes nothing
            assert torch.equal(router.domains, outer)
    assert router.domains is None


def test_domains_context_is_a_no_op_on_a_plain_model():
    model = plain_model().train()
    reference = copy.deepcopy(model)
    x = images()
    with domains(model, INTERLEAVED):
        out = model(x)
    with domains(model, torch.tensor([5])):  # not even looked at
        pass
    expected = reference(x)
    assert torch.equal(out.features, expected.features)
    assert not hasattr(model, "domain_router")


def test_single_sample_of_a_domain_at_a_1d_batchnorm_uses_running_statistics():
    torch.manual_seed(0)
    layer = nn.Sequential(nn.BatchNorm1d(4))
    layer[0].running_mean.fill_(1.0)
    layer[0].running_var.fill_(4.0)
    convert_dsbn(layer)
    layer.train()
    x = torch.randn(5, 4)
    ids = torch.tensor([0, 0, 1, 0, 0])
    with domains(layer, ids), pytest.warns(RuntimeWarning, match="single sample"):
        out = layer(x)
    bns = layer[0].bns
    assert torch.allclose(out[2], (x[2] - 1.0) / torch.sqrt(torch.tensor(4.0 + bns[1].eps)))
    assert torch.equal(bns[1].running_mean, torch.ones(4)) and bns[1].num_batches_tracked == 0
    assert bns[0].num_batches_tracked == 1
    rest = ids == 0
    assert torch.allclose(out[rest], nn.functional.batch_norm(x[rest], None, None, training=True), atol=1e-6)


def test_single_sample_without_running_statistics_raises():
    layer = nn.Sequential(nn.BatchNorm1d(4, track_running_stats=False))
    convert_dsbn(layer)
    with domains(layer, torch.tensor([0, 1, 0])), pytest.raises(ValueError, match="single sample"):
        layer(torch.randn(3, 4))


# -- eval domain and folding -----------------------------------------------------------------


def train_domains_apart(model: ReidNet, steps: int = 3) -> None:
    """Domain 0 sees one image distribution, domain 1 another, with optimizer steps in between."""
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    ids = torch.tensor([0, 0, 0, 1, 1, 1])
    for step in range(steps):
        x = torch.cat([images(3, seed=step), images(3, seed=100 + step, shift=2.0, scale=3.0)])
        with domains(model, ids):
            out = model(x)
        loss = nn.functional.cross_entropy(out.logits, torch.tensor([0, 1, 2, 0, 1, 2]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def test_set_eval_domain_switches_the_eval_batchnorm(converted):
    _, model = converted
    train_domains_apart(model)
    x = images()
    with torch.no_grad():
        target = model(x)
        set_eval_domain(model, 0)
        source = model(x)
        assert model.domain_router.eval_domain == 0
        assert not torch.allclose(source, target)
        set_eval_domain(model, 1)
        assert torch.equal(model(x), target)
    for bad in (2, -1, True, 1.0, "1"):
        with pytest.raises(ValueError, match="eval domain"):
            set_eval_domain(model, bad)
    assert model.domain_router.eval_domain == 1
    set_eval_domain(plain_model(), 7)  # no DSBN: nothing to switch


def test_fold_equals_the_dsbn_model_for_the_chosen_domain(converted):
    original, model = converted
    train_domains_apart(model)
    x = images()
    folded = {d: fold_dsbn(model, d).eval() for d in range(2)}
    with torch.no_grad():
        for domain in range(2):
            set_eval_domain(model, domain)
            assert torch.equal(folded[domain](x), model(x))
        assert not torch.allclose(folded[0](x), folded[1](x))
        set_eval_domain(model, 0)
        assert torch.equal(fold_dsbn(model)(x), folded[0](x))  # default: the eval domain
    for layer in folded.values():
        assert not dsbns(layer) and not has_dsbn(layer) and not hasattr(layer, "domain_router")
        assert set(layer.state_dict()) == set(original.state_dict())
        assert set(batchnorms(layer)) == set(batchnorms(original))
        assert not layer.neck.bias.requires_grad
    assert dsbns(model)  # the model itself is untouched
    with pytest.raises(ValueError, match="domain"):
        fold_dsbn(model, 2)


def test_folded_model_trains_as_plain_batchnorm(converted):
    original, model = converted
    folded = fold_dsbn(model, 0).train()
    reference = copy.deepcopy(original).train()
    x = images()
    out, expected = folded(x), reference(x)  # no domains(...) needed
    assert torch.allclose(out.features, expected.features, atol=1e-6)
    assert torch.allclose(folded.neck.running_mean, reference.neck.running_mean, atol=1e-6)


def test_exported_fold_loads_into_a_plain_model_strictly(converted, tmp_path):
    _, model = converted
    train_domains_apart(model)
    path = tmp_path / "target.pt"
    export_model(path, fold_dsbn(model))
    x = images()
    with torch.no_grad():
        expected = model(x)  # eval with the target domain
    for state in (read_state_dict(path), torch.load(path, weights_only=True)):
        fresh = build_reid_model("resnet18", num_classes=5, last_stride=2)
        fresh.load_state_dict(state, strict=True)
        with torch.no_grad():
            assert torch.equal(fresh.eval()(x), expected)


def test_fold_of_a_plain_model_is_a_copy():
    model = plain_model()
    folded = fold_dsbn(model)
    assert folded is not model
    assert all(torch.equal(a, b) for a, b in zip(folded.state_dict().values(), model.state_dict().values()))
