"""Probe clip batches (input.probe_clips): official segments x views, determinism, per-process
slices, bad files, the clip section's checks."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from vjepa_jax.errors import ConfigError
from vjepa_jax.input import probe_clips
from vjepa_jax.input.probe_clips import ProbeClipConfig

FPC, STEP, SEGMENTS, VIEWS, CROP = 4, 2, 2, 2, 16
CONFIG = ProbeClipConfig(frames_per_clip=FPC, frame_step=STEP, num_segments=SEGMENTS,
                         num_views_per_segment=VIEWS, crop_size=CROP)
NUM_FRAMES = 30


def _write(path: Path, label: int, frames: int = NUM_FRAMES, height: int = 24,
           width: int = 32) -> Path:
    """Frame ``t`` is uniform grey ``8 * t`` (readable back after H.264) with a label stripe."""
    with av.open(str(path), 'w') as out:
        stream = out.add_stream('libx264', rate=8)
        stream.width, stream.height = width, height
        stream.pix_fmt = 'yuv420p'
        stream.options = {'qp': '0'}
        for t in range(frames):
            image = np.full((height, width, 3), 8 * t, np.uint8)
            image[:4, :4 * (label + 1)] = 255
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format='rgb24')))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope='module')
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp('probe_videos')
    lines = [f'{_write(root / f"v{i}.mp4", i % 3)} {i % 3}' for i in range(7)]
    (root / 'broken.mp4').write_bytes(b'\x00\x00\x00\x18ftypmp42' + b'\x00' * 64)
    (root / 'train.csv').write_text('\n'.join(lines) + '\n')
    (root / 'val.csv').write_text('\n'.join(lines[:3] + [f'{root / "broken.mp4"} 1']
                                            + lines[3:]) + '\n')
    return {'train': root / 'train.csv', 'val': root / 'val.csv', 'broken': root / 'broken.mp4'}


def _take(ds, n):
    return [ds[i] for i in range(n)]


def test_training_batches_official_layout_and_determinism(data):
    ds = probe_clips.training_dataset(data['train'], 3, CONFIG, seed=4)
    batches = _take(ds, 3)  # 9 elements: one epoch of 7 and the start of the next
    for b in batches:
        assert b['clips'].shape == (3, SEGMENTS, 1, FPC, CROP, CROP, 3)
        assert b['clips'].dtype == np.uint8 and b['label'].dtype == np.int64
        assert b['valid'].all() and b['data_bad'] == [] and b['data_attempts'] == 3
        np.testing.assert_array_equal(b['label'], b['row'] % 3)
    rows = np.concatenate([b['row'] for b in batches])
    assert sorted(rows[:7]) == list(range(7))
    again = _take(probe_clips.training_dataset(data['train'], 3, CONFIG, seed=4), 3)
    for a, b in zip(batches, again):
        np.testing.assert_array_equal(a['clips'], b['clips'])
    other = probe_clips.training_dataset(data['train'], 3, CONFIG, seed=5)[0]
    assert not np.array_equal(other['clips'], batches[0]['clips'])
    # Without attending across segments the official loader gives one clip per video.
    single = ProbeClipConfig(frames_per_clip=FPC, frame_step=STEP, num_segments=SEGMENTS,
                             crop_size=CROP, attend_across_segments=False)
    assert probe_clips.training_dataset(data['train'], 2, single)[0]['clips'].shape[1:3] == (1, 1)


def test_training_process_slices_are_the_global_sequence(data):
    glob = probe_clips.training_dataset(data['train'], 4, CONFIG, seed=1)[0]
    parts = [probe_clips.training_dataset(data['train'], 2, CONFIG, seed=1, process_index=p,
                                         process_count=2)[0] for p in range(2)]
    for p in range(2):  # process p holds global positions p, p + 2, ...
        np.testing.assert_array_equal(parts[p]['clips'], glob['clips'][p::2])
        np.testing.assert_array_equal(parts[p]['row'], glob['row'][p::2])


def test_training_replaces_and_reports_unreadable_videos(data):
    ds = probe_clips.training_dataset(data['val'], 4, CONFIG, seed=0)  # 8 rows, one broken
    b0, b1 = ds[0], ds[1]
    bad = b0['data_bad'] + b1['data_bad']
    # Row 3 is the broken file: seen once per epoch, replaced by random rows (which may
    # draw it again), every failure reported.
    assert bad and all(path == str(data['broken']) for path, _ in bad)
    assert b0['data_attempts'] + b1['data_attempts'] == 8 + len(bad)
    assert 3 not in np.concatenate([b0['row'], b1['row']])
    assert b0['clips'].shape[0] == b1['clips'].shape[0] == 4


def test_evaluation_covers_every_video_once_with_static_shapes(data):
    per_process = [probe_clips.evaluation_dataset(data['val'], 2, CONFIG, process_index=p,
                                                 process_count=3) for p in range(3)]
    assert [len(ds) for ds in per_process] == [2, 2, 2]  # 8 videos -> 12 slots, 4 padded
    batches = [b for ds in per_process for b in _take(ds, len(ds))]
    rows = np.concatenate([b['row'] for b in batches])
    valid = np.concatenate([b['valid'] for b in batches])
    assert sorted(rows[rows >= 0]) == list(range(8)) and (rows == -1).sum() == 4
    assert valid.sum() == 7 and not valid[rows == 3].any() and not valid[rows == -1].any()
    bad = [report for b in batches for report in b['data_bad']]
    assert [path for path, _ in bad] == [str(data['broken'])]
    for b in batches:
        assert b['clips'].shape == (2, SEGMENTS, VIEWS, FPC, CROP, CROP, 3)
        assert not b['clips'][~b['valid']].any()
        probe_clips.split_probe_batch(b)


def test_evaluation_windows_are_centred_and_views_span_the_long_side(data):
    b = probe_clips.evaluation_dataset(data['train'], 1, CONFIG)[0]
    clips = b['clips'][0].astype(np.float32)       # [S, V, T, c, c, 3]
    partition, clip_len = NUM_FRAMES // SEGMENTS, FPC * STEP
    end = clip_len + (partition - clip_len) // 2
    window = np.clip(np.linspace(end - clip_len, end, FPC), 0, end - 1).astype(int)
    for s in range(SEGMENTS):
        grey = clips[s, :, :, 8:, :, :].mean(axis=(0, 2, 3, 4))  # below the label stripe
        np.testing.assert_allclose(grey, 8 * (window + s * partition), atol=3)
    # Views: short side 24 -> 16, long side 32 -> 21; the views start at 0 and 5.
    assert not np.array_equal(b['clips'][0, :, 0], b['clips'][0, :, 1])
    again = probe_clips.evaluation_dataset(data['train'], 1, CONFIG)[0]
    np.testing.assert_array_equal(b['clips'], again['clips'])


def test_train_transform_shape_without_flip():
    clip = np.random.default_rng(0).integers(0, 256, (FPC, 24, 32, 3), dtype=np.uint8)
    out = probe_clips.train_transform(clip, np.random.default_rng(0), CONFIG)
    assert out.shape == (FPC, CROP, CROP, 3) and out.dtype == np.uint8


def test_clip_config_problems_name_the_field():
    assert CONFIG.problems() == []
    bad = ProbeClipConfig(frames_per_clip=0, eval_window='middle', random_resize_scale=(0.5, 0.1),
                          reprob=1.5)
    problems = bad.problems()
    assert len(problems) == 4
    assert [p.split()[0] for p in problems] == ['frames_per_clip', 'eval_window',
                                                'random_resize_scale', 'reprob']
    with pytest.raises(ConfigError, match='eval_window'):  # the datasets check it too
        probe_clips.evaluation_dataset(['/v.csv'], 2, bad)
