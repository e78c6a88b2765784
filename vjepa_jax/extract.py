"""Frozen-encoder features for video files, from any checkpoint.

Command line::

  python -m vjepa_jax.extract --checkpoint C --videos DIR_OR_INDEX --out features.npz \\
      [--frames 16 --frame-step 4 --crop 224 --batch 8 --which target_encoder \\
       --dtype float32|bfloat16 --workers 4 --no-tokens --num-heads N]

``--checkpoint``: an official ``.pth.tar``, our converted model directory or a
training workdir (its latest step); see :mod:`vjepa_jax.encoder_loading`.
``--videos``: a folder (every video file below it, sorted by relative path;
labels -1), an official index file (``path label`` lines; labels kept), or a
single video file.

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
  ``settings``        JSON str: checkpoint, videos, which, frames, frame_step,
                      crop, dtype, batch size.

The file is written to a temporary sibling and renamed, and tokens are
streamed there batch by batch, so any number of videos fits in memory.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from vjepa_jax.convert.official_config import ConversionError
from vjepa_jax.convert.torch_pickle import CheckpointFormatError, UnsafeCheckpointError
from vjepa_jax.encoder_loading import EncoderLoadError, encoder_config, load_encoder
from vjepa_jax.errors import ConfigError
from vjepa_jax.input.index import IndexFileError, read_index
from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.input.transforms import eval_transform
from vjepa_jax.input.video import VideoError, decode_clips
from vjepa_jax.models.vit import VisionTransformer

logger = logging.getLogger('vjepa_jax.extract')  # also when run as __main__

# Files a folder scan picks up (lower-case suffixes); anything else in the folder is ignored.
VIDEO_EXTENSIONS = ('.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi', '.mpg', '.mpeg', '.ts',
                    '.flv', '.wmv', '.ogv', '.3gp')
TOKEN_DTYPE = np.float16


class ExtractError(ConfigError):
    """A user mistake in what to extract (no videos, clip size, batch size)."""


# ------------------------------------------------------------------------------ inputs


def list_videos(videos: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """``(paths, labels int64 [N])`` of a folder, an index file or one video file.

    A folder gives every file below it with a video suffix (``VIDEO_EXTENSIONS``),
    sorted by relative path, hidden files and folders skipped, labels -1.
    Any other file is read as an official index file, unless its suffix
    says it is a video.
    """
    root = Path(videos)
    if not root.exists():
        raise FileNotFoundError(f'No videos at {root}: give a folder of videos, an index '
                                'file ("path label" lines) or a video file.')
    if root.is_dir():
        paths = sorted(
            str(p) for p in root.rglob('*')
            if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
            and not any(part.startswith('.') for part in p.relative_to(root).parts))
        if not paths:
            raise ExtractError(f'No video files in {root} (looked for '
                               f'{", ".join(VIDEO_EXTENSIONS)} below it).')
        return paths, np.full(len(paths), -1, np.int64)
    if root.suffix.lower() in VIDEO_EXTENSIONS:
        return [str(root)], np.full(1, -1, np.int64)
    index = read_index(root)
    return list(index.paths), np.asarray(index.labels, np.int64)


def load_clip(path: str, frames: int, frame_step: int, crop: int) -> np.ndarray:
    """One deterministic evaluation clip: uint8 ``[frames, crop, crop, 3]``.

    Raises:
      VideoError: the file cannot give the clip.
    """
    clips, _ = decode_clips(path, frames, frame_step, 1, None)
    return eval_transform(clips[0], crop, 1)[0]


@dataclasses.dataclass
class _Decoded:
    position: int
    clip: np.ndarray | None
    reason: str = ''
    detail: str = ''


def _decode_one(position: int, path: str, load: Callable[[str], np.ndarray]) -> _Decoded:
    try:
        return _Decoded(position, load(path))
    except VideoError as e:
        return _Decoded(position, None, e.reason, e.detail)
    except Exception as e:  # noqa: BLE001 - one odd file must not end a long run
        return _Decoded(position, None, 'error', f'{type(e).__name__}: {e}')


def _decoded_in_order(paths: Sequence[str], load: Callable[[str], np.ndarray], workers: int,
                      window: int) -> Iterator[_Decoded]:
    """Decodes ``paths`` in ``workers`` threads, at most ``window`` ahead; yields in order."""
    if workers <= 0:
        for i, p in enumerate(paths):
            yield _decode_one(i, p, load)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix='extract-decode')
    try:
        pending: collections.deque = collections.deque()
        todo = iter(enumerate(paths))
        for i, p in todo:
            pending.append(pool.submit(_decode_one, i, p, load))
            if len(pending) >= window:
                break
        while pending:
            result = pending.popleft().result()
            for i, p in todo:
                pending.append(pool.submit(_decode_one, i, p, load))
                break
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------ device


def _forward_fn(encoder: VisionTransformer, params: Any, batch_size: int
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


# ------------------------------------------------------------------------------ outputs


class _MemorySink:
    """Keeps token batches in memory (the Python API without ``out``)."""

    def __init__(self, keep_tokens: bool):
        self.keep_tokens = keep_tokens
        self.parts: list[np.ndarray] = []

    def add(self, tokens: np.ndarray) -> None:
        if self.keep_tokens:
            self.parts.append(tokens)

    def finish(self, arrays: dict[str, Any], token_shape: tuple[int, int]) -> dict[str, Any]:
        if self.keep_tokens:
            empty = np.zeros((0, *token_shape), TOKEN_DTYPE)
            arrays = {'tokens': np.concatenate(self.parts) if self.parts else empty, **arrays}
        return arrays

    def close(self) -> None:
        self.parts = []


class _NpzWriter:
    """Streams token batches to a raw temporary file; ``finish`` assembles the ``.npz``.

    An ``.npz`` is a zip of ``.npy`` files; the tokens' header needs the final
    row count, which is known only at the end, so their bytes wait in a raw
    file next to the output and are copied into the zip in chunks.
    """

    def __init__(self, out: str | os.PathLike, keep_tokens: bool):
        self.out = Path(out).absolute()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.keep_tokens = keep_tokens
        self.rows = 0
        self._raw = None
        if keep_tokens:
            # Closed in close(); it lives across many add() calls.
            self._raw = tempfile.NamedTemporaryFile(  # noqa: SIM115
                dir=self.out.parent, prefix=f'.{self.out.name}.tokens-', delete=False)

    def add(self, tokens: np.ndarray) -> None:
        if self._raw is not None:
            self._raw.write(np.ascontiguousarray(tokens, TOKEN_DTYPE).tobytes())
            self.rows += tokens.shape[0]

    def finish(self, arrays: dict[str, Any], token_shape: tuple[int, int]) -> dict[str, Any]:
        fd, tmp = tempfile.mkstemp(dir=self.out.parent, prefix=f'.{self.out.name}.',
                                   suffix='.tmp')
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, 'w', compression=zipfile.ZIP_STORED,
                                 allowZip64=True) as zf:
                if self._raw is not None:
                    self._raw.flush()
                    header = {'descr': np.lib.format.dtype_to_descr(np.dtype(TOKEN_DTYPE)),
                              'fortran_order': False, 'shape': (self.rows, *token_shape)}
                    with zf.open('tokens.npy', 'w', force_zip64=True) as f, \
                            open(self._raw.name, 'rb') as raw:
                        np.lib.format.write_array_header_1_0(f, header)
                        shutil.copyfileobj(raw, f, length=1 << 24)
                for name, value in arrays.items():
                    with zf.open(f'{name}.npy', 'w', force_zip64=True) as f:
                        np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
            os.replace(tmp, self.out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return arrays

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            Path(self._raw.name).unlink(missing_ok=True)
            self._raw = None


def _format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return '?'
    s = round(max(seconds, 0.0))
    if s < 3600:
        return f'{s // 60}m{s % 60:02d}s'
    return f'{s // 3600}h{s % 3600 // 60:02d}m'


class _Progress:
    """``extract: 80/1000 videos (8.0%), 1 failed | 12.3 videos/s | ETA 1m15s`` lines."""

    def __init__(self, total: int, stream: TextIO | None, every: int):
        self.total, self.stream, self.every = total, stream, max(int(every), 1)
        self.start = time.monotonic()
        self.first: tuple[int, float] | None = None  # after the first batch (compile done)

    def update(self, batches: int, done: int, failed: int, final: bool = False) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = (done + failed, now)
        seen = done + failed
        if self.stream is None or not (final or (batches % self.every == 0
                                                 and seen < self.total)):
            return
        share = 100.0 * seen / self.total
        parts = [f'extract: {seen}/{self.total} videos ({share:.1f}%), {failed} failed']
        first_seen, first_time = self.first
        if seen > first_seen and now > first_time:
            rate = (seen - first_seen) / (now - first_time)  # compile excluded
        else:
            rate = seen / max(now - self.start, 1e-9)
        parts.append(f'{rate:.1f} videos/s')
        if final:
            parts.append(f'done in {_format_duration(now - self.start)}')
        else:
            parts.append(f'ETA {_format_duration((self.total - seen) / max(rate, 1e-9))}')
        print(' | '.join(parts), file=self.stream, flush=True)


# ------------------------------------------------------------------------------ API


def extract_with_encoder(encoder: VisionTransformer, params: Any, paths: Sequence[str],
                         labels: Sequence[int] | np.ndarray | None = None, *,
                         out: str | os.PathLike | None = None, frames: int | None = None,
                         frame_step: int = 4, crop: int | None = None, batch_size: int = 8,
                         keep_tokens: bool = True, workers: int | None = None,
                         progress: TextIO | bool | None = True, progress_every: int = 10,
                         settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Features of ``paths`` from a loaded encoder (``extract_features`` without loading).

    Args:
      encoder, params: e.g. from ``encoder_loading.load_encoder``.
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

    forward, num_devices = _forward_fn(encoder, params, batch_size)
    if progress is not None:
        print(f'extract: {len(paths)} videos, clips {frames} x {crop} x {crop} (step '
              f'{frame_step}) -> {token_shape[0]} tokens {grid} x {token_shape[1]}; batch '
              f'{batch_size} on {num_devices} device(s)', file=progress, flush=True)
    sink = _NpzWriter(out, keep_tokens) if out is not None else _MemorySink(keep_tokens)
    tracker = _Progress(len(paths), progress, progress_every)
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
        for item in _decoded_in_order(paths, load, workers, window=2 * batch_size + workers):
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


def extract_features(checkpoint: str | os.PathLike, videos: str | os.PathLike, *,
                     out: str | os.PathLike | None = None, frames: int | None = None,
                     frame_step: int = 4, crop: int | None = None, batch_size: int = 8,
                     which: str = 'target_encoder', dtype: str | None = 'float32',
                     keep_tokens: bool = True, workers: int | None = None,
                     progress: TextIO | bool | None = True, progress_every: int = 10,
                     import_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Features of every video in ``videos`` from the encoder in ``checkpoint``.

    Args:
      checkpoint: official ``.pth.tar``, model checkpoint directory or
        training workdir (``encoder_loading.load_encoder``).
      videos: folder, index file or video file (``list_videos``).
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
    encoder, params = load_encoder(checkpoint, which, dtype=dtype, **(import_kwargs or {}))
    settings = {'checkpoint': os.fspath(checkpoint), 'videos': os.fspath(videos),
                'which': which}
    return extract_with_encoder(encoder, params, paths, labels, out=out, frames=frames,
                                frame_step=frame_step, crop=crop, batch_size=batch_size,
                                keep_tokens=keep_tokens, workers=workers, progress=progress,
                                progress_every=progress_every, settings=settings)


# ------------------------------------------------------------------------------ CLI

USER_ERRORS = (FileNotFoundError, NotADirectoryError, EncoderLoadError, ExtractError,
               IndexFileError, ConversionError, UnsafeCheckpointError, CheckpointFormatError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m vjepa_jax.extract',
        description='Frozen-encoder features (tokens and mean-pooled) of video files.')
    parser.add_argument('--checkpoint', required=True,
                        help='official .pth.tar, converted checkpoint directory or training '
                             'workdir')
    parser.add_argument('--videos', required=True,
                        help='folder of videos, index file ("path label" lines) or a video')
    parser.add_argument('--out', required=True, help='output .npz')
    parser.add_argument('--frames', type=int, default=None,
                        help='frames per clip (default: the model\'s, 16 for official ones)')
    parser.add_argument('--frame-step', type=int, default=4, help='frame stride (default 4)')
    parser.add_argument('--crop', type=int, default=None,
                        help='centre crop side (default: the model\'s resolution)')
    parser.add_argument('--batch', type=int, default=8, help='clips per encoder call')
    parser.add_argument('--which', default='target_encoder', choices=('target_encoder',
                                                                      'encoder'))
    parser.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'),
                        help='compute dtype (params stay float32)')
    parser.add_argument('--workers', type=int, default=None,
                        help='decoding threads (default min(8, CPUs))')
    parser.add_argument('--no-tokens', action='store_true',
                        help='store only the pooled features (small files)')
    parser.add_argument('--progress-every', type=int, default=10,
                        help='batches between progress lines')
    parser.add_argument('--num-heads', type=int, default=None,
                        help='official files: attention heads, for widths that are not an '
                             'official size')
    parser.add_argument('--num-frames', type=int, default=None,
                        help='official files: frames the model was built for (default 16)')
    parser.add_argument('--img-size', type=int, default=None,
                        help='official files: resolution the model was built for')
    args = parser.parse_args(argv)
    # Skipped videos as 'warning: ...' lines next to the progress lines; the
    # handler is removed again so that callers' logging (and pytest's) is untouched.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter('%(levelname)s: %(message)s'))
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    logging.getLogger('absl').setLevel(logging.ERROR)  # orbax's notes on metadata files
    import_kwargs = {k: v for k, v in (('num_heads', args.num_heads),
                                       ('num_frames', args.num_frames),
                                       ('img_size', args.img_size)) if v is not None}
    try:
        result = extract_features(
            args.checkpoint, args.videos, out=args.out, frames=args.frames,
            frame_step=args.frame_step, crop=args.crop, batch_size=args.batch,
            which=args.which, dtype=args.dtype, keep_tokens=not args.no_tokens,
            workers=args.workers, progress_every=args.progress_every,
            import_kwargs=import_kwargs)
    except USER_ERRORS as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    n, n_failed = len(result['paths']), len(result['failed_paths'])
    print(f'wrote {args.out}: {n} videos, {n_failed} failed'
          + (f' ({", ".join(sorted(set(result["failed_reasons"].tolist())))})'
             if n_failed else ''), file=sys.stderr)
    if n == 0:
        print('error: no video could be read', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
