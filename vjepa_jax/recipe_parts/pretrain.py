"""Pieces shared by the pretraining experiment files (``experiments/pretrain/*.py``).

Each experiment file states its recipe's values itself and assembles them with
``pretrain_config``; every section gets the fields of the object it configures
(``train/config.py``), with that object's defaults for what the file leaves
out. ``arguments`` parses the experiment argument (``path.py:key=value,...``),
which always accepts a bare ``runlocal``; ``finish`` applies it and locks the
config.

``runlocal`` shrinks any pretraining experiment to a CPU-sized run of the same
code path: a 2-block 32-wide encoder (patch 8) and 1-block 16-wide predictor
(24-wide for V-JEPA 2, whose RoPE needs 12 channels a head) on 4 frames of
32 x 32, batch 8, 2 updates (the second one clipped), data
parallel over every device, the synthetic videos of
``data/make_synthetic_videos.py`` (``data=DIR`` for another folder with a
``train.csv``). The recipe's model family, layer scan, remat policy, compute
dtype, mask sets, schedules' shapes and loss are kept; a recipe with several
frames-per-clip groups keeps two of them (4 and 2 frames, 8 clips each), and
a cooldown's ``init_from`` is dropped (the run starts fresh).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import ml_collections
from ml_collections.config_dict import placeholder

from vjepa_jax import sharding
from vjepa_jax.checkpointing import CheckpointPolicy
from vjepa_jax.config_lib import parse_arg
from vjepa_jax.config_sections import config_section
from vjepa_jax.input.pipeline import ClipConfig
from vjepa_jax.masks.official_sets import OFFICIAL_MASK_SETS
from vjepa_jax.models.builder import ModelConfig
from vjepa_jax.train.losses import LossConfig
from vjepa_jax.train.optimizer import OptimizerConfig

ConfigDict = ml_collections.ConfigDict

OFFICIAL_DATA_MIX = ('k710_train.csv', 'ssv2_train.csv', 'howto100m_train.csv')
OFFICIAL_DATA_DIR = '/data/vjepa_index'
SYNTHETIC_DATA_DIR = 'data/synthetic'
DATA_PARALLEL = (('data', -1), ('fsdp', 1), ('tensor', 1))
# The data section's clip shape is the model's input (model.num_frames, model.crop_size).
MODEL_SHAPED = ('frames_per_clip', 'crop_size')


def arguments(arg: str | None, **spec: Any) -> ConfigDict:
    """The experiment argument parsed by ``config_lib.parse_arg``, plus a bare ``runlocal``."""
    return parse_arg(arg, runlocal=False, **spec)


def official_index_files(folder: str | None) -> tuple[str, ...]:
    """Kinetics-710 + SSv2 + HowTo100M index files in ``folder`` (default ``/data/vjepa_index``)."""
    return tuple(os.path.join(folder or OFFICIAL_DATA_DIR, f) for f in OFFICIAL_DATA_MIX)


def pretrain_config(*, model: Mapping[str, Any], data: Mapping[str, Any],
                    optimizer: Mapping[str, Any], batch_size: int, seed: int = 0,
                    loss: Mapping[str, Any] | None = None,
                    checkpoint: Mapping[str, Any] | None = None,
                    masks: Sequence[Mapping[str, Any]] = OFFICIAL_MASK_SETS,
                    mesh: Sequence[tuple[str, int]] = DATA_PARALLEL,
                    sharding_rules: Sequence[Sequence[Any]] = sharding.DEFAULT_RULES,
                    init_from: str | None = None, init_optimizer_state: bool = False,
                    frame_groups: Sequence[tuple[int, int]] = (), log_every: int = 10,
                    peak_tflops_per_device: float | None = None) -> ConfigDict:
    """An (unlocked) pretraining config from its sections' values.

    ``model`` (with its ``predictor`` dict), ``data``, ``optimizer``, ``loss``
    and ``checkpoint`` are keyword arguments of ``ModelConfig``,
    ``ClipConfig`` (less its model-shaped fields), ``OptimizerConfig``,
    ``LossConfig`` and ``CheckpointPolicy``. ``init_from``: our checkpoint
    checkpoint (anything ``vjepa_jax.load`` reads) used when the workdir is
    new; ``init_optimizer_state`` also takes its Adam moments and count (the
    V-JEPA 2 cooldown; the schedules still start at step 0). ``frame_groups``:
    V-JEPA 2's ``((frames, clips), ...)`` per step (``train/config.py``).
    ``peak_tflops_per_device``: for the MFU of the progress line.
    """
    c = ConfigDict()
    c.mode = 'pretrain'
    c.seed = seed
    c.model = config_section(ModelConfig, **model)
    c.masks = tuple(dict(m) for m in masks)
    c.batch_size = batch_size  # global clips per step
    c.frame_groups = tuple(tuple(g) for g in frame_groups)
    c.data = config_section(ClipConfig, exclude=MODEL_SHAPED, **data)
    c.optimizer = config_section(OptimizerConfig, **optimizer)
    c.loss = config_section(LossConfig, **(loss or {}))
    c.mesh = tuple(tuple(axis) for axis in mesh)
    c.sharding_rules = tuple(tuple(rule) for rule in sharding_rules)
    c.checkpoint = config_section(CheckpointPolicy, **(checkpoint or {}))
    c.init_from = placeholder(str) if init_from is None else init_from
    c.init_optimizer_state = init_optimizer_state
    c.log_every = log_every
    c.peak_tflops_per_device = (placeholder(float) if peak_tflops_per_device is None
                                else peak_tflops_per_device)
    return c


def runlocal(config: ConfigDict, data: str | None = None) -> None:
    """Shrinks ``config`` in place to the CPU-sized run of the module docstring."""
    config.model.update({'variant': 'w32d2h2m64/8', 'num_frames': 4, 'crop_size': 32,
                         'tubelet_size': 2})
    # RoPE needs 12 channels per head (models/rope.py), so V-JEPA 2 gets a 24-wide predictor.
    width = 24 if config.model.get('family') == 'vjepa2' else 16
    config.model.predictor.update({'embed_dim': width, 'depth': 1, 'num_heads': 2})
    config.batch_size = 8
    if len(config.frame_groups) > 1:  # 8 clips a group: one per test device
        config.batch_size = 16
        config.frame_groups = ((4, 8), (2, 8))
    elif config.frame_groups:
        config.frame_groups = ((4, 8),)
    config.data.index_files = (os.path.join(data or SYNTHETIC_DATA_DIR, 'train.csv'),)
    config.data.weights = None
    config.data.num_workers = 0
    config.data.read_threads = 1
    # Two updates of one "epoch" each, no warmup: clipping is active from the second.
    config.optimizer.update({'steps_per_epoch': 1, 'num_epochs': 2.0, 'warmup_epochs': 0.0})
    config.mesh = DATA_PARALLEL
    config.checkpoint.update({'every_steps': 1, 'keep': 2, 'keep_period': None})
    config.init_from = None
    config.init_optimizer_state = False
    config.log_every = 1


def finish(config: ConfigDict, args: ConfigDict) -> ConfigDict:
    """Applies ``runlocal`` when the argument asks for it (``data=`` picks its videos); locks."""
    if args.runlocal:
        runlocal(config, args.get('data'))
    config.lock()
    return config
