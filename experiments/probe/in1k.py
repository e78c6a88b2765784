"""Official V-JEPA frozen-encoder image probe on ImageNet-1k (`configs/evals/vitl16_in1k.yaml`).

Reproduces the official recipe: the target encoder, frozen, sees each image
repeated to 16 frames; an attentive probe (depth 1); 20 epochs, global batch
1024, AdamW lr 1e-3 cosine to 0, weight decay 0.001 -> 1e-6, clip 1.0,
bfloat16 features; crop 224 (384 for H/16_384); top-1 / top-5 on the
validation split. Data: 1000 classes, TFDS `imagenet2012`.
Images come from a TFDS ArrayRecord copy prepared beforehand (nothing is
downloaded; the error says how to prepare it). AutoAugment of the official
image transform is not implemented (docs/evaluation.md).

  python -m vjepa_jax.main --config experiments/probe/in1k.py:checkpoint=vitl16.pth.tar,data=/data/tfds \\
      --workdir runs/probe_in1k

Argument (comma-separated, ``vjepa_jax.recipe_parts.probe``): ``checkpoint``
(official .pth.tar, converted directory or pretraining workdir), ``data``
(TFDS data_dir; empty: TFDS's default), ``size`` (L/16, H/16 or H/16_384),
``grid`` (train a 3 x 3 lr x weight-decay grid on the same features),
``workers`` (reading processes per host), ``runlocal`` (the same job at CPU
size on stand-in images, default data/tiny_tfds from
data/make_tiny_image_datasets.py; ``recipe_parts.probe.runlocal``).
"""

from __future__ import annotations

from vjepa_jax.evaluation.config import probe_config
from vjepa_jax.recipe_parts import probe


def get_config(arg: str | None = None):
    a = probe.probe_arg(arg)
    c = probe_config()
    c.encoder.which = 'target_encoder'
    c.data.update({'kind': 'image', 'dataset': 'in1k', 'num_classes': 1000,
                   'data_dir': probe.image_data_dir(a)})
    c.clip.update({'crop_size': probe.official_crop(a.size), 'attend_across_segments': True})
    c.probe.depth = 1
    c.batch_size = 1024  # 16 images per GPU x 64 GPUs
    c.optimizer.update({'num_epochs': 20.0, 'lrs': (1e-3,), 'weight_decays': (0.001,),
                        'start_lr_factor': 1.0, 'final_lr': 0.0, 'final_weight_decay': 1e-6,
                        'warmup_epochs': 0.0, 'clip_grad': 1.0})
    return probe.finish(c, a)
