"""notebooks/quickstart.ipynb runs top to bottom (quick budgets, CPU, the official fixture)."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers.paths import OFFICIAL_SMALL, REPO

pytestmark = pytest.mark.integration  # subprocesses / whole jobs

NOTEBOOK = REPO / 'notebooks' / 'quickstart.ipynb'


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    official = OFFICIAL_SMALL / 'jepa-latest.pth.tar'
    if not official.is_file():
        pytest.skip(f'official fixture checkpoint not found at {official}')
    monkeypatch.setenv('VJEPA_NOTEBOOK_QUICK', '1')
    monkeypatch.setenv('VJEPA_NOTEBOOK_WORK', str(tmp_path / 'work'))
    monkeypatch.setenv('VJEPA_OFFICIAL_CHECKPOINT', str(official))
    monkeypatch.setenv('VJEPA_OFFICIAL_NUM_HEADS', '4')  # the fixture's width is no official size
    monkeypatch.setenv('JAX_PLATFORMS', 'cpu')
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name='python3',
                   resources={'metadata': {'path': str(REPO / 'notebooks')}}).execute()
    text = json.dumps(notebook)
    assert 'official tokens' in text and 'margin' in text
    assert 'relative accuracy' in text and 'what V-JEPA learned by watching' in text
    for picture in ('loss.png', 'pca.png', 'surprise.png'):
        assert (tmp_path / 'work' / picture).is_file()
    for name in ('pretrained', 'random'):
        tables = json.loads((tmp_path / 'work' / f'surprise_{name}.json').read_text())['tables']
        assert tables['mean']['mean']['n'] > 0
    assert (tmp_path / 'work' / 'probe_random' / 'results.json').is_file()
