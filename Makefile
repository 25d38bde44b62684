# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install Warden, run the demo (no Slack, no API key, no server)
#   make test   create .venv, install Warden with test extras, lint, run the whole suite
# Set WARDEN_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test to include the
# PostgreSQL suites (CI always does).

VENV ?= .venv
PYTHON ?= $(shell for candidate in python3.13 python3.12 python3.11 python3; do \
	command -v $$candidate >/dev/null 2>&1 && $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$candidate; break; }; done)
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean help

help:
	@echo "make demo    install and run the demo (writes ./warden-demo)"
	@echo "make test    install with test extras, lint, and run the whole test suite"
	@echo "make lint    ruff check, ruff format --check, mypy on daemon/, detectors/, playbooks/ and agents/"
	@echo "make clean   remove .venv and caches"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Warden needs Python >= 3.11; none found on PATH (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[postgres,assets]'
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[postgres,spark,assets,delta,iceberg,lineage,multivariate,test]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/warden demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
