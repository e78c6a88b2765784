# vjepa_jax: `make demo` pretrains a tiny V-JEPA on a synthetic physics world and shows what it learned.
# Tests: `make test-fast` (no subprocesses, whole jobs or real-backend compiles: pytest
# -m "not slow and not integration"; 3.2 min on 2 cores, quiet, 2026-12-02); `make test`
# (all but `slow`; 12.3 min on 2 cores, quiet, 2026-12-02, with ../shared's fixtures;
# docs/running.md); `pytest -m slow` for the long checks.
# Another interpreter / venv / pins: make test PYTHON=/path/python3.12 VENV=.venv312 PIP_PINS='jax==0.11.*'
PYTHON ?= python3
VENV := .venv
PIP_PINS :=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast test-py312 lint demo clean

install: $(STAMP)

# Re-installs only when the package metadata changes.
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(foreach pin,$(PIP_PINS),'$(pin)')
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

test-fast: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m 'not slow and not integration' tests

# The same tests on Python 3.12 with JAX 0.11 (what Colab and the accelerator machines
# run), in .venv312. PYTHON312: the first python3.12 that runs (a pyenv shim on PATH may
# have no 3.12 behind it), else pass PYTHON312=/path/to/python3.12.
PYTHON312 ?= $(shell for p in "$$(command -v python3.12)" /root/.pyenv/versions/3.12*/bin/python3.12; do \
    "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo "$$p"; break; }; done)
PY312_ARGS = PYTHON='$(PYTHON312)' VENV=.venv312 PIP_PINS='jax==0.11.*'

test-py312:
	@test -n '$(PYTHON312)' || { echo 'test-py312: no working python3.12 found (PATH, /root/.pyenv/versions/3.12*); pass PYTHON312=/path/to/python3.12' >&2; exit 1; }
	$(MAKE) install $(PY312_ARGS)
	.venv312/bin/python -c "import sys, jax; v = sys.version.split()[0], jax.__version__; print('.venv312: python %s, jax %s' % v); assert v[0].startswith('3.12.') and v[1].startswith('0.11.'), v"
	$(MAKE) test $(PY312_ARGS)

DEMO_DATA := data/synthetic
PHYSICS_DATA := data/physics
DEMO_RUN := runs/demo

# Synthetic moving-shapes videos (deterministic; made once): the labelled probe task.
$(DEMO_DATA)/train.csv: data/make_synthetic_videos.py | $(STAMP)
	$(BIN)/python data/make_synthetic_videos.py --out $(DEMO_DATA) --force

# The physics world (deterministic; made once): unlabelled training videos and the
# matched possible / impossible test sets.
$(PHYSICS_DATA)/train.csv: data/make_physics_videos.py | $(STAMP)
	$(BIN)/python data/make_physics_videos.py --out $(PHYSICS_DATA)

# The whole story on the CPU: pretrain on the physics videos; the surprise test
# (impossible vs possible videos, no labels) of the pretrained model and of the same
# model at random init; the attentive probe on the labelled moving-shapes task for both;
# the pictures; the summary. Running it again resumes or reuses finished steps.
demo: install $(PHYSICS_DATA)/train.csv $(DEMO_DATA)/train.csv
	$(BIN)/python -m vjepa_jax.main --config experiments/pretrain/physics.py:data=$(PHYSICS_DATA) \
	    --workdir $(DEMO_RUN)/pretrain
	$(MAKE) --no-print-directory $(DEMO_RUN)/surprise_pretrained.json $(DEMO_RUN)/surprise_random.json
	$(BIN)/python -m vjepa_jax.main --config \
	    experiments/probe/tiny.py:checkpoint=$(DEMO_RUN)/pretrain,data=$(DEMO_DATA) \
	    --workdir $(DEMO_RUN)/probe_pretrained
	$(BIN)/python -m vjepa_jax.main --config \
	    experiments/probe/tiny.py:checkpoint=$(DEMO_RUN)/pretrain,data=$(DEMO_DATA),random_init \
	    --workdir $(DEMO_RUN)/probe_random
	$(BIN)/python -m vjepa_jax.tools.visualize loss --workdir $(DEMO_RUN)/pretrain --out $(DEMO_RUN)/loss.png
	$(BIN)/python -m vjepa_jax.tools.visualize pca --checkpoint $(DEMO_RUN)/pretrain \
	    --video $(PHYSICS_DATA)/train/00000.mp4 --frame-step 2 --out $(DEMO_RUN)/pca.png
	$(BIN)/python -m vjepa_jax.tools.surprise_plot --results $(DEMO_RUN)/surprise_pretrained.json \
	    $(DEMO_RUN)/surprise_random.json --labels pretrained random --out $(DEMO_RUN)/surprise.png
	$(BIN)/python -m vjepa_jax.tools.demo_story $(DEMO_RUN)

$(DEMO_RUN)/surprise_pretrained.json: $(PHYSICS_DATA)/train.csv
	$(BIN)/python -m vjepa_jax.evaluation.surprise --checkpoint $(DEMO_RUN)/pretrain \
	    --sets $(PHYSICS_DATA)/test_sets.txt --out $@

$(DEMO_RUN)/surprise_random.json: $(PHYSICS_DATA)/train.csv
	$(BIN)/python -m vjepa_jax.evaluation.surprise --checkpoint $(DEMO_RUN)/pretrain --random-init \
	    --sets $(PHYSICS_DATA)/test_sets.txt --out $@

lint: install
	$(BIN)/ruff check vjepa_jax tests benchmarks data experiments lint
	$(BIN)/python lint/import_layers.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info $(DEMO_RUN)
