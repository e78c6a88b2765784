"""Test setup: 8 fake CPU devices (set before any backend starts) and the official fixture.

Only pytest setup lives here; helpers shared by test modules are in ``tests/helpers``.
"""

from __future__ import annotations

import os
import shutil
import tempfile

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

from pathlib import Path

import jax
import pytest

from tests.helpers.cli_runs import COMPILATION_CACHE_VAR
from tests.helpers.paths import OFFICIAL_SMALL

jax.config.update('jax_num_cpu_devices', 8)


# The files that take longest, longest first (seconds of one core, 2026-12-02): with
# `-n 2 --dist loadfile` each file runs whole on one worker and a worker takes the next
# file in collection order when it runs dry, so these start first and the many short
# files fill in behind them; a long file left to the end would run alone. (xdist's own
# reordering, by number of tests per file, would put one-test files such as the notebook
# last: it is switched off below.) Files not listed keep their collection order.
LONGEST_FIRST = (
    'tests/train/test_sharded_train_step.py',
    'tests/train/test_pretrain_runs.py',
    'tests/train/test_vjepa2_pretrain_run.py',
    'tests/test_notebook.py',
    'tests/train/test_multihost.py',
    'tests/convert/test_official_parity.py',
    'tests/evaluation/test_probe_job.py',
    'tests/experiments/test_pretrain_runlocal.py',
    'tests/experiments/test_probe_runlocal.py',
    'tests/aot/test_tpu_compile.py',
    'tests/aot/test_pod_lowering.py',
    'tests/train/test_mixed_precision.py',
    'tests/evaluation/test_probe.py',
    'tests/vjepa2/test_vjepa2_train_step.py',
    'tests/vjepa2/test_vjepa2_variants.py',
    'tests/vjepa2/test_vjepa2_models.py',
    'tests/vjepa2/test_vjepa2_loading.py',
    'tests/models/test_vit.py',
    'tests/models/test_sharded_forward.py',
    'tests/models/test_attention.py',
    'tests/aot/test_probe_programs.py',
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split('::')[0], len(rank)))  # stable


def pytest_configure(config):
    if hasattr(config.option, 'loadscopereorder'):  # pytest-xdist's --loadscope-reorder
        config.option.loadscopereorder = False
    # The CLI subprocesses' compilation cache (tests.helpers.cli_runs.cli_env): made by the
    # first process of the run (the xdist controller, before it starts the workers, who
    # inherit the variable), so every worker's subprocesses share it; fresh for each run.
    # This process's own JAX is already imported and does not read it.
    if COMPILATION_CACHE_VAR not in os.environ:
        os.environ[COMPILATION_CACHE_VAR] = tempfile.mkdtemp(prefix='vjepa_jax_test_jit_cache_')
        config.stash[_CACHE_OWNER] = os.environ[COMPILATION_CACHE_VAR]


def pytest_unconfigure(config):
    if _CACHE_OWNER in config.stash:
        shutil.rmtree(config.stash[_CACHE_OWNER], ignore_errors=True)


_CACHE_OWNER = pytest.StashKey[str]()


@pytest.fixture(scope='session')
def official_small() -> Path:
    if not (OFFICIAL_SMALL / 'fixture.npz').is_file():
        pytest.skip(f'official fixture not found at {OFFICIAL_SMALL} (shared/ must sit next '
                    'to the repository checkout)')
    return OFFICIAL_SMALL
