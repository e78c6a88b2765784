"""Official V-JEPA H/16 pretraining at 224 x 224 (`configs/pretrain/vith16.yaml`).

Reproduces the official recipe, every value of which is stated below:
ViT-H/16 encoder on 16 frames every 4 (224 px crops), predictor 384 wide x
12 deep with two zero-initialised mask tokens, the two official mask sets,
global batch 3072, 300 epochs x 300 steps (90k updates), warmup 40 epochs,
lr 2e-4 -> 6.25e-4 -> 1e-6, weight decay 0.04 -> 0.4, EMA 0.998 -> 1.0
(ipe_scale 1.25), gradient clip 10 per model after warmup, bfloat16 compute,
seed 234, data = Kinetics-710 + SSv2 + HowTo100M index files, concatenated
(see docs/running.md for preparing them).

One TPU pod slice / GPU host (run the same command on every host):

  python -m vjepa_jax.main --config experiments/pretrain/vith16.py:data=/data/index \\
      --workdir gs://bucket/runs/vith16

Argument (comma-separated): ``data`` (folder with k710_train.csv,
ssv2_train.csv, howto100m_train.csv), ``workers`` (decoding processes per
host), ``fsdp`` (mesh fsdp size; 1 = pure data parallel), ``remat``
(none/full/dots/dots_no_batch), ``runlocal`` (the same code path shrunk to a
2-step CPU run on data/synthetic; ``vjepa_jax/recipe_parts/pretrain.py``).
"""

from __future__ import annotations

from vjepa_jax.recipe_parts import pretrain


def get_config(arg: str | None = None):
    a = pretrain.arguments(arg, data=None, workers=8, fsdp=1, remat='dots')
    c = pretrain.pretrain_config(
        seed=234,
        batch_size=3072,
        model={'variant': 'H/16', 'crop_size': 224, 'num_frames': 16, 'tubelet_size': 2,
               'uniform_power': True, 'dtype': 'bfloat16', 'scan_layers': True,
               'remat_policy': a.remat,
               'predictor': {'embed_dim': 384, 'depth': 12, 'num_heads': None,
                             'mlp_ratio': 4.0, 'num_mask_tokens': 2,
                             'zero_init_mask_tokens': True}},
        masks=pretrain.OFFICIAL_MASK_SETS,
        data={'index_files': pretrain.official_index_files(a.data), 'weights': None,
              'frame_step': 4, 'random_resize_scale': (0.3, 1.0),
              'random_resize_aspect_ratio': (0.75, 1.35), 'flip_prob': 0.5,
              'filter_short_videos': False, 'num_workers': a.workers},
        optimizer={'steps_per_epoch': 300, 'num_epochs': 300.0, 'warmup_epochs': 40.0,
                   'start_lr': 2e-4, 'lr': 6.25e-4, 'final_lr': 1e-6,
                   'weight_decay': 0.04, 'final_weight_decay': 0.4,
                   'ema': (0.998, 1.0), 'ipe_scale': 1.25,
                   'clip_grad': 10.0, 'clip_after_warmup': True,
                   'betas': (0.9, 0.999), 'eps': 1e-8},
        loss={'loss_exp': 1.0, 'reg_coeff': 0.0},
        mesh=(('data', -1), ('fsdp', a.fsdp), ('tensor', 1)),
        checkpoint={'every_steps': 1000, 'keep': 3, 'keep_period': 9000},
        log_every=50)
    return pretrain.finish(c, a)
