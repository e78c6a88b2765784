"""Frozen-encoder features for video files, from any checkpoint (the API of ``tools.extract``).

Per video: one clip of ``frames`` frames every ``frame_step``, from the
official deterministic sampling (``clip_indices`` with ``rng=None``: the
first window of the video, what the official evaluations use with
``random_clip_sampling=False``; short videos follow the official short-video
rule); the official evaluation transform (short side to ``crop * 256 / 224``,
centre ``crop`` crop); uint8 goes to the device, where the clip is normalised
(ImageNet mean / std) and encoded. Batches have a fixed size (the last one is
padded and the padding dropped), so the encoder compiles once. With several
local devices and a batch divisible by their number, the batch is split
across them. Decoding runs in ``workers`` threads, a bounded window ahead of
the device; at most a few batches of clips are in memory at a time.

Output (``.npz``, uncompressed; ``np.load(path)`` reads it, no pickle):

  ``tokens``          float16 ``[N, T'*H'*W', D]`` last-layer tokens in raster
                      order ``(t, h, w)``; float16 halves the file (tokens are
                      LayerNorm outputs, well inside float16's range; relative
                      rounding ~5e-4). Absent with ``--no-tokens``.
  ``pooled``          float32 ``[N, D]``: mean over tokens, computed on device
                      from the full-precision tokens.
  ``paths``           str ``[N]`` the videos that were read, in input order.
  ``labels``          int64 ``[N]`` (index labels; -1 for a folder).
  ``failed_paths``    str ``[F]`` videos that were skipped,
  ``failed_reasons``  str ``[F]`` their ``VideoError.reason`` ('corrupt', ...),
  ``failed_details``  str ``[F]`` and the human-readable detail.
  ``grid``            int64 ``[3]`` the token grid ``(T', H', W')``.
  ``model_config``    JSON str: the encoder's constructor arguments.
  ``settings``        JSON str: checkpoint (the path read), its format and
                      step, videos, which, frames, frame_step, crop, dtype,
                      batch size.

The file is written to a temporary sibling and renamed, and tokens are
streamed there batch by batch, so any number of videos fits in memory.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from vjepa_jax.errors import ConfigError
from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.loading import LoadedModel, load
from vjepa_jax.loading.module_config import encoder_config
from vjepa_jax.models.builder import compute_dtype
from vjepa_jax.models.vit import VisionTransformer
from vjepa_jax.tools.decode_pool import decoded_in_order
from vjepa_jax.tools.feature_file import TOKEN_DTYPE, MemorySink, NpzWriter
from vjepa_jax.tools.progress import Progress
from vjepa_jax.tools.video_files import list_videos, load_clip

logger = logging.getLogger('vjepa_jax.tools.extract')


class ExtractError(ConfigError):
    """A user mistake in what to extract (no videos, clip size, batch size)."""


def forward_fn(encoder: VisionTransformer, params: Any, batch_size: int
                ) -> tuple[Callable[[np.ndarray], tuple[jax.Array, jax.Array]], int]:
    """A jitted ``uint8 [B, T, H, W, 3] -> (float16 tokens [B, N, D], float32 pooled [B, D])``.

    Params are placed (replicated) once and passed as an argument, not baked
    into the program as constants. Returns the function and the device count.
    """
    devices = jax.local_devices()
    if batch_size % len(devices):
        devices = devices[:1]
    mesh = Mesh(np.asarray(devices), ('batch',))
    split = NamedSharding(mesh, PartitionSpec('batch'))
    replicated = NamedSharding(mesh, PartitionSpec())
    params = jax.device_put(params, replicated)

    def forward(params, video):
        tokens = encoder.apply({'params': params}, normalize_video(video))
        pooled = jnp.mean(tokens.astype(jnp.float32), axis=1)
        return tokens.astype(TOKEN_DTYPE), pooled

    jitted = jax.jit(forward, in_shardings=(replicated, split), out_shardings=(split, split))

    def run(video: np.ndarray) -> tuple[jax.Array, jax.Array]:
        return jitted(params, jax.device_put(video, split))

    return run, len(devices)


def extract_with_encoder(encoder: VisionTransformer, params: Any, paths: Sequence[str],
                         labels: Sequence[int] | np.ndarray | None = None, *,
                         out: str | os.PathLike | None = None, frames: int | None = None,
                         frame_step: int = 4, crop: int | None = None, batch_size: int = 8,
                         keep_tokens: bool = True, workers: int | None = None,
                         progress: TextIO | bool | None = True, progress_every: int = 10,
                         settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Features of ``paths`` from a loaded encoder (``extract_features`` without loading).

    Args:
      encoder, params: e.g. ``model.encoder, model.encoder_params`` of ``vjepa_jax.load``.
      paths: video files; ``labels`` int ``[N]`` (default -1 each).
      out: write the ``.npz`` here (tokens are then streamed to the file and
        not returned); None keeps everything in memory.
      frames: frames per clip (default: the encoder's ``num_frames``);
        ``frame_step``: stride between them; ``crop``: side of the centre crop
        (default: the encoder's ``img_size``).
      batch_size: clips per encoder call (the last batch is padded).
      keep_tokens: also return / write ``tokens`` (else only ``pooled``).
      workers: decoding threads (default ``min(8, cpus)``; 0 decodes inline).
      progress: stream for progress lines; True: ``sys.stderr``; None or
        False: silent. One line every ``progress_every`` batches and a last
        one at the end.
      settings: extra entries for the ``settings`` JSON.

    Returns:
      The arrays of the output file (module docstring); ``tokens`` only when
      ``keep_tokens`` and ``out`` is None.
    """
    frames = int(frames or encoder.num_frames)
    crop = int(crop or encoder.img_size)
    if batch_size < 1 or frame_step < 1:
        raise ExtractError(f'batch size and frame step must be >= 1, got {batch_size}, '
                           f'{frame_step}.')
    try:
        grid = encoder.input_grid((1, frames, crop, crop, 3))
    except ValueError as e:
        raise ExtractError(str(e)) from None  # names the frame count and size to fix
    paths = [os.fspath(p) for p in paths]
    labels = (np.full(len(paths), -1, np.int64) if labels is None
              else np.asarray(labels, np.int64).reshape(-1))
    if len(labels) != len(paths):
        raise ExtractError(f'{len(labels)} labels for {len(paths)} videos.')
    if not paths:
        raise ExtractError('No videos to extract features from.')
    token_shape = (math.prod(grid), encoder.embed_dim)
    workers = min(8, os.cpu_count() or 1) if workers is None else int(workers)
    if progress is True:
        progress = sys.stderr  # looked up now, so redirections (pytest, notebooks) apply
    elif progress is False:
        progress = None

    forward, num_devices = forward_fn(encoder, params, batch_size)
    if progress is not None:
        print(f'extract: {len(paths)} videos, clips {frames} x {crop} x {crop} (step '
              f'{frame_step}) -> {token_shape[0]} tokens {grid} x {token_shape[1]}; batch '
              f'{batch_size} on {num_devices} device(s)', file=progress, flush=True)
    sink = NpzWriter(out, keep_tokens) if out is not None else MemorySink(keep_tokens)
    tracker = Progress(len(paths), progress, progress_every)
    ok_positions: list[int] = []
    pooled_parts: list[np.ndarray] = []
    failed: list[tuple[int, str, str]] = []
    clip_shape = (batch_size, frames, crop, crop, 3)
    buffer = np.zeros(clip_shape, np.uint8)
    in_buffer: list[int] = []
    in_flight: tuple[list[int], jax.Array, jax.Array] | None = None
    batches = 0

    def collect() -> None:
        # Materialise the previous batch while the device works on the next one.
        nonlocal in_flight, batches
        if in_flight is None:
            return
        positions, tokens, pooled = in_flight
        in_flight = None
        n = len(positions)
        sink.add(np.asarray(tokens)[:n])
        pooled_parts.append(np.asarray(pooled)[:n])
        ok_positions.extend(positions)
        batches += 1
        tracker.update(batches, len(ok_positions), len(failed))

    def dispatch() -> None:
        nonlocal in_flight, buffer
        tokens, pooled = forward(buffer)  # rows past len(in_buffer) are zero padding
        # A fresh buffer: on CPU the device array may alias this host memory.
        buffer = np.zeros(clip_shape, np.uint8)
        collect()
        in_flight = (list(in_buffer), tokens, pooled)
        in_buffer.clear()

    def load(path: str) -> np.ndarray:
        return load_clip(path, frames, frame_step, crop)

    try:
        for item in decoded_in_order(paths, load, workers, window=2 * batch_size + workers):
            if item.clip is None:
                failed.append((item.position, item.reason, item.detail))
                logger.warning('skipping %s [%s]: %s', paths[item.position], item.reason,
                               item.detail)
                continue
            buffer[len(in_buffer)] = item.clip
            in_buffer.append(item.position)
            if len(in_buffer) == batch_size:
                dispatch()
        if in_buffer:
            dispatch()
        collect()
        tracker.update(batches, len(ok_positions), len(failed), final=True)
        config = encoder_config(encoder)
        run_settings = {'frames': frames, 'frame_step': frame_step, 'crop': crop,
                        'batch_size': batch_size, 'dtype': config['dtype'],
                        'token_dtype': np.dtype(TOKEN_DTYPE).name,
                        'clip_sampling': 'clip_indices(rng=None): first window, 1 clip',
                        **(settings or {})}
        arrays = {
            'pooled': (np.concatenate(pooled_parts) if pooled_parts
                       else np.zeros((0, token_shape[1]), np.float32)),
            'paths': np.asarray([paths[i] for i in ok_positions], dtype=np.str_),
            'labels': labels[ok_positions] if ok_positions else np.zeros(0, np.int64),
            'failed_paths': np.asarray([paths[i] for i, _, _ in failed], dtype=np.str_),
            'failed_reasons': np.asarray([r for _, r, _ in failed], dtype=np.str_),
            'failed_details': np.asarray([d for _, _, d in failed], dtype=np.str_),
            'grid': np.asarray(grid, np.int64),
            'model_config': np.asarray(json.dumps(config, sort_keys=True)),
            'settings': np.asarray(json.dumps(run_settings, sort_keys=True, default=str)),
        }
        return sink.finish(arrays, token_shape)
    finally:
        sink.close()


