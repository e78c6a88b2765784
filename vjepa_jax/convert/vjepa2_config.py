"""V-JEPA 2 model configs inferred from official state dicts (tensors first, options second).

Widths, depths, MLP sizes, patch / tubelet sizes, predictor width, mask-token
count and classifier depth / classes come from tensor shapes. RoPE models hold
no position table, so the construction clip (``img_size``, ``num_frames``:
what the predictor's positions are computed on) and head counts for
non-official widths come from options, with the official defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vjepa_jax.convert.official_config import ConversionError, count_blocks
from vjepa_jax.models.vjepa2.sizes import (
    ENCODER_HEADS_BY_WIDTH,
    PREDICTOR_HEADS_BY_WIDTH,
)

PROBE_HEADS = 16  # every official V-JEPA 2 probe config, whatever the encoder


def _heads(width: int, num_heads: int | None, table: Mapping[int, int], what: str,
           option: str) -> int:
    heads = num_heads if num_heads is not None else table.get(width)
    if heads is None:
        raise ConversionError(f'{what}: width {width} is not an official V-JEPA 2 size, so the '
                              'number of attention heads cannot be inferred from the tensors; '
                              f'pass {option}.')
    if width % heads:
        raise ConversionError(f'{what}: width {width} is not divisible by {heads} heads; '
                              f'pass the right {option}.')
    return int(heads)


def _need(sd: Mapping[str, np.ndarray], keys: tuple[str, ...], what: str) -> None:
    for key in keys:
        if key not in sd:
            raise ConversionError(f'{what} state dict has no {key!r}: not an official V-JEPA 2 '
                                  f'{what} (keys: {sorted(sd)[:8]} ...).')


def encoder_config(sd: Mapping[str, np.ndarray], num_heads: int | None = None,
                   img_size: int = 256, num_frames: int = 16) -> dict[str, Any]:
    """Keyword arguments of ``VJEPA2Encoder`` from an un-prefixed official encoder state dict."""
    _need(sd, ('patch_embed.proj.weight', 'blocks.0.mlp.fc1.weight'), 'encoder')
    width, _, tubelet, patch, _ = (int(n) for n in sd['patch_embed.proj.weight'].shape)
    return {'img_size': int(img_size), 'num_frames': int(num_frames), 'patch_size': patch,
            'tubelet_size': tubelet, 'embed_dim': width,
            'depth': count_blocks(sd, r'blocks\.(\d+)\.'),
            'num_heads': _heads(width, num_heads, ENCODER_HEADS_BY_WIDTH, 'encoder',
                                'num_heads'),
            'mlp_dim': int(sd['blocks.0.mlp.fc1.weight'].shape[0])}


def predictor_config(sd: Mapping[str, np.ndarray], encoder: Mapping[str, Any],
                     num_heads: int | None = None) -> dict[str, Any]:
    """Keyword arguments of ``VJEPA2Predictor`` from its state dict and the encoder's config."""
    _need(sd, ('predictor_embed.weight', 'mask_tokens.0', 'predictor_blocks.0.mlp.fc1.weight'),
          'predictor')
    pdim = int(sd['predictor_embed.weight'].shape[0])
    return {'img_size': encoder['img_size'], 'num_frames': encoder['num_frames'],
            'patch_size': encoder['patch_size'], 'tubelet_size': encoder['tubelet_size'],
            'embed_dim': encoder['embed_dim'], 'predictor_embed_dim': pdim,
            'depth': count_blocks(sd, r'predictor_blocks\.(\d+)\.'),
            'num_heads': _heads(pdim, num_heads, PREDICTOR_HEADS_BY_WIDTH, 'predictor',
                                'predictor_num_heads'),
            'mlp_dim': int(sd['predictor_blocks.0.mlp.fc1.weight'].shape[0]),
            'num_mask_tokens': count_blocks(sd, r'mask_tokens\.(\d+)$')}


def classifier_config(sd: Mapping[str, np.ndarray],
                      num_heads: int = PROBE_HEADS) -> dict[str, Any]:
    """Keyword arguments of ``VJEPA2AttentiveClassifier`` from one un-prefixed probe state dict.

    ``num_heads`` is not in the tensors; every official probe uses 16.
    """
    _need(sd, ('pooler.query_tokens', 'pooler.cross_attention_block.mlp.fc1.weight',
               'linear.weight'), 'classifier')
    width = int(sd['pooler.query_tokens'].shape[-1])
    if sd['pooler.query_tokens'].shape[1] != 1:
        raise ConversionError('the classifier has more than one query token; the official '
                              'AttentiveClassifier uses exactly one.')
    return {'num_classes': int(sd['linear.weight'].shape[0]),
            'num_heads': _heads(width, num_heads, {}, 'classifier', 'num_heads'),
            'mlp_dim': int(sd['pooler.cross_attention_block.mlp.fc1.weight'].shape[0]),
            'depth': 1 + count_blocks(sd, r'pooler\.blocks\.(\d+)\.')}
