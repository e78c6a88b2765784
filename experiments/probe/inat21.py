"""Official V-JEPA frozen-encoder image probe on iNaturalist 2021 (`configs/evals/vitl16_inat.yaml`).

Reproduces the official recipe: the target encoder, frozen, sees each image
repeated to 16 frames; an attentive probe (depth 1); 20 epochs, global batch
1024, AdamW lr 1e-3 cosine to 0, weight decay 0.001 -> 1e-6, clip 1.0,
bfloat16 features; crop 224 (384 for H/16_384); top-1 / top-5 on the
validation split. Data: 10000 classes, TFDS `i_naturalist2021`.
Images come from a TFDS ArrayRecord copy prepared beforehand (nothing is
downloaded; the error says how to prepare it). AutoAugment of the official
image transform is not implemented (docs/evaluation.md).

  python -m vjepa_jax.main --config experiments/probe/inat21.py:checkpoint=vitl16.pth.tar,data=/data/tfds \\
      --workdir runs/probe_inat21

Argument (comma-separated): ``checkpoint`` (official .pth.tar, converted
directory or pretraining workdir), ``data`` (TFDS data_dir; empty: TFDS's
default), ``size`` (L/16, H/16 or H/16_384), ``grid`` (train a 3 x 3 lr x
weight-decay grid on the same features), ``workers`` (reading processes per host).
"""

from __future__ import annotations

from vjepa_jax.config_lib import parse_arg
from vjepa_jax.evaluation.config import official_probe_recipe


def get_config(arg: str | None = None):
    a = parse_arg(arg, checkpoint='', data='', size='L/16', grid=False, workers=8)
    c = official_probe_recipe('inat21', a.size, a.checkpoint, a.data, grid=a.grid,
                              workers=a.workers)
    c.lock()
    return c
