"""V-JEPA 2 encoder + predictor pair: ``models.builder.ModelConfig`` with ``family='vjepa2'``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ml_collections

from vjepa_jax.config_sections import SectionError, build_section, config_section
from vjepa_jax.errors import ConfigError
from vjepa_jax.models.builder import ModelConfig
from vjepa_jax.models.vjepa2.encoder import VJEPA2Encoder
from vjepa_jax.models.vjepa2.predictor import VJEPA2Predictor
from vjepa_jax.models.vjepa2.sizes import FAMILY, PREDICTOR


def vjepa2_model_config(**overrides: Any) -> ml_collections.ConfigDict:
    """The ``model`` section of the official V-JEPA 2 ViT-L/16 recipe (256 px, 16 frames,
    predictor 384 x 12 with 12 heads, 2 mask sets x 1 frames-per-clip group of mask
    tokens), with ``overrides``.

    ``num_frames`` is the largest frames-per-clip group: the predictor's RoPE grid.
    """
    predictor = {'embed_dim': PREDICTOR['embed_dim'], 'depth': PREDICTOR['depth'],
                 'num_heads': PREDICTOR['num_heads'], 'num_mask_tokens': 2}
    predictor.update(overrides.pop('predictor', None) or {})
    values = {'family': FAMILY, 'crop_size': 256, 'predictor': predictor, **overrides}
    return config_section(ModelConfig, **values)


def build_vjepa2_models(cfg: Mapping[str, Any]) -> tuple[VJEPA2Encoder, VJEPA2Predictor]:
    """Encoder and predictor modules for a V-JEPA 2 ``model`` section (``vjepa2_model_config``)."""
    values = cfg.to_dict() if isinstance(cfg, ml_collections.ConfigDict) else dict(cfg)
    family = values.setdefault('family', FAMILY)
    if family != FAMILY:
        raise ConfigError(f'model.family is {family!r}; build_vjepa2_models builds '
                          f'{FAMILY!r} models.')
    model, problems = build_section(ModelConfig, 'model', values)
    if problems:
        raise SectionError(problems)
    return model.build()
