"""Several clips of one video -> one probe input per view (the official ``ClipAggregation``)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

Array = jax.Array


def aggregate_clips(encode: Callable[[Array], Array], clips: Array) -> Array:
    """Encodes ``segments x views`` clips as one batch and joins each view's segments.

    Args:
      encode: clip batch ``[M, T, H, W, C]`` -> tokens ``[M, N, D]`` (e.g. a
        ``VJEPA2Encoder.apply`` with ``out_layers`` for multi-layer features).
      clips: ``[S, V, B, T, H, W, C]`` (segments, spatial views, batch).

    Returns:
      ``[V, B, S * N, D]``: per view, segment 0's tokens, then segment 1's, ...
      (concatenated along tokens, i.e. along time), the official probe input.
    """
    s, v, b = clips.shape[:3]
    tokens = encode(clips.reshape(s * v * b, *clips.shape[3:]))
    n, d = tokens.shape[1:]
    tokens = tokens.reshape(s, v, b, n, d)
    return jnp.transpose(tokens, (1, 2, 0, 3, 4)).reshape(v, b, s * n, d)


def view_averaged_probs(logits: Array) -> Array:
    """Per-view logits ``[V, B, classes]`` -> softmax averaged over views ``[B, classes]``."""
    return jnp.mean(jax.nn.softmax(logits.astype(jnp.float32), axis=-1), axis=0)
