"""The built wheel installs with pip into a fresh environment, and the README's example runs there.

Nothing is downloaded: the fresh venv sees the dev environment's dependencies through a ``.pth``
file that names a folder of links to them (every entry of .venv's site-packages except reidkit's own
editable install), and ``pip install --no-index`` then checks the wheel's requirements, the
``export`` extra's included, against what is installed. reidkit itself must come from the wheel:
the test fails if the editable install's finder or the checkout is what imports it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.e2e.test_readme_example import readme_example

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(sysconfig.get_path("purelib"))  # the dev environment's site-packages (.venv)
BIN = "Scripts" if sys.platform == "win32" else "bin"


def _own_install(name: str) -> bool:
    """reidkit's editable install in .venv: its metadata, its finder and its .pth files."""
    return name.startswith(("reidkit", "__editable__", "__editable___reidkit")) or name.endswith(".pth")


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel_install")

    # The wheel, built from a copy so a stale build/ folder in the checkout cannot leak into it.
    source = tmp / "src"
    junk = shutil.ignore_patterns(".git", ".venv", ".tools", ".data", "build", "dist", "runs", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT, source, ignore=junk)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp / "dist"), str(source)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("reidkit-*.whl")

    # A fresh venv (with pip, from the interpreter's bundled wheel), then the dependencies made
    # visible without reidkit's editable install: links in a folder, the folder named in a .pth.
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / BIN / ("python.exe" if sys.platform == "win32" else "python")
    fresh_site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )
    deps = tmp / "deps"
    deps.mkdir()
    for entry in SITE.iterdir():
        if not _own_install(entry.name):
            (deps / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (fresh_site / "_reidkit_test_dependencies.pth").write_text(f"{deps}\n")

    # --no-index: pip must find every requirement already installed, and must not reach PyPI or
    # the machine's pip configuration (PIP_FIND_LINKS could hold a wheel folder).
    env = _clean_env(tmp / "home")
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    # Python 3.11's venv seeds an old setuptools (65) that would hide the dev environment's, which
    # torch's metadata requires (>= 77); 3.12+ seeds none, and then this is a no-op.
    subprocess.run([str(python), "-m", "pip", "uninstall", "-y", "setuptools"], check=True, capture_output=True, env=env)
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-index", f"{wheel}[export]"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    return venv


def _clean_env(home: Path) -> dict[str, str]:
    """No PYTHONPATH, no pip settings, a temporary home (the README example caches data there)."""
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "PATH": os.pathsep.join(["/usr/bin", "/bin"]), "REIDKIT_DATA_DIR": str(home / "data")}
    for name in ("OMP_NUM_THREADS", "SYSTEMROOT", "TMPDIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _run(venv: Path, args: list[str], tmp_path: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    work = tmp_path / "work"  # not the checkout: its layer folders must not be importable
    work.mkdir(exist_ok=True)
    return subprocess.run(args, capture_output=True, text=True, env=_clean_env(tmp_path / "home"), cwd=work, timeout=timeout)


def test_reidkit_imports_from_the_wheel_not_the_checkout(fresh_venv, tmp_path):
    probe = (
        "import sys, reidkit.domain, reidkit.entrypoints.cli\n"
        "print(reidkit.domain.__file__)\n"
        "print(reidkit.entrypoints.cli.__file__)\n"
        "print(any(name.startswith('__editable__') for name in sys.modules))\n"
    )
    result = _run(fresh_venv, [str(fresh_venv / BIN / "python"), "-c", probe], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    domain, cli, editable = result.stdout.splitlines()
    for path in (domain, cli):
        assert Path(path).resolve().is_relative_to(fresh_venv.resolve()), path
    assert editable == "False"


def test_the_console_script_runs(fresh_venv, tmp_path):
    script = fresh_venv / BIN / ("reidkit.exe" if sys.platform == "win32" else "reidkit")
    assert script.exists()
    result = _run(fresh_venv, [str(script), "--help"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage: reidkit" in result.stdout


def test_the_readme_example_runs_from_the_wheel(fresh_venv, tmp_path):
    result = _run(fresh_venv, [str(fresh_venv / BIN / "python"), "-c", readme_example()], tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mAP" in result.stdout, result.stdout
