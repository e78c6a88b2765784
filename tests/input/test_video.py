"""PyAV decoding and the official temporal sampling rule (vjepa_jax.input.video)."""

from __future__ import annotations

import pickle
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vjepa_jax.input import frames, video
from vjepa_jax.input.video import VideoError, clip_indices, decode_clips

W, H = 64, 48


# --------------------------------------------------------------------------------------
# Official rule, transcribed independently (loop per clip, explicit branches)
# --------------------------------------------------------------------------------------


def official_indices(num_frames, fpc, fstp, num_clips, randint, random_sampling, overlap):
    """The frame-index rule of the official VideoDataset.loadvideo_decord.

    ``randint(low, high)`` stands in for ``np.random.randint`` (high exclusive).
    """
    clip_len = int(fpc * fstp)
    part = num_frames // num_clips
    result = []
    for c in range(num_clips):
        if part > clip_len:
            stop = randint(clip_len, part) if random_sampling else clip_len
            begin = stop - clip_len
            idx = np.linspace(begin, stop, num=fpc)
            idx = np.clip(idx, begin, stop - 1).astype(np.int64)
            idx = idx + c * part
        elif not overlap:
            count = part // fstp
            idx = np.linspace(0, part, num=count)
            idx = np.concatenate((idx, np.ones(fpc - count) * part))
            idx = np.clip(idx, 0, part - 1).astype(np.int64)
            idx = idx + c * part
        else:
            last = min(clip_len, num_frames) - 1
            count = last // fstp
            idx = np.linspace(0, last, num=count)
            idx = np.concatenate((idx, np.ones(fpc - count) * last))
            idx = np.clip(idx, 0, last - 1).astype(np.int64)
            stride = 0
            if num_frames > clip_len:
                stride = (num_frames - clip_len) // (num_clips - 1)
            idx = idx + c * stride
        result.append(idx)
    return result


class RecordingRng:
    """A Generator stand-in that logs each ``integers(low, high)`` call."""

    def __init__(self, seed):
        self.gen = np.random.default_rng(seed)
        self.calls = []

    def integers(self, low, high):
        self.calls.append((int(low), int(high)))
        return self.gen.integers(low, high)


LENGTHS = [1, 2, 3, 5, 7, 8, 15, 16, 17, 23, 31, 32, 33, 47, 48, 49, 64, 65, 97, 128,
           129, 200, 301]
SHAPES = [(1, 1), (2, 1), (3, 2), (4, 4), (8, 2), (8, 4), (16, 2), (16, 4), (5, 3)]


@pytest.mark.parametrize('overlap', [False, True])
@pytest.mark.parametrize('num_clips', [1, 2, 3, 5])
def test_clip_indices_match_official_rule(num_clips, overlap):
    checked = 0
    for n in LENGTHS:
        if overlap and n == 0:
            continue
        for fpc, step in SHAPES:
            for seed in range(3):
                ours_rng, ref_rng = RecordingRng(seed), RecordingRng(seed)
                ours = clip_indices(n, fpc, step, num_clips, ours_rng, overlap)
                ref = official_indices(n, fpc, step, num_clips, ref_rng.integers, True,
                                       overlap)
                assert ours_rng.calls == ref_rng.calls, (n, fpc, step)
                assert len(ours) == num_clips
                for a, b in zip(ours, ref):
                    assert a.dtype == np.int64 and a.shape == (fpc,)
                    np.testing.assert_array_equal(a, b, err_msg=f'{n=} {fpc=} {step=}')
                checked += 1
            # Deterministic variant (official random_clip_sampling=False).
            ours = clip_indices(n, fpc, step, num_clips, None, overlap)
            ref = official_indices(n, fpc, step, num_clips, None, False, overlap)
            for a, b in zip(ours, ref):
                np.testing.assert_array_equal(a, b, err_msg=f'{n=} {fpc=} {step=}')
    assert checked == len(LENGTHS) * len(SHAPES) * 3


