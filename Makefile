# gpu-tda: every target does its own set-up from a fresh clone (venv, install, services).
#
#   make demo                      the whole pipeline on loopback, embedded broker + Redis
#   make test                      the test suite (pytest starts and stops the services)
#   make test PYTEST_ARGS="tests/streaming/test_broker.py -x"   (PYTEST_GPU_ARGS for tests/gpu)
#   make lint | make bench | make broker | make redis | make clean

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=
PYTEST_GPU_ARGS ?=
BENCH_ARGS ?=
REDIS_PORT ?= 6379

BIN := $(VENV)/bin
STAMP := $(VENV)/.gpu-tda-installed
TEST_STAMP := $(VENV)/.gpu-tda-test-installed
# apt-get needs root; use sudo when we are not root and sudo exists.
SUDO := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && echo sudo)

export DEBIAN_FRONTEND := noninteractive

.DEFAULT_GOAL := help
.PHONY: help venv redis-server test demo lint format bench broker redis clean

help:
	@echo "make demo    run the streaming demo (embedded broker + Redis on 127.0.0.1)"
	@echo "make test    run the test suite        (PYTEST_ARGS=... to pick tests)"
	@echo "make lint    ruff                      make bench   the benchmarks (BENCH_ARGS=...)"
	@echo "make broker  embedded Kafka broker on 127.0.0.1:9092, foreground"
	@echo "make redis   memory-only redis-server on 127.0.0.1:$(REDIS_PORT), foreground"
	@echo "make venv    just the virtual environment in $(VENV)"

venv: $(STAMP)

# Re-installs only when pyproject.toml changes (or the venv is missing).
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "error: gpu-tda needs Python >= 3.11 (PYTHON=$(PYTHON) is older)" >&2; exit 1; }
	@if [ ! -x $(BIN)/python ]; then \
		$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
			echo "python venv module missing: installing python3-venv" >&2; \
			$(SUDO) apt-get update && $(SUDO) apt-get install -y python3-venv && \
			rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }; \
	fi
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -q --upgrade pip
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -e '.[dev]'
	@touch $@

# The tests also compile the CUDA kernels for the H100 without a GPU: the 'ptx' extra.
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -e '.[dev,ptx]'
	@touch $@

# Debian's redis-server: the embedded Redis of the demo and the tests.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server (Debian package)" >&2; \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y redis-server; }
	@command -v redis-server >/dev/null 2>&1 || { echo "error: redis-server missing" >&2; exit 1; }

# Two pytest sessions: numba reads NUMBA_ENABLE_CUDASIM once per process, so the GPU path
# (CUDA kernels under the simulator, tests/gpu) runs in its own session beside the rest.
# pytest exit code 5 means "no tests collected": a failure here, said out loud.
test: $(TEST_STAMP) redis-server
	@rc=0; $(BIN)/python -m pytest --ignore=tests/gpu $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; \
	[ $$rc -eq 0 ] || exit $$rc; \
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest tests/gpu $(PYTEST_GPU_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no GPU-simulator tests" >&2; fi; \
	exit $$rc

demo: venv redis-server
	$(BIN)/gpu-tda demo

lint: venv
	$(BIN)/ruff check gpu_tda tests bench
	$(BIN)/ruff format --check gpu_tda tests bench

format: venv
	$(BIN)/ruff format gpu_tda tests bench

bench: venv
	$(BIN)/gpu-tda bench $(BENCH_ARGS)

broker: venv
	$(BIN)/gpu-tda broker

redis: redis-server
	redis-server --bind 127.0.0.1 --port $(REDIS_PORT) --save '' --appendonly no

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
