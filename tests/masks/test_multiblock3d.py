"""Multi-block 3D sampler: official semantics, fixed-count contract, statistics."""

from __future__ import annotations

import dataclasses
import itertools
import pickle

import numpy as np
import pytest

from vjepa_jax.masks import MultiBlock3D, block_size, select_fixed_counts
from vjepa_jax.masks.multiblock3d import _target_dense, _target_rows

KEYS = ('context_idx', 'context_valid', 'target_idx', 'target_valid')
OFFICIAL_A = {'num_blocks': 8, 'spatial_scale': (0.15, 0.15), 'temporal_scale': (1.0, 1.0),
              'aspect_ratio': (0.75, 1.5), 'max_temporal_keep': 1.0}
OFFICIAL_B = dict(OFFICIAL_A, num_blocks=2, spatial_scale=(0.7, 0.7))
GRID_16x224 = (8, 14, 14)


def check_contract(masks, n_tokens, counts, n_context, n_target):
    """Every promise of the output contract, row by row; returns the valid sets."""
    assert tuple(masks) == KEYS
    batch = n_context.shape[0]
    sides = []
    for side, count, n_side in (('context', counts[0], n_context), ('target', counts[1], n_target)):
        idx, valid = masks[f'{side}_idx'], masks[f'{side}_valid']
        assert idx.dtype == np.int32 and valid.dtype == bool
        assert idx.shape == valid.shape == (batch, count)
        assert idx.min() >= 0 and idx.max() < n_tokens
        n_valid = valid.sum(1)
        np.testing.assert_array_equal(n_valid, np.minimum(n_side, count))
        rows = []
        for b in range(batch):
            k = n_valid[b]
            assert valid[b, :k].all() and not valid[b, k:].any()      # valid first
            kept = idx[b, :k]
            assert np.all(np.diff(kept) > 0)                          # ascending, unique
            assert np.all(idx[b, k:] == (kept[0] if k else 0))        # documented padding
            rows.append(set(kept.tolist()))
        sides.append(rows)
    for context, target in zip(*sides):
        assert not context & target
    return sides


def test_block_size_hand_checked():
    grid = GRID_16x224
    # keep = int(196 * 0.15) = 29: sqrt(29) = 5.39 -> 5; ar 0.75: 4.66 -> 5, 6.22 -> 6.
    assert [int(v) for v in block_size(grid, 1.0, 0.15, 1.0)] == [8, 5, 5]
    assert [int(v) for v in block_size(grid, 1.0, 0.15, 0.75)] == [8, 5, 6]
    assert [int(v) for v in block_size(grid, 1.0, 0.15, 1.5)] == [8, 7, 4]
    # keep = int(196 * 0.7) = 137: sqrt(137) = 11.7 -> 12.
    assert [int(v) for v in block_size(grid, 1.0, 0.7, 1.0)] == [8, 12, 12]
    # t = max(1, int(T' * s)); keep 25 * 0.25 = 6.25 -> sqrt 2.5 rounds half to even -> 2.
    assert [int(v) for v in block_size((10, 10, 10), 0.5, 0.25, 0.25)] == [5, 2, 10]
    assert int(block_size((10, 10, 10), 0.05, 0.25, 1.0)[0]) == 1
    # clamped to the grid: keep 120, ar 4 -> h = round(21.9) -> 6, w = round(5.48) = 5.
    assert [int(v) for v in block_size((4, 6, 20), 1.0, 1.0, 4.0)] == [4, 6, 5]


def test_draw_block_size_matches_vectorised_formula():
    sampler = MultiBlock3D((7, 13, 11), num_blocks=2, spatial_scale=(0.1, 0.6),
                           temporal_scale=(0.2, 1.0), aspect_ratio=(0.3, 3.0),
                           context_count=10, target_count=10)
    for seed in range(50):
        drawn = sampler.draw_block_size(np.random.default_rng(seed))
        u = np.random.default_rng(seed).random(3)
        ref = block_size(sampler.grid, 0.2 + 0.8 * u[0], 0.1 + 0.5 * u[1], 0.3 + 2.7 * u[2])
        assert drawn == tuple(int(v) for v in ref)


