"""Image-probe transforms: the official evaluation view, the training crop, flip and erasing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vjepa_jax.input import image_transforms
from vjepa_jax.input.image_transforms import (
    eval_transform,
    image_to_clip,
    train_transform,
)
from vjepa_jax.input.normalize import IMAGENET_MEAN, IMAGENET_STD

CROP = 16


def test_eval_transform_is_pil_bilinear_short_side_then_centre_crop():
    image = np.random.default_rng(0).integers(0, 256, (40, 61, 3), dtype=np.uint8)
    # short side 40 -> int(16 * 256 / 224) = 18, long side int(18 * 61 / 40) = 27;
    # centre crop offsets round((18 - 16) / 2) = 1 and round((27 - 16) / 2) = round(5.5) = 6.
    resized = np.asarray(Image.fromarray(image).resize((27, 18), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(eval_transform(image, CROP), resized[1:17, 6:22])
    # Already at the resize size: a pure crop; a grey image becomes RGB.
    square = image[:18, :18, :1]
    out = eval_transform(square, CROP)
    np.testing.assert_array_equal(out, np.repeat(square[1:17, 1:17], 3, axis=-1))


def test_train_transform_crop_flip_exactly():
    image = np.random.default_rng(1).integers(0, 256, (CROP, CROP, 3), dtype=np.uint8)
    whole = {'scale': (1.0, 1.0), 'ratio': (1.0, 1.0), 'erase_prob': 0.0}
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(train_transform(image, rng, CROP, flip_prob=0.0, **whole), image)
    np.testing.assert_array_equal(train_transform(image, rng, CROP, flip_prob=1.0, **whole),
                                  image[:, ::-1])
    # The official range: the box is at most the image, the output always crop x crop.
    big = np.random.default_rng(2).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    for seed in range(5):
        out = train_transform(big, np.random.default_rng(seed), CROP)
        assert out.shape == (CROP, CROP, 3) and out.dtype == np.uint8


def test_random_erasing_box_and_noise():
    image = np.full((64, 64, 3), 7, np.uint8)
    keep = {'scale': (1.0, 1.0), 'ratio': (1.0, 1.0), 'flip_prob': 0.0}
    np.testing.assert_array_equal(
        train_transform(image, np.random.default_rng(0), 64, erase_prob=0.0, **keep), image)
    fractions, noise = [], []
    for seed in range(20):
        out = train_transform(image, np.random.default_rng(seed), 64, erase_prob=1.0, **keep)
        changed = np.any(out != 7, axis=-1)
        rows, cols = np.nonzero(changed)
        # One rectangle (noise may hit 7 by chance inside it, so use the bounding box).
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        assert changed[top:bottom, left:right].mean() > 0.9
        assert not changed[:top].any() and not changed[bottom:].any()
        fractions.append((bottom - top) * (right - left) / 64 ** 2)
        noise.append(out[top:bottom, left:right].reshape(-1, 3))
    assert 0.015 <= min(fractions) and max(fractions) <= 0.36
    z = (np.concatenate(noise) / 255.0 - np.asarray(IMAGENET_MEAN)) / np.asarray(
        IMAGENET_STD)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=0.1)
    np.testing.assert_allclose(z.std(0), 1.0, atol=0.15)


def test_image_to_clip_repeats_along_time():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    clip = image_to_clip(image, 5)
    assert clip.shape == (5, 2, 3, 3)
    assert all(np.array_equal(frame, image) for frame in clip)
    batch = np.stack([image, image + 1])
    clips = image_to_clip(batch)
    assert clips.shape == (2, image_transforms.OFFICIAL_NUM_FRAMES, 2, 3, 3)
    np.testing.assert_array_equal(clips[1, 7], image + 1)


def test_non_uint8_images_are_rejected():
    with pytest.raises(TypeError, match='uint8'):
        eval_transform(np.zeros((8, 8, 3), np.float32), 4)
