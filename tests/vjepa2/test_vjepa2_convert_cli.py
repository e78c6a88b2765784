"""``python -m vjepa_jax.tools.convert`` with V-JEPA 2: import and export both ways, its errors."""

from __future__ import annotations

import jax
import numpy as np

import vjepa_jax
from tests.helpers.exit_status import exit_status
from tests.helpers.vjepa2_checkpoints import (
    write_hf_dir,
    write_pretraining_pt,
    write_probe_pt,
)
from vjepa_jax.convert import vjepa2_formats, vjepa2_hf
from vjepa_jax.convert.torch_pickle import load_torch_checkpoint
from vjepa_jax.models.vjepa2 import VJEPA2AttentiveClassifier, VJEPA2Encoder
from vjepa_jax.tools.convert import main as convert_main

HEADS = ['--num-heads', '2', '--predictor-num-heads', '2', '--img-size', '32',
         '--num-frames', '4']


def _same_tree(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_pretraining_pt_import_export_official_and_hf(tmp_path, capsys):
    src = tmp_path / 'vitl.pt'
    config, params = write_pretraining_pt(src)
    assert exit_status(convert_main, ['import', str(src), str(tmp_path / 'ckpt')]) == 2
    assert 'num_heads' in capsys.readouterr().err  # width 48 is no official size
    assert convert_main(['import', str(src), str(tmp_path / 'ckpt'), *HEADS]) == 0
    converted = vjepa_jax.load(tmp_path / 'ckpt')
    assert isinstance(converted.encoder, VJEPA2Encoder)
    assert converted.provenance.format == 'converted'
    assert converted.config == config and converted.metadata == {'epoch': 3}
    _same_tree(converted.params, params)
    # Back to the official file: the same tensors, the same keys in the same order.
    assert convert_main(['export', str(tmp_path / 'ckpt'), str(tmp_path / 'out.pt')]) == 0
    out, original = load_torch_checkpoint(tmp_path / 'out.pt'), load_torch_checkpoint(src)
    assert list(out) == list(original)
    for name in ('encoder', 'predictor', 'target_encoder'):
        assert list(out[name]) == list(original[name])
        jax.tree.map(np.testing.assert_array_equal, out[name], original[name])
    # To a Hugging Face directory, straight from the .pt or from the converted directory.
    assert convert_main(['export', str(tmp_path / 'ckpt'), str(tmp_path / 'hf'), '--format',
                         'hf', '--hf-encoder', 'target_encoder']) == 0
    assert vjepa2_formats.detect_format(tmp_path / 'hf') is vjepa2_formats.HF_DIR
    _, back, _ = vjepa2_hf.read_dir(tmp_path / 'hf')
    _same_tree(back['encoder'], params['target_encoder'])
    assert exit_status(convert_main, ['export', str(tmp_path / 'ckpt'), str(tmp_path / 'hf'),
                                      '--format', 'hf']) == 2
    assert 'pass --force' in capsys.readouterr().err


def test_hf_directory_and_probe_import_and_their_errors(tmp_path, capsys):
    _, params = write_hf_dir(tmp_path / 'hf')
    assert convert_main(['import', str(tmp_path / 'hf'), str(tmp_path / 'ckpt')]) == 0
    converted = vjepa_jax.load(tmp_path / 'ckpt')
    _same_tree(converted.params, {'encoder': params['encoder'],
                                  'predictor': params['predictor']})
    assert convert_main(['export', str(tmp_path / 'ckpt'), str(tmp_path / 'again'),
                         '--format', 'hf']) == 0
    _, again, _ = vjepa2_hf.read_dir(tmp_path / 'again')
    _same_tree(again['encoder'], params['encoder'])

    _, probe = write_probe_pt(tmp_path / 'probe.pt')
    assert convert_main(['import', str(tmp_path / 'probe.pt'), str(tmp_path / 'probe'),
                         '--probe-num-heads', '4']) == 0
    loaded = vjepa_jax.load(tmp_path / 'probe')
    assert isinstance(loaded.classifier, VJEPA2AttentiveClassifier)
    assert loaded.classifier.num_heads == 4
    _same_tree(loaded.params, probe)
    assert convert_main(['export', str(tmp_path / 'probe'), str(tmp_path / 'probe.pt.out')]) == 0
    out = load_torch_checkpoint(tmp_path / 'probe.pt.out')
    original = load_torch_checkpoint(tmp_path / 'probe.pt')
    assert len(out['classifiers']) == 2
    for ours, theirs in zip(out['classifiers'], original['classifiers']):
        assert list(ours) == list(theirs)
        jax.tree.map(np.testing.assert_array_equal, ours, theirs)
    # A probe has no encoder for an HF directory; one error line that says what to do.
    assert exit_status(convert_main, ['export', str(tmp_path / 'probe'), str(tmp_path / 'x'),
                                      '--format', 'hf']) == 2
    assert 'error:' in capsys.readouterr().err
    assert exit_status(convert_main, ['export', str(tmp_path / 'probe.pt'), str(tmp_path / 'y'),
                                      '--format', 'hf']) == 2
    assert '--format official' in capsys.readouterr().err
