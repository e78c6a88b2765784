"""Decoding only the wanted frames (vjepa_jax.input.frame_decoding.read_frames)."""

from __future__ import annotations

import numpy as np

from tests.helpers.coded_videos import coded_frame, write_video
from vjepa_jax.input.frame_decoding import read_frames


def test_decodes_only_the_needed_span(tmp_path):
    # Non-reference B-frames (no pyramid) between P-frames, a keyframe every 10 frames.
    params = 'keyint=10:min-keyint=10:scenecut=0:bframes=3:b-adapt=0:b-pyramid=none'
    path = write_video(tmp_path / 'long.mp4', [coded_frame(i) for i in range(200)],
                       options={'x264-params': params})
    late = np.arange(150, 182, 2)
    result, scan = read_frames(path, late)
    assert scan.num_frames == 200
    assert sorted(result.frames) == list(late)
    assert 140 <= result.started_at <= 150  # started at the keyframe before frame 150
    assert result.decoded <= 40
    # Unwanted frames that nothing references are skipped (threads != 1 decodes them all).
    full, _ = read_frames(path, late, threads=2)
    assert full.started_at == result.started_at and result.decoded < full.decoded
    for i in late:
        np.testing.assert_array_equal(result.frames[i], full.frames[i])
    early, _ = read_frames(path, np.arange(0, 16, 2))
    assert early.started_at == 0 and early.decoded <= 20  # not the whole 200 frames
