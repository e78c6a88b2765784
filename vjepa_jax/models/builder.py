"""Encoder + predictor pair from the ``model`` section of a pretraining config.

``ModelConfig(**config.model)`` is that section: its fields are the section's
keys, its defaults the official V-JEPA 1 ViT-L/16 with the 384 x 12 predictor,
and its ``problems()`` the checks of a model that cannot be built (unknown
family or variant, a clip that does not split into tubelets, a predictor width
its heads do not divide). ``ModelConfig.build()`` makes the two Flax modules
of the config's ``family``: ``'vjepa'`` (V-JEPA 1: ``VisionTransformer`` +
``Predictor``) or ``'vjepa2'`` (RoPE: ``VJEPA2Encoder`` + ``VJEPA2Predictor``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import ml_collections

from vjepa_jax.config_lib import FAMILIES, decode_variant
from vjepa_jax.config_sections import (
    ConfigSection,
    SectionError,
    build_section,
    config_section,
)
from vjepa_jax.models.predictor import Predictor
from vjepa_jax.models.vit import VisionTransformer

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16, 'float16': jnp.float16}


def clip_split_problems(variant: str, patch: int, crop_size: int, num_frames: int,
                        tubelet_size: int) -> list[str]:
    """Why a model's clip does not split into tubelets (``model.*`` messages); [] when it does.

    The one config-time check of the clip shape, for every model family.
    """
    problems = []
    if crop_size % patch:
        problems.append(f'model.crop_size {crop_size} is not divisible by the patch size '
                        f'{patch} of {variant!r}.')
    if num_frames % tubelet_size:
        problems.append(f'model.num_frames {num_frames} is not divisible by '
                        f'model.tubelet_size {tubelet_size}.')
    return problems



@dataclasses.dataclass(frozen=True)
class PredictorConfig(ConfigSection):
    """``model.predictor``: the narrow ViT that fills in masked tokens.

    ``num_heads`` None: the encoder's head count (official ``init_video_model``).
    """

    embed_dim: int = 384
    depth: int = 12
    num_heads: int | None = None
    mlp_ratio: float = 4.0
    num_mask_tokens: int = 2
    zero_init_mask_tokens: bool = True

    def problems(self) -> list[str]:
        problems = []
        if self.embed_dim < 1 or self.depth < 1:
            problems.append(f'model.predictor.embed_dim ({self.embed_dim}) and '
                            f'model.predictor.depth ({self.depth}) must be positive.')
        if self.num_heads is not None and self.num_heads < 1:
            problems.append(f'model.predictor.num_heads {self.num_heads}: give a positive '
                            "count, or None for the encoder's.")
        if self.num_mask_tokens < 1:
            problems.append(f'model.predictor.num_mask_tokens {self.num_mask_tokens} must be >= 1.')
        return problems


@dataclasses.dataclass(frozen=True)
class ModelConfig(ConfigSection):
    """``model``: the encoder variant, its input clip, compute dtype and layer layout.

    ``dtype`` is the compute dtype (params stay float32); ``attention_impl``
    None lets ``models.attention`` pick the backend's implementation.
    ``family`` picks the modules and the size table (``config_lib.FAMILIES``);
    ``rope_interleave`` (V-JEPA 2 only) the V-JEPA 2.1 RoPE frequency layout.
    For V-JEPA 2, ``num_frames`` is the largest frames-per-clip group: it sizes
    the predictor's RoPE grid.
    """

    family: str = 'vjepa'
    variant: str = 'L/16'
    num_frames: int = 16
    crop_size: int = 224
    tubelet_size: int = 2
    uniform_power: bool = True
    dtype: str = 'float32'
    scan_layers: bool = False
    remat_policy: str = 'none'
    attention_impl: str | None = None
    rope_interleave: bool = False
    predictor: PredictorConfig = PredictorConfig()

    def __post_init__(self) -> None:
        predictor, problems = build_section(PredictorConfig, 'model.predictor', self.predictor)
        object.__setattr__(self, 'predictor', predictor)
        problems += self.problems()
        if problems:
            raise SectionError(problems)

    def problems(self) -> list[str]:
        problems = []
        if self.family not in FAMILIES:
            return [f'model.family {self.family!r} is not one of {list(FAMILIES)}.']
        if self.rope_interleave and self.family != 'vjepa2':
            problems.append('model.rope_interleave is a V-JEPA 2 option: set model.family to '
                            "'vjepa2' or leave it False.")
        try:
            variant = decode_variant(self.variant, self.family)
        except ValueError as e:
            return problems + [f'model.variant: {e}']
        problems += clip_split_problems(self.variant, variant.patch_size, self.crop_size,
                                        self.num_frames, self.tubelet_size)
        if self.dtype not in DTYPES:
            problems.append(f'model.dtype {self.dtype!r} is not one of {sorted(DTYPES)}.')
        p = self.predictor
        if p is not None and p.embed_dim % (p.num_heads or variant.num_heads):
            problems.append(f'model.predictor.embed_dim {p.embed_dim} is not divisible by '
                            f'{p.num_heads or variant.num_heads} heads (set '
                            'model.predictor.num_heads).')
        return problems

    def build(self) -> tuple[Any, Any]:
        """The encoder and predictor modules of ``family``."""
        variant = decode_variant(self.variant, self.family)
        shared = {
            'img_size': self.crop_size, 'num_frames': self.num_frames,
            'patch_size': variant.patch_size, 'tubelet_size': self.tubelet_size,
            'uniform_power': self.uniform_power, 'dtype': DTYPES[self.dtype],
            'scan_layers': self.scan_layers, 'remat_policy': self.remat_policy,
            'attention_impl': self.attention_impl,
        }
        encoder_cls, predictor_cls = VisionTransformer, Predictor
        if self.family == 'vjepa2':
            from vjepa_jax.models.vjepa2 import VJEPA2Encoder, VJEPA2Predictor

            encoder_cls, predictor_cls = VJEPA2Encoder, VJEPA2Predictor
            del shared['uniform_power']  # no position table to shape
            shared['rope_interleave'] = self.rope_interleave
        encoder = encoder_cls(embed_dim=variant.embed_dim, depth=variant.depth,
                              num_heads=variant.num_heads, mlp_dim=variant.mlp_dim, **shared)
        p = self.predictor
        predictor = predictor_cls(embed_dim=variant.embed_dim, predictor_embed_dim=p.embed_dim,
                              depth=p.depth, num_heads=p.num_heads or variant.num_heads,
                              mlp_dim=int(p.embed_dim * p.mlp_ratio),
                              num_mask_tokens=p.num_mask_tokens,
                              zero_init_mask_tokens=p.zero_init_mask_tokens, **shared)
        return encoder, predictor


def model_config(**overrides: Any) -> ml_collections.ConfigDict:
    """The ``model`` section as a ``ConfigDict``: ``ModelConfig``'s defaults with ``overrides``."""
    return config_section(ModelConfig, **overrides)


def compute_dtype(name: str) -> Any:
    if name not in DTYPES:
        raise SectionError([f'model.dtype {name!r} is not one of {sorted(DTYPES)}.'])
    return DTYPES[name]


def build_jepa_models(cfg: Mapping[str, Any] | ModelConfig) -> tuple[Any, Any]:
    """Encoder and predictor modules for a ``model`` section (raises ``SectionError``)."""
    model, problems = build_section(ModelConfig, 'model', _current(cfg))
    if problems:
        raise SectionError(problems)
    return model.build()


def _current(cfg: Any) -> Any:
    """A model section as written by earlier versions (0 / '' meant "the default") -> None."""
    if isinstance(cfg, ModelConfig):
        return cfg
    cfg = cfg.to_dict() if isinstance(cfg, ml_collections.ConfigDict) else dict(cfg)
    if cfg.get('attention_impl') == '':
        cfg['attention_impl'] = None
    predictor = dict(cfg.get('predictor') or {})
    if predictor.get('num_heads') == 0:
        predictor['num_heads'] = None
    if 'predictor' in cfg:
        cfg['predictor'] = predictor
    return cfg
