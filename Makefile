# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install Warden, run the demo (no Slack, no API key, no server)
#   make test   create .venv, install Warden with test extras, lint, run the whole suite
# Set WARDEN_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test to include the
# PostgreSQL suites (CI always does).

VENV ?= .venv
PYTHON ?= $(shell for candidate in python3.13 python3.12 python3.11 python3; do \
	command -v $$candidate >/dev/null 2>&1 && $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$candidate; break; }; done)
BIN := $(VENV)/bin
LABEL_STUDIO_VENV ?= .venv-label-studio
PYTEST_ARGS ?=

.PHONY: demo test lint label-studio bench clean help

help:
	@echo "make demo    install and run the demo (writes ./warden-demo)"
	@echo "make test    install with test extras, lint, and run the whole test suite"
	@echo "make lint    ruff check, ruff format --check, mypy on daemon/, detectors/, playbooks/ and agents/"
	@echo "make label-studio  a real Label Studio in .venv-label-studio (make test uses it)"
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

# A real Label Studio for the relabel playbook's tests, in a venv of its own: it pins its
# own Django stack, and 1.23.2 breaks on sentry-sdk 3.
label-studio: $(LABEL_STUDIO_VENV)/.installed

$(LABEL_STUDIO_VENV)/.installed:
	@test -n "$(PYTHON)" || { echo "Label Studio needs Python >= 3.11"; exit 1; }
	$(PYTHON) -m venv $(LABEL_STUDIO_VENV)
	$(LABEL_STUDIO_VENV)/bin/python -m pip install --quiet 'label-studio>=1.23,<1.24' 'sentry-sdk<3'
	@touch $@

test: lint label-studio
	WARDEN_TEST_LABEL_STUDIO=$(abspath $(LABEL_STUDIO_VENV))/bin/label-studio $(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LABEL_STUDIO_VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
