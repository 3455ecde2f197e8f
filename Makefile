# wire-ingest: `make run` to try it, `make test` to check it. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test-setup run test lint unit integration chaos bench soak kafka-start kafka-stop clean promtool

setup: $(STAMP) kafka-jars ## .venv with the wire-ingest console script; the broker's jars

# What only the tests need beside it: the other Kafka line's jars, and promtool (a system package).
test-setup: setup kafka-jars-other-line promtool

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 12), "Python 3.11 or 3.12 is needed (pyproject.toml)"'
	$(PYTHON) -m venv $(VENV)
	@# pip's and setuptools' notices go to a log, shown in full when the install fails.
	@echo "pip install -e '.[dev]' into $(VENV) (a minute or two; log: $(VENV)/install.log)"
	@{ $(BIN)/pip install --upgrade pip && $(BIN)/pip install -e '.[dev]'; } \
	  > $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@touch $@

# The integration tests run on two Kafka lines: kafka.sh's default (the newest 4.x) and this one.
KAFKA_OTHER_LINE ?= 3.9.1

.PHONY: kafka-jars kafka-jars-other-line
kafka-jars:
	@deploy/local/kafka.sh fetch

kafka-jars-other-line:
	@KAFKA_VERSION=$(KAFKA_OTHER_LINE) deploy/local/kafka.sh fetch

# promtool (Debian package `prometheus`) checks and unit-tests deploy/prometheus/alerts.yml in
# tests/deploy. The package enables prometheus.service; where systemd runs, stop and disable it.
promtool:
	@command -v promtool >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null && \
	  { ! command -v systemctl >/dev/null || $$SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true; }; }

run: setup ## start a local broker (unless KAFKA_BOOTSTRAP is set), the worker, feed seeds/, follow events
	@deploy/local/run.sh

lint: $(STAMP)
	$(BIN)/ruff check workers tests benchmarks
	$(BIN)/ruff format --check workers tests benchmarks
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit

test: test-setup lint ## every test: lint, types, unit, integration and reliability, then integration on the other Kafka line
	$(BIN)/pytest
	KAFKA_VERSION=$(KAFKA_OTHER_LINE) $(BIN)/pytest tests/integration

integration: test-setup ## the integration tests on both Kafka lines
	$(BIN)/pytest tests/integration
	KAFKA_VERSION=$(KAFKA_OTHER_LINE) $(BIN)/pytest tests/integration

chaos: setup ## the fault-injection scenarios alone; prints their table at the end
	$(BIN)/pytest tests/reliability

# The benchmark (BENCHMARKS.md): beside the package, never shipped in it.
bench: setup
	$(BIN)/python -m benchmarks

# A simulated year of wire through the state path (about half an hour; BENCHMARKS.md, "Soak").
soak: setup
	$(BIN)/python -m benchmarks.soak --days 365

kafka-start: setup
	@deploy/local/kafka.sh start

kafka-stop:
	@deploy/local/kafka.sh stop

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis state .cache/run-state-* .cache/run-worker-*.log
