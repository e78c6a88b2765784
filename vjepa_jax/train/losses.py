"""JEPA latent regression loss and its targets."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from vjepa_jax.config_sections import ConfigSection

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class LossConfig(ConfigSection):
    """``loss``: the exponent ``p`` of ``|pred - target|^p / p`` and the variance regulariser's weight."""

    loss_exp: float = 1.0
    reg_coeff: float = 0.0

    def problems(self) -> list[str]:
        problems = []
        if self.loss_exp <= 0:
            problems.append(f'loss.loss_exp {self.loss_exp} must be > 0 (official: 1).')
        if self.reg_coeff < 0:
            problems.append(f'loss.reg_coeff {self.reg_coeff} must be >= 0.')
        return problems


OFFICIAL_LOSS = LossConfig()  # L1, no regulariser


def target_layer_norm(h: Array, eps: float = 1e-5) -> Array:
    """LayerNorm without affine over the last axis (the official targets), in float32."""
    h = h.astype(jnp.float32)
    mean = jnp.mean(h, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(h - mean), axis=-1, keepdims=True)
    return (h - mean) * jax.lax.rsqrt(var + eps)


def latent_loss(pred: Array, target: Array, valid: Array | None = None,
                loss_exp: float = 1.0) -> Array:
    """``mean(|pred - target| ** p) / p`` over valid tokens.

    Args:
      pred, target: ``[B, K, D]``.
      valid: optional bool ``[B, K]``; padded tokens do not count.
      loss_exp: ``p`` (1 = L1, the official setting).
    """
    err = jnp.abs(pred.astype(jnp.float32) - target.astype(jnp.float32)) ** loss_exp
    if valid is None:
        return jnp.mean(err) / loss_exp
    weight = jnp.asarray(valid, jnp.float32)[..., None]
    count = jnp.maximum(jnp.sum(weight) * err.shape[-1], 1.0)
    return jnp.sum(err * weight) / count / loss_exp


def jepa_loss(preds: Sequence[Array], targets: Sequence[Array],
              valids: Sequence[Array | None] | None = None,
              loss_exp: float = 1.0) -> Array:
    """Mean over mask sets of ``latent_loss`` (the official multi-mask loss)."""
    valids = valids if valids is not None else [None] * len(preds)
    losses = [latent_loss(p, t, v, loss_exp) for p, t, v in zip(preds, targets, valids)]
    return sum(losses) / len(losses)


def variance_regularizer(preds: Sequence[Array],
                         valids: Sequence[Array | None] | None = None) -> Array:
    """Official ``reg_fn``: ``mean(relu(1 - std))`` of predictions across tokens.

    ``std = sqrt(var + 1e-4)`` with the unbiased variance over the (valid)
    tokens of each sample and channel ``[B, D]``, averaged over mask sets first.
    """
    valids = valids if valids is not None else [None] * len(preds)
    stds = []
    for p, v in zip(preds, valids):
        p = p.astype(jnp.float32)
        w = (jnp.ones(p.shape[:2], jnp.float32) if v is None
             else jnp.asarray(v, jnp.float32))[..., None]
        n = jnp.sum(w, axis=1)
        mean = jnp.sum(p * w, axis=1) / jnp.maximum(n, 1.0)
        var = jnp.sum(w * jnp.square(p - mean[:, None]), axis=1) / jnp.maximum(n - 1.0, 1.0)
        stds.append(jnp.sqrt(var + 1e-4))
    return jnp.mean(jax.nn.relu(1.0 - sum(stds) / len(stds)))
