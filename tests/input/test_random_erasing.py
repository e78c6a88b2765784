"""Random erasing: one implementation, the video-probe and image-probe call sites, RNG-exact."""

from __future__ import annotations

import hashlib
import inspect

import numpy as np
import pytest

from vjepa_jax.errors import ConfigError
from vjepa_jax.input import image_transforms, random_erasing
from vjepa_jax.input.image_transforms import train_transform
from vjepa_jax.input.normalize import IMAGENET_MEAN, IMAGENET_STD
from vjepa_jax.input.random_erasing import random_erase, random_erase_clip

BACKGROUND = 7


def _box(out: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(top, left, h, w)`` of the pixels that differ from the background, any frame."""
    changed = np.any(out != BACKGROUND, axis=-1)
    changed = changed.reshape(-1, *changed.shape[-2:]).any(axis=0)
    if not changed.any():
        return None
    rows, cols = np.nonzero(changed)
    return (int(rows.min()), int(cols.min()), int(rows.max() - rows.min() + 1),
            int(cols.max() - cols.min() + 1))


def _digest(out: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(out).tobytes()).hexdigest()[:16]


# Outputs of the implementations before the two were merged into one (seed -> box, digest).
# A narrow clip, where 10 tries (timm's) often find no box but 100 (jepa's cube erasing) do.
VIDEO_NARROW = {  # random_erase_clip(full((2, 4, 64, 3), 7), default_rng(seed), prob=1.0)
    0: ((0, 0, 3, 9), '95efadf9d630655a'),
    1: ((0, 55, 3, 8), '971c50adfdac8681'),
    2: ((0, 40, 2, 4), 'ead9fb1c35b29886'),
    3: ((1, 31, 3, 4), '899ff1645f114934'),
    4: ((1, 56, 3, 6), 'd4a252c5918dd8c2'),
    5: ((0, 21, 3, 9), '1f60e5255965d56d'),
    6: ((2, 49, 2, 7), '75192f82999f8aff'),
    7: ((0, 30, 2, 5), '777df426e54ec368'),
}
VIDEO_HALF = {  # random_erase_clip(full((3, 32, 40, 3), 7), default_rng(seed), prob=0.5)
    1: (None, '350c148fa5b10471'),
    2: ((6, 3, 18, 8), '592e9517075c9f07'),
    3: ((14, 19, 16, 8), '81fe012dbcad8352'),
}
IMAGE = {  # train_transform(full((32, 32, 3), 7), default_rng(seed), 32, erase_prob=0.5,
    #                        scale=(1, 1), ratio=(1, 1), flip_prob=0): erasing alone
    0: ((2, 13, 28, 10), '79c3fa59e808c5d1'),
    1: (None, '51f490b53192fc97'),
    2: ((13, 4, 19, 11), '980ed00017670588'),
    4: ((12, 12, 13, 17), '26c9c05b7f2f6976'),
    5: ((15, 10, 5, 7), 'b4826980f01632d4'),
    6: ((4, 11, 22, 16), 'b6c09a69f97b52cf'),
    7: ((14, 0, 17, 7), 'b61adddae6b2d9d3'),
}
WHOLE_IMAGE = {'scale': (1.0, 1.0), 'ratio': (1.0, 1.0), 'flip_prob': 0.0}


@pytest.mark.parametrize('seed', sorted(VIDEO_NARROW))
def test_video_call_site_is_rng_exact(seed):
    clip = np.full((2, 4, 64, 3), BACKGROUND, np.uint8)
    out = random_erase_clip(clip, np.random.default_rng(seed), prob=1.0)
    assert (_box(out), _digest(out)) == VIDEO_NARROW[seed]
    if seed in VIDEO_HALF:
        half = np.full((3, 32, 40, 3), BACKGROUND, np.uint8)
        out = random_erase_clip(half, np.random.default_rng(seed), prob=0.5)
        assert (_box(out), _digest(out)) == VIDEO_HALF[seed]


@pytest.mark.parametrize('seed', sorted(IMAGE))
def test_image_call_site_is_rng_exact(seed):
    image = np.full((32, 32, 3), BACKGROUND, np.uint8)
    out = train_transform(image, np.random.default_rng(seed), 32, erase_prob=0.5, **WHOLE_IMAGE)
    assert (_box(out), _digest(out)) == IMAGE[seed]


def test_the_call_sites_differ_only_in_tries():
    clip = np.full((2, 4, 64, 3), BACKGROUND, np.uint8)
    # Seed 1: the first 10 boxes do not fit; jepa's cube erasing keeps trying.
    assert random_erase(clip, np.random.default_rng(1), 1.0,
                        attempts=random_erasing.IMAGE_ATTEMPTS) is clip
    video = random_erase_clip(clip, np.random.default_rng(1), prob=1.0)
    same = random_erase(clip, np.random.default_rng(1), 1.0,
                        attempts=random_erasing.VIDEO_ATTEMPTS)
    np.testing.assert_array_equal(video, same)
    assert _box(video) is not None
    assert (random_erasing.IMAGE_ATTEMPTS, random_erasing.VIDEO_ATTEMPTS) == (10, 100)


def test_image_call_site_uses_timm_parameters(monkeypatch):
    calls = []

    def spy(*args, **kwargs):
        bound = inspect.signature(random_erase).bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append({k: v for k, v in bound.arguments.items() if k not in ('pixels', 'rng')})
        return random_erase(*args, **kwargs)

    monkeypatch.setattr(image_transforms, 'random_erase', spy)
    image = np.full((20, 24, 3), BACKGROUND, np.uint8)
    train_transform(image, np.random.default_rng(0), 16, erase_prob=0.25)
    # timm RandomErasing(re_prob, mode='pixel', count=1): 10 tries, area (0.02, 1/3),
    # aspect log-uniform in (0.3, 1 / 0.3).
    assert calls == [{'prob': 0.25, 'area': (0.02, 1 / 3), 'min_aspect': 0.3, 'attempts': 10}]


def test_random_erasing_uses_one_box_for_the_clip():
    clip = np.full((3, 32, 32, 3), BACKGROUND, np.uint8)
    out = random_erase_clip(clip, np.random.default_rng(3), prob=1.0)
    changed = (out != clip).any(axis=-1)                       # [T, H, W]
    boxes = {(tuple(np.argwhere(c).min(0)), tuple(np.argwhere(c).max(0))) for c in changed}
    assert len(boxes) == 1  # the same box in every frame
    (top, left), (bottom, right) = boxes.pop()
    assert (out[:, :top] == BACKGROUND).all() and (out[:, bottom + 1:] == BACKGROUND).all()
    assert (out[:, :, :left] == BACKGROUND).all() and (out[:, :, right + 1:] == BACKGROUND).all()
    assert not np.array_equal(out[0], out[1])  # fresh noise per frame
    assert (clip == BACKGROUND).all()  # the input is not written to
    assert random_erase_clip(clip, np.random.default_rng(3), prob=0.0) is clip


def test_noise_is_normal_after_device_normalisation():
    image = np.full((64, 64, 3), BACKGROUND, np.uint8)
    noise = []
    for seed in range(20):
        out = random_erase(image, np.random.default_rng(seed), 1.0)
        top, left, h, w = _box(out)
        noise.append(out[top:top + h, left:left + w].reshape(-1, 3))
    z = (np.concatenate(noise) / 255.0 - np.asarray(IMAGENET_MEAN)) / np.asarray(IMAGENET_STD)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=0.1)
    np.testing.assert_allclose(z.std(0), 1.0, atol=0.15)


@pytest.mark.parametrize('change, match', [
    ({'prob': 1.5}, 'probability'),
    ({'area': (0.5, 0.2)}, 'area'),
    ({'min_aspect': 0.0}, 'min_aspect'),
    ({'attempts': 0}, 'attempts'),
    ({'pixels': np.zeros((8, 8, 3), np.float32)}, 'uint8'),
    ({'pixels': np.zeros((8, 8), np.uint8)}, 'uint8'),
])
def test_bad_parameters_are_config_errors(change, match):
    args = {'pixels': np.zeros((8, 8, 3), np.uint8), 'rng': np.random.default_rng(0),
            'prob': 0.5, **change}
    with pytest.raises(ConfigError, match=match):
        random_erase(**args)


def test_random_erase_clip_needs_a_clip():
    with pytest.raises(ConfigError, match=r'\[T, H, W, 3\]'):
        random_erase_clip(np.zeros((8, 8, 3), np.uint8), np.random.default_rng(0))
