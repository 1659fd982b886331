# The README's two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint typecheck unit e2e broker-up broker-down clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(INSTALLED)
	$(BIN)/rarematch demo

test: lint typecheck
	$(BIN)/rarematch rules lint rules
	$(BIN)/rarematch rules test rules
	$(BIN)/rarematch schemas export --check
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

unit: $(INSTALLED)
	$(BIN)/pytest tests/unit

e2e: $(INSTALLED)
	$(BIN)/pytest tests/integration tests/e2e

broker-up: $(INSTALLED)
	$(BIN)/rarematch kafka up

broker-down: $(INSTALLED)
	$(BIN)/rarematch kafka down

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
