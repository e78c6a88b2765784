"""The old loading names, now aliases on ``vjepa_jax.load``, give the same answers as before.

``load_encoder`` keeps its contract: official files, converted directories and
training workdirs give ``(module, params)``.
"""

from __future__ import annotations

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vjepa_jax
from tests.helpers.checkpoints import (
    assert_tree_equal,
    official_file,
    write_train_workdir,
)
from vjepa_jax import checkpointing
from vjepa_jax.encoder_loading import (
    EncoderLoadError,
    encoder_config,
    find_train_checkpoint,
    load_encoder,
)
from vjepa_jax.errors import CheckpointError
from vjepa_jax.models.vit import VisionTransformer
from vjepa_jax.pretrained import load_pretrained


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp('run')
    return root, write_train_workdir(root)


def test_old_names_are_aliases_of_the_front_door():
    assert vjepa_jax.load_pretrained is vjepa_jax.load and load_pretrained is vjepa_jax.load
    assert vjepa_jax.Pretrained is vjepa_jax.LoadedModel
    assert issubclass(EncoderLoadError, CheckpointError)


def test_training_workdir_latest_step_and_which(workdir):
    root, states = workdir
    encoder, params = load_encoder(root)
    assert isinstance(encoder, VisionTransformer)
    assert (encoder.embed_dim, encoder.depth, encoder.grid) == (20, 2, (2, 3, 3))
    assert_tree_equal(params, states[3].target_encoder)   # latest step, EMA encoder
    assert all(isinstance(x, np.ndarray) for x in jax.tree_util.tree_leaves(params))
    _, online = load_encoder(root, 'encoder')
    assert_tree_equal(online, states[3].params['encoder'])
    _, alias = load_encoder(root, 'params/encoder')
    assert_tree_equal(alias, online)
    # A given step, its state folder and the checkpoints folder.
    _, step1 = load_encoder(root / 'checkpoints' / '1')
    assert_tree_equal(step1, states[1].target_encoder)
    _, step1_state = load_encoder(root / 'checkpoints' / '1' / 'state')
    assert_tree_equal(step1_state, step1)
    assert find_train_checkpoint(root / 'checkpoints') == (root.absolute(),
                                                           root.absolute() / 'checkpoints/3')
    # The params fit the module.
    video = jax.ShapeDtypeStruct((1, 4, 24, 24, 3), jnp.float32)
    out = jax.eval_shape(lambda p, v: encoder.apply({'params': p}, v), params, video)
    assert out.shape == (1, 18, 20)


def test_dtype_override_and_config_roundtrip(workdir):
    root, _ = workdir
    encoder, params = load_encoder(root, dtype='bfloat16')
    assert encoder.dtype == jnp.bfloat16
    assert {np.asarray(x).dtype for x in jax.tree_util.tree_leaves(params)} == {np.dtype(np.float32)}
    cfg = encoder_config(encoder)
    json.dumps(cfg)  # JSON-able
    assert cfg['dtype'] == 'bfloat16' and cfg['embed_dim'] == 20
    rebuilt = VisionTransformer(**{k: v for k, v in cfg.items() if k != 'dtype'},
                                dtype=jnp.dtype(cfg['dtype']))
    assert rebuilt == encoder


def test_converted_directory(workdir, tmp_path):
    root, states = workdir
    encoder, params = load_encoder(root)
    config = {'encoder': {k: v for k, v in encoder_config(encoder).items() if k != 'dtype'}}
    online = jax.tree_util.tree_map(np.asarray, states[3].params['encoder'])
    directory = checkpointing.save_model_checkpoint(
        tmp_path / 'converted', 'pretraining', config,
        {'encoder': online, 'target_encoder': params})
    loaded_encoder, loaded = load_encoder(directory)
    assert loaded_encoder == encoder
    assert_tree_equal(loaded, params)
    assert_tree_equal(load_encoder(directory, 'encoder')[1], online)


def test_official_file():
    path = official_file()
    encoder, params = load_encoder(path, num_heads=4)
    model = load_pretrained(path, num_heads=4)
    assert encoder == model.encoder and encoder.embed_dim == 104
    assert_tree_equal(params, model.params['target_encoder'])
    assert_tree_equal(load_encoder(path, 'encoder', num_heads=4)[1], model.params['encoder'])


def test_errors_say_what_is_wrong(workdir, tmp_path):
    root, _ = workdir
    with pytest.raises(FileNotFoundError, match='No checkpoint'):
        load_encoder(tmp_path / 'missing')
    (tmp_path / 'plain').mkdir()
    with pytest.raises(EncoderLoadError, match='not a checkpoint this version reads'):
        load_encoder(tmp_path / 'plain')
    with pytest.raises(EncoderLoadError, match='which='):
        load_encoder(root, 'predictor')
    (tmp_path / 'empty_run' / 'checkpoints').mkdir(parents=True)
    with pytest.raises(EncoderLoadError, match='no finished checkpoint'):
        load_encoder(tmp_path / 'empty_run')
    # A run directory without its config cannot rebuild the encoder.
    shutil.copytree(root / 'checkpoints' / '1', tmp_path / 'no_config' / 'checkpoints' / '1')
    with pytest.raises(EncoderLoadError, match='config'):
        load_encoder(tmp_path / 'no_config')
