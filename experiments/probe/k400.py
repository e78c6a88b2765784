"""Official V-JEPA frozen-encoder probe on Kinetics-400, 16x8x3 (`configs/evals/vitl16_k400_16x8x3.yaml`).

Reproduces the official recipe: the target encoder, frozen; an attentive probe
(depth 1) on 8 segments x 3 views of 16 frames every 4 (crop 224, 384 for
H/16_384), attending across segments; 20 epochs, global batch 256, AdamW lr
1e-3 cosine to 0, weight decay 0.01 -> 1e-6, clip 1.0, bfloat16 features;
top-1 / top-5 over all validation videos (softmax averaged over the 3 views).

  python -m vjepa_jax.main --config experiments/probe/k400.py:checkpoint=vitl16.pth.tar,data=/data/k400 \\
      --workdir runs/probe_k400

Argument (comma-separated, ``vjepa_jax.recipe_parts.probe``): ``checkpoint``
(official .pth.tar, converted directory or pretraining workdir), ``data``
(folder with ``train.csv`` and ``val.csv`` in the official index format),
``size`` (L/16, H/16 or H/16_384), ``grid`` (train a 3 x 3 lr x weight-decay
grid on the same features), ``workers`` (decoding processes per host),
``runlocal`` (the same job at CPU size on the videos in ``data``, default
data/synthetic; ``recipe_parts.probe.runlocal``).
"""

from __future__ import annotations

from vjepa_jax.evaluation.config import probe_config
from vjepa_jax.recipe_parts import probe


def get_config(arg: str | None = None):
    a = probe.probe_arg(arg)
    c = probe_config()
    c.encoder.which = 'target_encoder'
    c.data.update({'kind': 'video', 'num_classes': 400,
                   **probe.video_index(a, '/data/k400')})
    c.clip.update({'frames_per_clip': 16, 'frame_step': 4, 'num_segments': 8,
                   'num_views_per_segment': 3, 'crop_size': probe.official_crop(a.size),
                   'attend_across_segments': True, 'random_resize_scale': (0.08, 1.0),
                   'auto_augment': True, 'reprob': 0.25})
    c.probe.depth = 1
    c.batch_size = 256  # 4 videos per GPU x 64 GPUs
    c.optimizer.update({'num_epochs': 20.0, 'lrs': (1e-3,), 'weight_decays': (0.01,),
                        'start_lr_factor': 1.0, 'final_lr': 0.0, 'final_weight_decay': 1e-6,
                        'warmup_epochs': 0.0, 'clip_grad': 1.0})
    return probe.finish(c, a)
