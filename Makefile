# The README's two commands: `make demo` and `make test`. Both create .venv on first use,
# installing exactly what uv.lock pins (`make lock` refreshes it after editing pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
INSTALLED := $(VENV)/.installed
UV := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(BIN)/uv

.PHONY: demo test lint typecheck unit e2e faults lock lock-check broker-up broker-down clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --locked: refuse to install when uv.lock no longer matches pyproject.toml.
$(INSTALLED): pyproject.toml uv.lock | $(BIN)/uv
	$(UV) sync --locked --all-extras --python $(BIN)/python
	touch $@

demo: $(INSTALLED)
	$(BIN)/rarematch demo

test: lock-check lint typecheck
	$(BIN)/rarematch rules lint rules
	$(BIN)/rarematch rules fmt --check rules
	$(BIN)/rarematch rules test rules
	$(BIN)/rarematch schemas export --check
	$(BIN)/pytest

lock: | $(BIN)/uv
	$(UV) lock

lock-check: $(INSTALLED)
	$(UV) lock --check

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

unit: $(INSTALLED)
	$(BIN)/pytest tests/unit

e2e: $(INSTALLED)
	$(BIN)/pytest tests/integration tests/e2e

# The fault suite at full size (by hand, ~10 minutes); rewrites the table in docs/reliability.md.
# `make test` runs the same scenarios smaller.
faults: $(INSTALLED)
	RAREMATCH_FAULTS_SCALE=full RAREMATCH_RELIABILITY_REPORT=docs/reliability.md \
		$(BIN)/pytest -m faults tests/faults

broker-up: $(INSTALLED)
	$(BIN)/rarematch kafka up

broker-down: $(INSTALLED)
	$(BIN)/rarematch kafka down

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis/tmp
