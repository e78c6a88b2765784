# vjepa_jax: `make demo` pretrains and probes a tiny V-JEPA on synthetic videos, `make test` tests.
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

# The whole story on the CPU: tiny pretraining, then a frozen attentive probe on the
# pretrained encoder and on the same encoder at random init (held-out split), both
# top-1 accuracies, and the pictures. Running it again resumes or reuses finished steps.
demo: install $(DEMO_DATA)/train.csv
	$(BIN)/python -m vjepa_jax.main --config experiments/pretrain/tiny.py:data=$(DEMO_DATA) \
	    --workdir $(DEMO_RUN)/pretrain
	$(BIN)/python -m vjepa_jax.main --config \
	    experiments/probe/tiny.py:checkpoint=$(DEMO_RUN)/pretrain,data=$(DEMO_DATA) \
	    --workdir $(DEMO_RUN)/probe_pretrained
	$(BIN)/python -m vjepa_jax.main --config \
	    experiments/probe/tiny.py:checkpoint=$(DEMO_RUN)/pretrain,data=$(DEMO_DATA),random_init \
	    --workdir $(DEMO_RUN)/probe_random
	$(BIN)/python -m vjepa_jax.visualize loss --workdir $(DEMO_RUN)/pretrain --out $(DEMO_RUN)/loss.png
	$(BIN)/python -m vjepa_jax.visualize pca --checkpoint $(DEMO_RUN)/pretrain \
	    --video $(DEMO_DATA)/val/00000.mp4 --frame-step 2 --out $(DEMO_RUN)/pca.png
	$(BIN)/python -m vjepa_jax.demo_summary $(DEMO_RUN)

lint: install
	$(BIN)/ruff check vjepa_jax tests benchmarks data experiments

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info $(DEMO_RUN)
