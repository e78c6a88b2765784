"""Segments x views: how a video's clips reach the probe and how its predictions combine.

A probed video is ``S`` temporal segments (one clip from each of ``S`` equal
partitions of the video) times ``V`` spatial views of every clip. The frozen
encoder sees each clip on its own (``[B, N, D]`` tokens per clip). Then, as
the official ``ClipAggregation`` and ``run_one_epoch``
(``evals/video_classification_frozen``):

* ``attend_across_segments=True``: for each spatial view, the tokens of the
  ``S`` segments are concatenated along the token axis (segment order), so the
  probe attends over ``S * N`` tokens: ``V`` probe calls per video. Tokens are
  in raster order ``(t, h, w)``, so this equals the official concatenation
  along time followed by flattening (no extra temporal position embedding is
  added, as in the official default ``use_pos_embed=False``).
* ``attend_across_segments=False``: one probe call per (segment, view):
  ``S * V`` calls.

The video's prediction is the mean of the softmax over all its probe calls.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vjepa_jax.input.normalize import normalize_video

Array = jax.Array
PyTree = Any


def encode_clips(encoder: nn.Module, params: PyTree, clips: Array) -> Array:
    """Frozen features of every clip: ``[B, S, V, T, H, W, 3] -> [B, S, V, N, D]``.

    ``clips`` are normalised floats, or uint8 (normalised here, on device, in
    the encoder's dtype). Images ``[B, S, V, H, W, 3]`` are accepted too: the
    encoder repeats each along time to its ``num_frames`` (as the official
    image probes), on the device. One encoder call on the flattened
    ``[B*S*V, ...]`` batch, under ``stop_gradient``; the tokens keep the
    encoder's dtype (bfloat16 for a bfloat16 encoder).
    """
    if clips.ndim not in (6, 7):
        raise ValueError('clips must be [B, S, V, T, H, W, 3] (or images [B, S, V, H, W, 3]), '
                         f'got shape {clips.shape}.')
    b, s, v = clips.shape[:3]
    dtype = getattr(encoder, 'dtype', jnp.float32)
    video = normalize_video(clips.reshape(b * s * v, *clips.shape[3:]), dtype)
    tokens = encoder.apply({'params': jax.lax.stop_gradient(params)}, video)
    tokens = jax.lax.stop_gradient(tokens)
    return tokens.reshape(b, s, v, *tokens.shape[1:])


def num_probe_calls(num_segments: int, num_views: int, attend_across_segments: bool) -> int:
    """``P``: probe calls per video (``V`` when attending across segments, else ``S * V``)."""
    return num_views if attend_across_segments else num_segments * num_views


def probe_inputs(tokens: Array, attend_across_segments: bool) -> Array:
    """Token sets the probe sees: ``[B, S, V, N, D] -> [B, P, L, D]``.

    ``attend_across_segments``: ``P = V``, ``L = S * N`` (segment ``s`` holds
    tokens ``s * N .. (s + 1) * N - 1``). Otherwise ``P = S * V`` ordered
    ``(segment, view)``, ``L = N``.
    """
    if tokens.ndim != 5:
        raise ValueError(f'tokens must be [B, S, V, N, D], got shape {tokens.shape}.')
    b, s, v, n, d = tokens.shape
    if attend_across_segments:
        return jnp.swapaxes(tokens, 1, 2).reshape(b, v, s * n, d)
    return tokens.reshape(b, s * v, n, d)


def probe_logits(probe: nn.Module, params: PyTree, inputs: Array) -> Array:
    """One probe (``params`` of one classifier) on every call: ``[B, P, L, D] -> [B, P, C]``.

    All ``B * P`` calls run as one batch; logits come back in float32.
    """
    b, p = inputs.shape[:2]
    logits = probe.apply({'params': params}, inputs.reshape(b * p, *inputs.shape[2:]))
    return logits.reshape(b, p, -1).astype(jnp.float32)


def aggregate_logits(logits: Array) -> Array:
    """Mean over probe calls of the softmax: ``[B, P, C] -> [B, C]`` float32 probabilities."""
    return jnp.mean(jax.nn.softmax(logits.astype(jnp.float32), axis=-1), axis=1)
