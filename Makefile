# vjepa_jax: `make demo` runs the tiny pretraining on synthetic videos, `make test` the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo clean

install: $(STAMP)

# Re-installs only when the package metadata changes.
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

DEMO_DATA := data/synthetic
DEMO_RUN := runs/demo

# Synthetic moving-shapes videos (deterministic; made once).
$(DEMO_DATA)/train.csv: data/make_synthetic_videos.py | $(STAMP)
	$(BIN)/python data/make_synthetic_videos.py --out $(DEMO_DATA) --force

# Tiny pretraining on the CPU; a second `make demo` resumes (or reports it is done).
demo: install $(DEMO_DATA)/train.csv
	$(BIN)/python -m vjepa_jax.main --config experiments/pretrain/tiny.py:data=$(DEMO_DATA) \
	    --workdir $(DEMO_RUN)

lint: install
	$(BIN)/ruff check vjepa_jax tests benchmarks data experiments

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info $(DEMO_RUN)
