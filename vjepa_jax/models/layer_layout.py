"""Block-stack param layouts: unrolled (``layer_{i}``) and scanned (``layers``, leading axis = layer).

The one place that converts between them. ``BlockStack`` builds either layout
(``scan_layers``); checkpoint formats store the unrolled one, training may use
the scanned one, so loaders convert with these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np


def stack_layers(stack_params: Mapping[str, Any], depth: int) -> dict[str, Any]:
    """``{'layer_0': p0, ...}`` -> ``{'layers': stacked}`` (leading axis = layer)."""
    layers = [stack_params[f'layer_{i}'] for i in range(depth)]
    return {'layers': jax.tree.map(lambda *xs: np.stack(xs), *layers)}


def unstack_layers(stack_params: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of ``stack_layers``; a no-op on already unrolled params."""
    if 'layers' not in stack_params:
        return dict(stack_params)
    depth = jax.tree.leaves(stack_params['layers'])[0].shape[0]
    return {f'layer_{i}': jax.tree.map(lambda a, i=i: a[i], stack_params['layers'])
            for i in range(depth)}


def unroll(params: Mapping[str, Any]) -> dict[str, Any]:
    """Every scanned block stack in ``params`` (at any depth) unrolled."""
    out = {}
    for k, v in params.items():
        if isinstance(v, Mapping):
            out[k] = unroll(unstack_layers(v) if 'layers' in v else v)
        else:
            out[k] = v
    return out


def match_layout(loaded: Mapping[str, Any], template: Mapping[str, Any],
                 stacks: tuple[str, ...]) -> dict[str, Any]:
    """The block stacks named ``stacks`` of ``loaded`` in ``template``'s layout (scanned or not)."""
    out = dict(loaded)
    for name in stacks:
        if name not in out or name not in template:
            continue
        flat = unstack_layers(out[name])
        out[name] = stack_layers(flat, len(flat)) if 'layers' in template[name] else flat
    return out
