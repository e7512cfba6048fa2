"""Precision: which autocast dtype a profile's amp settings give, and the grad scaler only for fp16."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reidkit.adapters.steps.precision import Precision, amp_choice, autocast_dtype
from reidkit.domain.errors import ReidkitError

CPU = torch.device("cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (the GPU suite runs it)")


@pytest.mark.parametrize(
    ("amp", "dtype"), [(False, None), ("off", None), (True, torch.bfloat16), ("auto", torch.bfloat16), ("bf16", torch.bfloat16)]
)
def test_cpu_autocasts_to_bfloat16_when_asked(amp, dtype):
    assert autocast_dtype(CPU, amp) is dtype


def test_fp16_on_cpu_is_a_one_line_error():
    with pytest.raises(ReidkitError, match=r"^amp dtype 'fp16' needs a CUDA device, this run is on cpu; use 'bf16'"):
        Precision(CPU, "fp16")
    with pytest.raises(ValueError, match="amp must be"):
        Precision(CPU, "fp8")


def test_bf16_on_cpu_trains_in_bfloat16_without_a_scaler():
    precision = Precision(CPU, "bf16")
    assert precision.amp and precision.scaler is None and precision.state_dict() == {}
    layer = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = layer.weight.detach().clone()
    with precision.autocast():
        out = layer(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
    precision.backward_and_step(out.float().pow(2).mean(), optimizer)
    assert layer.weight.dtype == torch.float32 and not torch.equal(layer.weight, before)


def test_off_leaves_float32():
    precision = Precision(CPU, False)
    with precision.autocast():
        assert nn.Linear(4, 2)(torch.randn(3, 4)).dtype == torch.float32
    assert not precision.amp and precision.scaler is None


@pytest.mark.parametrize(
    ("amp", "dtype", "device", "expected"),
    [
        ("auto", "auto", "cpu", False),  # auto is off on CPU, whatever the dtype
        ("auto", "bf16", "cpu", False),
        ("on", "auto", "cpu", True),
        ("on", "bf16", "cpu", "bf16"),
        ("off", "fp16", "cuda", False),
        ("auto", "auto", "cuda", True),
        ("auto", "bf16", "cuda", "bf16"),
        ("on", "fp16", "cuda", "fp16"),
    ],
)
def test_profile_settings_map_to_what_precision_gets(amp, dtype, device, expected):
    assert amp_choice(amp, dtype, torch.device(device)) == expected


def test_an_unknown_amp_setting_is_refused():
    with pytest.raises(ValueError, match="amp must be 'on', 'off' or 'auto', got 'sometimes'"):
        amp_choice("sometimes", "auto", CPU)


@pytest.mark.gpu
@needs_cuda
def test_cuda_default_is_fp16_with_a_scaler_and_bf16_has_none():
    cuda = torch.device("cuda")
    assert Precision(cuda, True).dtype == torch.float16 and Precision(cuda, True).scaler is not None
    assert Precision(cuda, "fp16").scaler is not None
    if torch.cuda.is_bf16_supported(including_emulation=False):
        bf16 = Precision(cuda, "bf16")
        assert bf16.dtype == torch.bfloat16 and bf16.scaler is None
        with bf16.autocast():
            assert nn.Linear(4, 2).cuda()(torch.randn(3, 4, device=cuda)).dtype == torch.bfloat16
    else:
        with pytest.raises(ReidkitError, match="needs Ampere or newer"):
            Precision(cuda, "bf16")


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "expected"),
    [(True, False, True), (True, True, False), (False, False, False), (False, True, False)],
)
def test_bf16_is_chosen_by_itself_only_on_avx512_bf16_without_amx(monkeypatch, avx512_bf16, amx, expected):
    from reidkit.adapters.steps.precision import cpu_has_native_bf16

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert cpu_has_native_bf16() is expected
