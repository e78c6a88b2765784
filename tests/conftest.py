"""Test setup: 8 fake CPU devices (set before any backend starts) and fixture locations."""

from __future__ import annotations

import os

os.environ.setdefault('JAX_PLATFORMS', 'cpu')

from pathlib import Path

import jax
import pytest

jax.config.update('jax_num_cpu_devices', 8)

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / 'shared' / 'fixtures'
OFFICIAL_SMALL = SHARED_FIXTURES / 'official_vjepa_small'
VARIANTS = REPO / 'tests' / 'fixtures' / 'official_variants'


def official_fixture_dirs() -> list[Path]:
    """Every directory holding official-code outputs (``fixture.npz``)."""
    dirs = [OFFICIAL_SMALL] if (OFFICIAL_SMALL / 'fixture.npz').is_file() else []
    dirs += sorted(p.parent for p in VARIANTS.glob('*/fixture.npz'))
    return dirs


@pytest.fixture(scope='session')
def official_small() -> Path:
    if not (OFFICIAL_SMALL / 'fixture.npz').is_file():
        pytest.skip(f'official fixture not found at {OFFICIAL_SMALL} (shared/ must sit next '
                    'to the repository checkout)')
    return OFFICIAL_SMALL
