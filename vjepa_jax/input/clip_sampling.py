"""Which frames a clip takes: the official temporal sampling rule of V-JEPA.

:func:`clip_indices` is the frame-index rule of V-JEPA's
``VideoDataset.loadvideo_decord`` (``src/datasets/video_dataset.py``), edge cases
included. The only difference is where the random window ends come from: an explicit
``np.random.Generator`` instead of NumPy's global RNG.
"""

from __future__ import annotations

import numpy as np


def _short_segment(length: int, frames_per_clip: int, frame_step: int) -> np.ndarray:
    """Official indices for a segment of ``length`` frames not longer than a clip.

    ``length // frame_step`` points spread evenly over ``[0, length]``, then ``length``
    repeated to reach ``frames_per_clip`` points, everything clipped to ``length - 1``
    (so the repeats are the segment's last frame). Returns int64 ``[frames_per_clip]``.
    """
    spread = length // frame_step
    values = np.concatenate([
        np.linspace(0, length, num=spread),
        np.full(frames_per_clip - spread, float(length)),
    ])
    return np.clip(values, 0, length - 1).astype(np.int64)


def clip_indices(
    num_frames_in_video: int,
    frames_per_clip: int,
    frame_step: int,
    num_clips: int,
    rng: np.random.Generator | None,
    allow_clip_overlap: bool = False,
) -> list[np.ndarray]:
    """Frame indices of ``num_clips`` clips, by the official V-JEPA rule.

    The video is cut into ``num_clips`` equal partitions of ``num_frames // num_clips``
    frames, one clip per partition. With ``clip_len = frames_per_clip * frame_step``:

    * partition longer than ``clip_len``: the window ends at
      ``rng.integers(clip_len, partition_len)`` (``clip_len`` when ``rng`` is None, the
      official ``random_clip_sampling=False``), and ``frames_per_clip`` points are spread
      with ``linspace`` over ``[end - clip_len, end]``, clipped to ``end - 1``;
    * otherwise (also when equal) the official short-video rule: ``partition_len //
      frame_step`` points over the partition, then its last frame repeated; with
      ``allow_clip_overlap`` the clips instead cover ``min(clip_len, num_frames) - 1``
      frames each and start ``(num_frames - clip_len) // (num_clips - 1)`` apart.

    Exactly as in the official code, a video with fewer frames than ``num_clips`` (or a
    single frame with ``allow_clip_overlap``) yields indices of -1;
    :func:`vjepa_jax.input.video.decode_clips` turns that into a ``too_short`` error.

    Args:
      num_frames_in_video: frames in the video (>= 1).
      frames_per_clip: frames in each clip.
      frame_step: stride between sampled frames.
      num_clips: clips per video.
      rng: source of the random window ends; None for the deterministic first window.
      allow_clip_overlap: the official flag for short videos.

    Returns:
      ``num_clips`` int64 arrays of shape ``[frames_per_clip]``.
    """
    n = int(num_frames_in_video)
    if n < 1:
        raise ValueError(f'a video needs at least one frame, got num_frames_in_video={n}')
    if frames_per_clip < 1 or frame_step < 1 or num_clips < 1:
        raise ValueError(
            'frames_per_clip, frame_step and num_clips must be >= 1, got '
            f'{frames_per_clip}, {frame_step}, {num_clips}')
    clip_len = frames_per_clip * frame_step
    partition_len = n // num_clips

    clips = []
    for i in range(num_clips):
        if partition_len > clip_len:
            end = clip_len if rng is None else int(rng.integers(clip_len, partition_len))
            start = end - clip_len
            window = np.linspace(start, end, num=frames_per_clip)
            indices = np.clip(window, start, end - 1).astype(np.int64) + i * partition_len
        elif not allow_clip_overlap:
            indices = (_short_segment(partition_len, frames_per_clip, frame_step)
                       + i * partition_len)
        else:
            span = min(clip_len, n) - 1
            # Only reachable with num_clips > 1 when n > clip_len, so no division by zero.
            shift = (n - clip_len) // (num_clips - 1) if n > clip_len else 0
            indices = _short_segment(span, frames_per_clip, frame_step) + i * shift
        clips.append(indices)
    return clips