@pytest.mark.parametrize('grid', [(5, 7, 11), (3, 4, 40), (2, 3, 64)])
@pytest.mark.parametrize('static_time', [True, False])
def test_bit_rows_match_dense_boxes(grid, static_time):
    """The bit-row target equals a brute-force union of boxes (widths <= 32, <= 64)."""
    rng = np.random.default_rng(0)
    batch, blocks = 32, 3
    sizes = np.stack([rng.integers(1, n + 1, batch) for n in grid])
    if static_time:
        sizes[0] = grid[0]
    pos = np.stack([rng.integers(0, n - sizes[i] + 1, (blocks, batch)).T
                    for i, n in enumerate(grid)])
    frames = grid[0] if static_time else max(1, grid[0] // 2)
    rows = _target_rows(grid, frames, sizes, pos, static_time)
    bits = (rows[..., None] >> np.arange(grid[2], dtype=np.uint64)) & np.uint64(1)
    dense = _target_dense(grid, frames, sizes, pos)
    np.testing.assert_array_equal(np.broadcast_to(bits.astype(bool), dense.shape), dense)
    # And one box by hand.
    box = np.zeros(grid, bool)
    s, p = sizes[:, 0], pos[:, 0, 0]
    box[p[0]:p[0] + s[0], p[1]:p[1] + s[1], p[2]:p[2] + s[2]] = True
    one = _target_dense(grid, grid[0], sizes[:, :1], pos[:, :1, :1])[0]
    np.testing.assert_array_equal(one, box)


@pytest.mark.parametrize('grid', [(5, 7, 11), (2, 3, 40), (2, 3, 70), (3, 29, 31)])
def test_exact_partition_when_counts_do_not_limit(grid):
    """Counts >= N: valid entries are exactly context and target, a partition of the grid.

    The grids cover 32-bit keys, 64-bit keys (N > 2048), 33-64 columns and the
    dense path (> 64 columns).
    """
    n = int(np.prod(grid))
    sampler = MultiBlock3D(grid, num_blocks=3, spatial_scale=(0.05, 0.3),
                           temporal_scale=(0.3, 1.0), aspect_ratio=(0.5, 2.0),
                           max_temporal_keep=0.75, context_count=n + 3, target_count=n)
    masks, n_context, n_target = sampler.sample_with_counts(np.random.default_rng(1), 6)
    contexts, targets = check_contract(masks, n, (n + 3, n), n_context, n_target)
    assert (n_context > 0).all() and (n_context + n_target == n).all()
    for context, target in zip(contexts, targets):
        assert context | target == set(range(n))


def test_target_is_one_box_of_the_drawn_size():
    # keep = int(9 * 70 * 0.1) = 63 -> 8 x 8 blocks; t = int(4 * 0.5) = 2 (dense path).
    grid = (4, 9, 70)
    sampler = MultiBlock3D(grid, num_blocks=1, spatial_scale=(0.1, 0.1),
                           temporal_scale=(0.5, 0.5), aspect_ratio=(1.0, 1.0),
                           context_count=2520, target_count=2520)
    masks = sampler.sample(np.random.default_rng(2), 8)
    for idx, valid in zip(masks['target_idx'], masks['target_valid']):
        t, h, w = np.unravel_index(idx[valid], grid)
        assert idx[valid].size == 2 * 8 * 8
        assert (np.ptp(t), np.ptp(h), np.ptp(w)) == (1, 7, 7)


def test_subsampling_and_padding():
    """Counts between the smallest and largest sample: some rows cut, some padded."""
    grid = (4, 9, 13)
    probe = MultiBlock3D(grid, **OFFICIAL_B)
    masks, n_context, n_target = dataclasses.replace(
        probe, context_count=probe.context_count * 2, target_count=probe.target_count
    ).sample_with_counts(np.random.default_rng(3), 64)
    kc, kt = probe.context_count * 2, probe.target_count
    check_contract(masks, 468, (kc, kt), n_context, n_target)
    assert (n_context > kc).any() and (n_context < kc).any()
    assert (n_target > kt).any() and not masks['context_valid'].all()


def test_empty_target_rows_pad_with_zero():
    # keep = int(9 * 0.05) = 0: blocks are empty, every token is context.
    sampler = MultiBlock3D((2, 3, 3), num_blocks=2, spatial_scale=(0.05, 0.05),
                           context_count=20, target_count=4)
    masks, n_context, n_target = sampler.sample_with_counts(np.random.default_rng(0), 3)
    check_contract(masks, 18, (20, 4), n_context, n_target)
    assert (n_target == 0).all() and not masks['target_valid'].any()
    assert (masks['target_idx'] == 0).all()


def test_subset_is_uniform():
    """Each member is kept with probability K / n (would fail for 'first K' or biased keys)."""
    grid = (3, 5, 7)
    rng = np.random.default_rng(4)
    target = rng.random(grid) < 0.4
    flag = (target.astype(np.uint32) << np.uint32(31))[None]
    batch, kc, kt = 4000, 20, 11
    n_target = np.full(batch, target.sum())
    masks = select_fixed_counts(flag, grid, n_target, kc, kt, rng)
    for side, members, count in (('context', ~target, kc), ('target', target, kt)):
        idx = masks[f'{side}_idx']
        assert masks[f'{side}_valid'].all()
        freq = np.bincount(idx.ravel(), minlength=target.size) / batch
        assert (freq[~members.ravel()] == 0).all()
        p = count / members.sum()
        sigma = np.sqrt(p * (1 - p) / batch)
        assert np.abs(freq[members.ravel()] - p).max() < 5 * sigma


def test_empty_context_is_redrawn():
    """4 blocks of 2 x 2 on a 3 x 3 grid cover it with probability 24 / 256 per draw."""
    sampler = MultiBlock3D((1, 3, 3), num_blocks=4, spatial_scale=(0.45, 0.45),
                           aspect_ratio=(1.0, 1.0), context_count=9, target_count=9)
    assert sampler.draw_block_size(np.random.default_rng(0)) == (1, 2, 2)
    masks, n_context, n_target = sampler.sample_with_counts(np.random.default_rng(5), 2000)
    assert n_context.min() >= 1
    assert masks['context_valid'][:, 0].all()
    check_contract(masks, 9, (9, 9), n_context, n_target)
    assert set(np.unique(n_context)) <= set(range(1, 6))


def test_empty_context_with_max_temporal_keep():
    # Only the first frame may be context; a 3 x 3 block (spatial 1.0) covers it.
    sampler = MultiBlock3D((4, 3, 3), num_blocks=1, spatial_scale=(0.45, 1.0),
                           temporal_scale=(0.25, 0.25), aspect_ratio=(1.0, 1.0),
                           max_temporal_keep=0.25, context_count=36, target_count=36)
    masks, n_context, n_target = sampler.sample_with_counts(np.random.default_rng(6), 500)
    assert n_context.min() >= 1 and (n_context <= 9).all()
    check_contract(masks, 36, (36, 36), n_context, n_target)


def test_certain_empty_context_fails_loudly():
    with pytest.raises(ValueError, match='whole token grid'):
        MultiBlock3D((2, 3, 3), spatial_scale=(1.0, 1.0), aspect_ratio=(1.0, 1.0))
    sampler = MultiBlock3D((2, 3, 3), spatial_scale=(1.0, 1.0), aspect_ratio=(1.0, 1.0),
                           context_count=4, target_count=4)
    with pytest.raises(ValueError, match='whole token grid'):
        sampler.sample(np.random.default_rng(0), 2)


def test_max_temporal_keep():
    grid = (8, 5, 5)
    sampler = MultiBlock3D(grid, num_blocks=2, spatial_scale=(0.1, 0.3),
                           max_temporal_keep=0.5, context_count=200, target_count=200)
    assert sampler.context_frames == 4
    masks, n_context, n_target = sampler.sample_with_counts(np.random.default_rng(7), 16)
    contexts, targets = check_contract(masks, 200, (200, 200), n_context, n_target)
    late = set(range(4 * 25, 200))
    for context, target in zip(contexts, targets):
        assert max(context) < 4 * 25 and late <= target
        # The blocks span all time: the early-frame target repeats one spatial pattern.
        spatial = [{i % 25 for i in target if i // 25 == t} for t in range(4)]
        assert all(s == spatial[0] for s in spatial)
    assert MultiBlock3D(grid, max_temporal_keep=0.1, context_count=1,
                        target_count=1).context_frames == 1


def test_official_configs_statistics():
    """Default counts and per-sample means of the official 16 x 224 mask sets.

    References, from the semantics above: per-sample context means 584.6 (A,
    exact: Σ over cells of (1 - cover probability)^8, averaged over the
    aspect ratio) and 294.1 (B, exact enumeration of block pairs with empty
    contexts redrawn); expected batch minima over 24 from an independent
    brute-force simulation (30000 batches, s.e. <= 0.4): A 365.1 / 750.9,
    B 99.8 / 1102.7. The default counts use 8192 batches (s.e. <= 0.8), so
    +-3 is over 3.5 s.e.; 150 batches of 24 give a sample mean with s.e.
    below 3 tokens, so +-15 is over 5 s.e.
    """
    rng = np.random.default_rng(8)
    for cfg, counts, means in ((OFFICIAL_A, (365.1, 750.9), (584.6, 983.4)),
                               (OFFICIAL_B, (99.8, 1102.7), (294.1, 1273.9))):
        sampler = MultiBlock3D(GRID_16x224, **cfg)
        assert abs(sampler.context_count - counts[0]) <= 3
        assert abs(sampler.target_count - counts[1]) <= 3
        stats = sampler.count_statistics()
        assert abs(stats['mean_context'] - means[0]) <= 2
        n_context = np.concatenate([sampler.sample_with_counts(rng, 24)[1] for _ in range(150)])
        assert abs(n_context.mean() - means[0]) <= 15
        assert abs((1568 - n_context).mean() - means[1]) <= 15


def _exact_mean_context(grid, num_blocks, spatial, ar_range, redraw_empty):
    """E[context tokens] of a multi-block config with fixed spatial scale, full time."""
    t_, h_, w_ = grid
    ars = ar_range[0] + (np.arange(20000) + 0.5) / 20000 * (ar_range[1] - ar_range[0])
    _, hs, ws = block_size(grid, 1.0, spatial, ars)
    total = 0.0
    for (h, w), weight in zip(*np.unique(np.stack([hs, ws], 1), axis=0, return_counts=True)):
        boxes = [np.pad(np.ones((h, w)), ((top, h_ - h - top), (left, w_ - w - left)))
                 for top in range(h_ - h + 1) for left in range(w_ - w + 1)]
        if redraw_empty:
            free = [np.sum(1 - np.maximum.reduce(c))
                    for c in itertools.product(boxes, repeat=num_blocks)]
            free = [f for f in free if f > 0]
            total += weight * np.mean(free)
        else:
            cover = np.mean(boxes, axis=0)
            total += weight * np.sum((1 - cover) ** num_blocks)
    return t_ * total / ars.size


def test_reference_means_are_exact():
    """The per-sample references used above, recomputed exactly."""
    mean_a = _exact_mean_context(GRID_16x224, 8, 0.15, (0.75, 1.5), redraw_empty=False)
    mean_b = _exact_mean_context(GRID_16x224, 2, 0.7, (0.75, 1.5), redraw_empty=True)
    assert abs(mean_a - 584.6) < 0.2 and abs(mean_b - 294.1) < 0.3


def test_dataclass_is_hashable_and_validated():
    a = MultiBlock3D((2, 3, 4), spatial_scale=[0.2, 0.4], context_count=5, target_count=6)
    b = MultiBlock3D((2, 3, 4), spatial_scale=(0.2, 0.4), context_count=5, target_count=6)
    assert a == b and hash(a) == hash(b) and a.spatial_scale == (0.2, 0.4)
    assert pickle.loads(pickle.dumps(a)) == a
    assert (a.grid, a.context_count, a.target_count) == ((2, 3, 4), 5, 6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.num_blocks = 3
    bad = [{'grid': (2, 3)}, {'grid': (2, 0, 3)}, {'num_blocks': 0},
           {'spatial_scale': (0.5, 0.2)}, {'spatial_scale': 0.5},
           {'temporal_scale': (0.0, 1.0)}, {'aspect_ratio': (-1.0, 2.0)},
           {'max_temporal_keep': 0.0}, {'max_keep': 0}, {'context_count': 0},
           {'target_count': 2.5}]
    for change in bad:
        (name,) = change
        kwargs = {'grid': (2, 3, 4), 'context_count': 5, 'target_count': 6, **change}
        with pytest.raises(ValueError, match=name):
            MultiBlock3D(**kwargs)
