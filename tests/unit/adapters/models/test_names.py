"""The torch-free names the profile schema checks agree with what the factories build."""

from __future__ import annotations

import subprocess
import sys

from reidkit.adapters.models import generic, ibn, names, osnet, trunk, vit, weights


def test_the_names_are_the_factories_names():
    assert names.RESNET_NAMES == tuple(trunk.RESNETS)
    assert names.IBN_NAMES == tuple(ibn.IBN_RESNETS)
    assert names.OSNET_NAMES == osnet.OSNET_NAMES
    assert names.VIT_NAMES == tuple(vit.VITS)
    assert names.GENERIC_PREFIXES == generic.GENERIC_PREFIXES
    assert names.WEIGHT_FORMATS == weights.WEIGHT_FORMATS


def test_the_names_module_imports_no_torch():
    code = "import sys, reidkit.adapters.models.names; sys.exit(3 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
