"""`reidkit demo`: bf16 autocast only on a CPU run on a CPU with bf16 in hardware, and a second stage
shortened to fit its time budget that still ends on the lower learning rate."""

from __future__ import annotations

import argparse

import pytest

from reidkit.entrypoints.commands.demo import DEMO_EPOCHS, UDA_PROFILES, demo_precision, demo_schedule
from reidkit.entrypoints.settings import load_profile

BF16 = ["train.amp='on'", "train.amp_dtype='bf16'"]


def args(*overrides: str, fp32: bool = False) -> argparse.Namespace:
    return argparse.Namespace(profile="strong_baseline", overrides=list(overrides), fp32=fp32)


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


def test_a_decaying_profile_is_shortened_and_decays_for_its_last_epoch():
    assert load_profile("strong_baseline_uda").train.epochs > DEMO_EPOCHS
    assert demo_schedule("strong_baseline_uda") == [f"train.epochs={DEMO_EPOCHS}", f"scheduler.milestones=[{DEMO_EPOCHS - 1}]"]


def test_a_constant_rate_profile_is_only_shortened():
    overrides = ["scheduler.milestones=[100]"]
    assert load_profile("uda_tp", overrides).train.epochs > DEMO_EPOCHS
    assert demo_schedule("uda_tp", overrides) == [f"train.epochs={DEMO_EPOCHS}"]


def test_every_shortened_profile_still_loads():
    for name in UDA_PROFILES:
        profile = load_profile(name, demo_schedule(name))
        assert profile.train.epochs == min(DEMO_EPOCHS, load_profile(name).train.epochs)
