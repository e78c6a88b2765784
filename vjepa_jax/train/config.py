"""The pretraining config: defaults shared by the experiment files, and validation.

Experiment files (``experiments/pretrain/*.py``) call ``pretrain_config()`` and
override what their recipe changes; the result is locked, so a misspelled
field is an error. ``validate(config, num_devices)`` turns bad combinations
into messages that say what to change.
"""

from __future__ import annotations

import os
from typing import Any

import ml_collections

from vjepa_jax import sharding
from vjepa_jax.config_lib import decode_variant, index_file_problems, mesh_spec_problem
from vjepa_jax.errors import config_problems
from vjepa_jax.input import transforms
from vjepa_jax.masks.official_sets import OFFICIAL_MASK_SETS
from vjepa_jax.models.builder import DTYPES, model_config

ConfigDict = ml_collections.ConfigDict


def pretrain_config() -> ConfigDict:
    """Defaults: the official ViT-L/16 recipe (unlocked; experiment files lock it)."""
    c = ConfigDict()
    c.mode = 'pretrain'
    c.seed = 0
    c.model = model_config()
    c.masks = tuple(dict(m) for m in OFFICIAL_MASK_SETS)
    c.batch_size = 3072  # global clips per step
    c.data = ConfigDict({
        'index_files': ('',),         # official format: "/path/video.mp4 label" per line
        'weights': (0.0,),            # per index file; all 0 = plain concatenation
        'frame_step': 4,
        'random_resize_scale': tuple(transforms.PRETRAIN_SCALE),
        'random_resize_aspect_ratio': tuple(transforms.PRETRAIN_RATIO),
        'flip_prob': 0.5,
        'filter_short_videos': False,
        'num_workers': 0,
        'read_threads': 0,            # 0 = default (2 in process, 1 per worker)
        'bad_fraction_threshold': 0.05,
    })
    c.optimizer = ConfigDict({
        'steps_per_epoch': 300, 'num_epochs': 300.0, 'warmup_epochs': 40.0,
        'start_lr': 2e-4, 'lr': 6.25e-4, 'final_lr': 1e-6,
        'weight_decay': 0.04, 'final_weight_decay': 0.4,
        'ema': (0.998, 1.0), 'ipe_scale': 1.25,
        'clip_grad': 10.0, 'clip_after_warmup': True,
        'betas': (0.9, 0.999), 'eps': 1e-8,
    })
    c.loss = ConfigDict({'loss_exp': 1.0, 'reg_coeff': 0.0})
    c.mesh = (('data', -1), ('fsdp', 1), ('tensor', 1))
    c.sharding_rules = tuple(tuple(rule) for rule in sharding.DEFAULT_RULES)
    c.checkpoint = ConfigDict({'every_steps': 1000, 'keep': 3, 'keep_period': 0,
                               'async_save': True})
    c.init_from = ''  # our checkpoint dir or an official .pth.tar, used when the workdir is new
    c.log_every = 10
    c.peak_tflops_per_device = 0.0  # for MFU in the progress line; 0 = unknown
    return c


def num_steps(config: ConfigDict) -> int:
    return int(config.optimizer.num_epochs * config.optimizer.steps_per_epoch)


def validate(config: ConfigDict, num_devices: int, process_count: int = 1) -> None:
    """Raises one ``ConfigError`` with every problem found, each saying what to change."""
    problems = []
    m = config.model
    try:
        variant = decode_variant(m.variant)
    except ValueError as e:
        problems.append(f'model.variant: {e}')
        variant = None
    if variant is not None and m.crop_size % variant.patch_size:
        problems.append(f'model.crop_size {m.crop_size} is not divisible by the patch size '
                        f'{variant.patch_size} of {m.variant!r}.')
    if m.num_frames % m.tubelet_size:
        problems.append(f'model.num_frames {m.num_frames} is not divisible by '
                        f'model.tubelet_size {m.tubelet_size}.')
    if m.dtype not in DTYPES:
        problems.append(f'model.dtype {m.dtype!r} is not one of {sorted(DTYPES)}.')
    mesh_problem = mesh_spec_problem(config.mesh)
    try:
        if mesh_problem:
            raise ValueError(mesh_problem)
        ways, mesh_sizes = sharding.planned_batch_split(
            config.mesh, sharding.rules_from_config(config.sharding_rules), num_devices)
    except ValueError as e:
        problems.append(mesh_problem or f'mesh: {e}')
    else:
        if config.batch_size % ways:
            problems.append(f'batch_size {config.batch_size} is not divisible by the '
                            f'data-parallel size {ways} (mesh {mesh_sizes}).')
    if config.batch_size % process_count:
        problems.append(f'batch_size {config.batch_size} is not divisible by the '
                        f'{process_count} processes.')
    problems += index_file_problems('data.index_files', config.data.index_files)
    files = [f for f in config.data.index_files if f and isinstance(f, str)]
    if not files:
        problems.append('data.index_files is empty: give at least one index file '
                        '(lines "/path/to/video.mp4 <label>").')
    for f in files:
        if not os.path.isfile(f):
            problems.append(f'data.index_files: {f} does not exist.')
    weights = [w for w in config.data.weights if w]
    if weights and len(config.data.weights) != len(config.data.index_files):
        problems.append(f'data.weights has {len(config.data.weights)} entries for '
                        f'{len(config.data.index_files)} index files.')
    if config.init_from and not os.path.exists(config.init_from):
        problems.append(f'init_from: {config.init_from} does not exist.')
    if config.log_every < 1:
        problems.append('log_every must be >= 1.')
    config_problems(problems)


OFFICIAL_DATA_MIX = ('k710_train.csv', 'ssv2_train.csv', 'howto100m_train.csv')


def official_recipe(variant: str, crop_size: int, batch_size: int, arg: Any) -> ConfigDict:
    """The official V-JEPA pretraining recipe (``configs/pretrain/vit*.yaml``).

    Shared by ``experiments/pretrain/vitl16.py``, ``vith16.py`` and
    ``vith16_384.py``: predictor 384 x 12 with two mask tokens (zero init),
    uniform_power tables, the two official mask sets, 300 epochs of 300 steps
    (90k updates) with 40 warmup epochs, lr 2e-4 -> 6.25e-4 -> 1e-6, wd 0.04
    -> 0.4, EMA 0.998 -> 1.0, all over ipe_scale 1.25, clip 10 (after warmup),
    bfloat16 compute, 16 frames every 4, random resized crop (0.3-1.0 area,
    0.75-1.35 aspect) + flip, seed 234, and the Kinetics-710 + SSv2 +
    HowTo100M index files (concatenated, as the official configs give no
    weights) under ``arg.data``.
    """
    c = pretrain_config()
    c.seed = 234
    c.model.update({'variant': variant, 'crop_size': crop_size, 'num_frames': 16,
                    'tubelet_size': 2, 'uniform_power': True, 'dtype': 'bfloat16',
                    'scan_layers': True, 'remat_policy': arg.remat})
    c.model.predictor.update({'embed_dim': 384, 'depth': 12, 'num_mask_tokens': 2,
                              'zero_init_mask_tokens': True})
    c.batch_size = batch_size
    c.data.index_files = tuple(os.path.join(arg.data, f) for f in OFFICIAL_DATA_MIX)
    c.data.weights = (0.0,) * len(OFFICIAL_DATA_MIX)
    c.data.frame_step = 4
    c.data.num_workers = arg.workers
    c.mesh = (('data', -1), ('fsdp', arg.fsdp), ('tensor', 1))
    c.checkpoint.update({'every_steps': 1000, 'keep': 3, 'keep_period': 9000})
    c.log_every = 50
    return c
