# The two commands of the README: `make run` and `make test`. Both set everything up first and are
# idempotent: the virtual environment is rebuilt only when pyproject.toml changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501
# Test workers (pytest-xdist). Two by default, the cores CI has: the suite waits on servers, browsers and a
# Ray cluster about half of the time, so two workers nearly halve it. WORKERS=0 runs it in one process.
WORKERS ?= 2
XDIST := -n $(WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: run test test-fast lint typecheck pytest sample bench chromium wheel

# The sample run is made (or reopened, it is saved) before the server starts, so UMAP's one-off
# numba compilation never lands on a user's first click.
run: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/embdiff compare --sample > /dev/null
	$(BIN)/embdiff app --port $(PORT)

test: $(STAMP) chromium lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q $(XDIST) --durations=15

# The fast loop for a developer: everything but the tests that load a real model, fit UMAP or drive a browser.
test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q $(XDIST) -m "not slow and not browser" --durations=10

# The installable product: engine, app, pages and the bundled sample in one wheel (dist/).
wheel: $(STAMP)
	$(BIN)/pip wheel . --no-deps --no-build-isolation -q -w dist

# Rebuild the bundled sample's vectors: fine-tunes the base model on one domain (CPU, minutes).
sample: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m sample_data.build

# Engine stages vs FAISS / plain UMAP, then page rerun and browser draw times on a saved 100k run.
bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.run
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.pages
	HF_HUB_OFFLINE=1 $(BIN)/python -m bench.known_item

# torch first and pinned: 2.13.0 resolves to a CPU build here, any other order pulls CUDA packages.
# Then one small UMAP fit fills numba's on-disk cache of the functions it can cache (pynndescent's and part of
# UMAP's; ~20 s): without it, every process that fits UMAP before that cache exists (the first server's warm-up,
# each test worker) compiles them again. A process's first fit then takes 5-6 s instead of 19 s (UMAP's own
# uncacheable functions are the rest).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -c 'from diagnostics.projection import warm_up; warm_up()'
	touch $@

# Debian's chromium for the browser tests (never `playwright install`).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }
