"""Mask sets from config dicts; deterministic draws per (seed, step, shard, set)."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa_jax.masks import (
    MultiBlock3D,
    RandomTube,
    build_mask_samplers,
    draw_mask_sets,
    mask_set_counts,
    token_grid,
)
from vjepa_jax.masks.official_sets import OFFICIAL_MASK_SETS

# The official V-JEPA pretraining mask config (16 frames, 224 x 224), as the YAML has it.
OFFICIAL = [
    {'aspect_ratio': [0.75, 1.5], 'num_blocks': 8, 'spatial_scale': [0.15, 0.15],
     'temporal_scale': [1.0, 1.0], 'max_temporal_keep': 1.0, 'max_keep': None},
    {'aspect_ratio': [0.75, 1.5], 'num_blocks': 2, 'spatial_scale': [0.7, 0.7],
     'temporal_scale': [1.0, 1.0], 'max_temporal_keep': 1.0, 'max_keep': None},
]
# Grid 3 x 5 x 7.
SMALL = {'num_frames': 6, 'crop_size': (35, 49), 'patch_size': 7, 'tubelet_size': 2}
SMALL_CFGS = [{'num_blocks': 2, 'spatial_scale': (0.1, 0.3), 'aspect_ratio': (0.5, 2.0),
               'context_count': 60, 'target_count': 50},
              {'type': 'tube', 'ratio': 0.7}]
KEYS = ('context_idx', 'context_valid', 'target_idx', 'target_valid')


def same(a, b):
    return all(np.array_equal(x[k], y[k]) for x, y in zip(a, b) for k in KEYS)


def test_token_grid():
    assert token_grid(16, 224, 16, 2) == (8, 14, 14)
    assert token_grid(16, (384, 224), 16, 2) == (8, 24, 14)
    for args in [(15, 224, 16, 2), (16, 220, 16, 2), (16, (224,), 16, 2), (16, 224, 0, 2)]:
        with pytest.raises(ValueError):
            token_grid(*args)


@pytest.mark.parametrize('cfgs', [OFFICIAL, OFFICIAL_MASK_SETS])
def test_official_config(cfgs):
    samplers = build_mask_samplers(cfgs, num_frames=16, crop_size=224, patch_size=16,
                                   tubelet_size=2)
    assert all(isinstance(s, MultiBlock3D) and s.grid == (8, 14, 14) for s in samplers)
    counts = mask_set_counts(samplers)
    assert [c for c, _ in counts] == [samplers[0].context_count, samplers[1].context_count]
    assert abs(counts[0][0] - 365) <= 3 and abs(counts[1][1] - 1103) <= 3
    masks = draw_mask_sets(samplers, 24, seed=0, step=0)
    for (kc, kt), m in zip(counts, masks):
        assert tuple(m) == KEYS
        assert m['context_idx'].shape == (24, kc) and m['target_idx'].shape == (24, kt)


def test_types_counts_and_defaults():
    samplers = build_mask_samplers(SMALL_CFGS, **SMALL)
    assert isinstance(samplers[0], MultiBlock3D) and isinstance(samplers[1], RandomTube)
    assert samplers[0].grid == samplers[1].grid == (3, 5, 7)
    # tube: int(35 * 0.3) = 10 kept positions x 3 time steps.
    assert mask_set_counts(samplers) == [(60, 50), (30, 75)]


def test_draws_are_deterministic_and_call_order_free():
    samplers = build_mask_samplers(SMALL_CFGS, **SMALL)
    ref = draw_mask_sets(samplers, 5, seed=1, step=7, shard=2)
    # Other draws in between (as other workers or earlier batches would do).
    draw_mask_sets(samplers, 5, seed=1, step=6, shard=2)
    draw_mask_sets(samplers, 9, seed=1, step=7, shard=0)
    assert same(ref, draw_mask_sets(samplers, 5, seed=1, step=7, shard=2))
    # A mask set's draw does not depend on the sets before it (their random use).
    other_first = build_mask_samplers([{**SMALL_CFGS[0], 'num_blocks': 5}, SMALL_CFGS[1]],
                                      **SMALL)
    assert same(ref[1:], draw_mask_sets(other_first, 5, seed=1, step=7, shard=2)[1:])
    alone = build_mask_samplers(SMALL_CFGS[1:], **SMALL)
    assert not same(ref[1:], draw_mask_sets(alone, 5, seed=1, step=7, shard=2))  # index 0 now
    for other in ({'seed': 2, 'step': 7, 'shard': 2}, {'seed': 1, 'step': 8, 'shard': 2},
                  {'seed': 1, 'step': 7, 'shard': 3}):
        new = draw_mask_sets(samplers, 5, **other)
        assert not np.array_equal(new[0]['target_idx'], ref[0]['target_idx'])
        assert not np.array_equal(new[1]['context_idx'], ref[1]['context_idx'])


def test_mask_sets_differ_from_each_other():
    cfg = {'num_blocks': 2, 'spatial_scale': (0.1, 0.3), 'context_count': 60, 'target_count': 50}
    a, b = draw_mask_sets(build_mask_samplers([cfg, cfg], **SMALL), 5, seed=0, step=0)
    assert not np.array_equal(a['target_idx'], b['target_idx'])


@pytest.mark.parametrize('cfgs, message', [
    ([{'num_blocks': 2, 'spatial_scales': (0.1, 0.2)}], "mask set 0.*'spatial_scales'"),
    ([{'num_blocks': 1}, {'type': 'tube', 'num_blocks': 2}], "mask set 1 \\(tube\\).*num_blocks"),
    ([{'type': 'random'}], "unknown type 'random'"),
    ([{'spatial_scale': (0.4, 0.2)}], 'mask set 0 \\(multiblock3d\\): spatial_scale'),
    ([{'num_blocks': 1, 'context_count': -1}], 'context_count'),
    ([{'type': 'tube', 'ratio': 2.0}], 'mask set 0 \\(tube\\): ratio'),
    ([], 'non-empty list'),
    ({'num_blocks': 1}, 'non-empty list'),
    (['num_blocks'], 'expected a mapping'),
])
def test_config_errors(cfgs, message):
    with pytest.raises(ValueError, match=message):
        build_mask_samplers(cfgs, **SMALL)


def test_bad_seed_words():
    samplers = build_mask_samplers(SMALL_CFGS[1:], **SMALL)
    for kwargs in ({'seed': -1, 'step': 0}, {'seed': 0, 'step': -3},
                   {'seed': 0, 'step': 0, 'shard': 1.0}):
        with pytest.raises(ValueError):
            draw_mask_sets(samplers, 2, **kwargs)
