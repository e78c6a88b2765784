"""decode_clips end to end: bit-exact frames for many codecs and containers, orientation."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.helpers.coded_videos import (
    H,
    W,
    coded_frame,
    read_index,
    reference_frames,
    write_video,
)
from vjepa_jax.input import frames
from vjepa_jax.input.video import clip_indices, decode_clips

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