def test_clip_indices_edge_cases():
    # partition_len == clip_len takes the short branch: linspace over [0, 32], clipped.
    (idx,) = clip_indices(32, 16, 2, 1, np.random.default_rng(0))
    np.testing.assert_array_equal(
        idx, [0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31])
    # Short video: 10 frames for 8 x 4 -> 10 // 4 = 2 points, then the last frame repeated.
    (idx,) = clip_indices(10, 8, 4, 1, None)
    np.testing.assert_array_equal(idx, [0, 9, 9, 9, 9, 9, 9, 9])
    # Long video: the window end is drawn in [clip_len, partition_len).
    ends = {int(clip_indices(40, 4, 2, 1, np.random.default_rng(s))[0][-1]) for s in
            range(200)}
    assert min(ends) >= 6 and max(ends) <= 38 and len(ends) > 20
    # Fewer frames than clips: official indices of -1 (decode_clips rejects them).
    assert all((c == -1).all() for c in clip_indices(2, 4, 1, 3, None))
    with pytest.raises(ValueError):
        clip_indices(0, 4, 1, 1, None)
    with pytest.raises(ValueError):
        clip_indices(10, 0, 1, 1, None)


# --------------------------------------------------------------------------------------
# Test videos: each frame carries its index as 8 black/white stripes
# --------------------------------------------------------------------------------------


def coded_frame(i: int) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    for b in range(8):
        if (i >> b) & 1:
            img[:, 8 * b:8 * b + 8, 0] = 255
    img[:, :, 1] = (37 * i) % 200  # varying content so P/B frames carry real changes
    img[:, :, 2] = np.arange(W, dtype=np.uint8)[None, :] * 3
    return img


def read_index(img: np.ndarray) -> int:
    red = img[..., 0].astype(np.float32)
    return sum(1 << b for b in range(8) if red[:, 8 * b + 2:8 * b + 6].mean() > 127)


