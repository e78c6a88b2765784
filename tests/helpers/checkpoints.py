"""Checkpoints for the loading tests: a tiny training workdir, small videos, the official file.

Shared by the loading, extraction, visualisation and probe tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.helpers.paths import OFFICIAL_SMALL
from vjepa_jax import checkpointing
from vjepa_jax.models.builder import build_jepa_models, model_config
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


def assert_tree_equal(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
