"""The synthetic physics world (data/make_physics_videos.py): matched sets hide no pixel cue."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from vjepa_jax.evaluation.matched_sets import read_matched_sets
from vjepa_jax.evaluation.surprise_clips import read_clip

SCRIPT = Path(__file__).resolve().parents[1] / 'data' / 'make_physics_videos.py'


@pytest.fixture(scope='module')
def world():
    spec = importlib.util.spec_from_file_location('make_physics_videos', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def frame_multiset(videos):
    frames = np.concatenate(videos).reshape(sum(len(v) for v in videos), -1)
    return frames[np.lexsort(frames.T[::-1])]


@pytest.mark.parametrize('violation', ['permanence', 'teleport', 'constancy', 'solidity',
                                       'inertia', 'gravity'])
def test_possible_and_impossible_videos_hold_the_same_frames(world, violation):
    for index in range(2):
        seed = np.random.SeedSequence(7, spawn_key=(1, 0, index))
        clips = world.matched_set(seed, violation)
        x, y, a, b = (clips[k] for k in 'xyab')
        assert x.shape == (world.FRAMES, world.SIZE, world.SIZE, 3) and x.dtype == np.uint8
        np.testing.assert_array_equal(frame_multiset([x, y]), frame_multiset([a, b]))
        assert not np.array_equal(x, y)           # the two possible videos differ ...
        assert not np.array_equal(a, x) and not np.array_equal(a, y)  # ... and are spliced
        # Spliced at a frame multiple of 4: a = x[:t] + y[t:], b = y[:t] + x[t:].
        assert any(np.array_equal(a[:t], x[:t]) and np.array_equal(a[t:], y[t:])
                   and np.array_equal(b[:t], y[:t]) and np.array_equal(b[t:], x[t:])
                   for t in world.SPLICE_FRAMES)
        assert all(t % 4 == 0 for t in world.SPLICE_FRAMES)


def test_deterministic_and_time_reversible(world):
    seed = np.random.SeedSequence(3)
    np.testing.assert_array_equal(world.training_video(seed), world.training_video(seed))
    assert not np.array_equal(world.training_video(seed),
                              world.training_video(np.random.SeedSequence(4)))
    forward = world.simulate([10.0, 6.0], [0.7, 1.3], 3.0, True, 40)
    velocity = (forward[-1] - forward[-2])  # roughly the last velocity
    back = world.simulate(forward[-1], -velocity, 3.0, True, 40)[::-1]
    np.testing.assert_allclose(back[:-4], forward[:-4], atol=1.5)


def test_make_world_writes_lossless_sets_and_their_index(world, tmp_path):
    paths = world.make_world(str(tmp_path), num_train=2, sets_per_type=1,
                             violations=('permanence',))
    assert len(Path(paths['train']).read_text().splitlines()) == 2
    sets = read_matched_sets(paths['sets'])
    assert len(sets) == 1 and sets[0].violation == 'permanence'
    assert sets[0].impossible == (False, False, True, True)
    decoded = [read_clip(c, 1, world.SIZE) for c in sets[0].clips]
    expected = world.matched_set(np.random.SeedSequence(0, spawn_key=(1, 1, 0)), 'permanence')
    # qp 0 is lossless up to the RGB -> YUV 4:2:0 conversion (chroma of the noise), which
    # is the same for equal frames.
    assert np.abs(decoded[0].astype(int) - expected["x"]).mean() < 6
    np.testing.assert_array_equal(frame_multiset(decoded[:2]), frame_multiset(decoded[2:]))
    with pytest.raises(ValueError, match='unknown violation'):
        world.make_world(str(tmp_path), violations=('levitation',))


def test_the_demo_recipe_trains_the_future_prediction_it_is_tested_on():
    from vjepa_jax.config_lib import load_experiment
    from vjepa_jax.evaluation.jepa_loading import future_mask_token
    from vjepa_jax.masks import FutureFrames, build_mask_samplers

    recipe = Path(__file__).resolve().parents[1] / 'experiments' / 'pretrain' / 'physics.py'
    c = load_experiment(str(recipe))
    m = c.model
    samplers = build_mask_samplers(c.masks, num_frames=m.num_frames, crop_size=m.crop_size,
                                   patch_size=8, tubelet_size=m.tubelet_size)
    assert [type(s) for s in samplers][-1] is FutureFrames and len(samplers) == 2
    # Its own mask token, which the surprise test picks up from the run's config.
    assert m.predictor.num_mask_tokens == len(samplers)
    assert future_mask_token([dict(x) for x in c.masks], m.predictor.num_mask_tokens) == 1
    assert len(load_experiment(str(recipe), 'short=1').masks) == 3
