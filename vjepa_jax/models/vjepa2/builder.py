"""V-JEPA 2 encoder + predictor pair from a model config (``family: 'vjepa2'``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ml_collections

from vjepa_jax.errors import ConfigError
from vjepa_jax.models.builder import clip_split_problems, compute_dtype
from vjepa_jax.models.vjepa2.encoder import VJEPA2Encoder
from vjepa_jax.models.vjepa2.predictor import VJEPA2Predictor
from vjepa_jax.models.vjepa2.sizes import FAMILY, PREDICTOR, decode_vjepa2_variant


def vjepa2_model_config(**overrides: Any) -> ml_collections.ConfigDict:
    """Default V-JEPA 2 pretraining model config (official ViT-L/16 at 256 px, 16 frames,
    predictor 384 x 12 with 12 heads, 2 mask sets x 1 frames-per-clip group of mask tokens).

    ``num_frames`` is the largest frames-per-clip group: the predictor's RoPE grid.
    """
    cfg = ml_collections.ConfigDict({
        'family': FAMILY,
        'variant': 'L/16',
        'num_frames': 16,
        'crop_size': 256,
        'tubelet_size': 2,
        'rope_interleave': False,
        'dtype': 'float32',
        'scan_layers': False,
        'remat_policy': 'none',
        'attention_impl': '',
        'predictor': {
            'embed_dim': PREDICTOR['embed_dim'],
            'depth': PREDICTOR['depth'],
            'num_heads': PREDICTOR['num_heads'],
            'mlp_ratio': 4.0,
            'num_mask_tokens': 2,
            'zero_init_mask_tokens': True,
        },
    })
    cfg.update(overrides)
    return cfg


def build_vjepa2_models(cfg: Mapping[str, Any]) -> tuple[VJEPA2Encoder, VJEPA2Predictor]:
    """Encoder and predictor modules for ``cfg`` (see ``vjepa2_model_config``)."""
    if cfg.get('family', FAMILY) != FAMILY:
        raise ConfigError(f'model.family is {cfg["family"]!r}; build_vjepa2_models builds '
                          f'{FAMILY!r} models.')
    variant = decode_vjepa2_variant(cfg['variant'])
    patch, crop, frames = variant.patch_size, int(cfg['crop_size']), int(cfg['num_frames'])
    tubelet = int(cfg['tubelet_size'])
    problems = clip_split_problems(cfg['variant'], patch, crop, frames, tubelet)
    if problems:
        raise ConfigError(' '.join(problems))
    shared = {
        'img_size': crop, 'num_frames': frames, 'patch_size': patch, 'tubelet_size': tubelet,
        'rope_interleave': bool(cfg['rope_interleave']), 'dtype': compute_dtype(cfg['dtype']),
        'scan_layers': bool(cfg['scan_layers']), 'remat_policy': cfg['remat_policy'],
        'attention_impl': cfg['attention_impl'] or None,
    }
    encoder = VJEPA2Encoder(embed_dim=variant.embed_dim, depth=variant.depth,
                            num_heads=variant.num_heads, mlp_dim=variant.mlp_dim, **shared)
    pred = cfg['predictor']
    width, heads = int(pred['embed_dim']), int(pred['num_heads'])
    if heads <= 0 or width % heads:
        raise ConfigError(f'model.predictor.embed_dim {width} is not divisible by '
                          f'model.predictor.num_heads {heads}.')
    predictor = VJEPA2Predictor(embed_dim=variant.embed_dim, predictor_embed_dim=width,
                                depth=int(pred['depth']), num_heads=heads,
                                mlp_dim=int(width * float(pred['mlp_ratio'])),
                                num_mask_tokens=int(pred['num_mask_tokens']),
                                zero_init_mask_tokens=bool(pred['zero_init_mask_tokens']),
                                **shared)
    return encoder, predictor
