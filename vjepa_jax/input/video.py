"""Clips of a video file: :func:`decode_clips`, the reader the data pipelines call.

:func:`decode_clips` opens a file with PyAV, counts its frames
(:mod:`~vjepa_jax.input.video_container`), draws the indices with the official rule
(:func:`~vjepa_jax.input.clip_sampling.clip_indices`) and decodes only the span they
need (:mod:`~vjepa_jax.input.frame_decoding`). Every failure (missing, empty, truncated,
not a video, no video stream, too short) raises :class:`VideoError`
(:mod:`~vjepa_jax.input.video_errors`), never a bare PyAV exception, so a data loader
can skip the sample and log ``error.reason``. ``VideoError`` and ``clip_indices`` are
importable from here as well, the names a caller of ``decode_clips`` needs.
"""

from __future__ import annotations

import os

import numpy as np

from vjepa_jax.input import frame_decoding, video_container
from vjepa_jax.input.clip_sampling import clip_indices
from vjepa_jax.input.video_errors import VideoError

__all__ = ['VideoError', 'clip_indices', 'decode_clips']


def decode_clips(
    path: str | os.PathLike,
    frames_per_clip: int,
    frame_step: int,
    num_clips: int,
    rng: np.random.Generator | None,
    *,
    min_frames: int | None = None,
    allow_clip_overlap: bool = False,
    threads: int = 1,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Decode ``num_clips`` clips of a video file, sampled by the official rule.

    Args:
      path: video file (any container/codec FFmpeg reads).
      frames_per_clip: frames per clip.
      frame_step: stride between sampled frames.
      num_clips: clips per video (one per equal partition of the video).
      rng: random window ends (see :func:`clip_indices`); None for the first window.
      min_frames: raise ``VideoError(reason='too_short')`` for videos with fewer frames
        (the official ``filter_short_videos`` uses ``frames_per_clip * frame_step``).
      allow_clip_overlap: the official short-video flag.
      threads: decoder threads; 1 suits data-loader workers (one per core), 0 lets FFmpeg
        choose.

    Returns:
      ``(clips, indices)``: uint8 RGB ``[num_clips, frames_per_clip, H, W, 3]`` in display
      orientation, and the ``num_clips`` int64 index arrays ``[frames_per_clip]`` used.

    Raises:
      VideoError: for any file that cannot give the clips (see ``video_errors.REASONS``).
    """
    path = os.fspath(path)
    with video_container.open_video(path) as container:
        stream = video_container.video_stream(container, path)
        scan = video_container.scan_packets(container, stream, path)
        n = scan.num_frames
        if n == 0:
            raise VideoError(path, 'no_frames', 'the video stream has no frames')
        if min_frames is not None and n < min_frames:
            raise VideoError(path, 'too_short', f'{n} frames, at least {min_frames} needed')
        indices = clip_indices(n, frames_per_clip, frame_step, num_clips, rng,
                               allow_clip_overlap=allow_clip_overlap)
        flat = np.concatenate(indices)
        if flat.min() < 0 or flat.max() >= n:
            raise VideoError(path, 'too_short',
                             f'{n} frames cannot be cut into {num_clips} clips')
        result, _ = frame_decoding.read_frames(path, np.unique(flat), scan=scan,
                                               threads=threads, container=container)

    first = result.frames[int(flat[0])]
    clips = np.empty((num_clips, frames_per_clip) + first.shape, dtype=np.uint8)
    for c, clip in enumerate(indices):
        for t, index in enumerate(clip):
            clips[c, t] = result.frames[int(index)]
    return clips, indices
