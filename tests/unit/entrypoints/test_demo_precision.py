"""The demo trains under bf16 autocast only on a CPU run on a CPU with bf16 in hardware."""

from __future__ import annotations

import argparse

import pytest

from reidkit.entrypoints.commands.demo import demo_precision

BF16 = ["train.amp='on'", "train.amp_dtype='bf16'"]


def args(*overrides: str, fp32: bool = False) -> argparse.Namespace:
    return argparse.Namespace(profile="demo", overrides=list(overrides), fp32=fp32)


@pytest.fixture
def native_bf16(monkeypatch):
    def set_native(value: bool) -> None:
        monkeypatch.setattr("reidkit.adapters.steps.precision.cpu_has_native_bf16", lambda: value)

    return set_native


def test_a_cpu_with_native_bf16_trains_the_demo_in_bf16(native_bf16):
    native_bf16(True)
    assert demo_precision(args("runtime.device='cpu'")) == BF16


def test_fp32_flag_and_cpus_without_bf16_keep_float32(native_bf16):
    native_bf16(True)
    assert demo_precision(args("runtime.device='cpu'", fp32=True)) == []
    native_bf16(False)
    assert demo_precision(args("runtime.device='cpu'")) == []


def test_a_gpu_run_keeps_its_own_precision_settings(native_bf16):
    native_bf16(True)
    assert demo_precision(args("runtime.device='cuda'")) == []
