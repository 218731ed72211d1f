# neovasc — two commands on a fresh machine:
#   make run    set up .venv (serving dependencies) and serve the API on $(HOST):$(PORT)
#   make test   set up .venv (with test extras), run ruff and pytest
# Both are idempotent: with .venv up to date they start at once.

PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
# The CPU wheel of this torch release is what CI and the default install use. GPU users install a
# CUDA build of torch into .venv first (docs/install.md, "GPU"); a torch already present is left alone.
TORCH_VERSION ?= 2.13.0
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.neovasc-run
STAMP_TEST := $(VENV)/.neovasc-test

.PHONY: run serve test lint setup clean

run: $(STAMP_RUN)
	$(BIN)/neovasc serve --host $(HOST) --port $(PORT)

serve: run

setup: $(STAMP_RUN)

test: $(STAMP_TEST) lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	touch $@

$(STAMP_RUN): pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(STAMP_RUN)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
