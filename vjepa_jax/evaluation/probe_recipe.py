"""What is trained: the probe head (``config.probe``) and the grid's optimiser (``config.optimizer``).

Official recipe (``evals/video_classification_frozen/eval.py`` and the
``configs/evals/vit*_k400_16x8x3.yaml`` / ``*_ssv2_16x2x3.yaml`` files):

* probe: ``AttentiveClassifier`` with the encoder's width and heads, depth 1,
  MLP ratio 4, on the target encoder's tokens (frozen, no gradient);
* AdamW (torch defaults: betas 0.9 / 0.999, eps 1e-8) with the official
  groups (no decay on biases and 1-D params); lr 1e-3 (``start_lr`` 1e-3, no
  warmup) cosine to ``final_lr`` 0 over ``num_epochs * iterations_per_epoch``
  updates (no ``ipe_scale``); weight decay 0.01 cosine to 1e-6 (``init_opt``'s
  default ``final_wd``, which the eval never overrides); both schedulers step
  once before each update; gradient norm clipped to 1.0 every step;
* 20 epochs, batch 4 per GPU on 64 GPUs (global 256).

The grid: one probe per ``(lr, weight_decay)`` of ``lrs x weight_decays``, all
trained on the same frozen features (``probe_state``, ``probe_steps``).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import jax.numpy as jnp

from vjepa_jax.errors import ConfigError
from vjepa_jax.models.attentive_probe import AttentiveClassifier
from vjepa_jax.models.builder import DTYPES
from vjepa_jax.models.vjepa2 import VJEPA2AttentiveClassifier
from vjepa_jax.train.schedules import Schedules

OFFICIAL_MLP_RATIO = 4
PROBE_KINDS = ('vjepa1', 'vjepa2')
VJEPA2_PROBE_HEADS = 16  # every official V-JEPA 2 probe, whatever the encoder


@dataclasses.dataclass(frozen=True)
class ProbeHeadConfig:
    """The attentive probe (``config.probe``); ``dtype`` None = the encoder's.

    ``kind``: ``'vjepa1'``, V-JEPA 1's probe (``depth`` query cross-attention
    blocks, the encoder's head count), or ``'vjepa2'``, V-JEPA 2's
    (``depth - 1`` self-attention blocks on the tokens, then the query's
    cross-attention; 16 heads, independent of the encoder's; official depth 4).
    ``num_heads`` None: that default.
    """

    depth: int = 1
    dtype: str | None = None
    kind: str = 'vjepa1'
    num_heads: int | None = None

    def problems(self) -> list[str]:
        out = [] if self.depth >= 1 else [f'depth must be >= 1, got {self.depth}.']
        if self.kind not in PROBE_KINDS:
            out.append(f'kind {self.kind!r} is not one of {list(PROBE_KINDS)}.')
        if self.num_heads is not None and self.num_heads < 1:
            out.append(f'num_heads must be >= 1 (or None: the default), got {self.num_heads}.')
        if self.dtype is not None and self.dtype not in DTYPES:
            out.append(f'dtype {self.dtype!r} is not one of {list(DTYPES)} (or None: the '
                       "encoder's).")
        return out


def make_probe(num_classes: int, embed_dim: int, num_heads: int, depth: int = 1,
               dtype: Any = jnp.float32, kind: str = 'vjepa1'
               ) -> AttentiveClassifier | VJEPA2AttentiveClassifier:
    """The official video probe of ``kind``: one query, MLP ``4 * embed_dim``; float32 params."""
    cls = {'vjepa1': AttentiveClassifier, 'vjepa2': VJEPA2AttentiveClassifier}.get(kind)
    if cls is None:
        raise ConfigError(f'probe.kind {kind!r} is not one of {list(PROBE_KINDS)}.')
    return cls(num_classes=num_classes, num_heads=num_heads,
               mlp_dim=OFFICIAL_MLP_RATIO * embed_dim, depth=depth, dtype=dtype)


def probe_for(head: ProbeHeadConfig, num_classes: int, encoder: Any
              ) -> AttentiveClassifier | VJEPA2AttentiveClassifier:
    """The probe module ``head`` describes on ``encoder``'s tokens (width, heads, dtype)."""
    dtype = jnp.dtype(head.dtype) if head.dtype else encoder.dtype
    heads = head.num_heads or (encoder.num_heads if head.kind == 'vjepa1'
                               else VJEPA2_PROBE_HEADS)
    if encoder.embed_dim % heads:
        raise ConfigError(f'probe.num_heads {heads} does not divide the encoder width '
                          f'{encoder.embed_dim}; set probe.num_heads to a divisor.')
    return make_probe(num_classes, encoder.embed_dim, heads, head.depth, dtype, head.kind)


@dataclasses.dataclass(frozen=True)
class ProbeOptimizerConfig:
    """The grid's AdamW recipe (``config.optimizer``); defaults: official K400 / SSv2 ViT-L.

    Each probe's start lr is ``start_lr_factor * lr`` (official ``start_lr == lr``);
    ``clip_grad`` None: no clipping.
    """

    num_epochs: float = 20.0
    lrs: tuple[float, ...] = (1e-3,)
    weight_decays: tuple[float, ...] = (0.01,)
    start_lr_factor: float = 1.0
    final_lr: float = 0.0
    final_weight_decay: float | None = 1e-6  # None: constant, each probe's own weight decay
    warmup_epochs: float = 0.0
    clip_grad: float | None = 1.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    @property
    def grid(self) -> tuple[tuple[float, float], ...]:
        """``(lr, weight_decay)`` of every probe, lr-major."""
        return tuple(itertools.product(self.lrs, self.weight_decays))

    def problems(self) -> list[str]:
        out = []
        if not self.lrs or not self.weight_decays:
            out.append('lrs and weight_decays need at least one value each (the probe grid '
                       'is their product).')
        if self.num_epochs <= 0:
            out.append(f'num_epochs must be > 0, got {self.num_epochs}.')
        if not 0 <= self.warmup_epochs <= max(self.num_epochs, 0):
            out.append(f'warmup_epochs {self.warmup_epochs} must be in [0, num_epochs].')
        if self.clip_grad is not None and self.clip_grad <= 0:
            out.append(f'clip_grad must be > 0 (or None: no clipping), got {self.clip_grad}.')
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            out.append(f'betas {self.betas!r}: give two values in [0, 1).')
        if self.eps <= 0:
            out.append(f'eps must be > 0, got {self.eps}.')
        return out

    def schedules(self, steps_per_epoch: int) -> tuple[Schedules, ...]:
        """Every probe's lr and weight-decay schedules over ``num_epochs * steps_per_epoch``."""
        if not self.grid:
            raise ConfigError('The probe grid is empty: give at least one lr and weight decay.')
        return tuple(
            Schedules(steps_per_epoch=steps_per_epoch, num_epochs=self.num_epochs,
                      warmup_epochs=self.warmup_epochs, start_lr=self.start_lr_factor * lr,
                      lr=lr, final_lr=self.final_lr, weight_decay=wd,
                      final_weight_decay=(wd if self.final_weight_decay is None
                                          else self.final_weight_decay), ipe_scale=1.0,
                      clip_grad=None)
            for lr, wd in self.grid)
