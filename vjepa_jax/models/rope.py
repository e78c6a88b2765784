"""3D rotary position embedding (RoPE) of V-JEPA 2, bit-compatible with the official code.

Each head of width ``hd`` is split into ``A = 2 * ((hd // 3) // 2)`` channels
for time, ``A`` for height and ``A`` for width, in that order and contiguous;
the ``hd - 3A`` channels left over pass through unrotated. Within one axis
slice channel pairs ``(2i, 2i+1)`` are rotated (``rot(x)[2i] = -x[2i+1]``,
``rot(x)[2i+1] = x[2i]``, ``out = x cos + rot(x) sin``) with
``omega_j = 10000^(-j / (A/2))``.

Frequency layout (``interleave``):
  False  V-JEPA 2: the cos / sin vectors are ``[f_0 .. f_{A/2-1}, f_0 .. f_{A/2-1}]``
         (tiled), so the two channels of a pair use different frequencies.
         Not a true rotation, but what every released V-JEPA 2 checkpoint was
         trained with.
  True   V-JEPA 2.1: ``[f_0, f_0, f_1, f_1, ...]`` (each pair shares one frequency).

Positions are raw integer grid coordinates of the token ids
(``t = n // (H'W')``, ``h = (n mod H'W') // W'``, ``w = n mod W'``), computed in
the dtype of the queries, as the official code does (so bfloat16 compute
rotates with bfloat16 angles, like the official autocast).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vjepa_jax.errors import ConfigError

Array = jax.Array

MIN_HEAD_DIM = 12


def axis_dim(head_dim: int) -> int:
    """Channels rotated per axis (t, h or w) for a head of ``head_dim`` channels.

    Raises ConfigError below 12 channels, where the official code fails (one
    frequency per axis collapses a tensor axis) and no checkpoint can exist.
    """
    if head_dim < MIN_HEAD_DIM:
        raise ConfigError(f'RoPE needs head_dim >= {MIN_HEAD_DIM} (the official V-JEPA 2 code '
                          f'fails below), got {head_dim}; use fewer heads or a wider model.')
    return 2 * ((head_dim // 3) // 2)


def grid_positions(ids: Array, grid_hw: tuple[int, int]) -> Array:
    """Token ids ``[..., N]`` (int, raster order t, h, w) -> ``[..., N, 3]`` (t, h, w) ints.

    ``grid_hw`` = ``(H', W')`` tokens per frame column and row.
    """
    h, w = grid_hw
    ids = jnp.asarray(ids, jnp.int32)
    per_frame = h * w
    t = ids // per_frame
    rest = ids - t * per_frame
    return jnp.stack([t, rest // w, rest - (rest // w) * w], axis=-1)


def rotate_axis(x: Array, pos: Array, interleave: bool = False) -> Array:
    """Rotates one axis slice: ``x [B, N, H, A]`` by positions ``pos [B, N]`` (or ``[N]``).

    ``A`` must be even; the result has ``x``'s shape and dtype.
    """
    a = x.shape[-1]
    half = a // 2
    omega = jnp.arange(half, dtype=x.dtype) / jnp.asarray(a / 2.0, x.dtype)
    omega = 1.0 / jnp.power(jnp.asarray(10000.0, x.dtype), omega)
    freq = jnp.asarray(pos, x.dtype)[..., None, None] * omega      # [B, N, 1, A/2]
    sin, cos = jnp.sin(freq), jnp.cos(freq)
    if interleave:
        sin, cos = jnp.repeat(sin, 2, axis=-1), jnp.repeat(cos, 2, axis=-1)
    else:
        sin, cos = jnp.concatenate([sin, sin], -1), jnp.concatenate([cos, cos], -1)
    pairs = x.reshape(*x.shape[:-1], half, 2)
    rotated = jnp.stack([-pairs[..., 1], pairs[..., 0]], axis=-1).reshape(x.shape)
    return x * cos + rotated * sin


def apply_rope(x: Array, positions: Array, interleave: bool = False) -> Array:
    """3D RoPE on queries or keys: ``x [B, N, H, hd]``, ``positions [B, N, 3]`` -> ``x``'s shape.

    Values are never rotated; call this on q and k only.
    """
    a = axis_dim(x.shape[-1])
    parts = [rotate_axis(x[..., i * a:(i + 1) * a], positions[..., i], interleave)
             for i in range(3)]
    if 3 * a < x.shape[-1]:
        parts.append(x[..., 3 * a:])
    return jnp.concatenate(parts, axis=-1)
