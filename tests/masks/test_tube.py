"""Random tube sampler: exact counts, tubes over time, uniform positions, overrides."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa_jax.masks import RandomTube

KEYS = ('context_idx', 'context_valid', 'target_idx', 'target_valid')


def valid_sets(masks, side):
    return [set(i[v].tolist()) for i, v in zip(masks[f'{side}_idx'], masks[f'{side}_valid'])]


def test_official_counts():
    # int(196 * (1 - 0.9)) = int(19.6) = 19 spatial positions kept, over 8 time steps.
    tube = RandomTube((8, 14, 14), ratio=0.9)
    assert (tube.num_keep_spatial, tube.context_count, tube.target_count) == (19, 152, 1416)
    masks = tube.sample(np.random.default_rng(0), 24)
    assert tuple(masks) == KEYS
    assert masks['context_idx'].shape == (24, 152) and masks['target_idx'].shape == (24, 1416)
    assert masks['context_idx'].dtype == np.int32 and masks['target_valid'].dtype == bool
    assert masks['context_valid'].all() and masks['target_valid'].all()


def test_tubes_partition_the_grid():
    grid = (3, 5, 7)
    tube = RandomTube(grid, ratio=0.6)          # keeps int(35 * 0.4) = 14 positions
    masks = tube.sample(np.random.default_rng(1), 16)
    for context, target, row in zip(valid_sets(masks, 'context'), valid_sets(masks, 'target'),
                                    masks['context_idx']):
        assert np.all(np.diff(row) > 0)
        assert not context & target and context | target == set(range(105))
        per_time = [{i % 35 for i in context if i // 35 == t} for t in range(3)]
        assert len(per_time[0]) == 14 and per_time[0] == per_time[1] == per_time[2]


def test_positions_are_uniform():
    tube = RandomTube((1, 4, 5), ratio=0.75)    # keeps 5 of 20
    masks = tube.sample(np.random.default_rng(2), 4000)
    freq = np.bincount(masks['context_idx'].ravel(), minlength=20) / 4000
    sigma = np.sqrt(0.25 * 0.75 / 4000)
    assert np.abs(freq - 0.25).max() < 5 * sigma


def test_count_overrides_subsample_and_pad():
    grid = (4, 3, 5)                            # keeps int(15 * 0.5) = 7 -> 28 context tokens
    tube = RandomTube(grid, ratio=0.5, context_count=10, target_count=40)
    masks, n_context, n_target = tube.sample_with_counts(np.random.default_rng(3), 8)
    assert (n_context == 28).all() and (n_target == 32).all()
    assert masks['context_valid'].all()
    assert (masks['target_valid'].sum(1) == 32).all()
    for idx, valid in zip(masks['target_idx'], masks['target_valid']):
        assert np.all(np.diff(idx[valid]) > 0) and (idx[~valid] == idx[0]).all()
    for context, target in zip(valid_sets(masks, 'context'), valid_sets(masks, 'target')):
        assert len(context) == 10 and not context & target


def test_deterministic_given_generator():
    tube = RandomTube((2, 6, 6), ratio=0.8)
    a = tube.sample(np.random.default_rng(4), 3)
    b = tube.sample(np.random.default_rng(4), 3)
    c = tube.sample(np.random.default_rng(5), 3)
    assert all(np.array_equal(a[k], b[k]) for k in KEYS)
    assert not np.array_equal(a['context_idx'], c['context_idx'])


@pytest.mark.parametrize('kwargs, name', [
    ({'ratio': 0.0}, 'ratio'), ({'ratio': 1.0}, 'ratio'), ({'ratio': '0.5'}, 'ratio'),
    ({'ratio': 0.99}, 'keeps 0'), ({'grid': (2, 3)}, 'grid'),
    ({'context_count': 0}, 'context_count'), ({'target_count': 1.5}, 'target_count'),
])
def test_bad_config(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RandomTube(**{'grid': (2, 4, 4), **kwargs})


def test_exact_count_shortcut_matches_general_path():
    """Default counts build the tubes directly; the general fixed-count path agrees."""
    grid = (3, 4, 6)
    fast = RandomTube(grid, ratio=0.75)                     # 6 kept -> 18 / 54 tokens
    general = RandomTube(grid, ratio=0.75, context_count=18, target_count=55)
    a = fast.sample(np.random.default_rng(6), 10)
    b = general.sample(np.random.default_rng(6), 10)
    np.testing.assert_array_equal(a['context_idx'], b['context_idx'])
    np.testing.assert_array_equal(a['target_idx'], b['target_idx'][:, :54])
    assert not b['target_valid'][:, 54].any() and b['target_valid'][:, :54].all()
