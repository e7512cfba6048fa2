"""The built wheel holds every subpackage and every profile (an editable install would hide a miss)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "adapters", "application", "entrypoints")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy: a stale build/ folder in the checkout could put back a package that the
    # package list no longer names, and the test would miss the omission.
    source = tmp_path_factory.mktemp("src") / "reidkit"
    junk = shutil.ignore_patterns(".git", ".venv", ".tools", "build", "dist", "runs", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT, source, ignore=junk)
    # --no-isolation: the build needs only setuptools, which the dev environment already has.
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("reidkit-*.whl")
    return zipfile.ZipFile(path)


def test_every_module_is_in_the_wheel(wheel):
    names = set(wheel.namelist())
    expected = {
        f"reidkit/{module.relative_to(ROOT).as_posix()}"
        for layer in LAYERS
        for module in (ROOT / layer).rglob("*.py")
        if "__pycache__" not in module.parts
    }
    assert expected, "no modules found in the source tree"
    assert expected <= names, sorted(expected - names)  # a folder without __init__.py is left out


def test_every_profile_is_in_the_wheel(wheel):
    names = set(wheel.namelist())
    profiles = {f"reidkit/entrypoints/profiles/{p.name}" for p in (ROOT / "entrypoints" / "profiles").glob("*.toml")}
    assert profiles and profiles <= names, sorted(profiles - names)


def test_nothing_installs_as_a_bare_top_level_package(wheel):
    tops = {name.split("/")[0] for name in wheel.namelist() if not name.startswith("reidkit-")}
    assert tops == {"reidkit"}
