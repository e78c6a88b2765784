"""The grain pretraining pipeline: determinism, resumable iterators, bad files, multi-host."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from vjepa_jax.input.bad_input import BadInputMonitor, TooManyBadVideosError
from vjepa_jax.input.index import mix_indices
from vjepa_jax.input.pipeline import ClipConfig, pretraining_dataset, split_batch
from vjepa_jax.masks import build_mask_samplers
from vjepa_jax.masks.official_sets import OFFICIAL_MASK_SETS

FRAMES, STEP, CROP = 4, 2, 32
CLIP = ClipConfig(frames_per_clip=FRAMES, frame_step=STEP, crop_size=CROP)


def _write(path: Path, frames: int, size: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with av.open(str(path), 'w') as out:
        stream = out.add_stream('libx264', rate=8)
        stream.width = stream.height = size
        stream.pix_fmt = 'yuv420p'
        for _ in range(frames):
            image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format='rgb24')))
        out.mux(stream.encode())
    return path


@pytest.fixture(scope='module')
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('videos')
    lines = [f'{_write(root / f"v{i}.mp4", 12, seed=i)} {i % 3}' for i in range(10)]
    (root / 'train.csv').write_text('\n'.join(lines) + '\n')
    return root


def _samplers():
    return build_mask_samplers(OFFICIAL_MASK_SETS, num_frames=FRAMES, crop_size=CROP,
                               patch_size=8, tubelet_size=2)


def _take(ds, n):
    it = iter(ds)
    return [next(it) for _ in range(n)]


def test_batches_have_static_shapes_and_masks(videos):
    ds = pretraining_dataset([str(videos / 'train.csv')], _samplers(), 4, clip=CLIP, seed=3)
    batches = _take(ds, 3)
    for b in batches:
        device, attempts, bad = split_batch(b)
        assert device['video'].shape == (4, FRAMES, CROP, CROP, 3)
        assert device['video'].dtype == np.uint8
        assert [m['context_idx'].shape[0] for m in device['masks']] == [4, 4]
        assert attempts == 4 and bad == []
    # Batches differ (fresh clips, fresh masks) and rows cover an epoch without repeats.
    assert not np.array_equal(batches[0]['video'], batches[1]['video'])
    rows = np.concatenate([b['row'] for b in _take(ds, 5)])  # 20 rows = 2 epochs of 10
    assert sorted(rows[:10]) == list(range(10)) and sorted(rows[10:]) == list(range(10))
    assert not np.array_equal(rows[:10], rows[10:])  # reshuffled per epoch


def _same(a, b):
    np.testing.assert_array_equal(a['video'], b['video'])
    np.testing.assert_array_equal(a['row'], b['row'])
    for ma, mb in zip(a['masks'], b['masks']):
        for key in ma:
            np.testing.assert_array_equal(ma[key], mb[key])


def test_same_batches_for_any_worker_count_and_exact_restore(videos):
    index = [str(videos / 'train.csv')]
    serial = _take(pretraining_dataset(index, _samplers(), 4, clip=CLIP, seed=5), 4)
    ds = pretraining_dataset(index, _samplers(), 4, clip=CLIP, seed=5, num_workers=2)
    it = iter(ds)
    first = [next(it), next(it)]
    state = it.get_state()
    third = next(it)
    for a, b in zip(first + [third], serial[:3]):
        _same(a, b)
    resumed = iter(pretraining_dataset(index, _samplers(), 4, clip=CLIP, seed=5,
                                       num_workers=2))
    resumed.set_state(state)
    _same(next(resumed), third)
    # The state also restores into a single-process iterator... of the same worker count only
    # (grain keeps one position per worker), so check the in-process path separately.
    it0 = iter(pretraining_dataset(index, _samplers(), 4, clip=CLIP, seed=5))
    next(it0)
    state0 = it0.get_state()
    expected = next(it0)
    again = iter(pretraining_dataset(index, _samplers(), 4, clip=CLIP, seed=5))
    again.set_state(state0)
    _same(next(again), expected)


def test_processes_read_disjoint_slices(videos):
    index = [str(videos / 'train.csv')]
    seen = [np.concatenate([b['row'] for b in _take(
        pretraining_dataset(index, _samplers(), 5, clip=CLIP, seed=1, process_index=p,
                            process_count=2), 1)]) for p in range(2)]
    assert set(seen[0]).isdisjoint(seen[1])
    assert sorted(np.concatenate(seen)) == list(range(10))
    masks = [pretraining_dataset(index, _samplers(), 5, clip=CLIP, seed=1, process_index=p,
                                 process_count=2) for p in range(2)]
    a, b = (_take(m, 1)[0]['masks'][0]['target_idx'] for m in masks)
    assert not np.array_equal(a, b)  # each process draws its own masks


def _bad_files(root: Path, good: Path) -> dict[str, Path]:
    files = {'missing': root / 'nope.mp4'}
    files['empty'] = root / 'empty.mp4'
    files['empty'].write_bytes(b'')
    files['truncated'] = root / 'truncated.mp4'
    data = good.read_bytes()
    files['truncated'].write_bytes(data[:len(data) // 3])
    files['text'] = root / 'text.mp4'
    files['text'].write_text('this is not a video\n' * 50)
    files['audio_only'] = root / 'audio.mp4'
    with av.open(str(files['audio_only']), 'w') as out:
        stream = out.add_stream('aac', rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format='fltp',
                                           layout='mono')
        frame.sample_rate = 16000
        for i in range(8):
            frame.pts = i * 1024
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    files['short'] = _write(root / 'short.mp4', 3)
    return files


def test_bad_files_are_replaced_reported_and_counted(tmp_path, videos, caplog):
    good = sorted(videos.glob('v*.mp4'))
    bad = _bad_files(tmp_path, good[0])
    lines = [f'{p} 0' for p in good[:4]] + [f'{p} 1' for p in bad.values()]
    (tmp_path / 'mixed.csv').write_text('\n'.join(lines) + '\n')
    clip = ClipConfig(FRAMES, STEP, CROP, filter_short_videos=True)  # 3 frames < 4 x 2
    ds = pretraining_dataset([str(tmp_path / 'mixed.csv')], _samplers(), 5, clip=clip, seed=0)
    monitor = BadInputMonitor(threshold=1.0, min_attempts=1)
    reasons = {}
    with caplog.at_level(logging.WARNING):
        for batch in _take(ds, 8):  # 40 clips: every file many times
            device, attempts, reports = split_batch(batch)
            assert device['video'].shape[0] == 5  # the batch never shrinks
            assert set(batch['row']) <= set(range(4))  # only good rows made it in
            monitor.update(attempts, reports)
            reasons.update(reports)
    assert reasons == {str(bad['missing']): 'missing', str(bad['empty']): 'empty',
                       str(bad['truncated']): 'corrupt', str(bad['text']): 'not_a_video',
                       str(bad['audio_only']): 'no_video_stream',
                       str(bad['short']): 'too_short'}
    assert monitor.bad > len(bad)
    logged = [r.getMessage() for r in caplog.records if 'Skipping unreadable' in r.getMessage()]
    assert len(logged) == len(bad)  # once per file, however often it was drawn
    # The same data with the default 5% threshold stops the run naming the files.
    strict = BadInputMonitor()
    with pytest.raises(TooManyBadVideosError, match='most frequent') as err:
        for batch in _take(ds, 40):
            _, attempts, reports = split_batch(batch)
            strict.update(attempts, reports)
    assert str(bad['missing']) in str(err.value)


def test_weighted_mix_feeds_the_pipeline(videos, tmp_path):
    other = tmp_path / 'other.csv'
    shutil.copy(videos / 'train.csv', other)
    index = mix_indices([str(videos / 'train.csv'), str(other)], weights=[1.0, 3.0],
                        num_samples=40, seed=2)
    rows = np.concatenate([b['row'] for b in
                           _take(pretraining_dataset(index, _samplers(), 8, clip=CLIP), 5)])
    share = np.mean(rows >= 10)  # rows 10..19 come from the second (weight 3) source
    assert 0.55 <= share <= 0.95


def test_hosts_do_not_share_random_draws(videos):
    # Random draws follow the global element position: a clip is identical
    # however many hosts split the stream, so no two hosts repeat each other's
    # crop boxes, flips or clip starts.
    index = [str(videos / 'train.csv')]
    single = _take(pretraining_dataset(index, _samplers(), 10, clip=CLIP, seed=1), 1)[0]
    for p in range(2):
        host = _take(pretraining_dataset(index, _samplers(), 5, clip=CLIP, seed=1,
                                         process_index=p, process_count=2), 1)[0]
        np.testing.assert_array_equal(single['row'][p::2], host['row'])
        np.testing.assert_array_equal(single['video'][p::2], host['video'])
