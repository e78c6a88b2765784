"""Pieces shared by the official V-JEPA 2 pretraining and cooldown experiment files.

The official recipes (facebookresearch/vjepa2 ``configs/train/vit{l,h,g}16/``)
share everything but the encoder size, the clip and the schedule phase; each
experiment file passes those, and ``vjepa2_config`` fills in the rest with
the official values:

* data: Kinetics-710 / SSv2 / HowTo100M mixed 0.335 / 0.100 / 0.565, random
  resized crops (area 0.3-1.0, aspect 0.75-1.35), flips; one frames-per-clip
  group (``dataset_fpcs`` 16 or 64 for all three sets), global batch 3072;
* model: RoPE encoder, predictor 384 x 12 with 12 heads, zero-initialised mask
  tokens (2 mask sets x 3 datasets = 6, of which the run trains token 0 only,
  as the official code does), bfloat16 compute, activation checkpointing;
* masks: the V-JEPA 1 sets (8 blocks x 0.15, 2 blocks x 0.7, full time);
* optimizer: AdamW, weight decay 0.04 constant, EMA 0.99925 constant, no
  gradient clipping, ``ipe`` 300 x ``ipe_scale`` 1.25; ``phase='pretrain'``:
  lr 1e-4 -> 5.25e-4 over 40 epochs then constant; ``phase='cooldown'``: lr
  5.25e-4 -> 1e-6 linearly over ``1.25 x epochs x 300`` steps, starting from a
  pretraining checkpoint *with its Adam moments* (``init_from``).

One official knob is approximated: ``fps: 4`` samples every
``ceil(video_fps) // 4``-th frame per video; here ``frame_step`` is fixed
(7: the official step for 25-30 fps video). The official GradScaler (bf16)
does not change the math and is not reproduced.
"""

from __future__ import annotations

from vjepa_jax.recipe_parts import pretrain

DATA_WEIGHTS = (0.335, 0.100, 0.565)
NUM_MASK_TOKENS = 6  # len(masks) x len(dataset_fpcs), as the official builder sizes it
FRAME_STEP = 7


def vjepa2_config(a, *, variant: str, crop_size: int, num_frames: int, phase: str,
                  num_epochs: float, steps_per_epoch: int = 300, seed: int = 239,
                  batch_size: int = 3072, checkpoint_every: int = 300):
    """An official V-JEPA 2 recipe (module docstring) for the parsed experiment argument ``a``
    (``data``, ``workers``, ``fsdp``, ``remat``, ``init_from``)."""
    if phase not in ('pretrain', 'cooldown'):
        raise ValueError(f'phase {phase!r}: use "pretrain" or "cooldown".')
    cooldown = phase == 'cooldown'
    schedule = ({'lr_schedule': 'linear_decay', 'start_lr': 1e-4, 'lr': 5.25e-4,
                 'final_lr': 1e-6, 'warmup_epochs': 0.0} if cooldown else
                {'lr_schedule': 'warmup_cosine', 'start_lr': 1e-4, 'lr': 5.25e-4,
                 'final_lr': 5.25e-4, 'warmup_epochs': 40.0})
    return pretrain.pretrain_config(
        seed=seed,
        batch_size=batch_size,
        model={'family': 'vjepa2', 'variant': variant, 'crop_size': crop_size,
               'num_frames': num_frames, 'tubelet_size': 2, 'rope_interleave': False,
               'dtype': 'bfloat16', 'scan_layers': True, 'remat_policy': a.remat,
               'predictor': {'embed_dim': 384, 'depth': 12, 'num_heads': 12,
                             'mlp_ratio': 4.0, 'num_mask_tokens': NUM_MASK_TOKENS,
                             'zero_init_mask_tokens': True}},
        masks=pretrain.OFFICIAL_MASK_SETS,
        data={'index_files': pretrain.official_index_files(a.data), 'weights': DATA_WEIGHTS,
              'frame_step': FRAME_STEP, 'random_resize_scale': (0.3, 1.0),
              'random_resize_aspect_ratio': (0.75, 1.35), 'flip_prob': 0.5,
              'filter_short_videos': False, 'num_workers': a.workers},
        optimizer={'steps_per_epoch': steps_per_epoch, 'num_epochs': float(num_epochs),
                   'weight_decay': 0.04, 'final_weight_decay': 0.04,
                   'ema': (0.99925, 0.99925), 'ipe_scale': 1.25, 'clip_grad': None,
                   'betas': (0.9, 0.999), 'eps': 1e-8, **schedule},
        loss={'loss_exp': 1.0, 'reg_coeff': 0.0},
        mesh=(('data', -1), ('fsdp', a.fsdp), ('tensor', 1)),
        checkpoint={'every_steps': checkpoint_every, 'keep': 3, 'keep_period': 15000},
        init_from=(a.init_from or None) if cooldown else None,
        init_optimizer_state=cooldown,
        log_every=50)


def arguments(arg: str | None, cooldown: bool = False):
    """The experiment argument: ``data``, ``workers``, ``fsdp``, ``remat``, ``runlocal`` and,
    for a cooldown, ``init_from`` (the pretraining run or official ``.pt`` to cool down)."""
    extra = {'init_from': ''} if cooldown else {}
    return pretrain.arguments(arg, data=None, workers=8, fsdp=1, remat='full', **extra)
