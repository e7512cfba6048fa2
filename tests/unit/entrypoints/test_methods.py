"""The method registry is the one list of methods: the profiles, the schema and the containers
agree with it."""

from __future__ import annotations

import pytest
from attrs import fields

from reidkit.entrypoints.methods import method_names, method_spec
from reidkit.entrypoints.settings import Profile, available_profiles, load_profile

EXPECTED = {"supervised", "cluster_baseline", "spcl", "cluster_contrast", "mean_teach", "translate"}


def test_the_registry_finds_every_method_module():
    assert set(method_names()) == EXPECTED


@pytest.mark.parametrize("name", method_names())
def test_each_method_module_declares_itself(name):
    spec = method_spec(name)
    assert spec.name == name and spec.summary
    container = spec.container()
    assert hasattr(container, "use_case") and hasattr(container, "config")
    assert spec.container() is container  # made once


def test_a_method_table_cannot_shadow_a_shared_section():
    shared = {f.name for f in fields(Profile)}
    assert not shared & set(method_names())


def test_every_method_has_a_profile_and_every_profile_a_method():
    methods_of_profiles = {load_profile(name).method for name in available_profiles()}
    assert methods_of_profiles == set(method_names())


def test_an_unknown_method_is_a_clear_error():
    with pytest.raises(KeyError, match="no method named 'nope'; methods: cluster_baseline, cluster_contrast"):
        method_spec("nope")
