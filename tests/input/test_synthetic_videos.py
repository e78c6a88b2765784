"""The synthetic moving-shapes dataset (data/make_synthetic_videos.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vjepa_jax.input.video import decode_clips

SCRIPT = Path(__file__).resolve().parents[2] / 'data' / 'make_synthetic_videos.py'


def _load_script():
    spec = importlib.util.spec_from_file_location('make_synthetic_videos', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


msv = _load_script()


def read_index(csv: Path) -> list[tuple[str, int]]:
    rows = []
    for line in csv.read_text().splitlines():
        path, label = line.split(' ')
        rows.append((path, int(label)))
    return rows


def motion(clip: np.ndarray, lag: int = 2) -> tuple[int, int]:
    """Dominant (dy, dx) displacement, in pixels, between frames ``lag`` apart.

    Phase correlation of temporal differences (the static background cancels) summed
    over the clip; circular, like the wrap-around motion of the generator.
    """
    gray = clip.astype(np.float32).mean(-1)
    diff = gray[1:] - gray[:-1]
    cross = 0
    for t in range(len(diff) - lag):
        spectrum = np.fft.fft2(diff[t + lag]) * np.conj(np.fft.fft2(diff[t]))
        cross = cross + spectrum / (np.abs(spectrum) + 1e-6)
    corr = np.fft.ifft2(cross).real
    dy, dx = np.unravel_index(np.argmax(corr), corr.shape)
    size = corr.shape[0]
    return int((dy + size // 2) % size - size // 2), int((dx + size // 2) % size - size // 2)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp('moving_shapes')
    msv.make_dataset(out, num_train=10, num_val=4, seed=3)
    return out


def test_layout_and_index_files(dataset):
    train, val = read_index(dataset / 'train.csv'), read_index(dataset / 'val.csv')
    assert len(train) == 10 and len(val) == 4
    for path, label in train + val:
        assert Path(path).is_absolute() and Path(path).is_file()
        assert 0 <= label < msv.NUM_CLASSES
    # Balanced labels: 10 clips over 8 classes -> every class at least once.
    assert sorted({label for _, label in train}) == list(range(msv.NUM_CLASSES))
    names = (dataset / 'classes.txt').read_text().splitlines()
    assert names == [f'{i} {n}' for i, n in enumerate(msv.CLASS_NAMES)]
    assert 'direction' in (dataset / 'README').read_text()


def test_clips_decode_and_move_as_labelled(dataset):
    steps = {'left': (0, -1), 'right': (0, 1), 'up': (-1, 0), 'down': (1, 0)}
    rows = read_index(dataset / 'train.csv') + read_index(dataset / 'val.csv')
    for path, label in rows:
        # The pretraining sampling: 16 frames at frame_step 2 from 32-frame videos.
        clips, indices = decode_clips(path, 16, 2, 1, np.random.default_rng(0))
        assert clips.shape == (1, 16, 64, 64, 3) and clips.dtype == np.uint8
        assert indices[0][0] == 0 and indices[0][-1] == 31
        direction, speed = msv.class_motion(label)
        dy, dx = motion(clips[0], lag=2)  # 2 sampled frames = 4 video frames apart
        uy, ux = steps[direction]
        along, across = dy * uy + dx * ux, abs(dy * ux) + abs(dx * uy)
        assert across <= 1, (path, label, dy, dx)
        # slow: 1 px/frame +-20 % -> 3.2..4.8 px; fast: 2.5 px/frame -> 8..12 px.
        if speed == 'slow':
            assert 3 <= along <= 6, (path, label, dy, dx)
        else:
            assert 7 <= along <= 13, (path, label, dy, dx)


def test_single_frame_carries_no_label():
    firsts = [msv.render_clip(11, label)[0] for label in range(msv.NUM_CLASSES)]
    for frame in firsts[1:]:
        np.testing.assert_array_equal(frame, firsts[0])
    later = [msv.render_clip(11, label)[5] for label in range(msv.NUM_CLASSES)]
    assert len({frame.tobytes() for frame in later}) == msv.NUM_CLASSES


def test_deterministic(tmp_path, dataset):
    again = tmp_path / 'again'
    msv.make_dataset(again, num_train=10, num_val=4, seed=3)
    for split in ('train', 'val'):
        first = (dataset / f'{split}.csv').read_text().replace(str(dataset), '<out>')
        second = (again / f'{split}.csv').read_text().replace(str(again), '<out>')
        assert first == second
    for (path_a, _), (path_b, _) in zip(read_index(dataset / 'train.csv'),
                                        read_index(again / 'train.csv')):
        np.testing.assert_array_equal(decode_clips(path_a, 8, 4, 1, None)[0],
                                      decode_clips(path_b, 8, 4, 1, None)[0])
    # Same directory, forced rewrite: byte-identical index files.
    before = (again / 'train.csv').read_bytes()
    msv.make_dataset(again, num_train=10, num_val=4, seed=3, force=True)
    assert (again / 'train.csv').read_bytes() == before
    # Another seed gives other clips.
    other = tmp_path / 'other'
    msv.make_dataset(other, num_train=2, num_val=0, seed=4)
    a = decode_clips(read_index(other / 'train.csv')[0][0], 4, 1, 1, None)[0]
    b = decode_clips(read_index(dataset / 'train.csv')[0][0], 4, 1, 1, None)[0]
    assert not np.array_equal(a, b)


def test_refuses_non_empty_directory(tmp_path):
    (tmp_path / 'keep.txt').write_text('user data')
    with pytest.raises(FileExistsError):
        msv.make_dataset(tmp_path, num_train=1, num_val=0)
    assert msv.main(['--out', str(tmp_path), '--num-train', '1', '--num-val', '0']) == 2
    assert not (tmp_path / 'train.csv').exists()
    msv.make_dataset(tmp_path, num_train=1, num_val=0, force=True)
    assert (tmp_path / 'keep.txt').read_text() == 'user data'  # force keeps foreign files
    assert len(read_index(tmp_path / 'train.csv')) == 1


@pytest.mark.integration
def test_cli_with_workers_matches_in_process(tmp_path):
    out = tmp_path / 'cli'
    result = subprocess.run(
        [sys.executable, str(SCRIPT), '--out', str(out), '--num-train', '6', '--num-val',
         '2', '--seed', '5', '--workers', '2'],
        check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert str(out / 'train.csv') in result.stdout
    local = tmp_path / 'local'
    msv.make_dataset(local, num_train=6, num_val=2, seed=5, workers=1)
    for split in ('train', 'val'):
        assert ((out / f'{split}.csv').read_text().replace(str(out), '')
                == (local / f'{split}.csv').read_text().replace(str(local), ''))
        for name in sorted(p.name for p in (local / split).iterdir()):
            # Same encoder settings, one x264 thread: the files are byte-identical.
            assert (out / split / name).read_bytes() == (local / split / name).read_bytes()


def test_encoding_is_reproducible(tmp_path):
    # Scribble random bytes over freed memory between encodes: an encoder that reads
    # uninitialised memory (x264's AVX-512 code does) then writes different files.
    import av

    rng = np.random.default_rng(0)
    frames = msv.render_clip(msv._clip_seed(3, 'train', 2), 2)
    contents = set()
    for trial in range(16):
        scratch = []
        for _ in range(50):
            frame = av.VideoFrame(64, 64, 'yuv420p')
            for plane in frame.planes:
                np.frombuffer(plane, np.uint8)[:] = rng.integers(0, 256, plane.buffer_size,
                                                                 dtype=np.uint8)
            scratch += [frame, rng.integers(0, 256, 1 << 16, dtype=np.uint8).tobytes()]
        del scratch
        path = tmp_path / f'{trial}.mp4'
        msv.write_video(path, frames, 8)
        contents.add(path.read_bytes())
    assert len(contents) == 1


def test_style_variants_change_only_the_look():
    style = msv.Style(monochrome=True, flat_background=True, flickers=2)
    plain = msv.Style(monochrome=True, flat_background=True)
    clip = msv.render_clip(7, 1, style=style).astype(np.int32)
    # Grey everywhere: shapes, distractors and background have R = G = B up to the noise.
    assert np.abs(clip[..., 0] - clip[..., 1]).max() < 30
    # Background at mid grey, shapes at the monochrome level.
    assert abs(np.median(clip) - 128) < 5 and np.percentile(clip, 99.5) > 220
    # The distractors add bright pixels to every frame.
    bright = (clip.mean(-1) > 200).sum(axis=(1, 2))
    bright_plain = (msv.render_clip(7, 1, style=plain).mean(-1) > 200).sum(axis=(1, 2))
    assert (bright > bright_plain).all()
    # Still no label in a single frame.
    firsts = [msv.render_clip(7, label, style=style)[0] for label in range(msv.NUM_CLASSES)]
    for frame in firsts[1:]:
        np.testing.assert_array_equal(frame, firsts[0])


@pytest.mark.parametrize('label', [0, 5])
def test_style_speeds(label):
    style = msv.Style(monochrome=True, flat_background=True, slow=1.0, fast=1.5,
                      speed_jitter=0.1)
    direction, speed = msv.class_motion(label)
    clip = msv.render_clip(9, label, style=style)[::2]  # 16 frames at frame_step 2
    dy, dx = motion(clip, lag=2)  # 4 video frames apart
    along = {'left': -dx, 'right': dx}[direction]
    # slow: 4 x 1.0 +-10 % -> 3.6..4.4 px; fast: 4 x 1.5 +-10 % -> 5.4..6.6 px.
    assert (along == 4) if speed == 'slow' else (5 <= along <= 7), (dy, dx)
    assert dy == 0


def test_style_errors(tmp_path):
    for bad in (msv.Style(slow=2.0, fast=1.0), msv.Style(slow=1.0, fast=1.1),
                msv.Style(speed_jitter=1.0), msv.Style(flickers=-1)):
        with pytest.raises(ValueError):
            msv.make_dataset(tmp_path / 'x', num_train=1, num_val=0, style=bad)
    assert msv.main(['--out', str(tmp_path / 'y'), '--speeds', '1']) == 2
    assert msv.main(['--out', str(tmp_path / 'z'), '--speeds', '2,1']) == 2
    assert not (tmp_path / 'z' / 'train.csv').exists()


def test_cli_style_flags(tmp_path):
    out = tmp_path / 'variant'
    assert msv.main(['--out', str(out), '--num-train', '2', '--num-val', '0', '--workers',
                     '1', '--monochrome', '--flat-background', '--flickers', '1',
                     '--speeds', '1,1.5', '--speed-jitter', '0.1']) == 0
    readme = (out / 'README').read_text()
    assert 'monochrome shapes, flat background, 1 flickering' in readme
    assert 'slow 1, fast 1.5, each +-10%' in readme
    path = read_index(out / 'train.csv')[0][0]
    clip = decode_clips(path, 4, 1, 1, None)[0][0].astype(np.int32)
    assert np.abs(clip[..., 0] - clip[..., 1]).max() < 40  # grey after H.264 too
