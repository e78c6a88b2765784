"""The demo's last step: both probe accuracies, the margin, and one-line errors."""

from __future__ import annotations

import json

from tests.helpers.exit_status import exit_status
from vjepa_jax.tools.demo_summary import main, summary


def _results(directory, top1, checkpoint='runs/demo/pretrain'):
    directory.mkdir(parents=True)
    (directory / 'results.json').write_text(json.dumps({
        'best': {'top1': top1}, 'num_val': 40, 'num_classes': 4,
        'encoder': {'checkpoint': checkpoint}}))


def test_summary_margin_and_strict(tmp_path, capsys):
    _results(tmp_path / 'probe_pretrained', 80.0)
    _results(tmp_path / 'probe_random', 30.0)
    (tmp_path / 'loss.png').write_bytes(b'png')
    text, ok = summary(tmp_path)
    assert ok and '80.00%' in text and '30.00%' in text and '+50.00 points' in text
    assert 'chance 25.0%' in text and str(tmp_path / 'loss.png') in text
    assert not summary(tmp_path, min_margin=60)[1]
    assert main([str(tmp_path), '--min-margin', '60']) == 0
    assert 'BELOW the expected 60 points' in capsys.readouterr().out
    assert main([str(tmp_path), '--min-margin', '60', '--strict']) == 1


def test_missing_results_are_one_error_line(tmp_path, capsys):
    _results(tmp_path / 'probe_pretrained', 80.0)
    assert exit_status(main, [str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and 'probe_random' in err and 'make demo' in err
    assert '\n' not in err
