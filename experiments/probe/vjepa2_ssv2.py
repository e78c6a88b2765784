"""Official V-JEPA 2 frozen-encoder probe on Something-Something-v2, 16x2x3 at 256 px (`configs/eval/vitl/ssv2.yaml`).

The V-JEPA 2 recipe (facebookresearch/vjepa2 ``evals/video_classification_frozen``):
the target encoder of ``vitl.pt``, frozen; the V-JEPA 2 attentive classifier
(4 blocks: 3 self-attention blocks on the tokens, then the query's
cross-attention; 16 heads) on 2 segments x 3 views of 16 frames every 4 at
256 px, the segments' tokens joined per view; 20 epochs, global batch 256 (4 x
64 GPUs), AdamW, the official grid of 20 probes: lr {5e-3, 3e-3, 1e-3, 3e-4,
1e-4} cosine to 0 without warm-up x constant weight decay {0.01, 0.1, 0.4,
0.8}; no gradient clipping; bfloat16 features; 174 classes.

  python -m vjepa_jax.main --config experiments/probe/vjepa2_ssv2.py:checkpoint=vitl.pt,data=/data/ssv2 \\
      --workdir runs/probe_vjepa2_ssv2

Argument (``vjepa_jax.recipe_parts.probe``): ``checkpoint`` (official V-JEPA 2
``.pt``, Hugging Face V-JEPA 2 directory or converted directory), ``data``,
``size`` (L/16), ``workers``, ``runlocal``. The recipe is the official grid
already, so ``grid`` replaces it with the 3 x 3 grid around lr 1e-3, wd 0.01.
"""

from __future__ import annotations

from vjepa_jax.evaluation.config import probe_config
from vjepa_jax.recipe_parts import probe


def get_config(arg: str | None = None):
    a = probe.probe_arg(arg)
    c = probe_config()
    c.encoder.which = 'target_encoder'
    c.data.update({'kind': 'video', 'num_classes': 174,
                   **probe.video_index(a, '/data/ssv2')})
    probe.vjepa2_probe(c)
    c.clip.update({'frames_per_clip': 16, 'frame_step': 4, 'num_segments': 2,
                   'num_views_per_segment': 3, 'crop_size': probe.vjepa2_crop(a.size)})
    c.batch_size = 256  # 4 videos per GPU x 64 GPUs
    c.optimizer.update({'num_epochs': 20.0, 'lrs': (5e-3, 3e-3, 1e-3, 3e-4, 1e-4),
                        'weight_decays': (0.01, 0.1, 0.4, 0.8), 'final_weight_decay': None})
    if a.grid:
        c.optimizer.update({'lrs': (1e-3,), 'weight_decays': (0.01,)})
    return probe.finish(c, a)
