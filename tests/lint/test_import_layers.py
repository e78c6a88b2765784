"""The import-layering check (lint/import_layers.py): clean on the repository, loud on a violation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _checker():
    spec = importlib.util.spec_from_file_location('import_layers', REPO / 'lint' / 'import_layers.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / 'vjepa_jax' / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_repository_has_no_violations():
    assert _checker().violations(REPO) == []


def test_upward_import_is_reported_with_its_line(tmp_path):
    root = _package(tmp_path, {
        '__init__.py': '',
        'models/__init__.py': '',
        'models/vit.py': 'import os\n\ndef f():\n    from vjepa_jax.train import loop\n',
        'train/__init__.py': '',
        'train/loop.py': 'from vjepa_jax.models import vit\n',
    })
    problems = _checker().violations(root)
    assert len(problems) == 1
    assert problems[0].startswith('vjepa_jax/models/vit.py:4: models')
    assert 'vjepa_jax.train' in problems[0]


def test_relative_and_package_imports_are_resolved(tmp_path):
    root = _package(tmp_path, {
        '__init__.py': '',
        'input/__init__.py': '',
        'input/video.py': 'from ..evaluation import job\nfrom vjepa_jax import aot\n',
    })
    problems = _checker().violations(root)
    assert [p.split(': ', 1)[0] for p in problems] == ['vjepa_jax/input/video.py:1',
                                                       'vjepa_jax/input/video.py:2']


def test_a_part_without_a_layer_is_reported(tmp_path):
    root = _package(tmp_path, {'__init__.py': '', 'helpers.py': ''})
    (problem,) = _checker().violations(root)
    assert "part 'helpers' has no layer" in problem
