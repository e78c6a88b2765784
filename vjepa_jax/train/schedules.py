"""Learning rate, weight decay and EMA momentum as functions of the step.

The official recipe steps its schedulers once *before* each update, so the
update at 0-based step ``s`` uses scheduler position ``k = s + 1`` for the
learning rate and weight decay, while the EMA momentum generator yields its
``s``-th value. All three run over ``T = int(ipe_scale * num_epochs *
steps_per_epoch)`` positions (official ``ipe_scale`` 1.25), so the schedules
never reach their final values within the run. Resume needs no fast-forward:
everything is computed from ``step``.

Two learning-rate shapes: ``'warmup_cosine'`` (V-JEPA 1; V-JEPA 2's
warmup-then-constant is this with ``final_lr == lr``) and ``'linear_decay'``
(V-JEPA 2's cooldown: ``lr + k / T * (final_lr - lr)``, no warmup).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from vjepa_jax.config_sections import ConfigSection

Array = jax.Array

LR_SCHEDULES = ('warmup_cosine', 'linear_decay')


@dataclasses.dataclass(frozen=True)
class Schedules(ConfigSection):
    """Official V-JEPA schedules; epochs are ``steps_per_epoch`` updates long.

    The defaults are the official ViT-L/16 recipe (``configs/pretrain/vitl16.yaml``).
    ``clip_grad`` None: no clipping. ``lr_schedule``: ``'warmup_cosine'`` or
    ``'linear_decay'`` (module docstring; ``start_lr`` and ``warmup_epochs``
    are unused by the latter, as in the official cooldown).
    """

    steps_per_epoch: int = 300
    num_epochs: float = 300.0
    warmup_epochs: float = 40.0
    start_lr: float = 2e-4
    lr: float = 6.25e-4
    final_lr: float = 1e-6
    weight_decay: float = 0.04
    final_weight_decay: float = 0.4
    ema: tuple[float, float] = (0.998, 1.0)
    ipe_scale: float = 1.25
    clip_grad: float | None = 10.0
    clip_after_warmup: bool = True
    lr_schedule: str = 'warmup_cosine'

    def problems(self) -> list[str]:
        problems = []
        if self.steps_per_epoch < 1 or self.num_epochs <= 0:
            problems.append(f'optimizer.steps_per_epoch ({self.steps_per_epoch}) and '
                            f'optimizer.num_epochs ({self.num_epochs}) must be positive.')
        if self.warmup_epochs < 0 or self.ipe_scale <= 0:
            problems.append(f'optimizer.warmup_epochs ({self.warmup_epochs}) must be >= 0 and '
                            f'optimizer.ipe_scale ({self.ipe_scale}) > 0.')
        if len(self.ema) != 2:
            problems.append(f'optimizer.ema {self.ema!r}: give (start, end) momenta.')
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f'optimizer.lr_schedule {self.lr_schedule!r} is not one of '
                            f'{list(LR_SCHEDULES)}.')
        if self.clip_grad is not None and self.clip_grad <= 0:
            problems.append(f'optimizer.clip_grad {self.clip_grad}: give a positive norm, or '
                            'None for no clipping.')
        return problems

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
        """Linear warmup ``start_lr -> lr``, then cosine to ``final_lr`` (``'linear_decay'``:
        a straight line from ``lr`` towards ``final_lr`` over ``schedule_steps``)."""
        k = jnp.asarray(step, jnp.float32) + 1.0
        if self.lr_schedule == 'linear_decay':
            return self.lr + k / max(1.0, float(self.schedule_steps)) * (self.final_lr - self.lr)
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
