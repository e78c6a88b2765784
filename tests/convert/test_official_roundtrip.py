"""Export / import of official checkpoints: exactness, key sets, errors, CLI, safety."""

from __future__ import annotations

import pickle
import re
import zipfile
from collections import OrderedDict

import flax.linen as nn
import jax
import numpy as np
import pytest

import vjepa_jax
from tests.helpers.exit_status import exit_status
from tests.helpers.official_fixture import load
from tests.helpers.paths import SHARED_FIXTURES, official_fixture_dirs
from vjepa_jax.convert import official
from vjepa_jax.convert.torch_pickle import (
    UnsafeCheckpointError,
    load_torch_checkpoint,
    save_torch_checkpoint,
)
from vjepa_jax.models import VisionTransformer
from vjepa_jax.models.layer_layout import stack_layers
from vjepa_jax.tools.convert import main as convert_main

DIRS = official_fixture_dirs()
needs_fixtures = pytest.mark.skipif(not DIRS, reason='no official fixtures (shared/ absent)')


def _assert_same_state_dict(ours, ref):
    assert list(ours) == list(ref), 'keys or their order differ'
    for key in ref:
        a, b = np.asarray(ours[key]), np.asarray(ref[key])
        assert a.shape == b.shape and a.dtype == b.dtype, key
        np.testing.assert_array_equal(a, b, err_msg=key)


@needs_fixtures
@pytest.mark.parametrize('path', DIRS, ids=lambda p: p.name)
def test_export_of_imported_checkpoint_equals_original(path):
    fx = load(path)
    original = load_torch_checkpoint(path / 'jepa-latest.pth.tar')
    model = vjepa_jax.load(path / 'jepa-latest.pth.tar', num_heads=fx.num_heads,
                           num_frames=fx.num_frames)
    exported = official.export_pretraining(model.to_converted())
    for name in ('encoder', 'predictor', 'target_encoder'):
        _assert_same_state_dict(exported[name], original[name])
    classifier = path / 'classifier.pth.tar'
    if classifier.exists():
        original = load_torch_checkpoint(classifier)
        model = vjepa_jax.load(classifier, num_heads=fx.classifier_heads)
        _assert_same_state_dict(official.export_classifier(model.to_converted())['classifier'],
                                original['classifier'])


def _random_params(module, *args):
    return jax.device_get(nn.meta.unbox(module.init(jax.random.key(3), *args)['params']))


def test_roundtrip_of_our_params_is_exact_for_both_layouts():
    cfg = {'img_size': 32, 'num_frames': 4, 'patch_size': 16, 'tubelet_size': 2, 'embed_dim': 24, 'depth': 3,
               'num_heads': 3, 'mlp_dim': 40, 'uniform_power': False}
    enc = VisionTransformer(**cfg)
    params = _random_params(enc, np.zeros((1, 4, 32, 32, 3), np.float32))
    conv = official.Converted({'encoder': cfg}, {'encoder': params})
    back = official.import_pretraining(official.export_pretraining(conv), num_frames=4,
                                       num_heads=3)
    assert back.config['encoder'] == cfg
    jax.tree.map(np.testing.assert_array_equal, back.params['encoder'], params)
    # Scanned params export to the same official tensors.
    scanned = {**params, 'blocks': stack_layers(params['blocks'], 3)}
    exported = official.export_pretraining(official.Converted({'encoder': cfg},
                                                              {'encoder': scanned}))
    _assert_same_state_dict(exported['encoder'], official.export_pretraining(conv)['encoder'])


@needs_fixtures
def test_torch_reads_export_with_official_keys(official_small, tmp_path):
    torch = pytest.importorskip('torch', reason='torch not installed (pip install .[torch])')
    model = vjepa_jax.load(official_small / 'jepa-latest.pth.tar', num_heads=4)
    out = tmp_path / 'export.pth.tar'
    save_torch_checkpoint(official.export_pretraining(model.to_converted()), out)
    loaded = torch.load(out, weights_only=True)
    reference = torch.load(official_small / 'jepa-latest.pth.tar', weights_only=True)
    for name in ('encoder', 'predictor', 'target_encoder'):
        assert list(loaded[name]) == list(reference[name])
        for key, value in reference[name].items():
            assert torch.equal(loaded[name][key], value), key


def _official_listing():
    """Key -> shape of the ViT-L/16 encoder and predictor in official_checkpoint_keys.md."""
    path = SHARED_FIXTURES / 'official_checkpoint_keys.md'
    if not path.exists():
        pytest.skip(f'{path} not found')
    text = path.read_text()
    sections = {}
    for name, title in (('encoder', '### 1a.'), ('predictor', '### 1b.'),
                        ('classifier', '### 2a.')):
        body = text[text.index(title):]
        body = body[:body.index('entries,')]
        sections[name] = OrderedDict(
            (k, tuple(int(d) for d in s.split(', ')))
            for k, s in re.findall(r'\| `([^`]+)` \| \[([0-9, ]+)\] \|', body))
    return sections


def _abstract_export(params_shapes, table, depth, rows, prefix, tables=None):
    zeros = jax.tree.map(lambda s: np.broadcast_to(np.float32(0), s.shape), params_shapes)
    sd = official.state_dict_from_params(zeros, table, depth, rows, prefix, tables=tables)
    return OrderedDict((k, v.shape) for k, v in sd.items())


