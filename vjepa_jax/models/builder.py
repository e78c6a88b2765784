"""Encoder + predictor pair from a model config (the ``config.model`` of an experiment)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import ml_collections

from vjepa_jax.config_lib import decode_variant
from vjepa_jax.models.predictor import Predictor
from vjepa_jax.models.vit import VisionTransformer

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16, 'float16': jnp.float16}


def model_config(**overrides: Any) -> ml_collections.ConfigDict:
    """Default pretraining model config (official ViT-L/16, predictor 384 x 12).

    ``dtype`` is the compute dtype (params stay float32); ``predictor.num_heads``
    None means the encoder's head count, as the official ``init_video_model``.
    """
    cfg = ml_collections.ConfigDict({
        'variant': 'L/16',
        'num_frames': 16,
        'crop_size': 224,
        'tubelet_size': 2,
        'uniform_power': True,
        'dtype': 'float32',
        'scan_layers': False,
        'remat_policy': 'none',
        'attention_impl': '',
        'predictor': {
            'embed_dim': 384,
            'depth': 12,
            'num_heads': 0,
            'mlp_ratio': 4.0,
            'num_mask_tokens': 2,
            'zero_init_mask_tokens': True,
        },
    })
    cfg.update(overrides)
    return cfg


def compute_dtype(name: str) -> Any:
    if name not in DTYPES:
        raise ValueError(f'model.dtype {name!r} is not one of {sorted(DTYPES)}.')
    return DTYPES[name]


def build_jepa_models(cfg: Mapping[str, Any]) -> tuple[VisionTransformer, Predictor]:
    """Encoder and predictor modules for ``cfg`` (see ``model_config``).

    Errors name the field to fix when the clip does not split into tubelets.
    """
    variant = decode_variant(cfg['variant'])
    patch, crop, frames = variant.patch_size, int(cfg['crop_size']), int(cfg['num_frames'])
    tubelet = int(cfg['tubelet_size'])
    if crop % patch:
        raise ValueError(f'model.crop_size {crop} is not divisible by the patch size {patch} '
                         f'of variant {cfg["variant"]!r}.')
    if frames % tubelet:
        raise ValueError(f'model.num_frames {frames} is not divisible by model.tubelet_size '
                         f'{tubelet}.')
    dtype = compute_dtype(cfg['dtype'])
    shared = {
        'img_size': crop, 'num_frames': frames, 'patch_size': patch, 'tubelet_size': tubelet,
        'uniform_power': bool(cfg['uniform_power']), 'dtype': dtype,
        'scan_layers': bool(cfg['scan_layers']), 'remat_policy': cfg['remat_policy'],
        'attention_impl': cfg['attention_impl'] or None,
    }
    encoder = VisionTransformer(embed_dim=variant.embed_dim, depth=variant.depth,
                                num_heads=variant.num_heads, mlp_dim=variant.mlp_dim, **shared)
    pred = cfg['predictor']
    width = int(pred['embed_dim'])
    heads = int(pred['num_heads']) or variant.num_heads
    if width % heads:
        raise ValueError(f'model.predictor.embed_dim {width} is not divisible by {heads} heads '
                         '(set model.predictor.num_heads).')
    predictor = Predictor(embed_dim=variant.embed_dim, predictor_embed_dim=width,
                          depth=int(pred['depth']), num_heads=heads,
                          mlp_dim=int(width * float(pred['mlp_ratio'])),
                          num_mask_tokens=int(pred['num_mask_tokens']),
                          zero_init_mask_tokens=bool(pred['zero_init_mask_tokens']), **shared)
    return encoder, predictor
