"""The official temporal sampling rule (vjepa_jax.input.clip_sampling.clip_indices)."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa_jax.input.clip_sampling import clip_indices

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