def test_vit_large_export_key_set_matches_official_listing():
    """Our export of ViT-L/16 + predictor 384x12 has exactly the official keys and shapes."""
    listing = _official_listing()
    enc_cfg = {'img_size': 224, 'num_frames': 16, 'patch_size': 16, 'tubelet_size': 2, 'embed_dim': 1024,
                   'depth': 24, 'num_heads': 16, 'mlp_dim': 4096}
    video = jax.ShapeDtypeStruct((1, 16, 224, 224, 3), np.float32)
    enc_shapes = official._abstract_params(VisionTransformer(**enc_cfg), video)
    tables = {'pos_embed': np.broadcast_to(np.float32(0), (1, 1568, 1024))}
    ours = _abstract_export(enc_shapes, official.ENCODER_KEYS, 24, 0,
                            official.BACKBONE_PREFIX, tables)
    assert ours == listing['encoder']
    from vjepa_jax.models import Predictor
    pred_cfg = {'embed_dim': 1024, 'predictor_embed_dim': 384, 'depth': 12, 'num_heads': 16,
                    'mlp_dim': 1536, 'num_mask_tokens': 2}
    ctx = jax.ShapeDtypeStruct((1, 1, 1024), np.float32)
    idx = jax.ShapeDtypeStruct((1, 1), np.int32)
    pred_shapes = official._abstract_params(Predictor(**pred_cfg), ctx, idx, idx, 0)
    tables = {'predictor_pos_embed': np.broadcast_to(np.float32(0), (1, 1568, 384))}
    ours = _abstract_export(pred_shapes, official.PREDICTOR_KEYS, 12, 2,
                            official.BACKBONE_PREFIX, tables)
    assert ours == listing['predictor']


def test_every_problem_is_listed_at_once():
    cfg = {'img_size': 32, 'num_frames': 4, 'patch_size': 16, 'tubelet_size': 2, 'embed_dim': 24, 'depth': 2,
               'num_heads': 3, 'mlp_dim': 40}
    params = _random_params(VisionTransformer(**cfg), np.zeros((1, 4, 32, 32, 3), np.float32))
    sd = official.export_pretraining(official.Converted({'encoder': cfg},
                                                        {'encoder': params}))['encoder']
    sd = dict(sd)
    sd['module.backbone.blocks.0.attn.extra.weight'] = np.zeros(3, np.float32)
    del sd['module.backbone.blocks.1.mlp.fc2.bias']
    sd['module.backbone.norm.weight'] = np.zeros(25, np.float32)
    with pytest.raises(official.ConversionError) as err:
        official.import_pretraining({'encoder': sd}, num_heads=3, num_frames=4)
    message = str(err.value)
    assert 'unmapped' in message and 'blocks.0.attn.extra.weight' in message
    assert 'missing' in message and 'blocks.1.mlp.fc2.bias' in message
    assert 'mis-shaped' in message and 'norm.weight: checkpoint [25]' in message


def test_heads_are_required_for_unofficial_widths():
    sd = {'patch_embed.proj.weight': np.zeros((24, 3, 2, 16, 16), np.float32),
          'pos_embed': np.zeros((1, 8, 24), np.float32),
          'blocks.0.mlp.fc1.weight': np.zeros((40, 24), np.float32)}
    with pytest.raises(official.ConversionError, match='--num-heads'):
        official.encoder_config(sd, num_frames=4)


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        import os
        return os.system, (f'touch {self.target}',)


def test_malicious_checkpoint_is_rejected_by_load(tmp_path):
    path = tmp_path / 'evil.pth.tar'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('evil/data.pkl', pickle.dumps({'encoder': _Evil(tmp_path / 'pwned')},
                                                 protocol=2))
    with pytest.raises(UnsafeCheckpointError, match='system'):
        vjepa_jax.load(path)
    assert not (tmp_path / 'pwned').exists()
    assert exit_status(convert_main, ['import', str(path), str(tmp_path / 'out')]) == 2
    assert not (tmp_path / 'pwned').exists()


@needs_fixtures
def test_cli_import_then_export_reproduces_the_checkpoint(official_small, tmp_path, capsys):
    src = official_small / 'jepa-latest.pth.tar'
    assert exit_status(convert_main, ['import', str(src), str(tmp_path / 'ckpt')]) == 2
    assert '--num-heads' in capsys.readouterr().err
    assert convert_main(['import', str(src), str(tmp_path / 'ckpt'), '--num-heads', '4']) == 0
    assert exit_status(convert_main, ['import', str(src), str(tmp_path / 'ckpt'),
                                      '--num-heads', '4']) == 2
    assert 'already exists' in capsys.readouterr().err
    directory = vjepa_jax.load(tmp_path / 'ckpt')
    from_file = vjepa_jax.load(src, num_heads=4)
    assert directory.config == from_file.config
    jax.tree.map(np.testing.assert_array_equal, directory.params, from_file.params)
    assert convert_main(['export', str(tmp_path / 'ckpt'), str(tmp_path / 'out.pth.tar')]) == 0
    exported, original = (load_torch_checkpoint(tmp_path / 'out.pth.tar'),
                          load_torch_checkpoint(src))
    for name in ('encoder', 'predictor', 'target_encoder'):
        _assert_same_state_dict(exported[name], original[name])
    for key in ('epoch', 'loss', 'batch_size', 'world_size', 'lr'):
        assert exported[key] == original[key]
    # Mistakes are one line each: an existing output, a missing source, a non-converted source.
    assert exit_status(convert_main, ['export', str(tmp_path / 'ckpt'),
                                      str(tmp_path / 'out.pth.tar')]) == 2
    assert 'pass --force' in capsys.readouterr().err
    assert exit_status(convert_main, ['import', str(tmp_path / 'nope.pth.tar'),
                                      str(tmp_path / 'x')]) == 2
    assert capsys.readouterr().err.startswith('error: No checkpoint file at')
    assert exit_status(convert_main, ['export', str(src), str(tmp_path / 'y.pth.tar')]) == 2
    assert 'no converted directory' in capsys.readouterr().err
