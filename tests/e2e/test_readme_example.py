"""The README's code example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    section = README.read_text().split("## Composing a pipeline in code", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_example_runs_as_written(tmp_path):
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}  # its cache lands in the temporary home
    result = subprocess.run([sys.executable, "-c", readme_example()], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"^after 2 epochs, target mAP 0\.\d{3}\nfeatures of 4 target queries: \(4, 512\)\n\Z", result.stdout, re.M)


def test_every_toml_block_of_the_readme_is_a_valid_profile(tmp_path):
    from reidkit.entrypoints.settings import load_profile

    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), re.DOTALL)
    assert blocks
    for number, block in enumerate(blocks):
        path = tmp_path / f"block_{number}.toml"
        path.write_text(block)
        load_profile(str(path))  # raises ProfileError naming the problem
