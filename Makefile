# Thin wrappers: the real work is in scripts/ and in the Python tools they call.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000

.PHONY: run test lint fmt install clean

install: $(VENV)/.installed

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@scripts/bootstrap.sh "$(PYTHON)" "$(VENV)"
	@touch $@

run: install
	@PORT=$(PORT) VENV=$(VENV) scripts/run.sh

test: install
	@VENV=$(VENV) scripts/test.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@VENV=$(VENV) scripts/guards.sh

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
