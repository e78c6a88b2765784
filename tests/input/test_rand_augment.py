"""RandAugment of clips (rand-m7-n4-mstd0.5-inc1): the same ops on every frame, RNG-exact."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from vjepa_jax.input.rand_augment import RAND_AUGMENT_OPS, _clip_op, rand_augment_clip

# Outputs before the move out of evaluation/video_data.py (seed -> digest) for a
# random clip [3, 20, 24, 3] (default_rng(0)).
BEFORE = {0: 'c0d366fd4ed32c70', 1: '5fa1df571e356408', 2: 'ca18ee4279b3551f',
          3: '7faa275b821193bd', 4: '295f094eef4dd0a4', 5: '86d5d1694d0f386a'}


def test_rand_augment_applies_the_same_ops_to_every_frame():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    clip = np.repeat(frame[None], 5, axis=0)
    changed = 0
    for seed in range(8):
        out = rand_augment_clip(clip, np.random.default_rng(seed))
        assert out.shape == clip.shape and out.dtype == np.uint8
        assert all(np.array_equal(out[0], f) for f in out)
        changed += not np.array_equal(out, clip)
    assert changed >= 6  # 4 ops at p=0.5: a clip is left alone 1 time in 16
    for name in RAND_AUGMENT_OPS:  # every op runs on a frame and keeps its shape
        op = _clip_op(name, 7.0, np.random.default_rng(1))
        assert np.asarray(op(Image.fromarray(frame))).shape == frame.shape


def test_rand_augment_is_rng_exact():
    clip = np.random.default_rng(0).integers(0, 256, (3, 20, 24, 3), dtype=np.uint8)
    for seed, digest in BEFORE.items():
        out = rand_augment_clip(clip, np.random.default_rng(seed))
        assert hashlib.sha256(np.ascontiguousarray(out).tobytes()).hexdigest()[:16] == digest
