"""Official V-JEPA 2 cooldown: vit_giant_xformers (22 heads) at 384 px, 64 frames
(facebookresearch/vjepa2 `configs/train/vitg16/cooldown-384px-64f.yaml`).

The recipe's own values: encoder g/16 (vit_giant_xformers (22 heads)), 64-frame clips at
384 x 384 (one frames-per-clip group), global batch 3072 (6 clips x 512 GPUs),
40 epochs x 300 steps (12000 updates) at 384 px, seed 239. Everything the V-JEPA 2 recipes share (data mix and
augmentation, predictor, mask sets, AdamW, constant weight decay and EMA, no
clipping, linear-decay lr) is in
``vjepa_jax/recipe_parts/vjepa2_pretrain.py``, with the one official knob it
approximates.

Starts from a pretraining checkpoint with its Adam moments (the official
``anneal_ckpt``): ``init_from=`` a training workdir of the matching
pretraining experiment or an official V-JEPA 2 ``.pt``; the schedules restart
at step 0.

  python -m vjepa_jax.main --config experiments/pretrain/vjepa2_vitg16_cooldown_384.py:data=/data/index,init_from=/runs/vjepa2_vitg16 \\
      --workdir gs://bucket/runs/vjepa2_vitg16_cooldown_384

Argument (comma-separated): ``data`` (folder with k710_train.csv,
ssv2_train.csv, howto100m_train.csv), ``workers``, ``fsdp``, ``remat``, ``init_from``,
``runlocal`` (the same code path shrunk to a 2-step CPU run on data/synthetic).
"""

from __future__ import annotations

from vjepa_jax.recipe_parts import pretrain, vjepa2_pretrain


def get_config(arg: str | None = None):
    a = vjepa2_pretrain.arguments(arg, cooldown=True)
    c = vjepa2_pretrain.vjepa2_config(a, variant='g/16', crop_size=384, num_frames=64,
                                      phase='cooldown', num_epochs=40, steps_per_epoch=300)
    return pretrain.finish(c, a)
