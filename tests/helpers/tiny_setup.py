"""Tiny pretraining setups for the train tests."""

from __future__ import annotations

import numpy as np

from vjepa_jax.masks import build_mask_samplers, draw_mask_sets
from vjepa_jax.masks.official_sets import OFFICIAL_MASK_SETS
from vjepa_jax.models.builder import build_jepa_models, model_config
from vjepa_jax.train.optimizer import OptimizerConfig
from vjepa_jax.train.step import StepSetup

FRAMES, CROP, PATCH, TUBELET = 4, 32, 8, 2
GRID = (FRAMES // TUBELET, CROP // PATCH, CROP // PATCH)
NUM_TOKENS = GRID[0] * GRID[1] * GRID[2]


def tiny_setup(dtype: str = 'float32', scan: bool = False) -> StepSetup:
    """32-wide, 2-deep encoder and 16-wide predictor on 4 x 32 x 32 clips (32 tokens)."""
    cfg = model_config(variant=f'w32d2h4m64/{PATCH}', num_frames=FRAMES, crop_size=CROP,
                       tubelet_size=TUBELET, dtype=dtype, scan_layers=scan)
    cfg.predictor.update({'embed_dim': 16, 'depth': 1})
    encoder, predictor = build_jepa_models(cfg)
    sched = OptimizerConfig(steps_per_epoch=5, num_epochs=4, warmup_epochs=1, start_lr=1e-3,
                      lr=5e-3, final_lr=1e-5, weight_decay=0.04, final_weight_decay=0.4,
                      ema=(0.9, 1.0), clip_grad=0.05, clip_after_warmup=False)
    return StepSetup(encoder, predictor, sched)


def random_masks(rng: np.random.Generator, batch: int,
                 counts=((10, 14), (6, 20))) -> tuple[dict, ...]:
    """Disjoint sorted context / target indices with a few padded (invalid) entries."""
    sets = []
    for kc, kt in counts:
        perm = np.argsort(rng.random((batch, NUM_TOKENS)), axis=1)
        ctx = np.sort(perm[:, :kc], axis=1).astype(np.int32)
        tgt = np.sort(perm[:, kc:kc + kt], axis=1).astype(np.int32)
        ctx_valid = np.ones((batch, kc), bool)
        tgt_valid = np.ones((batch, kt), bool)
        ctx_valid[0, -2:] = False
        tgt_valid[1, -3:] = False
        sets.append({'context_idx': ctx, 'context_valid': ctx_valid,
                     'target_idx': tgt, 'target_valid': tgt_valid})
    return tuple(sets)


def random_batch(seed: int, batch: int = 8) -> dict:
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 256, (batch, FRAMES, CROP, CROP, 3), dtype=np.uint8)
    return {'video': video, 'masks': random_masks(rng, batch)}


def sampled_batch(step: int, batch: int = 8) -> dict:
    """A clip batch with masks from the official mask-set samplers on the tiny grid."""
    samplers = build_mask_samplers(OFFICIAL_MASK_SETS, num_frames=FRAMES, crop_size=CROP,
                                   patch_size=PATCH, tubelet_size=TUBELET)
    video = np.random.default_rng(step).integers(0, 256, (batch, FRAMES, CROP, CROP, 3),
                                                 dtype=np.uint8)
    return {'video': video, 'masks': draw_mask_sets(samplers, batch, seed=0, step=step)}
