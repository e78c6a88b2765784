"""Param trees as flat ``"a/b/c"`` dicts and abstract shapes (unrolled: ``models.layer_layout``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from vjepa_jax.models.layer_layout import unroll


def flatten(tree: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
    flat = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            flat.update(flatten(v, f'{prefix}{k}/'))
        else:
            flat[prefix + k] = v
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path, v in flat.items():
        node = tree
        *parents, leaf = path.split('/')
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    return tree


def strip_prefix(state_dict: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """Drops the DDP / wrapper prefixes (``module.``, ``backbone.``) where present."""
    out = {}
    for key, value in state_dict.items():
        for p in prefixes:
            key = key.removeprefix(p)
        out[key] = np.asarray(value)
    return out


def abstract_params(module, *args) -> dict[str, Any]:
    """Unboxed param shapes of ``module`` (unrolled layout) without allocating."""
    module = module.clone(scan_layers=False) if hasattr(module, 'scan_layers') else module
    arrays = [a for a in args if isinstance(a, jax.ShapeDtypeStruct)]
    statics = [a for a in args if not isinstance(a, jax.ShapeDtypeStruct)]

    def init(*arrays):
        return module.init(jax.random.key(0), *arrays, *statics)

    shapes = jax.eval_shape(init, *arrays)
    return unroll(nn.meta.unbox(shapes['params']))
