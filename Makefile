# One entry point for setting up, running and checking dealpulse. `make help` lists targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KAFKA_LIB := deploy/kafka/target/lib

.PHONY: help setup prereqs run test test-deps lint unit integration clean bench bench-deps

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

prereqs: ## check for Python >= 3.11, Java 17+ and Maven
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "dealpulse needs Python 3.11 or newer as '$(PYTHON)' (set PYTHON=...)"; exit 1; }
	@command -v java >/dev/null \
	  || { echo "the local Kafka broker needs Java 17+: apt-get install openjdk-17-jre-headless"; exit 1; }
	@command -v mvn >/dev/null \
	  || { echo "the local Kafka broker's jars come from Maven Central: apt-get install maven"; exit 1; }

setup: prereqs $(BIN)/.installed $(KAFKA_LIB)/.resolved ## create .venv (what running needs) and fetch the Kafka jars

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

# The test tools (pytest, hypothesis, ruff, mypy...) only for the targets that use them.
$(BIN)/.test-installed: pyproject.toml $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

test-deps: setup $(BIN)/.test-installed

$(KAFKA_LIB)/.resolved: deploy/kafka/pom.xml
	cd deploy/kafka && mvn -q -B dependency:copy-dependencies
	touch $@

run: setup ## local Kafka + a worker + the CRM simulator until Ctrl-C
	$(BIN)/dealpulse demo

lint: test-deps ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: bench-deps lint ## lint, then every test (unit and integration, against a real local broker)
	$(BIN)/pytest

unit: test-deps ## unit tests only (no Kafka)
	$(BIN)/pytest tests/unit

integration: test-deps ## integration tests only (starts a local broker)
	$(BIN)/pytest tests/integration

BENCH_VENV := .venv-bench
BENCH_SCALE ?= 1.0

$(BENCH_VENV)/.installed: bench/requirements-peers.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	echo '*' > $(BENCH_VENV)/.gitignore
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements-peers.txt
	touch $@

$(BIN)/.bench-installed: pyproject.toml $(BIN)/.test-installed
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

bench-deps: test-deps $(BIN)/.bench-installed $(BENCH_VENV)/.installed ## the bench extra, and .venv-bench with Quix Streams

bench: bench-deps ## the benchmarks (BENCH_SCALE=1.0), results in bench/results
	$(BIN)/python -m bench run --scale $(BENCH_SCALE) --out bench/results --update-docs

clean: ## stop the local broker and delete local state (.dealpulse)
	-$(BIN)/dealpulse kafka down
	rm -rf .dealpulse
