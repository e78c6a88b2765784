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


def pytest_configure(config):
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
