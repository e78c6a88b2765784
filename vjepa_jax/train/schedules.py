"""Learning rate, weight decay and EMA momentum as functions of the step.

The official recipe steps its schedulers once *before* each update, so the
update at 0-based step ``s`` uses scheduler position ``k = s + 1`` for the
learning rate and weight decay, while the EMA momentum generator yields its
``s``-th value. All three run over ``T = int(ipe_scale * num_epochs *
steps_per_epoch)`` positions (official ``ipe_scale`` 1.25), so the schedules
never reach their final values within the run. Resume needs no fast-forward:
everything is computed from ``step``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Schedules:
    """Official V-JEPA schedules; epochs are ``steps_per_epoch`` updates long."""

    steps_per_epoch: int
    num_epochs: float
    warmup_epochs: float
    start_lr: float
    lr: float
    final_lr: float
    weight_decay: float
    final_weight_decay: float
    ema: tuple[float, float] = (0.998, 1.0)
    ipe_scale: float = 1.25
    clip_grad: float | None = 10.0
    clip_after_warmup: bool = True

    @classmethod
    def from_config(cls, o) -> Schedules:
        """From an experiment's ``config.optimizer`` (see ``train/config.py``)."""
        return cls(steps_per_epoch=o.steps_per_epoch, num_epochs=o.num_epochs,
                   warmup_epochs=o.warmup_epochs, start_lr=o.start_lr, lr=o.lr,
                   final_lr=o.final_lr, weight_decay=o.weight_decay,
                   final_weight_decay=o.final_weight_decay, ema=tuple(o.ema),
                   ipe_scale=o.ipe_scale, clip_grad=o.clip_grad or None,
                   clip_after_warmup=o.clip_after_warmup)

    def __post_init__(self):
        if self.steps_per_epoch < 1 or self.num_epochs <= 0:
            raise ValueError(f'steps_per_epoch ({self.steps_per_epoch}) and num_epochs '
                             f'({self.num_epochs}) must be positive.')
        if self.warmup_epochs < 0 or self.ipe_scale <= 0:
            raise ValueError(f'warmup_epochs ({self.warmup_epochs}) must be >= 0 and '
                             f'ipe_scale ({self.ipe_scale}) > 0.')

    @property
    def total_steps(self) -> int:
        """Updates in the run: ``num_epochs * steps_per_epoch``."""
        return int(self.num_epochs * self.steps_per_epoch)

    @property
    def schedule_steps(self) -> int:
        """``T``: the length the schedules are stretched over."""
        return int(self.ipe_scale * self.num_epochs * self.steps_per_epoch)

    @property
    def warmup_steps(self) -> int:
        return int(self.warmup_epochs * self.steps_per_epoch)

    @property
    def clip_from_step(self) -> int:
        """First step whose gradients are clipped.

        The official loop clips only when ``epoch > warmup`` (0-based epochs),
        i.e. from the epoch after the warmup's last one; ``clip_after_warmup=False``
        clips from the start.
        """
        if self.clip_grad is None:
            return -1
        if not self.clip_after_warmup:
            return 0
        return (math.floor(self.warmup_epochs) + 1) * self.steps_per_epoch

    def learning_rate(self, step: Array | int) -> Array:
        """Linear warmup ``start_lr -> lr``, then cosine to ``final_lr``."""
        k = jnp.asarray(step, jnp.float32) + 1.0
        warm = float(self.warmup_steps)
        warmup = self.start_lr + k / max(1.0, warm) * (self.lr - self.start_lr)
        progress = (k - warm) / max(1.0, float(self.schedule_steps - self.warmup_steps))
        cosine = self.final_lr + (self.lr - self.final_lr) * 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
        return jnp.where(k < warm, warmup, jnp.maximum(self.final_lr, cosine))

    def weight_decay_at(self, step: Array | int) -> Array:
        """Cosine from ``weight_decay`` to ``final_weight_decay``, never past the final value."""
        k = jnp.asarray(step, jnp.float32) + 1.0
        progress = k / float(self.schedule_steps)
        wd = (self.final_weight_decay + (self.weight_decay - self.final_weight_decay)
              * 0.5 * (1.0 + jnp.cos(jnp.pi * progress)))
        if self.final_weight_decay <= self.weight_decay:
            return jnp.maximum(self.final_weight_decay, wd)
        return jnp.minimum(self.final_weight_decay, wd)

    def ema_momentum(self, step: Array | int) -> Array:
        """Linear from ``ema[0]`` to ``ema[1]`` over ``ipe_scale`` x the run."""
        return self.ema_weights(step)[0]

    def ema_weights(self, step: Array | int) -> tuple[Array, Array]:
        """``(m, 1 - m)`` for ``target <- m * target + (1 - m) * online``.

        ``1 - m`` is computed from its own formula rather than by subtracting a
        float32 ``m`` near 1, which would lose ~5 significant bits; both stay
        within an ulp of the official float64 values rounded to float32.
        """
        start, end = self.ema
        span = self.steps_per_epoch * self.num_epochs * self.ipe_scale
        rate = (end - start) / span
        s = jnp.asarray(step, jnp.float32)
        lo, hi = min(start, end), max(start, end)
        m = jnp.clip(start + s * rate, lo, hi)
        rest = jnp.clip((1.0 - start) - s * rate, 1.0 - hi, 1.0 - lo)
        return m, rest