def extract_features(checkpoint: str | os.PathLike | LoadedModel, videos: str | os.PathLike, *,
                     out: str | os.PathLike | None = None, step: int | None = None,
                     frames: int | None = None,
                     frame_step: int = 4, crop: int | None = None, batch_size: int = 8,
                     which: str = 'target_encoder', dtype: str | None = 'float32',
                     keep_tokens: bool = True, workers: int | None = None,
                     progress: TextIO | bool | None = True, progress_every: int = 10,
                     import_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Features of every video in ``videos`` from the encoder in ``checkpoint``.

    Args:
      checkpoint: anything ``vjepa_jax.load`` reads (official ``.pth.tar``,
        converted directory, training workdir), or a ``LoadedModel`` (its
        ``which`` encoder; ``step``, ``which`` and ``import_kwargs`` unused).
      videos: folder, index file or video file (``list_videos``).
      step: training workdirs: the step to read (None: the latest).
      which: ``'target_encoder'`` (default) or ``'encoder'``.
      dtype: compute dtype (``'float32'`` or ``'bfloat16'``; None: the checkpoint's).
      import_kwargs: for official files: ``num_heads``, ``num_frames``, ``img_size``.
      Everything else: see ``extract_with_encoder``.

    Returns:
      dict of arrays: ``tokens`` float16 ``[N, T'*H'*W', D]`` (not with
      ``out``/``keep_tokens=False``), ``pooled`` float32 ``[N, D]``, ``paths``,
      ``labels``, ``failed_paths``, ``failed_reasons``, ``failed_details``,
      ``grid``, ``model_config``, ``settings`` (module docstring).
    """
    paths, labels = list_videos(videos)
    if isinstance(checkpoint, LoadedModel):
        model = checkpoint
    else:
        model = load(checkpoint, step=step, which=which, dtype=dtype, **(import_kwargs or {}))
    encoder, params = model.encoder, model.encoder_params
    if dtype is not None and isinstance(checkpoint, LoadedModel):
        encoder = encoder.clone(dtype=compute_dtype(dtype))
    settings = {'checkpoint': model.provenance.path, 'videos': os.fspath(videos),
                'which': model.which, 'format': model.provenance.format,
                'step': model.provenance.step}
    return extract_with_encoder(encoder, params, paths, labels, out=out, frames=frames,
                                frame_step=frame_step, crop=crop, batch_size=batch_size,
                                keep_tokens=keep_tokens, workers=workers, progress=progress,
                                progress_every=progress_every, settings=settings)
