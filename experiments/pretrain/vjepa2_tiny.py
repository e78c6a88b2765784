"""Tiny V-JEPA 2 pretraining for a 2-core CPU on the synthetic moving-shapes videos.

Reproduces nothing official; it is the V-JEPA 2 code path at a size a laptop
runs: a RoPE encoder 96 wide x 4 blocks (4 heads of 24 channels, patch 8,
tubelet 2) at 32 x 32, a 2-block 48-wide predictor (4 heads of 12), the two
official mask sets, and two frames-per-clip groups per step (8 frames x 4
clips and 4 frames x 4 clips; 2 masks x 2 groups = 4 mask tokens), float32.
The V-JEPA 2 schedule shapes: warmup then constant lr (1e-4 -> 3e-4 over 50
updates), constant weight decay 0.04, constant EMA (0.998: a 300-step run
cannot use the official 0.99925), no clipping. 300 updates by default.

  python data/make_synthetic_videos.py --out data/synthetic
  python -m vjepa_jax.main --config experiments/pretrain/vjepa2_tiny.py --workdir runs/vjepa2_tiny

Argument (``--config experiments/pretrain/vjepa2_tiny.py:steps=300,data=DIR``):
``steps`` (updates), ``data`` (folder with ``train.csv``), ``runlocal`` (2
updates of a micro model; ``vjepa_jax/recipe_parts/pretrain.py``).
"""

from __future__ import annotations

import os

from vjepa_jax.recipe_parts import pretrain


def get_config(arg: str | None = None):
    a = pretrain.arguments(arg, steps=300, data='data/synthetic')
    c = pretrain.pretrain_config(
        seed=0,
        batch_size=8,
        frame_groups=((8, 4), (4, 4)),
        model={'family': 'vjepa2', 'variant': 'w96d4h4m384/8', 'num_frames': 8,
               'crop_size': 32, 'tubelet_size': 2, 'dtype': 'float32',
               'predictor': {'embed_dim': 48, 'depth': 2, 'num_heads': 4,
                             'num_mask_tokens': 4}},
        data={'index_files': (os.path.join(a.data, 'train.csv'),), 'frame_step': 2,
              'read_threads': 2},
        optimizer={'steps_per_epoch': 50, 'num_epochs': a.steps / 50, 'warmup_epochs': 1.0,
                   'start_lr': 1e-4, 'lr': 3e-4, 'final_lr': 3e-4, 'weight_decay': 0.04,
                   'final_weight_decay': 0.04, 'ema': (0.998, 0.998), 'ipe_scale': 1.25,
                   'clip_grad': None},
        checkpoint={'every_steps': 100, 'keep': 2},
        log_every=25)
    return pretrain.finish(c, a)
