"""The probe config (``mode='probe'``): its sections, and building them with every problem listed.

Each section is the keyword arguments of the object it configures, whose
defaults are the only defaults:

=============  ========================================  ===========================
section        object                                    what
=============  ========================================  ===========================
encoder        ``frozen_encoder.FrozenEncoderConfig``    checkpoint, which, dtype
data           ``probe_data.ProbeDataConfig``            index files / TFDS dataset
clip           ``input.probe_clips.ProbeClipConfig``     segments x views, crop, aug.
probe          ``probe_recipe.ProbeHeadConfig``          depth, dtype
optimizer      ``probe_recipe.ProbeOptimizerConfig``     the lr x weight-decay grid
checkpoint     ``ProbeCheckpointConfig``                 every_epochs, keep, async
=============  ========================================  ===========================

plus ``seed``, ``batch_size`` / ``eval_batch_size`` (global; None: the
training batch), ``mesh``, ``sharding_rules``, ``log_every`` and
``eval_every_epochs`` (0: after the last epoch only). Experiment files
(``experiments/probe/*.py``) start from ``probe_config()`` and state their
recipe (``vjepa_jax.recipe_parts.probe``). ``build(config, ...)`` builds every
section, collects each object's own problems (``section.field ...``) and the
cross-field ones (files exist, batch vs mesh) and raises one ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
import os

import ml_collections
from ml_collections import config_dict

from vjepa_jax import sharding
from vjepa_jax.config_lib import mesh_spec_problem
from vjepa_jax.config_sections import build_section, config_section
from vjepa_jax.errors import config_problems
from vjepa_jax.evaluation.frozen_encoder import FrozenEncoderConfig
from vjepa_jax.evaluation.probe_data import ProbeDataConfig
from vjepa_jax.evaluation.probe_recipe import ProbeHeadConfig, ProbeOptimizerConfig
from vjepa_jax.input.probe_clips import ProbeClipConfig

ConfigDict = ml_collections.ConfigDict


@dataclasses.dataclass(frozen=True)
class ProbeCheckpointConfig:
    """Probe-job checkpoints: one every ``every_epochs`` epochs, the last ``keep`` kept."""

    every_epochs: int = 1
    keep: int = 2
    async_save: bool = True

    def problems(self) -> list[str]:
        return [f'{key} must be >= 1, got {getattr(self, key)}.'
                for key in ('every_epochs', 'keep') if getattr(self, key) < 1]


SECTIONS = {'encoder': FrozenEncoderConfig, 'data': ProbeDataConfig, 'clip': ProbeClipConfig,
            'probe': ProbeHeadConfig, 'optimizer': ProbeOptimizerConfig,
            'checkpoint': ProbeCheckpointConfig}


def probe_config() -> ConfigDict:
    """Every field at its default (unlocked; experiment files state their recipe and lock it).

    ``encoder.checkpoint`` and ``data.num_classes`` are placeholders a recipe must set.
    """
    c = ConfigDict()
    c.mode = 'probe'
    c.seed = 0
    for name, cls in SECTIONS.items():
        c[name] = config_section(cls)
    c.batch_size = 256
    c.eval_batch_size = config_dict.placeholder(int)
    c.mesh = (('data', -1), ('fsdp', 1), ('tensor', 1))
    c.sharding_rules = tuple(tuple(rule) for rule in sharding.DEFAULT_RULES)
    c.log_every = 20
    c.eval_every_epochs = 1
    return c


@dataclasses.dataclass(frozen=True)
class ProbeJobConfig:
    """A built probe config: one object per section plus the top-level fields."""

    encoder: FrozenEncoderConfig
    data: ProbeDataConfig
    clip: ProbeClipConfig
    probe: ProbeHeadConfig
    optimizer: ProbeOptimizerConfig
    checkpoint: ProbeCheckpointConfig
    seed: int
    batch_size: int
    eval_batch_size: int
    log_every: int
    eval_every_epochs: int


def _file_problems(job: ProbeJobConfig) -> list[str]:
    """Cross-field: the files the sections name exist."""
    out = []
    if job.encoder.checkpoint and not os.path.exists(job.encoder.checkpoint):
        out.append(f'encoder.checkpoint: {job.encoder.checkpoint} does not exist.')
    if job.data.kind == 'video':
        for key in ('train_index', 'val_index'):
            out += [f'data.{key}: {f} does not exist.' for f in getattr(job.data, key)
                    if isinstance(f, str) and f and not os.path.isfile(f)]
    return out


def _batch_problems(config: ConfigDict, num_devices: int, process_count: int) -> list[str]:
    """Cross-field: both batches split over the mesh's data-parallel ways and the processes."""
    mesh_problem = mesh_spec_problem(config.mesh)
    if mesh_problem:
        return [mesh_problem]
    try:
        ways, sizes = sharding.planned_batch_split(
            config.mesh, sharding.rules_from_config(config.sharding_rules), num_devices)
    except ValueError as err:
        return [f'mesh: {err}']
    out = []
    for key in ('batch_size', 'eval_batch_size'):
        value = config[key] if config[key] is not None else config.batch_size
        if value < 1 or value % ways or value % process_count:
            out.append(f'{key} {value} must be a positive multiple of the data-parallel size '
                       f'{ways} (mesh {sizes}) and of the {process_count} processes.')
    return out


def build(config: ConfigDict, num_devices: int, process_count: int = 1) -> ProbeJobConfig:
    """Every section built; raises one ``ConfigError`` listing every problem found."""
    problems: list[str] = []
    built = {}
    for name, cls in SECTIONS.items():
        built[name], section_problems = build_section(cls, name, config[name])
        problems += section_problems
    if config.log_every < 1:
        problems.append(f'log_every must be >= 1, got {config.log_every}.')
    if config.eval_every_epochs < 0:
        problems.append(f'eval_every_epochs must be >= 0 (0: after the last epoch only), got '
                        f'{config.eval_every_epochs}.')
    problems += _batch_problems(config, num_devices, process_count)
    if any(v is None for v in built.values()):
        config_problems(problems)
    job = ProbeJobConfig(
        **built, seed=config.seed, batch_size=config.batch_size,
        eval_batch_size=(config.batch_size if config.eval_batch_size is None
                         else config.eval_batch_size),
        log_every=config.log_every, eval_every_epochs=config.eval_every_epochs)
    problems += _file_problems(job)
    config_problems(problems)
    return job


def validate(config: ConfigDict, num_devices: int, process_count: int = 1) -> None:
    """Raises one ``ConfigError`` with every problem found, each saying what to change."""
    build(config, num_devices, process_count)
