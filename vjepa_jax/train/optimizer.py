"""The official pretraining optimiser as an optax chain, and the AdamW pieces it is made of.

The official optimiser is ``torch.optim.AdamW`` over four groups: encoder and
predictor weights (decayed) and their biases / 1-D params (never decayed), with
the learning rate and weight decay set every step from their schedules, and
``clip_grad_norm_`` applied to the encoder and to the predictor separately
(each by its own norm), only after warmup. ``pretrain_optimizer`` is that
update as one optax chain::

    clip each model by its norm (from clip_from_step)
    -> Adam's direction m_hat / (sqrt(v_hat) + eps)
    -> + wd(step) * p where weight_decay_mask
    -> * -lr(step)

so ``optax.apply_updates`` gives ``p - lr * (direction + wd * p)``, torch's
update algebraically. The schedules are functions of the train step, which the
chain's step-dependent links read from ``tx.update(..., step=state.step)``
(optax's extra arguments), so the opt state holds no second step counter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from vjepa_jax.train.schedules import Schedules

Array = jax.Array
PyTree = Any

SCANNED_LAYERS = 'layers'


@dataclasses.dataclass(frozen=True)
class OptimizerConfig(Schedules):
    """The ``optimizer`` section of a pretraining config: the schedules plus Adam's constants."""

    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def problems(self) -> list[str]:
        problems = super().problems()
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            problems.append(f'optimizer.betas {self.betas!r}: give two numbers in [0, 1).')
        if self.eps <= 0:
            problems.append(f'optimizer.eps {self.eps} must be > 0.')
        return problems


OFFICIAL_OPTIMIZER = OptimizerConfig()  # the defaults: the official ViT-L/16 recipe


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
    """``p - lr * (direction + wd * p)`` where decayed, ``p - lr * direction`` elsewhere.

    The same arithmetic as ``pretrain_optimizer``'s last two links followed by
    ``optax.apply_updates``, for callers that vmap over several (lr, wd) pairs.
    """
    def update(p, d, decay):
        step = d + wd * p if decay else d
        return (p - lr * step).astype(p.dtype)

    return jax.tree_util.tree_map(update, params, direction, decay_mask)


def _stepwise(fn: Callable[[PyTree, PyTree, Array], PyTree]) -> optax.GradientTransformationExtraArgs:
    """A stateless link ``updates <- fn(updates, params, step)``, ``step`` from the extra args."""
    def init(params):
        del params
        return optax.EmptyState()

    def update(updates, state, params=None, *, step, **extra):
        del extra
        return fn(updates, params, step), state

    return optax.GradientTransformationExtraArgs(init, update)


def clip_per_model(max_norm: float | None, from_step: int) -> optax.GradientTransformationExtraArgs:
    """Clips each top-level subtree (``encoder``, ``predictor``) by its own norm from ``from_step`` on.

    ``max_norm`` None: no clipping.
    """
    def clip(updates, params, step):
        del params
        if max_norm is None:
            return updates
        active = step >= from_step
        return {name: clip_by_norm(tree, max_norm, active)[0] for name, tree in updates.items()}

    return _stepwise(clip)


def scheduled_weight_decay(rate: Callable[[Array], Array]) -> optax.GradientTransformationExtraArgs:
    """``u + rate(step) * p`` on the leaves ``weight_decay_mask`` selects; others unchanged."""
    def decay(updates, params, step):
        wd = rate(step)
        return jax.tree_util.tree_map(lambda u, p, d: u + wd * p if d else u, updates, params,
                                      weight_decay_mask(params))

    return _stepwise(decay)


def scale_by_scheduled_lr(rate: Callable[[Array], Array]) -> optax.GradientTransformationExtraArgs:
    """``-rate(step) * u``: the descent step (``optax.apply_updates`` adds it)."""
    def scale(updates, params, step):
        del params
        neg_lr = -rate(step)
        return jax.tree_util.tree_map(lambda u: (neg_lr * u).astype(u.dtype), updates)

    return _stepwise(scale)


def pretrain_optimizer(config: OptimizerConfig) -> optax.GradientTransformationExtraArgs:
    """The official pretraining AdamW (module docstring); call ``update(..., step=step)``."""
    return optax.chain(
        clip_per_model(config.clip_grad, config.clip_from_step),
        make_adam(config.betas[0], config.betas[1], config.eps),
        scheduled_weight_decay(config.weight_decay_at),
        scale_by_scheduled_lr(config.learning_rate),
    )
