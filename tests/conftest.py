"""Test setup: 8 fake CPU devices (set before any backend starts) and the official fixture.

Only pytest setup lives here; helpers shared by test modules are in ``tests/helpers``.
"""

from __future__ import annotations

import os

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

from pathlib import Path

import jax
import pytest

from tests.helpers.paths import OFFICIAL_SMALL

jax.config.update('jax_num_cpu_devices', 8)


@pytest.fixture(scope='session')
def official_small() -> Path:
    if not (OFFICIAL_SMALL / 'fixture.npz').is_file():
        pytest.skip(f'official fixture not found at {OFFICIAL_SMALL} (shared/ must sit next '
                    'to the repository checkout)')
    return OFFICIAL_SMALL
