"""Model configs inferred from official state dicts (tensors first, flags second).

Widths, depths, MLP sizes, patch / tubelet sizes, predictor width, mask-token
count, classifier depth / classes and ``uniform_power`` come from tensor
shapes and the stored sin-cos tables; what tensors cannot tell (heads for a
non-official width, the frame count) comes from arguments with official
defaults.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from vjepa_jax.config_lib import OFFICIAL_HEADS_BY_WIDTH
from vjepa_jax.errors import CheckpointError
from vjepa_jax.models import pos_embed
from vjepa_jax.models.predictor import Predictor
from vjepa_jax.models.vit import VisionTransformer

_XBLOCK = 'pooler.cross_attention_block.'


class ConversionError(CheckpointError):
    """A checkpoint does not match the model: lists every problem at once."""



def count_blocks(keys, pattern: str) -> int:
    """Number of blocks ``pattern`` (group 1 = the index) finds in ``keys``; indices must be 0..n-1."""
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    if found and found != set(range(len(found))):
        raise ConversionError(f'Block indices matching {pattern!r} are not contiguous: '
                              f'{sorted(found)}.')
    return len(found)


def _heads_for(width: int, num_heads: int | None, what: str) -> int:
    if num_heads is not None:
        if width % num_heads:
            raise ConversionError(f'{what}: width {width} is not divisible by num_heads={num_heads}.')
        return num_heads
    if width in OFFICIAL_HEADS_BY_WIDTH:
        return OFFICIAL_HEADS_BY_WIDTH[width]
    raise ConversionError(
        f'{what}: width {width} is not an official size, so the number of attention '
        'heads cannot be inferred from the tensors; pass num_heads (CLI: --num-heads).')


def _grid_from_table(num_tokens: int, tubelet: int, patch: int, num_frames: int,
                     img_size: int | None) -> tuple[int, int]:
    """(num_frames, img_size) consistent with a table of ``num_tokens`` rows."""
    grid_t = num_frames // tubelet
    if num_frames % tubelet or num_tokens % max(grid_t, 1):
        raise ConversionError(f'pos_embed has {num_tokens} tokens, which does not fit '
                              f'num_frames={num_frames} with tubelet {tubelet}; pass the '
                              'right --num-frames.')
    side = math.isqrt(num_tokens // grid_t)
    if side * side * grid_t != num_tokens:
        raise ConversionError(f'pos_embed has {num_tokens} tokens: not {grid_t} frames of a '
                              'square grid; pass the right --num-frames.')
    if img_size is not None and img_size // patch != side:
        raise ConversionError(f'pos_embed has {num_tokens} tokens = {grid_t} x {side} x {side}, '
                              f'but img_size={img_size} with patch {patch} gives '
                              f'{img_size // patch} x {img_size // patch}; fix --img-size or '
                              '--num-frames.')
    return num_frames, side * patch


def _uniform_power_from_table(table: np.ndarray, dim: int, grid: tuple[int, int, int],
                              what: str) -> bool:
    table = table.reshape(-1, dim)
    for uniform_power in (True, False):
        try:
            ref = pos_embed.video_table(dim, grid, uniform_power)
        except ValueError:
            continue
        if ref.shape == table.shape and np.max(np.abs(ref - table)) < 1e-4:
            return uniform_power
    raise ConversionError(f'{what}: the stored position table is not the 3D sin-cos table of '
                          f'a {grid} token grid (with or without uniform_power); check '
                          '--num-frames / --img-size.')


def encoder_config(sd: Mapping[str, np.ndarray], num_heads: int | None = None,
                   img_size: int | None = None, num_frames: int = 16) -> dict[str, Any]:
    """Encoder config inferred from an un-prefixed official encoder state dict."""
    for key in ('patch_embed.proj.weight', 'pos_embed', 'blocks.0.mlp.fc1.weight'):
        if key not in sd:
            raise ConversionError(f'encoder state dict has no {key!r}: not an official '
                                  f'V-JEPA video encoder (keys: {sorted(sd)[:8]} ...).')
    width, _, tubelet, patch, _ = sd['patch_embed.proj.weight'].shape
    num_frames, img_size = _grid_from_table(sd['pos_embed'].shape[-2], tubelet, patch,
                                            num_frames, img_size)
    cfg = {'img_size': img_size, 'num_frames': num_frames, 'patch_size': int(patch),
               'tubelet_size': int(tubelet), 'embed_dim': int(width),
               'depth': count_blocks(sd, r'blocks\.(\d+)\.'),
               'num_heads': _heads_for(int(width), num_heads, 'encoder'),
               'mlp_dim': int(sd['blocks.0.mlp.fc1.weight'].shape[0])}
    grid = VisionTransformer(**cfg).grid
    cfg['uniform_power'] = _uniform_power_from_table(sd['pos_embed'], cfg['embed_dim'], grid,
                                                     'encoder')
    return cfg


def predictor_config(sd: Mapping[str, np.ndarray], encoder: Mapping[str, Any],
                     num_heads: int | None = None) -> dict[str, Any]:
    """Predictor config from its un-prefixed state dict and the encoder's config."""
    for key in ('predictor_embed.weight', 'predictor_pos_embed', 'mask_tokens.0'):
        if key not in sd:
            raise ConversionError(f'predictor state dict has no {key!r}: not an official '
                                  'V-JEPA predictor with mask tokens.')
    pdim = int(sd['predictor_embed.weight'].shape[0])
    cfg = {'img_size': encoder['img_size'], 'num_frames': encoder['num_frames'],
               'patch_size': encoder['patch_size'], 'tubelet_size': encoder['tubelet_size'],
               'embed_dim': encoder['embed_dim'], 'predictor_embed_dim': pdim,
               'depth': count_blocks(sd, r'predictor_blocks\.(\d+)\.'),
               'num_heads': num_heads or encoder['num_heads'],
               'mlp_dim': int(sd['predictor_blocks.0.mlp.fc1.weight'].shape[0])
               if 'predictor_blocks.0.mlp.fc1.weight' in sd else 4 * pdim,
               'num_mask_tokens': count_blocks(sd, r'mask_tokens\.(\d+)$')}
    if pdim % cfg['num_heads']:
        raise ConversionError(f'predictor width {pdim} is not divisible by '
                              f'{cfg["num_heads"]} heads; pass --predictor-num-heads.')
    grid = Predictor(**cfg).grid
    cfg['uniform_power'] = _uniform_power_from_table(sd['predictor_pos_embed'], pdim, grid,
                                                     'predictor')
    return cfg


def classifier_config(sd: Mapping[str, np.ndarray], num_heads: int | None = None) -> dict[str, Any]:
    """Attentive-classifier config from its un-prefixed official state dict."""
    for key in ('pooler.query_tokens', _XBLOCK + 'mlp.fc1.weight', 'linear.weight'):
        if key not in sd:
            raise ConversionError(f'classifier state dict has no {key!r}: not an official '
                                  'V-JEPA attentive classifier.')
    width = int(sd['pooler.query_tokens'].shape[-1])
    if sd['pooler.query_tokens'].shape[1] != 1:
        raise ConversionError('the classifier has more than one query token; the official '
                              'AttentiveClassifier uses exactly one.')
    return {'num_classes': int(sd['linear.weight'].shape[0]),
                'num_heads': _heads_for(width, num_heads, 'classifier'),
                'mlp_dim': int(sd[_XBLOCK + 'mlp.fc1.weight'].shape[0]),
                'depth': 1 + count_blocks(sd, r'pooler\.blocks\.(\d+)\.')}
