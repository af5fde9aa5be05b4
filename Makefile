# Two commands do all set-up on a fresh machine:  `make demo`  and  `make test`.
# Both create .venv on first use. torch==2.13.0 (the local CPU wheel) goes in first so that
# nothing pulls a multi-GB CUDA build; torchvision is never installed.
PY := .venv/bin/python
PIP := .venv/bin/pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup test test-fast demo bench lint format

setup: .venv/.installed

.venv/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PIP) install -q -e ".[local,dev]"
	$(PIP) install -q --no-deps open-clip-torch==3.3.0
	@if $(PIP) show torchvision >/dev/null 2>&1; then echo "torchvision got installed: remove it"; exit 1; fi
	touch $@

demo: setup
	$(PY) -m crossglg.cli demo --out demo-out

bench: setup
	$(PY) -m bench

test: setup
	$(PY) -m pytest -n 2 --dist loadgroup

test-fast: setup
	$(PY) -m pytest -n 2 --dist loadgroup -m "not slow"

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
