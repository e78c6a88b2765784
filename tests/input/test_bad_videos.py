"""Bad video files: always a VideoError with a reason, never a bare PyAV exception."""

from __future__ import annotations

import pickle
from pathlib import Path

import av
import numpy as np
import pytest

from tests.helpers.coded_videos import H, W, coded_frame, good_video
from vjepa_jax.input import video_errors
from vjepa_jax.input.video import decode_clips
from vjepa_jax.input.video_errors import VideoError


def _truncated_tail(tmp_path):
    data = Path(good_video(tmp_path)).read_bytes()  # moov at the end: the index is cut off
    path = tmp_path / 'cut.mp4'
    path.write_bytes(data[:len(data) // 2])
    return path


def _truncated_faststart(tmp_path):
    src = tmp_path / 'fs.mp4'
    with av.open(str(src), 'w', options={'movflags': 'faststart'}) as container:
        stream = container.add_stream('libx264', rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, 'yuv420p'
        for i in range(30):
            for packet in stream.encode(av.VideoFrame.from_ndarray(coded_frame(i),
                                                                   format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = src.read_bytes()
    path = tmp_path / 'fs_cut.mp4'
    path.write_bytes(data[:int(len(data) * 0.6)])  # index complete, samples missing
    return path


def _text(tmp_path):
    path = tmp_path / 'notes.mp4'
    path.write_text('this is not a video\n' * 50)
    return path


def _audio_only(tmp_path):
    path = tmp_path / 'audio.mp4'
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('aac', rate=16000)
        for i in range(10):
            samples = np.zeros((1, 1024), np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format='fltp', layout='mono')
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _image(tmp_path):
    from PIL import Image

    path = tmp_path / 'photo.mp4'
    Image.fromarray(coded_frame(3)).save(path, format='PNG')
    return path


def _empty(tmp_path):
    path = tmp_path / 'empty.mp4'
    path.write_bytes(b'')
    return path


FAILURES = {
    'missing': lambda tmp: tmp / 'nope.mp4',
    'not_a_file': lambda tmp: tmp,
    'empty': _empty,
    'not_a_video': _text,
    'corrupt': _truncated_tail,
    'corrupt_faststart': _truncated_faststart,
    'no_video_stream': _audio_only,
    'still_image': _image,
}
EXPECTED_REASON = {'corrupt_faststart': 'corrupt', 'still_image': 'not_a_video'}


@pytest.mark.parametrize('case', list(FAILURES))
def test_bad_files_raise_video_error(tmp_path, case):
    path = FAILURES[case](tmp_path)
    with pytest.raises(VideoError) as info:
        decode_clips(path, 4, 2, 1, None)
    error = info.value
    assert error.reason == EXPECTED_REASON.get(case, case)
    assert error.reason in video_errors.REASONS
    assert error.path == str(path) and str(path) in str(error)
    # Survives the trip between data-loader processes.
    again = pickle.loads(pickle.dumps(error))
    assert (again.path, again.reason, str(again)) == (error.path, error.reason, str(error))


def test_too_short(tmp_path):
    path = good_video(tmp_path, n=12)
    clips, _ = decode_clips(path, 8, 2, 1, None)  # official short-video rule
    assert clips.shape[:2] == (1, 8)
    with pytest.raises(VideoError) as info:
        decode_clips(path, 8, 2, 1, None, min_frames=16)
    assert info.value.reason == 'too_short' and '12 frames' in str(info.value)
    with pytest.raises(VideoError) as info:
        decode_clips(path, 2, 1, 13, None)  # more clips than frames: indices of -1
    assert info.value.reason == 'too_short'


def test_damaged_middle_never_leaks_av_errors(tmp_path):
    data = bytearray(Path(good_video(tmp_path, n=60)).read_bytes())
    rng = np.random.default_rng(0)
    for trial in range(4):
        damaged = bytearray(data)
        start = len(damaged) // 4 + trial * 500
        damaged[start:start + 400] = rng.integers(0, 256, 400, dtype=np.uint8).tobytes()
        path = tmp_path / f'damaged{trial}.mp4'
        path.write_bytes(bytes(damaged))
        try:
            clips, _ = decode_clips(path, 8, 4, 1, np.random.default_rng(trial))
        except VideoError as e:
            assert e.reason in video_errors.REASONS
        else:
            assert clips.shape == (1, 8, H, W, 3)
