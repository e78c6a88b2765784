"""Official V-JEPA 2 cooldown: vit_large at 256 px, 64 frames
(facebookresearch/vjepa2 `configs/train/vitl16/cooldown-256px-64f.yaml`).

The recipe's own values: encoder L/16 (vit_large), 64-frame clips at
256 x 256 (one frames-per-clip group), global batch 3072 (12 clips x 256 GPUs),
40 epochs x 300 steps (12000 updates), lr 5.25e-4 -> 1e-6 linear over 15000 steps, seed 239. Everything the V-JEPA 2 recipes share (data mix and
augmentation, predictor, mask sets, AdamW, constant weight decay and EMA, no
clipping, linear-decay lr) is in
``vjepa_jax/recipe_parts/vjepa2_pretrain.py``, with the one official knob it
approximates.

Starts from a pretraining checkpoint with its Adam moments (the official
``anneal_ckpt``): ``init_from=`` a training workdir of the matching
pretraining experiment or an official V-JEPA 2 ``.pt``; the schedules restart
at step 0.

  python -m vjepa_jax.main --config experiments/pretrain/vjepa2_vitl16_cooldown.py:data=/data/index,init_from=/runs/vjepa2_vitl16 \\
      --workdir gs://bucket/runs/vjepa2_vitl16_cooldown

Argument (comma-separated): ``data`` (folder with k710_train.csv,
ssv2_train.csv, howto100m_train.csv), ``workers``, ``fsdp``, ``remat``, ``init_from``,
``runlocal`` (the same code path shrunk to a 2-step CPU run on data/synthetic).
"""

from __future__ import annotations

from vjepa_jax.recipe_parts import pretrain, vjepa2_pretrain


def get_config(arg: str | None = None):
    a = vjepa2_pretrain.arguments(arg, cooldown=True)
    c = vjepa2_pretrain.vjepa2_config(a, variant='L/16', crop_size=256, num_frames=64,
                                      phase='cooldown', num_epochs=40, steps_per_epoch=300)
    return pretrain.finish(c, a)
