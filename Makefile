# Two commands on a fresh machine: `make run` (the demo) and `make test` (the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MUTATION_MIN_SCORE ?= 90

.DEFAULT_GOAL := pr
.PHONY: setup run test lint typecheck pr bench fuzz mutation mutation-ci package unit-test e2e-test live-test compat clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/dts-change invoke events/oss-object-created.json --local

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider

unit-test: setup
	$(BIN)/python -m pytest -q tests/unit

e2e-test: setup
	$(BIN)/python -m pytest -q tests/e2e

live-test: setup
	DTS_CHANGE_LIVE=1 $(BIN)/python -m pytest -q -m live

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy --strict --python-version 3.10 src
	$(BIN)/mypy --strict --python-version 3.12 src

typecheck: lint

pr: lint test

compat: setup
	bash scripts/compat.sh

# `make bench RECORD=1` also rewrites the published results (docs/burst.svg, docs/performance.md).
bench: setup
	$(BIN)/python bench/run_all.py $(if $(RECORD),--record)

fuzz: setup
	DTS_CHANGE_FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest -q tests/fuzz tests/reference

# Mutation testing of the modules that decide what is sent to DTS ([tool.mutmut] in pyproject.toml);
# docs/testing.md records the score. mutation-ci is the bounded sample CI runs.
mutation: setup
	$(BIN)/python scripts/mutation.py --min-score $(MUTATION_MIN_SCORE)

mutation-ci: setup
	$(BIN)/python scripts/mutation.py --sample --examples 10 --min-score $(MUTATION_MIN_SCORE)

package:
	$(PYTHON) scripts/package.py

clean:
	rm -rf $(VENV) build .mypy_cache .ruff_cache
