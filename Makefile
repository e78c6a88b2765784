# vjepa_jax: `make install` builds .venv, `make test` runs the tests, `make lint` ruff.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint clean

install: $(STAMP)

# Re-installs only when the package metadata changes.
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

lint: install
	$(BIN)/ruff check vjepa_jax tests benchmarks data experiments

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
