"""Old encoder-only entry point, rebuilt on ``vjepa_jax.load``: ``load_encoder(path) -> (module, params)``.

New code calls ``vjepa_jax.load(path, which=...)`` and uses ``.encoder`` and
``.encoder_params`` (or ``.encode``).
"""

from __future__ import annotations

import os
from typing import Any

from vjepa_jax.errors import CheckpointError
from vjepa_jax.loading import load
from vjepa_jax.loading.front_door import WHICH
from vjepa_jax.loading.module_config import encoder_config
from vjepa_jax.loading.train_workdir import find_train_checkpoint
from vjepa_jax.models.vit import VisionTransformer

EncoderLoadError = CheckpointError  # old name of the error class

__all__ = ['WHICH', 'EncoderLoadError', 'encoder_config', 'find_train_checkpoint',
           'load_encoder']


def load_encoder(path: str | os.PathLike, which: str = 'target_encoder', *,
                 dtype: str | Any | None = None,
                 **import_kwargs: Any) -> tuple[VisionTransformer, dict[str, Any]]:
    """``(encoder, params)`` of ``vjepa_jax.load(path, which=which, dtype=dtype, **import_kwargs)``."""
    model = load(path, which=which, dtype=dtype, **import_kwargs)
    params = model.encoder_params  # raises for a checkpoint without that encoder
    return model.encoder, params
