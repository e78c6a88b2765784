"""Official probe video augmentations: RandAugment and random erasing of uint8 clips."""

from __future__ import annotations

import numpy as np
from PIL import Image

from vjepa_jax.evaluation import video_data


def test_rand_augment_applies_the_same_ops_to_every_frame():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    clip = np.repeat(frame[None], 5, axis=0)
    changed = 0
    for seed in range(8):
        out = video_data.rand_augment_clip(clip, np.random.default_rng(seed))
        assert out.shape == clip.shape and out.dtype == np.uint8
        assert all(np.array_equal(out[0], f) for f in out)
        changed += not np.array_equal(out, clip)
    assert changed >= 6  # 4 ops at p=0.5: a clip is left alone 1 time in 16
    for name in video_data.RAND_AUGMENT_OPS:  # every op runs on a frame and keeps its shape
        op = video_data._clip_op(name, 7.0, np.random.default_rng(1))
        assert np.asarray(op(Image.fromarray(frame))).shape == frame.shape


def test_random_erasing_uses_one_box_for_the_clip():
    clip = np.full((3, 32, 32, 3), 7, np.uint8)
    out = video_data.random_erase_clip(clip, np.random.default_rng(3), prob=1.0)
    changed = (out != clip).any(axis=-1)                       # [T, H, W]
    boxes = {(tuple(np.argwhere(c).min(0)), tuple(np.argwhere(c).max(0))) for c in changed}
    assert len(boxes) == 1  # the same box in every frame
    (top, left), (bottom, right) = boxes.pop()
    assert (out[:, :top] == 7).all() and (out[:, bottom + 1:] == 7).all()
    assert (out[:, :, :left] == 7).all() and (out[:, :, right + 1:] == 7).all()
    assert not np.array_equal(out[0], out[1])  # fresh noise per frame
    assert video_data.random_erase_clip(clip, np.random.default_rng(3), prob=0.0) is clip
