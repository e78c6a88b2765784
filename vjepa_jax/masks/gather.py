"""Jit-safe gathering of tokens by index."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gather_tokens(x: jax.Array, idx: jax.Array) -> jax.Array:
    """Picks tokens ``x [B, N, D]`` at ``idx [B, K]`` (int) -> ``[B, K, D]``.

    ``x`` may also be a shared table ``[N, D]``, gathered per sample.
    Out-of-range indices are clipped into ``[0, N)``: padded (invalid) entries
    of a mask may hold any value, and must never bring NaN fill values into
    attention, where a masked key still multiplies its value by zero.
    """
    idx = jnp.asarray(idx, jnp.int32)
    if x.ndim == 2:
        return jnp.take(x, idx, axis=0, mode='clip')
    return jnp.take_along_axis(x, idx[..., None], axis=1, mode='clip')
