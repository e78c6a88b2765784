"""Official V-JEPA 2 pretraining: vit_large at 256 px, 16 frames
(facebookresearch/vjepa2 `configs/train/vitl16/pretrain-256px-16f.yaml`).

The recipe's own values: encoder L/16 (vit_large), 16-frame clips at
256 x 256 (one frames-per-clip group), global batch 3072 (24 clips x 128 GPUs),
epochs 10 x 300 steps as released (3000 updates, all inside the 12000-step warmup: the released value is a placeholder; raise optimizer.num_epochs for a real run), seed 239. Everything the V-JEPA 2 recipes share (data mix and
augmentation, predictor, mask sets, AdamW, constant weight decay and EMA, no
clipping, warmup-then-constant lr) is in
``vjepa_jax/recipe_parts/vjepa2_pretrain.py``, with the one official knob it
approximates.

  python -m vjepa_jax.main --config experiments/pretrain/vjepa2_vitl16.py:data=/data/index \\
      --workdir gs://bucket/runs/vjepa2_vitl16

Argument (comma-separated): ``data`` (folder with k710_train.csv,
ssv2_train.csv, howto100m_train.csv), ``workers``, ``fsdp``, ``remat``,
``runlocal`` (the same code path shrunk to a 2-step CPU run on data/synthetic).
"""

from __future__ import annotations

from vjepa_jax.recipe_parts import pretrain, vjepa2_pretrain


def get_config(arg: str | None = None):
    a = vjepa2_pretrain.arguments(arg, cooldown=False)
    c = vjepa2_pretrain.vjepa2_config(a, variant='L/16', crop_size=256, num_frames=16,
                                      phase='pretrain', num_epochs=10, steps_per_epoch=300)
    return pretrain.finish(c, a)
