"""load_encoder: official files, converted directories and training workdirs give the same kind of answer.

The helpers ``write_train_workdir`` and ``write_video`` are shared with
test_extract.py and test_visualize.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from conftest import OFFICIAL_SMALL

from vjepa_jax import checkpointing
from vjepa_jax.encoder_loading import (
    EncoderLoadError,
    encoder_config,
    find_train_checkpoint,
    load_encoder,
)
from vjepa_jax.models.builder import build_jepa_models, model_config
from vjepa_jax.models.vit import VisionTransformer
from vjepa_jax.pretrained import load_pretrained
from vjepa_jax.train.state import init_boxed_state

OFFICIAL_FILE = OFFICIAL_SMALL / 'jepa-latest.pth.tar'

# Tiny encoder: width 20, 2 blocks, patch 8; 4 frames x 24 px -> grid (2, 3, 3) = 18 tokens.
TINY_MODEL = {'variant': 'w20d2h2m40/8', 'num_frames': 4, 'crop_size': 24, 'tubelet_size': 2,
              'predictor': {'embed_dim': 12, 'depth': 1, 'num_heads': 2}}


def official_file() -> Path:
    if not OFFICIAL_FILE.is_file():
        pytest.skip(f'official fixture checkpoint not found at {OFFICIAL_FILE} (shared/ must '
                    'sit next to the repository checkout)')
    return OFFICIAL_FILE


def write_video(path: Path, frames: int, size: tuple[int, int] = (24, 32),
                seed: int = 0) -> Path:
    """A small random H.264 video (height, width = ``size``)."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), 'w') as out:
        stream = out.add_stream('libx264', rate=8)
        stream.height, stream.width = size
        stream.pix_fmt = 'yuv420p'
        for _ in range(frames):
            image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format='rgb24')))
        out.mux(stream.encode())
    return path


def write_train_workdir(workdir: Path, steps: tuple[int, ...] = (1, 3)) -> dict:
    """A training workdir as ``train/loop.py`` leaves it (state item of each step, config.json).

    The state has exactly the pytree of ``init_boxed_state`` (unboxed), filled
    with random NumPy values instead of running the init (op-by-op
    compilation of the init takes ~20 s on 2 cores). The target encoder
    differs from the online encoder and between steps, so tests can tell which
    one was loaded. Returns ``{step: state}``.
    """
    cfg = model_config(**TINY_MODEL)
    encoder, predictor = build_jepa_models(cfg)
    abstract = jax.eval_shape(lambda: nn.meta.unbox(init_boxed_state(encoder, predictor, 0)))
    rng = np.random.default_rng(0)

    def fill(path, leaf):
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            return np.zeros(leaf.shape, leaf.dtype)
        noise = rng.standard_normal(leaf.shape)
        is_scale = getattr(path[-1], 'key', '') == 'scale'  # LayerNorm gains near 1
        return (1.0 + 0.1 * noise if is_scale else 0.05 * noise).astype(leaf.dtype)

    state = jax.tree_util.tree_map_with_path(fill, abstract)
    states = {}
    ckptr = ocp.StandardCheckpointer()
    for step in steps:
        target = jax.tree_util.tree_map(lambda x, s=step: x + np.float32(0.01 * s),
                                        state.target_encoder)
        st = state.replace(step=np.asarray(step, np.int32), target_encoder=target)
        ckptr.save(workdir / 'checkpoints' / str(step) / checkpointing.STATE_ITEM, st)
        states[step] = st
    ckptr.wait_until_finished()
    (workdir / 'config.json').write_text(json.dumps({'model': cfg.to_dict(), 'seed': 0}))
    return states


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp('run')
    return root, write_train_workdir(root)


def _assert_tree_equal(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_training_workdir_latest_step_and_which(workdir):
    root, states = workdir
    encoder, params = load_encoder(root)
    assert isinstance(encoder, VisionTransformer)
    assert (encoder.embed_dim, encoder.depth, encoder.grid) == (20, 2, (2, 3, 3))
    _assert_tree_equal(params, states[3].target_encoder)   # latest step, EMA encoder
    assert all(isinstance(x, np.ndarray) for x in jax.tree_util.tree_leaves(params))
    _, online = load_encoder(root, 'encoder')
    _assert_tree_equal(online, states[3].params['encoder'])
    _, alias = load_encoder(root, 'params/encoder')
    _assert_tree_equal(alias, online)
    # A given step, its state folder and the checkpoints folder.
    _, step1 = load_encoder(root / 'checkpoints' / '1')
    _assert_tree_equal(step1, states[1].target_encoder)
    _, step1_state = load_encoder(root / 'checkpoints' / '1' / 'state')
    _assert_tree_equal(step1_state, step1)
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
    _assert_tree_equal(loaded, params)
    _assert_tree_equal(load_encoder(directory, 'encoder')[1], online)


def test_official_file():
    path = official_file()
    encoder, params = load_encoder(path, num_heads=4)
    model = load_pretrained(path, num_heads=4)
    assert encoder == model.encoder and encoder.embed_dim == 104
    _assert_tree_equal(params, model.params['target_encoder'])
    _assert_tree_equal(load_encoder(path, 'encoder', num_heads=4)[1], model.params['encoder'])


def test_errors_say_what_is_wrong(workdir, tmp_path):
    root, _ = workdir
    with pytest.raises(FileNotFoundError, match='No checkpoint'):
        load_encoder(tmp_path / 'missing')
    (tmp_path / 'plain').mkdir()
    with pytest.raises(EncoderLoadError, match='neither a model checkpoint'):
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
