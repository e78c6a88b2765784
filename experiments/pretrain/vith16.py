"""Official V-JEPA H/16 pretraining at 224 x 224 (`configs/pretrain/vith16.yaml`).

Reproduces the official recipe: ViT-H/16 encoder on 16 frames every 4
(224 px crops), predictor 384 wide x 12 deep, the two official mask sets,
global batch 3072, 300 epochs x 300 steps (90k updates), warmup 40 epochs,
lr 2e-4 -> 6.25e-4 -> 1e-6, weight decay 0.04 -> 0.4, EMA 0.998 -> 1.0
(ipe_scale 1.25), gradient clip 10, bfloat16 compute, data = Kinetics-710 +
SSv2 + HowTo100M index files (see docs/running.md for preparing them).

One TPU pod slice / GPU host (run the same command on every host):

  python -m vjepa_jax.main --config experiments/pretrain/vith16.py:data=/data/index \\
      --workdir gs://bucket/runs/vith16

Argument (comma-separated): ``data`` (folder with k710_train.csv,
ssv2_train.csv, howto100m_train.csv), ``workers`` (decoding processes per
host), ``fsdp`` (mesh fsdp size; 1 = pure data parallel), ``remat``
(none/full/dots/dots_no_batch).
"""

from __future__ import annotations

from vjepa_jax.config_lib import parse_arg
from vjepa_jax.train.config import official_recipe


def get_config(arg: str | None = None):
    a = parse_arg(arg, data='/data/vjepa_index', workers=8, fsdp=1, remat='dots')
    c = official_recipe('H/16', crop_size=224, batch_size=3072, arg=a)
    c.lock()
    return c
