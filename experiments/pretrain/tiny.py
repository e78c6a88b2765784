"""Tiny pretraining for a 2-core CPU on the synthetic moving-shapes videos (the `make demo` run).

Reproduces nothing official: a 4-block, 96-wide encoder (patch 8, tubelet 2)
on 8 frames of 32 x 32, a 2-block 48-wide predictor, the two official mask
sets, batch 8, float32; 3000 updates with a slow EMA (0.999 -> 1) and peak lr 3e-4,
the settings that gave the best frozen-probe accuracy among those tried
(docs/evaluation.md). About 4 minutes on 2 cores.

  python data/make_synthetic_videos.py --out data/synthetic
  python -m vjepa_jax.main --config experiments/pretrain/tiny.py --workdir runs/tiny

Argument (``--config experiments/pretrain/tiny.py:steps=300,data=DIR``):
``steps`` (updates), ``data`` (folder with ``train.csv``), ``batch``,
``runlocal`` (2 updates of a micro model; ``vjepa_jax/recipe_parts/pretrain.py``).
"""

from __future__ import annotations

import os

from vjepa_jax.recipe_parts import pretrain


def get_config(arg: str | None = None):
    a = pretrain.arguments(arg, steps=3000, data='data/synthetic', batch=8)
    c = pretrain.pretrain_config(
        seed=0,
        batch_size=a.batch,
        model={'variant': 'w96d4h4m384/8', 'num_frames': 8, 'crop_size': 32, 'tubelet_size': 2,
               'uniform_power': True, 'dtype': 'float32',
               'predictor': {'embed_dim': 48, 'depth': 2, 'num_heads': 4}},
        data={'index_files': (os.path.join(a.data, 'train.csv'),), 'frame_step': 2,
              'read_threads': 2},
        # One "epoch" of 50 updates: warmup 1 epoch, clipping from the 2nd epoch on.
        optimizer={'steps_per_epoch': 50, 'num_epochs': a.steps / 50, 'warmup_epochs': 1.0,
                   'start_lr': 2e-4, 'lr': 3e-4, 'final_lr': 1e-6, 'weight_decay': 0.04,
                   'final_weight_decay': 0.4, 'ema': (0.999, 1.0), 'ipe_scale': 1.25,
                   'clip_grad': 10.0},
        checkpoint={'every_steps': 500, 'keep': 2},
        log_every=50)
    return pretrain.finish(c, a)
