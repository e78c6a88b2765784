"""The sliding-window prediction error of a JEPA over a clip: its surprise curve.

Official protocol (Garrido et al. 2025, facebookresearch/jepa-intuitive-physics
``evals/intuitive_physics/eval.py``): the whole video is sampled every
``frame_step`` frames; windows of the model's clip length slide over it with a
stride of ``stride`` sampled frames; in each window the context encoder sees
the tokens of the first ``context_frames`` frames, the predictor predicts the
tokens of all the window's later frames, and the surprise of the window is the
mean absolute error (over tokens and channels) between the prediction and the
layer-normed target-encoder features of the whole window (the pretraining
target). One curve per context length.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax.errors import ConfigError
from vjepa_jax.evaluation.jepa_loading import JepaModels
from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.masks.future import FutureFrames
from vjepa_jax.masks.gather import gather_tokens
from vjepa_jax.train.losses import target_layer_norm


def window_starts(num_frames: int, window: int, stride: int) -> np.ndarray:
    """First sampled frame of every full window (``unfold(window, stride)``): int ``[W]``."""
    if num_frames < window:
        return np.zeros((0,), np.int64)
    return np.arange(0, num_frames - window + 1, stride)


def future_masks(models: JepaModels, context_frames: int) -> FutureFrames:
    """The future-prediction mask of ``context_frames`` frames on the model's token grid."""
    enc = models.encoder
    tubelet = enc.tubelet_size
    steps = enc.num_frames // tubelet
    if context_frames % tubelet or not 0 < context_frames < enc.num_frames:
        raise ConfigError(f'context length {context_frames} frames must be a multiple of the '
                          f'tubelet size {tubelet} between {tubelet} and '
                          f'{enc.num_frames - tubelet} (the model sees {enc.num_frames} frames).')
    return FutureFrames(enc.grid, context_steps=context_frames // tubelet,
                        target_steps=steps - context_frames // tubelet)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _window_surprise(encoder, predictor, mask_token: int, counts: tuple[int, int], params,
                     windows: jax.Array, context_idx: jax.Array, target_idx: jax.Array
                     ) -> jax.Array:
    del counts  # part of the cache key only
    video = normalize_video(windows, encoder.dtype)
    h = target_layer_norm(encoder.apply({'params': params['target_encoder']}, video))
    b = windows.shape[0]
    ctx = jnp.broadcast_to(context_idx, (b, context_idx.shape[0]))
    tgt = jnp.broadcast_to(target_idx, (b, target_idx.shape[0]))
    targets = gather_tokens(h, tgt)
    z = encoder.apply({'params': params['encoder']}, video, ctx)
    preds = predictor.apply({'params': params['predictor']}, z, ctx, tgt, mask_token)
    return jnp.mean(jnp.abs(preds.astype(jnp.float32) - targets), axis=(1, 2))


def surprise_curves(models: JepaModels, clips: Sequence[np.ndarray],
                    context_frames: Sequence[int], stride: int = 2, batch: int = 32
                    ) -> list[np.ndarray]:
    """Surprise of every window of each clip, per context length: float32 ``[C, W_i]`` each.

    ``clips``: uint8 ``[T_i, H, W, 3]`` already sampled every ``frame_step`` frames
    and sized to the model's crop; each ``T_i`` at least the model's
    ``num_frames``. The windows of all clips go through together in batches of
    ``batch`` (the last one padded, so one compilation serves every call).
    """
    window = models.encoder.num_frames
    starts = []
    for clip in clips:
        starts.append(window_starts(clip.shape[0], window, stride))
        if not starts[-1].size:
            raise ConfigError(f'a clip of {clip.shape[0]} sampled frames is shorter than the '
                              f'model\'s {window} frames; lower frame_step.')
    pieces = np.stack([clip[s:s + window] for clip, st in zip(clips, starts) for s in st])
    params = jax.device_put(models.params)
    per_context = []
    for frames in context_frames:
        context_idx, target_idx = future_masks(models, frames).indices()
        out = []
        for i in range(0, len(pieces), batch):
            chunk = pieces[i:i + batch]
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), 0)])
            out.append(np.asarray(_window_surprise(
                models.encoder, models.predictor, models.mask_token,
                (len(context_idx), len(target_idx)), params, padded,
                context_idx, target_idx))[:len(chunk)])
        per_context.append(np.concatenate(out))
    table = np.stack(per_context).astype(np.float32)  # [C, all windows]
    bounds = np.cumsum([0] + [len(st) for st in starts])
    return [table[:, a:b] for a, b in itertools.pairwise(bounds)]
