"""Device-side input normalisation: uint8 RGB crosses to the device, floats are made there."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from vjepa_jax.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_video(video: jax.Array, dtype: Any = jnp.float32, *,
                    normalized: bool = False) -> jax.Array:
    """uint8 RGB ``[..., 3]`` -> ``(x / 255 - mean) / std`` (ImageNet, as the official code), in ``dtype``.

    Floating-point input is accepted only with ``normalized=True`` (it is then
    only cast): a float clip of 0..255 or 0..1 values would otherwise reach the
    model unnormalised and give wrong features without any error. Only the
    dtype is checked, so this works on traced values inside ``jax.jit``.

    Raises:
      ConfigError: float input without ``normalized=True``, uint8 input with
        it, or an input of another dtype.
    """
    video = jnp.asarray(video)
    if jnp.issubdtype(video.dtype, jnp.floating):
        if not normalized:
            raise ConfigError(
                f'Got a {video.dtype} video {tuple(video.shape)}: give uint8 RGB (0..255, '
                'normalised here with the ImageNet mean / std), or pass normalized=True if '
                'the floats are already normalised that way.')
        return video.astype(dtype)
    if normalized:
        raise ConfigError(f'normalized=True with a {video.dtype} video: uint8 RGB is never '
                          'normalised; drop normalized=True.')
    if video.dtype != jnp.uint8:
        raise ConfigError(f'Got a {video.dtype} video: give uint8 RGB (0..255) or normalised '
                          'floats with normalized=True.')
    x = video.astype(jnp.float32) / 255.0
    x = (x - jnp.asarray(IMAGENET_MEAN, jnp.float32)) / jnp.asarray(IMAGENET_STD, jnp.float32)
    return x.astype(dtype)
