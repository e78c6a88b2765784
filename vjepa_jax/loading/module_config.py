"""JSON-able constructor arguments of a module, so results and files can name the model."""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax.numpy as jnp


def module_config(module: nn.Module) -> dict[str, Any]:
    """Constructor arguments of ``module`` with ``dtype`` as its name (``'bfloat16'``).

    ``type(module)(**{k: v for k, v in cfg.items() if k != 'dtype'},
    dtype=jnp.dtype(cfg['dtype']))`` rebuilds the module.
    """
    out = {}
    for field in dataclasses.fields(module):
        if field.name in ('parent', 'name'):
            continue
        value = getattr(module, field.name)
        if field.name == 'dtype':
            value = jnp.dtype(value).name
        out[field.name] = value
    return out


encoder_config = module_config  # the name extraction and the tests use for encoders
