"""Tiny frozen probe on the synthetic moving-shapes videos (the `make demo` probe; 2-core CPU).

Reproduces nothing official: the protocol of the official video probe at toy
size. One segment x one view of 8 frames every 2 (crop 32), random resized
crop 0.5-1 for training (no RandAugment or erasing: the 32-pixel frames are
too small for them), a 3-probe lr grid trained on the same frozen features,
30 epochs of the 320 training videos, batch 16, float32; top-1 on the 80
held-out videos. About a minute on 2 cores.

  python -m vjepa_jax.main --config experiments/probe/tiny.py:checkpoint=runs/demo/pretrain \\
      --workdir runs/demo/probe_pretrained
  python -m vjepa_jax.main --config experiments/probe/tiny.py:checkpoint=runs/demo/pretrain,random_init \\
      --workdir runs/demo/probe_random

Argument (comma-separated): ``checkpoint`` (pretraining workdir or any encoder
checkpoint), ``data`` (folder with ``train.csv`` / ``val.csv``),
``random_init`` (probe the same architecture at random init instead),
``epochs``, ``batch``.
"""

from __future__ import annotations

from vjepa_jax.config_lib import parse_arg
from vjepa_jax.evaluation.config import probe_config
from vjepa_jax.recipe_parts import probe


def get_config(arg: str | None = None):
    a = parse_arg(arg, checkpoint='runs/demo/pretrain', data='data/synthetic',
                  random_init=False, epochs=30.0, batch=16)
    c = probe_config()
    c.encoder.update({'checkpoint': a.checkpoint, 'random_init': a.random_init,
                      'dtype': 'float32'})
    c.data.update({'kind': 'video', 'num_classes': 8, 'read_threads': 2,
                   **probe.video_index(a, a.data)})
    c.clip.update({'frames_per_clip': 8, 'frame_step': 2, 'num_segments': 1,
                   'num_views_per_segment': 1, 'crop_size': 32, 'random_resize_scale': (0.5, 1.0),
                   'auto_augment': False, 'reprob': 0.0})
    c.batch_size = a.batch
    c.optimizer.update({'num_epochs': a.epochs, 'lrs': (3e-3, 1e-2, 3e-2),
                        'weight_decays': (0.01,)})
    c.checkpoint.every_epochs = 10
    c.log_every = 100
    c.eval_every_epochs = 10
    c.lock()
    return c
