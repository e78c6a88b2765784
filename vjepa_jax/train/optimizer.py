"""AdamW with the official parameter groups, scheduled lr / wd, and torch-style clipping.

The official optimiser is ``torch.optim.AdamW`` over four groups: encoder and
predictor weights (decayed) and their biases / 1-D params (never decayed). The
learning rate and weight decay change every step, so the decoupled decay is
applied here from values computed by ``schedules`` rather than baked into an
optax chain: ``p <- p - lr * (m_hat / (sqrt(v_hat) + eps) + wd * mask * p)``,
which is torch's update algebraically.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

Array = jax.Array
PyTree = Any

SCANNED_LAYERS = 'layers'


def weight_decay_mask(params: PyTree) -> PyTree:
    """True where weight decay applies: not a bias and more than one dimension.

    This is the official grouping (``'bias' in name or p.ndim == 1`` is
    excluded). Our multi-head biases are 2-D (``[heads, head_dim]``) but are
    still biases, so the name decides first; mask tokens (``[n, d]``; official
    ``[1, 1, d]`` each) are decayed as in the official code.
    """
    def decide(path, leaf) -> bool:
        names = [str(getattr(k, 'key', getattr(k, 'name', k))) for k in path]
        # Scanned blocks (``BlockStack(scan_layers=True)``) stack per-layer
        # params under ``layers`` with a leading depth axis.
        ndim = jnp.ndim(leaf) - (1 if SCANNED_LAYERS in names else 0)
        return not any('bias' in n for n in names) and ndim > 1

    return jax.tree_util.tree_map_with_path(decide, params)


def make_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> optax.GradientTransformation:
    """Adam's bias-corrected direction ``m_hat / (sqrt(v_hat) + eps)`` (moments in float32)."""
    return optax.scale_by_adam(b1=b1, b2=b2, eps=eps, eps_root=0.0)


def global_norm(tree: PyTree) -> Array:
    """L2 norm over all leaves, accumulated in float32."""
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        return jnp.zeros((), jnp.float32)
    return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in leaves))


def clip_by_norm(grads: PyTree, max_norm: float, active: Array | bool) -> tuple[PyTree, Array]:
    """torch's ``clip_grad_norm_``: scale by ``min(1, max_norm / (norm + 1e-6))`` when active.

    Returns the clipped tree and the norm before clipping.
    """
    norm = global_norm(grads)
    scale = jnp.minimum(1.0, max_norm / (norm + 1e-6))
    scale = jnp.where(active, scale, 1.0)
    return jax.tree_util.tree_map(lambda g: (g * scale).astype(g.dtype), grads), norm


def apply_adamw(params: PyTree, direction: PyTree, decay_mask: PyTree, lr: Array,
                wd: Array) -> PyTree:
    """``p - lr * (direction + wd * p)`` where decayed, ``p - lr * direction`` elsewhere."""
    def update(p, d, decay):
        step = d + wd * p if decay else d
        return (p - lr * step).astype(p.dtype)

    return jax.tree_util.tree_map(update, params, direction, decay_mask)

