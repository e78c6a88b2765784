"""Tiny pretraining for a 2-core CPU on the synthetic moving-shapes videos (the `make demo` run).

Reproduces nothing official: a 4-block, 96-wide encoder (patch 8, tubelet 2)
on 8 frames of 32 x 32, a 2-block 48-wide predictor, the two official mask
sets, batch 8, float32; 3000 updates with a slow EMA (0.999 -> 1) and peak lr 3e-4,
the settings that gave the best frozen-probe accuracy among those tried
(docs/evaluation.md). About 4 minutes on 2 cores.

  python data/make_synthetic_videos.py --out data/synthetic
  python -m vjepa_jax.main --config experiments/pretrain/tiny.py --workdir runs/tiny

Argument (``--config experiments/pretrain/tiny.py:steps=300,data=DIR``):
``steps`` (updates), ``data`` (folder with ``train.csv``), ``batch``.
"""

from __future__ import annotations

import os

from vjepa_jax.config_lib import parse_arg
from vjepa_jax.train.config import pretrain_config


def get_config(arg: str | None = None):
    a = parse_arg(arg, steps=3000, data='data/synthetic', batch=8)
    c = pretrain_config()
    c.model.update({'variant': 'w96d4h4m384/8', 'num_frames': 8, 'crop_size': 32,
                    'tubelet_size': 2})
    c.model.predictor.update({'embed_dim': 48, 'depth': 2, 'num_heads': 4})
    c.batch_size = a.batch
    c.data.index_files = (os.path.join(a.data, 'train.csv'),)
    c.data.frame_step = 2
    c.data.read_threads = 2
    # One "epoch" of 50 updates: warmup 1 epoch, clipping from the 2nd epoch on.
    c.optimizer.update({'steps_per_epoch': 50, 'num_epochs': a.steps / 50,
                        'warmup_epochs': 1, 'start_lr': 2e-4, 'lr': 3e-4, 'final_lr': 1e-6,
                        'ema': (0.999, 1.0)})
    c.mesh = (('data', -1), ('fsdp', 1), ('tensor', 1))
    c.checkpoint.update({'every_steps': 500, 'keep': 2})
    c.log_every = 50
    c.lock()
    return c
