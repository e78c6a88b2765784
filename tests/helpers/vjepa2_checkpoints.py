"""Tiny random V-JEPA 2 checkpoints written by our writers, for the loading / convert / probe tests.

Shared by vjepa2/test_vjepa2_loading.py, vjepa2/test_vjepa2_convert_cli.py and
experiments/test_probe_runlocal.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax.convert import vjepa2_formats, vjepa2_hf
from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.models.vjepa2 import (
    VJEPA2AttentiveClassifier,
    VJEPA2Encoder,
    VJEPA2Predictor,
)

# Width 48 / 2 heads (head_dim 24: RoPE 3 x 8), 2 blocks, patch 16; 4 frames x 32 px -> 8 tokens.
ENCODER = {'img_size': 32, 'num_frames': 4, 'patch_size': 16, 'tubelet_size': 2,
           'embed_dim': 48, 'depth': 2, 'num_heads': 2, 'mlp_dim': 96}
PREDICTOR = {'img_size': 32, 'num_frames': 4, 'patch_size': 16, 'tubelet_size': 2,
             'embed_dim': 48, 'predictor_embed_dim': 24, 'depth': 1, 'num_heads': 2,
             'mlp_dim': 48, 'num_mask_tokens': 2}
CLASSIFIER = {'num_classes': 3, 'num_heads': 4, 'mlp_dim': 96, 'depth': 2}
# What a reader needs for non-official widths.
PT_OPTIONS = {'num_heads': 2, 'predictor_num_heads': 2, 'img_size': 32, 'num_frames': 4}


def _np(tree: Any) -> Any:
    return jax.tree.map(lambda x: np.asarray(x, np.float32), nn.unbox(tree))


def tiny_pretraining(seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config, params)`` of a random V-JEPA 2 encoder, target encoder and predictor."""
    keys = jax.random.split(jax.random.key(seed), 3)
    video = jnp.zeros((1, 4, 32, 32, 3))
    encoder = VJEPA2Encoder(**ENCODER)
    params = {'encoder': _np(encoder.init(keys[0], video)['params']),
              'target_encoder': _np(encoder.init(keys[1], video)['params'])}
    ctx, idx = jnp.zeros((1, 4, 48)), jnp.arange(4)[None]
    params['predictor'] = _np(VJEPA2Predictor(**PREDICTOR).init(keys[2], ctx, idx, idx + 4, 0)
                              ['params'])
    return {'family': 'vjepa2', 'encoder': dict(ENCODER), 'predictor': dict(PREDICTOR)}, params


def tiny_probe(seed: int = 0, heads: int = 2) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config, params)`` of ``heads`` random V-JEPA 2 probe heads on 48-wide tokens."""
    module = VJEPA2AttentiveClassifier(**CLASSIFIER)
    trees = [_np(module.init(jax.random.key(seed + i), jnp.zeros((1, 8, 48)))['params'])
             for i in range(heads)]
    return {'family': 'vjepa2', 'classifier': dict(CLASSIFIER), 'embed_dim': 48}, \
        {'classifiers': trees}


def write_pretraining_pt(path: Path, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """An official-layout V-JEPA 2 pretraining ``.pt`` at ``path``; returns ``(config, params)``."""
    config, params = tiny_pretraining(seed)
    vjepa2_formats.PRETRAINING_PT.write(path, config, params, {'epoch': 3})
    return config, params


def write_probe_pt(path: Path, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """An official-layout V-JEPA 2 probe ``.pt`` (2 heads) at ``path``."""
    config, params = tiny_probe(seed)
    vjepa2_formats.PROBE_PT.write(path, config, params, {'epoch': 1})
    return config, params


def write_hf_dir(path: Path, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Hugging Face ``VJEPA2Model`` directory (the ``encoder`` entry) at ``path``."""
    config, params = tiny_pretraining(seed)
    vjepa2_hf.write_dir(path, config, params)
    return config, params


def clips(seed: int = 0, shape: tuple[int, ...] = (2, 4, 32, 32, 3)) -> np.ndarray:
    """Random uint8 clips ``[B, T, H, W, 3]``."""
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def direct_tokens(params: dict[str, Any], video: np.ndarray) -> np.ndarray:
    """Tokens ``[B, N, D]`` of the tiny encoder called directly on uint8 clips."""
    return np.asarray(VJEPA2Encoder(**ENCODER).apply({'params': params},
                                                     normalize_video(video)))
