"""Official V-JEPA 2 frozen-encoder probe on Diving48, 32x4x3 multilevel at 256 px (`configs/eval/vitl/diving48.yaml`).

The V-JEPA 2 recipe: the target encoder of ``vitl.pt``, frozen, its blocks
17, 19, 21 and 23 each through the final norm and joined along tokens
(``vit_encoder_multiclip_multilevel``); the V-JEPA 2 attentive classifier (4
blocks, 16 heads) on 4 segments x 3 views of 32 frames every 2 at 256 px, the
segments' tokens joined per view; 100 epochs, global batch 128 (2 x 64 GPUs),
AdamW, the official grid of 3 probes: lr {1e-3, 3e-4, 1e-4} cosine to 0
without warm-up x constant weight decay 0.8; no gradient clipping; bfloat16
features; 48 classes.

  python -m vjepa_jax.main --config experiments/probe/vjepa2_diving48.py:checkpoint=vitl.pt,data=/data/diving48 \\
      --workdir runs/probe_vjepa2_diving48

Argument (``vjepa_jax.recipe_parts.probe``): ``checkpoint``, ``data``, ``size``
(L/16), ``workers``, ``runlocal`` (the last two blocks stand in for the four).
``grid`` replaces the official grid with the 3 x 3 grid around lr 1e-3, wd 0.8.
"""

from __future__ import annotations

from vjepa_jax.evaluation.config import probe_config
from vjepa_jax.recipe_parts import probe

OUT_LAYERS = (17, 19, 21, 23)  # ViT-L/16 (24 blocks)


def get_config(arg: str | None = None):
    a = probe.probe_arg(arg)
    c = probe_config()
    c.encoder.which = 'target_encoder'
    c.encoder.out_layers = OUT_LAYERS
    c.data.update({'kind': 'video', 'num_classes': 48,
                   **probe.video_index(a, '/data/diving48')})
    probe.vjepa2_probe(c)
    c.clip.update({'frames_per_clip': 32, 'frame_step': 2, 'num_segments': 4,
                   'num_views_per_segment': 3, 'crop_size': probe.vjepa2_crop(a.size)})
    c.batch_size = 128  # 2 videos per GPU x 64 GPUs
    c.optimizer.update({'num_epochs': 100.0, 'lrs': (1e-3, 3e-4, 1e-4),
                        'weight_decays': (0.8,), 'final_weight_decay': None})
    if a.grid:
        c.optimizer.update({'lrs': (1e-3,), 'weight_decays': (0.8,)})
    return probe.finish(c, a)
