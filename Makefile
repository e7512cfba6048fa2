# Two commands do all set-up on a fresh clone: `make demo` (the main job) and `make test`.
# Both leave the environment in .venv/ (uv's default), so .venv/bin/reidkit exists afterwards.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

.PHONY: demo test env bench clean

demo: .venv/bin/reidkit
	.venv/bin/reidkit demo

test: .venv/bin/reidkit
	.venv/bin/lint-imports
	.venv/bin/pytest

env: .venv/bin/reidkit

bench: .venv/bin/reidkit
	for script in benchmarks/bench_*.py; do echo "== $$script"; .venv/bin/python $$script || exit 1; done

# uv itself comes from PyPI when the machine lacks it; uv.lock pins torch/torchvision from PyPI
# (the CPU-only torch in a local pip wheel folder cannot load torchvision's compiled ops).
.tools/bin/uv:
	python3 -m venv .tools && .tools/bin/python -m pip install --quiet uv

.venv/bin/reidkit: pyproject.toml uv.lock setup.py | $(UV)
	$(UV) sync --frozen
	touch $@

clean:
	rm -rf .venv .tools build dist runs
