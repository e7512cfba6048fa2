"""Would `pip install reidkit` find wheels for every dependency on each platform we claim?

Builds the wheel from a copy of the checkout, then resolves it (base and ``[export]``) against PyPI
for Linux x86_64 and aarch64, macOS arm64 (14.0, torch's oldest macOS wheels, and 15.0, infomap's
oldest) and Windows x86_64, on Python 3.11 and 3.14, with binary wheels only, and prints one line per
target: the torch / torchvision / faiss versions chosen, or the resolver's reason and whether the
target resolves once pip may build from source distributions. Exit status 1 when any target fails
binary-only.

    python tools/check_platforms.py                 # builds the wheel first
    python tools/check_platforms.py --wheel dist/reidkit-0.1.0-py3-none-any.whl

It uses ``uv pip compile --python-platform``, because uv evaluates environment markers (our faiss
choice, torch's Linux-only CUDA packages) for the target platform; ``pip install --dry-run
--platform ...`` evaluates them for the machine it runs on, so from Linux it would ask for
faiss-gpu on Windows. It needs the network (PyPI), so it is a tool, not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (label, uv target triple, extra environment)
PLATFORMS = [
    ("linux-x86_64", "x86_64-manylinux_2_28", {}),
    ("linux-aarch64", "aarch64-manylinux_2_28", {}),
    ("macos14-arm64", "aarch64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "14.0"}),
    ("macos15-arm64", "aarch64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "15.0"}),
    ("windows-x86_64", "x86_64-pc-windows-msvc", {}),
]
PYTHONS = ["3.11", "3.14"]
EXTRAS = ["", "export"]
SHOWN = ("torch", "torchvision", "faiss-gpu", "faiss-cpu", "onnxruntime")


def find_uv() -> str:
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(uv).exists():
        sys.exit("uv not found: run `make env` (it installs .tools/bin/uv) or put uv on PATH")
    return uv


def build_wheel(uv: str, out: Path) -> Path:
    """Build from a copy, so a stale build/ folder in the checkout cannot leak into the wheel."""
    source = out / "src"
    junk = shutil.ignore_patterns(".git", ".venv", ".tools", "build", "dist", "runs", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT, source, ignore=junk)
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(out / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = (out / "dist").glob("reidkit-*.whl")
    return wheel


def reason(stderr: str) -> str:
    """The resolver's reason on one line: the first step of its derivation, or the start of it."""
    text = " ".join(stderr.split())
    text = re.sub(r"^.*?No solution found when resolving dependencies(?: for split \([^)]*\))?:? (?:cause: )?", "", text)
    text = re.sub(r" hint: Wheels are required for `[^`]+` because building from source is disabled[^)]*\)", "", text)
    first = text.find("cannot be used.")  # the first step of uv's derivation names the culprit
    return text[: first + len("cannot be used.")] if first >= 0 else text[:500]


def check(uv: str, wheel: Path, triple: str, env_extra: dict[str, str], python: str, extra: str, binary_only: bool = True) -> tuple[bool, str]:
    requirement = f"reidkit{f'[{extra}]' if extra else ''} @ {wheel.resolve().as_uri()}"
    command = [
        uv, "pip", "compile", "-", "--python-platform", triple, "--python-version", python,
        "--no-header", "--no-annotate", "--quiet",
    ]
    command += ["--only-binary", ":all:"] if binary_only else []
    env = {**os.environ, **env_extra}
    result = subprocess.run(command, input=requirement + "\n", capture_output=True, text=True, env=env, timeout=600)
    if result.returncode != 0:
        return False, reason(result.stderr)
    pins = dict(line.split("==", 1) for line in result.stdout.splitlines() if "==" in line)
    chosen = ", ".join(f"{name} {pins[name]}" for name in SHOWN if name in pins)
    return True, f"{chosen} ({len(pins)} packages)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="a built reidkit wheel (default: build one from this checkout)")
    args = parser.parse_args()
    uv = find_uv()
    with tempfile.TemporaryDirectory(prefix="reidkit-platforms-") as tmp:
        wheel = args.wheel or build_wheel(uv, Path(tmp))
        version = subprocess.run([uv, "--version"], capture_output=True, text=True).stdout.strip()
        print(f"# {wheel.name}, {version}, binary wheels only, PyPI")
        failed = 0
        for label, triple, env_extra in PLATFORMS:
            for python in PYTHONS:
                for extra in EXTRAS:
                    ok, detail = check(uv, wheel, triple, env_extra, python, extra)
                    if not ok:  # would it install where pip may build the missing wheels from source?
                        ok_source, detail_source = check(uv, wheel, triple, env_extra, python, extra, binary_only=False)
                        verdict = "resolved" if ok_source else "fails too"
                        detail += f" | with source builds allowed: {verdict}: {detail_source}"
                    failed += not ok
                    what = f"reidkit[{extra}]" if extra else "reidkit"
                    print(f"{label:<15} py{python:<5} {what:<16} {'resolved' if ok else 'FAILED'}: {detail}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
