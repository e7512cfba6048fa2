"""The demo's default second stage is its UDA profile on a shortened schedule that still ends on
the lower learning rate; profiles without a decay keep none."""

from __future__ import annotations

from reidkit.entrypoints.commands.demo import DEMO_EPOCHS, UDA_PROFILES, demo_schedule
from reidkit.entrypoints.settings import load_profile


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
