"""Where the repository and the official-code fixtures are (``shared/`` sits next to the checkout)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_FIXTURES = REPO.parent / 'shared' / 'fixtures'
OFFICIAL_SMALL = SHARED_FIXTURES / 'official_vjepa_small'
VARIANTS = REPO / 'tests' / 'fixtures' / 'official_variants'


def official_fixture_dirs() -> list[Path]:
    """Every directory holding official-code outputs (``fixture.npz``)."""
    dirs = [OFFICIAL_SMALL] if (OFFICIAL_SMALL / 'fixture.npz').is_file() else []
    dirs += sorted(p.parent for p in VARIANTS.glob('*/fixture.npz'))
    return dirs
VJEPA2_VARIANTS = REPO / 'tests' / 'fixtures' / 'official_vjepa2_variants'
