"""The probed encoder (``config.encoder``): which checkpoint, which encoder in it, which dtype.

``load_frozen_encoder(FrozenEncoderConfig(...), seed)`` gives the module and
its params from any checkpoint kind (``vjepa_jax.load``), or the
same architecture freshly initialised (``random_init``, the baseline).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from vjepa_jax.convert import vjepa2_formats
from vjepa_jax.errors import ConfigError
from vjepa_jax.loading import load
from vjepa_jax.loading.vjepa2_files import OPTIONS as VJEPA2_OPTIONS
from vjepa_jax.models.builder import DTYPES
from vjepa_jax.models.vjepa2.encoder import out_layers_problem

ENCODER_DTYPES = ('auto', *DTYPES)
WHICH = ('target_encoder', 'encoder')


@dataclasses.dataclass(frozen=True)
class FrozenEncoderConfig:
    """The frozen encoder of a probe job.

    ``checkpoint``: an official ``.pth.tar``, an official V-JEPA 2 pretraining
    ``.pt``, a Hugging Face V-JEPA 2 directory, a converted model directory or a
    pretraining workdir (must be given). ``which``: the EMA target encoder or
    the online encoder. ``dtype``: ``'auto'`` is bfloat16 on accelerators and
    float32 on CPU. ``random_init``: the same architecture freshly initialised.
    ``num_heads`` / ``num_frames``: official ``.pth.tar`` / ``.pt`` files only
    (they store no config): the head count (None: the official one for the
    width) and the clip length the model was built for. ``out_layers``: V-JEPA
    2 encoders only: the features are these blocks' outputs, each through the
    final norm, concatenated along tokens (the official multilevel probes, e.g.
    ``(17, 19, 21, 23)`` for ViT-L; negative: from the last); None: the last
    block's.
    """

    checkpoint: str | None = None
    which: str = 'target_encoder'
    dtype: str = 'auto'
    random_init: bool = False
    num_heads: int | None = None
    num_frames: int = 16
    out_layers: tuple[int, ...] | None = None

    def problems(self) -> list[str]:
        out = []
        if not self.checkpoint:
            out.append('checkpoint is not set: give an official .pth.tar, a converted model '
                       'directory or a pretraining workdir.')
        if self.which not in WHICH:
            out.append(f'which {self.which!r} is not one of {list(WHICH)}.')
        if self.dtype not in ENCODER_DTYPES:
            out.append(f'dtype {self.dtype!r} is not one of {list(ENCODER_DTYPES)}.')
        if self.num_heads is not None and self.num_heads < 1:
            out.append(f'num_heads must be >= 1 (or None: official), got {self.num_heads}.')
        if self.num_frames < 1:
            out.append(f'num_frames must be >= 1, got {self.num_frames}.')
        if self.out_layers is not None and not self.out_layers:
            out.append('out_layers is empty: list block indices, or None for the last block.')
        return out

    @property
    def compute_dtype(self) -> str:
        """``'auto'`` -> bfloat16 on accelerators, float32 on CPU; other names unchanged."""
        if self.dtype == 'auto':
            return 'float32' if jax.default_backend() == 'cpu' else 'bfloat16'
        return self.dtype


def random_encoder_params(encoder: nn.Module, seed: int) -> dict[str, Any]:
    """Freshly initialised params of ``encoder`` (its own init, as for pretraining)."""
    dummy = np.zeros((1, encoder.num_frames, encoder.img_size, encoder.img_size, 3), np.float32)
    params = jax.jit(encoder.init)(jax.random.key(seed), dummy)['params']
    return jax.tree_util.tree_map(np.asarray, nn.meta.unbox(params))


def load_frozen_encoder(config: FrozenEncoderConfig,
                        seed: int = 0) -> tuple[nn.Module, dict[str, Any]]:
    """``(encoder, params)`` of ``config`` (host NumPy params; random ones for ``random_init``)."""
    import_kwargs: dict[str, Any] = {'num_frames': config.num_frames}  # resolution: the table
    if config.num_heads is not None:
        import_kwargs['num_heads'] = config.num_heads
    fmt = vjepa2_formats.detect_format(config.checkpoint)
    if fmt is not None:  # a V-JEPA 2 format takes only its own options (HF dirs: none of these)
        import_kwargs = {k: v for k, v in import_kwargs.items() if k in VJEPA2_OPTIONS[fmt.name]}
    loaded = load(config.checkpoint, which=config.which, dtype=config.compute_dtype,
                  **import_kwargs)
    encoder, params = loaded.encoder, loaded.encoder_params
    if config.out_layers is not None:
        if loaded.family != 'vjepa2':
            raise ConfigError(f'encoder.out_layers is for V-JEPA 2 encoders; {config.checkpoint} '
                              'holds a V-JEPA 1 encoder (set encoder.out_layers = None).')
        problem = out_layers_problem(config.out_layers, encoder.depth, 'encoder.out_layers')
        if problem:
            raise ConfigError(problem)
        encoder = encoder.clone(out_layers=tuple(int(i) for i in config.out_layers))
    if config.random_init:
        params = random_encoder_params(encoder, seed)
    return encoder, params
