"""The future-prediction mask: first time steps as context, the next ones as target."""

from __future__ import annotations

import numpy as np
import pytest

from vjepa_jax.masks import (
    FutureFrames,
    build_mask_samplers,
    draw_mask_sets,
    mask_set_counts,
)


def test_context_is_the_past_and_target_the_following_steps():
    sampler = FutureFrames((4, 2, 3), context_steps=1, target_steps=2)
    masks = sampler.sample(np.random.default_rng(0), 5)
    assert masks['context_idx'].shape == (5, 6) and masks['target_idx'].shape == (5, 12)
    np.testing.assert_array_equal(masks['context_idx'][3], np.arange(6))
    np.testing.assert_array_equal(masks['target_idx'][0], np.arange(6, 18))
    assert masks['context_idx'].dtype == np.int32 and masks['context_valid'].all()
    assert masks['target_valid'].all()


def test_default_target_is_every_later_step():
    sampler = FutureFrames((4, 2, 2), context_steps=3)
    assert (sampler.context_count, sampler.target_count) == (12, 4)


@pytest.mark.parametrize('kwargs, message', [
    ({'context_steps': 4}, 'leaves nothing to predict'),
    ({'context_steps': 2, 'target_steps': 3}, 'exceed'),
    ({'context_steps': 0}, 'context_steps must be an int >= 1'),
])
def test_bad_steps_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FutureFrames((4, 2, 2), **kwargs)


def test_mixes_into_the_mask_sets_of_a_config():
    samplers = build_mask_samplers(
        [{'num_blocks': 2, 'spatial_scale': (0.2, 0.3), 'aspect_ratio': (0.75, 1.5)},
         {'type': 'future', 'context_steps': 2}],
        num_frames=8, crop_size=32, patch_size=8, tubelet_size=2)
    assert isinstance(samplers[1], FutureFrames)
    assert mask_set_counts(samplers)[1] == (32, 32)
    sets = draw_mask_sets(samplers, 3, seed=0, step=7)
    np.testing.assert_array_equal(sets[1]['target_idx'][2], np.arange(32, 64))
    with pytest.raises(ValueError, match=r"mask set 0 \(future\): unknown key\(s\) \['ratio'\]"):
        build_mask_samplers([{'type': 'future', 'ratio': 0.5}], num_frames=8, crop_size=32,
                            patch_size=8, tubelet_size=2)
