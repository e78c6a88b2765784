"""Official V-JEPA frozen-encoder probe on Something-Something-v2, 16x2x3 (`configs/evals/vitl16_ssv2_16x2x3.yaml`).

Reproduces the official recipe: the target encoder, frozen; an attentive probe
(depth 1) on 2 segments x 3 views of 16 frames every 4 (crop 224, 384 for
H/16_384), attending across segments; 20 epochs, global batch 256, AdamW lr
1e-3 cosine to 0, weight decay 0.01 -> 1e-6, clip 1.0, bfloat16 features;
174 classes, top-1 / top-5 over all validation videos.

  python -m vjepa_jax.main --config experiments/probe/ssv2.py:checkpoint=vitl16.pth.tar,data=/data/ssv2 \\
      --workdir runs/probe_ssv2

Argument (comma-separated): ``checkpoint`` (official .pth.tar, converted
directory or pretraining workdir), ``data`` (folder with ``train.csv`` and
``val.csv`` in the official index format), ``size`` (L/16, H/16 or H/16_384),
``grid`` (train a 3 x 3 lr x weight-decay grid on the same features),
``workers`` (decoding processes per host).
"""

from __future__ import annotations

from vjepa_jax.config_lib import parse_arg
from vjepa_jax.evaluation.config import official_probe_recipe


def get_config(arg: str | None = None):
    a = parse_arg(arg, checkpoint='', data='/data/ssv2', size='L/16', grid=False, workers=8)
    c = official_probe_recipe('ssv2', a.size, a.checkpoint, a.data, grid=a.grid,
                              workers=a.workers)
    c.lock()
    return c
