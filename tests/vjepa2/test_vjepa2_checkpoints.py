"""V-JEPA 2 checkpoint formats: exact round trips, format detection, Hugging Face directories."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers.paths import SHARED_FIXTURES
from vjepa_jax.convert import vjepa2_formats, vjepa2_hf
from vjepa_jax.convert import vjepa2_official as v2
from vjepa_jax.convert.official_config import ConversionError
from vjepa_jax.convert.torch_pickle import load_torch_checkpoint
from vjepa_jax.errors import CheckpointError
from vjepa_jax.models.vjepa2 import VJEPA2Encoder

FIXTURE = SHARED_FIXTURES / 'official_vjepa2_small'
V1_FILE = SHARED_FIXTURES / 'official_vjepa_small' / 'jepa-latest.pth.tar'
pytestmark = pytest.mark.skipif(not (FIXTURE / 'fixture.npz').is_file(),
                                reason=f'official V-JEPA 2 fixture not found at {FIXTURE}')
OPTIONS = {'num_heads': 2, 'predictor_num_heads': 2, 'img_size': 80, 'num_frames': 8}


@pytest.fixture(scope='module')
def official_pretraining():
    return load_torch_checkpoint(FIXTURE / 'pretrain_latest.pt')


@pytest.fixture(scope='module')
def official_probe():
    return load_torch_checkpoint(FIXTURE / 'probe_latest.pt')


@pytest.fixture(scope='module')
def pretrained(official_pretraining):
    return v2.read_pretraining(official_pretraining, **OPTIONS)


@pytest.fixture(scope='module')
def probe(official_probe):
    return v2.read_probe(official_probe, num_heads=4)


def _assert_same_state_dict(ours, ref):
    assert list(ours) == list(ref)  # same keys, official order
    for key in ref:
        assert ours[key].dtype == ref[key].dtype, key
        np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)


def _assert_same_tree(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_pretraining_export_reproduces_official_tensors(tmp_path, official_pretraining,
                                                        pretrained):
    config, params, provenance = pretrained
    path = tmp_path / 'latest.pt'
    vjepa2_formats.PRETRAINING_PT.write(path, config, params, provenance['metadata'])
    back = load_torch_checkpoint(path)
    for name in ('encoder', 'predictor', 'target_encoder'):
        _assert_same_state_dict(back[name], official_pretraining[name])
    assert back['epoch'] == official_pretraining['epoch']
    assert back['loss'] == official_pretraining['loss']
    assert vjepa2_formats.detect_format(path) is vjepa2_formats.PRETRAINING_PT


def test_probe_export_reproduces_official_tensors(tmp_path, official_probe, probe):
    config, params, provenance = probe
    path = tmp_path / 'probe.pt'
    vjepa2_formats.PROBE_PT.write(path, config, params, provenance['metadata'])
    back = load_torch_checkpoint(path)
    assert len(back['classifiers']) == len(official_probe['classifiers'])
    for ours, ref in zip(back['classifiers'], official_probe['classifiers']):
        _assert_same_state_dict(ours, ref)
    assert vjepa2_formats.detect_format(path) is vjepa2_formats.PROBE_PT


def test_detection():
    assert vjepa2_formats.detect_format(FIXTURE / 'pretrain_latest.pt').name == \
        'vjepa2_pretraining_pt'
    assert vjepa2_formats.detect_format(FIXTURE / 'probe_latest.pt').name == 'vjepa2_probe_pt'
    # V-JEPA 2-AC (action-conditioned predictor) is not one of these formats.
    assert vjepa2_formats.detect_format(FIXTURE / 'droid_latest.pt') is None
    assert vjepa2_formats.detect_format(FIXTURE / 'fixture.npz') is None
    if V1_FILE.is_file():  # a V-JEPA 1 file (position tables) is left to the V-JEPA 1 reader
        assert vjepa2_formats.detect_format(V1_FILE) is None


def test_unused_position_tables_are_ignored_with_a_note(official_pretraining):
    checkpoint = dict(official_pretraining)
    checkpoint['encoder'] = {**checkpoint['encoder'],
                             'module.backbone.pos_embed': np.zeros((1, 100, 40), np.float32)}
    _, params, provenance = v2.read_pretraining(checkpoint, **OPTIONS)
    assert any('encoder.pos_embed' in note for note in provenance['ignored'])
    assert 'pos_embed' not in params['encoder']


def test_import_errors_list_every_problem(official_pretraining):
    checkpoint = dict(official_pretraining)
    sd = dict(checkpoint['encoder'])
    sd['module.backbone.blocks.0.extra.weight'] = np.zeros(3, np.float32)
    del sd['module.backbone.norm.bias']
    checkpoint['encoder'] = sd
    with pytest.raises(CheckpointError, match='unmapped') as err:
        v2.read_pretraining(checkpoint, **OPTIONS)
    assert 'norm.bias' in str(err.value) and 'blocks.0.extra.weight' in str(err.value)
    with pytest.raises(CheckpointError, match='num_heads'):
        v2.read_pretraining(official_pretraining)  # width 40 is not an official size
    with pytest.raises(CheckpointError, match='classifiers'):
        v2.read_probe({'classifier': {}})


def test_hf_names_follow_transformers():
    assert vjepa2_hf.hf_names('blocks.3.attn.qkv.weight') == tuple(
        f'encoder.layer.3.attention.{p}.weight' for p in ('query', 'key', 'value'))
    assert vjepa2_hf.hf_names('pooler.cross_attention_block.xattn.kv.bias') == (
        'pooler.cross_attention_layer.cross_attn.k_proj.bias',
        'pooler.cross_attention_layer.cross_attn.v_proj.bias')
    assert vjepa2_hf.hf_names('pooler.blocks.0.attn.proj.weight') == (
        'pooler.self_attention_layers.0.self_attn.out_proj.weight',)
    assert vjepa2_hf.hf_names('norm.weight') == ('encoder.layernorm.weight',)
    assert vjepa2_hf.hf_names('predictor_embed.bias') == (
        'predictor.embeddings.predictor_embeddings.bias',)
    with pytest.raises(ConversionError):
        vjepa2_hf.hf_names('pos_embed')


def test_hf_model_directory_round_trip(tmp_path, official_pretraining, pretrained):
    config, params, _ = pretrained
    vjepa2_hf.write_dir(tmp_path, config, params)
    assert vjepa2_formats.detect_format(tmp_path) is vjepa2_formats.HF_DIR
    hf_config = json.loads((tmp_path / 'config.json').read_text())
    assert hf_config['architectures'] == ['VJEPA2Model']
    assert (hf_config['hidden_size'], hf_config['crop_size'], hf_config['pred_num_mask_tokens']) \
        == (40, 80, 4)
    tensors = vjepa2_hf.read_safetensors(tmp_path)
    assert tensors['predictor.embeddings.mask_tokens'].shape == (4, 1, 1, 52)
    qkv = official_pretraining['encoder']['module.backbone.blocks.1.attn.qkv.weight']
    np.testing.assert_array_equal(tensors['encoder.layer.1.attention.key.weight'], qkv[40:80])
    back_config, back, _ = vjepa2_formats.HF_DIR.read(tmp_path)
    assert back_config['encoder'] == config['encoder']
    assert back_config['predictor'] == config['predictor']
    _assert_same_tree(back['encoder'], params['encoder'])
    _assert_same_tree(back['predictor'], params['predictor'])
    # The same tokens as the original params.
    enc = jax.jit(VJEPA2Encoder(**back_config['encoder']).apply)
    video = jax.random.normal(jax.random.key(0), (1, 2, 32, 48, 3))
    np.testing.assert_array_equal(enc({'params': back['encoder']}, video),
                                  enc({'params': params['encoder']}, video))
    # Written again, the same bytes of every tensor.
    vjepa2_hf.write_dir(tmp_path / 'again', back_config, back)
    again = vjepa2_hf.read_safetensors(tmp_path / 'again')
    assert sorted(again) == sorted(tensors)
    for key in tensors:
        np.testing.assert_array_equal(again[key], tensors[key])


def test_hf_classification_directory_round_trip(tmp_path, pretrained, probe):
    config, params, _ = pretrained
    probe_config, probe_params, _ = probe
    full = {**config, 'classifier': probe_config['classifier'], 'embed_dim': 40}
    vjepa2_hf.write_dir(tmp_path, full, {**params, **probe_params}, encoder_key='target_encoder')
    hf_config = json.loads((tmp_path / 'config.json').read_text())
    assert hf_config['architectures'] == ['VJEPA2ForVideoClassification']
    assert hf_config['num_pooler_layers'] == 3 and len(hf_config['id2label']) == 5
    tensors = vjepa2_hf.read_safetensors(tmp_path)
    assert 'vjepa2.encoder.layernorm.weight' in tensors and 'classifier.weight' in tensors
    back_config, back, _ = vjepa2_hf.read_dir(tmp_path)
    assert back_config['classifier'] == {**probe_config['classifier'], 'layer_norm_eps': 1e-5}
    _assert_same_tree(back['classifiers'][0], probe_params['classifiers'][0])
    _assert_same_tree(back['encoder'], params['target_encoder'])
    # Without our two extra fields the reader follows HF: encoder heads, encoder eps.
    del hf_config['vjepa_jax_probe_num_heads'], hf_config['vjepa_jax_probe_layer_norm_eps']
    (tmp_path / 'config.json').write_text(json.dumps(hf_config))
    hf_like, _, _ = vjepa2_hf.read_dir(tmp_path)
    assert (hf_like['classifier']['num_heads'], hf_like['classifier']['layer_norm_eps']) == \
        (2, 1e-6)
    official_like, _, _ = vjepa2_hf.read_dir(tmp_path, probe_num_heads=4,
                                             probe_layer_norm_eps=1e-5)
    assert official_like['classifier'] == back_config['classifier']


def test_hf_directory_errors(tmp_path, pretrained):
    config, params, _ = pretrained
    vjepa2_hf.write_dir(tmp_path, config, params)
    tensors = vjepa2_hf.read_safetensors(tmp_path)
    del tensors['encoder.layer.0.attention.value.bias']
    tensors['encoder.layer.0.extra'] = np.zeros(2, np.float32)
    with pytest.raises(CheckpointError, match='missing') as err:
        vjepa2_hf.hf_to_official(tensors)
    assert 'encoder.layer.0.extra' in str(err.value)
    with pytest.raises(CheckpointError, match='not a Hugging Face V-JEPA 2 directory'):
        vjepa2_hf.read_dir(tmp_path / 'nothing')


def test_bfloat16_safetensors_read_as_float32_params(tmp_path, pretrained):
    from safetensors.numpy import save_file

    config, params, _ = pretrained
    vjepa2_hf.write_dir(tmp_path, config, params)
    tensors = vjepa2_hf.read_safetensors(tmp_path)
    save_file({k: v.astype(jnp.bfloat16) for k, v in tensors.items()},
              str(tmp_path / 'model.safetensors'))
    _, back, _ = vjepa2_hf.read_dir(tmp_path)
    leaf = back['encoder']['norm']['scale']
    assert leaf.dtype == np.float32
    np.testing.assert_array_equal(leaf, np.asarray(
        params['encoder']['norm']['scale']).astype(jnp.bfloat16).astype(np.float32))