def write_video(path, frames, *, codec='libx264', pix_fmt='yuv420p', options=None,
                rate=10, pts=None, time_base=None, fmt=None, rotation=None):
    with av.open(str(path), 'w', format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = pix_fmt
        stream.codec_context.thread_count = 1
        if options:
            stream.options = options
        if time_base is not None:
            stream.codec_context.time_base = time_base
        if rotation is not None:
            stream.set_display_rotation(rotation[0], hflip=rotation[1])
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format='rgb24')
            if pts is not None:
                frame.pts, frame.time_base = int(pts[i]), time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def reference_frames(path) -> list[np.ndarray]:
    """Every frame, decoded from the start in output order (the ground truth)."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format='rgb24') for f in container.decode(video=0)]


_VFR_PTS = np.concatenate([[0], np.cumsum(np.random.default_rng(1).integers(15, 160, 89))])

VARIANTS = {
    # B-frames and a keyframe every 10 frames: seeking and reordering.
    # (b-adapt=0 forces the B-frames: x264 would otherwise pick P-frames for this content.)
    'h264_gop10_bframes': {'name': 'a.mp4', 'options': {
        'x264-params': 'keyint=10:min-keyint=10:scenecut=0:bframes=3:b-adapt=0'}},
    # Open GOP: leading B-frames of a keyframe come after it in decode order.
    'h264_open_gop': {'name': 'b.mp4', 'options': {
        'x264-params': 'keyint=12:min-keyint=12:scenecut=0:bframes=3:b-adapt=0:open-gop=1'}},
    # Variable frame rate: irregular pts in milliseconds.
    'h264_vfr': {'name': 'c.mp4', 'pts': _VFR_PTS, 'time_base': Fraction(1, 1000),
                 'options': {'x264-params': 'keyint=10:scenecut=0:bframes=2:b-adapt=0'}},
    # Raw H.264 elementary stream: no timestamps at all (frames counted in order).
    'h264_raw_no_pts': {'name': 'd.h264', 'fmt': 'h264', 'options': {
        'x264-params': 'keyint=10:bframes=3:b-adapt=0'}},
    'mpeg4_avi_bframes': {'name': 'e.avi', 'codec': 'mpeg4',
                          'options': {'g': '8', 'bf': '2'}},
    'vp9_webm': {'name': 'f.webm', 'codec': 'libvpx-vp9', 'options': {
        'g': '10', 'deadline': 'realtime', 'cpu-used': '8'}},
    'mjpeg_full_range': {'name': 'g.avi', 'codec': 'mjpeg', 'pix_fmt': 'yuvj420p'},
    'h264_yuv444_mkv': {'name': 'h.mkv', 'pix_fmt': 'yuv444p',
                        'options': {'x264-params': 'keyint=15'}},
}


@pytest.fixture(scope='module')
def variant_files(tmp_path_factory):
    root = tmp_path_factory.mktemp('variants')
    frames = [coded_frame(i) for i in range(90)]
    files = {}
    for key, spec in VARIANTS.items():
        spec = dict(spec)
        files[key] = write_video(root / spec.pop('name'), frames, **spec)
    return files


@pytest.mark.parametrize('variant', list(VARIANTS))
def test_decode_matches_sequential_decoding(variant_files, variant):
    path = variant_files[variant]
    ref = reference_frames(path)
    assert [read_index(f) for f in ref] == list(range(90))  # the test video is sound
    settings = [(8, 3, 2), (16, 4, 1), (4, 1, 3), (16, 2, 1)]
    for seed in range(4):
        for fpc, step, num_clips in settings:
            rng = np.random.default_rng(seed) if seed else None
            clips, indices = decode_clips(path, fpc, step, num_clips, rng)
            assert clips.dtype == np.uint8 and clips.shape == (num_clips, fpc, H, W, 3)
            expected = clip_indices(90, fpc, step, num_clips,
                                    np.random.default_rng(seed) if seed else None)
            for got, want in zip(indices, expected):
                np.testing.assert_array_equal(got, want)
            for clip, idx in zip(clips, indices):
                for image, i in zip(clip, idx):
                    assert read_index(image) == i
                    # Bit-identical to decoding everything from the start.
                    np.testing.assert_array_equal(image, ref[i])


def test_threads_option_gives_same_frames(variant_files):
    path = variant_files['h264_gop10_bframes']
    a, ia = decode_clips(path, 8, 4, 2, np.random.default_rng(5), threads=1)
    b, ib = decode_clips(path, 8, 4, 2, np.random.default_rng(5), threads=0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.stack(ia), np.stack(ib))


def test_path_types(variant_files):
    # str, Path and numpy.str_ (paths read back from .npz / index arrays) give the same
    # frames; PyAV 19 rejects str subclasses such as numpy.str_.
    path = str(variant_files['h264_gop10_bframes'])
    ref, _ = decode_clips(path, 4, 2, 1, None)
    for p in (Path(path), np.str_(path), np.asarray([path])[0]):
        clips, _ = decode_clips(p, 4, 2, 1, None)
        np.testing.assert_array_equal(clips, ref)


def test_decodes_only_the_needed_span(tmp_path):
    # Non-reference B-frames (no pyramid) between P-frames, a keyframe every 10 frames.
    params = 'keyint=10:min-keyint=10:scenecut=0:bframes=3:b-adapt=0:b-pyramid=none'
    path = write_video(tmp_path / 'long.mp4', [coded_frame(i) for i in range(200)],
                       options={'x264-params': params})
    late = np.arange(150, 182, 2)
    result, scan = video._read_frames(path, late)
    assert scan.num_frames == 200
    assert sorted(result.frames) == list(late)
    assert 140 <= result.started_at <= 150  # started at the keyframe before frame 150
    assert result.decoded <= 40
    # Unwanted frames that nothing references are skipped (threads != 1 decodes them all).
    full, _ = video._read_frames(path, late, threads=2)
    assert full.started_at == result.started_at and result.decoded < full.decoded
    for i in late:
        np.testing.assert_array_equal(result.frames[i], full.frames[i])
    early, _ = video._read_frames(path, np.arange(0, 16, 2))
    assert early.started_at == 0 and early.decoded <= 20  # not the whole 200 frames


def test_pixel_formats_become_rgb(tmp_path):
    image = np.zeros((H, W, 3), np.uint8)
    image[:, :W // 2] = (200, 30, 60)
    image[:, W // 2:] = (20, 180, 240)
    for name, codec, pix_fmt in [('a.mp4', 'libx264', 'yuv420p'),
                                 ('b.mp4', 'libx264', 'yuv444p'),
                                 ('c.avi', 'mjpeg', 'yuvj420p'),
                                 ('d.mov', 'png', 'rgb24'),
                                 ('e.mkv', 'ffv1', 'yuv420p10le')]:
        path = write_video(tmp_path / name, [image] * 6, codec=codec, pix_fmt=pix_fmt)
        clips, _ = decode_clips(path, 4, 1, 1, None)
        assert clips.shape == (1, 4, H, W, 3) and clips.dtype == np.uint8, name
        # Away from the colour edge (chroma subsampling blurs it).
        diff = np.abs(clips[0, :, :, 4:W // 2 - 4].astype(int) - image[:, 4:W // 2 - 4])
        assert diff.max() <= 12, (name, diff.max())
        diff = np.abs(clips[0, :, :, W // 2 + 4:-4].astype(int) - image[:, W // 2 + 4:-4])
        assert diff.max() <= 12, (name, diff.max())


ROTATIONS = [(90, False), (-90, False), (180, False), (90, True), (0, True)]


@pytest.mark.skipif(not hasattr(av.video.stream.VideoStream, 'set_display_rotation'),
                    reason='this PyAV cannot write a display matrix')
@pytest.mark.parametrize('rotation', ROTATIONS)
def test_display_rotation_is_applied(tmp_path, rotation):
    image = np.zeros((32, 64, 3), np.uint8)
    image[:16, :32] = (255, 0, 0)
    image[:16, 32:] = (0, 255, 0)
    image[16:, :32] = (0, 0, 255)
    image[16:, 32:] = (255, 255, 255)
    path = write_video(tmp_path / 'rot.mp4', [image] * 4, pix_fmt='yuv444p',
                       rotation=rotation)
    clips, _ = decode_clips(path, 2, 1, 1, None)
    # PyAV's convention: `degrees` counter-clockwise, then the mirror (as ffmpeg shows it).
    degrees, hflip = rotation
    expected = np.rot90(image, degrees // 90)
    if hflip:
        expected = expected[:, ::-1]
    assert clips.shape[2:4] == expected.shape[:2]
    assert np.abs(clips[0, 0].astype(int) - expected).mean() < 8


def test_orientation_of_display_matrices():
    # A phone portrait video: ffprobe 'rotation of -90 degrees', shown turned clockwise.
    image = np.arange(6).reshape(2, 3, 1)
    clockwise = frames.orientation_from_matrix([0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30])
    np.testing.assert_array_equal(clockwise.apply(image), np.rot90(image, -1))
    for k in range(4):
        np.testing.assert_array_equal(frames.orientation_from_angle(90 * k).apply(image),
                                      np.rot90(image, k))


# --------------------------------------------------------------------------------------
# Failures: always VideoError with a reason
# --------------------------------------------------------------------------------------


def _good(tmp_path, name='good.mp4', n=30, **kwargs):
    return write_video(tmp_path / name, [coded_frame(i) for i in range(n)], **kwargs)


def _truncated_tail(tmp_path):
    data = Path(_good(tmp_path)).read_bytes()  # moov at the end: the index is cut off
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
    assert error.reason in video.REASONS
    assert error.path == str(path) and str(path) in str(error)
    # Survives the trip between data-loader processes.
    again = pickle.loads(pickle.dumps(error))
    assert (again.path, again.reason, str(again)) == (error.path, error.reason, str(error))


def test_too_short(tmp_path):
    path = _good(tmp_path, n=12)
    clips, _ = decode_clips(path, 8, 2, 1, None)  # official short-video rule
    assert clips.shape[:2] == (1, 8)
    with pytest.raises(VideoError) as info:
        decode_clips(path, 8, 2, 1, None, min_frames=16)
    assert info.value.reason == 'too_short' and '12 frames' in str(info.value)
    with pytest.raises(VideoError) as info:
        decode_clips(path, 2, 1, 13, None)  # more clips than frames: indices of -1
    assert info.value.reason == 'too_short'


def test_damaged_middle_never_leaks_av_errors(tmp_path):
    data = bytearray(Path(_good(tmp_path, n=60)).read_bytes())
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
            assert e.reason in video.REASONS
        else:
            assert clips.shape == (1, 8, H, W, 3)
