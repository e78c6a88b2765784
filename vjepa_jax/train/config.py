"""A pretraining config, built: every section made into its object, every problem reported at once.

A pretraining config (``experiments/pretrain/*.py``, assembled with
``vjepa_jax.recipe_parts.pretrain``) has one section per object it configures,
whose keys are that object's keyword arguments:

=============  ================================================  ========================
section        object                                            checks next to it
=============  ================================================  ========================
``model``      ``models.builder.ModelConfig`` (+ ``predictor``)  variant, tubelets, heads
``data``       ``input.pipeline.ClipConfig`` (shape: the model)  crop ranges, weights
``optimizer``  ``train.optimizer.OptimizerConfig``               schedules, Adam
``loss``       ``train.losses.LossConfig``                       exponent, regulariser
``checkpoint`` ``checkpointing.CheckpointPolicy``                intervals, keep counts
=============  ================================================  ========================

plus top-level fields (``seed``, ``batch_size``, ``frame_groups``, ``mesh``,
``sharding_rules``, ``masks``, ``init_from``, ``init_optimizer_state``,
``log_every``, ``peak_tflops_per_device``). ``frame_groups`` (V-JEPA 2):
``((frames, clips), ...)`` per step, clips summing to ``batch_size``; empty
means one group of ``model.num_frames`` frames.
``build(config)`` makes the sections; ``validate(config, num_devices,
process_count)`` also runs the checks that involve several fields or the
machine (batch vs mesh and processes, files that must exist) and raises one
``ConfigError`` listing every problem.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from vjepa_jax import sharding
from vjepa_jax.checkpointing import CheckpointPolicy
from vjepa_jax.config_lib import mesh_spec_problem
from vjepa_jax.config_sections import build_section
from vjepa_jax.errors import config_problems
from vjepa_jax.input.pipeline import ClipConfig
from vjepa_jax.models.builder import ModelConfig
from vjepa_jax.train.losses import LossConfig
from vjepa_jax.train.optimizer import OptimizerConfig


@dataclasses.dataclass(frozen=True)
class PretrainSections:
    """The built sections of a pretraining config."""

    model: ModelConfig
    data: ClipConfig
    optimizer: OptimizerConfig
    loss: LossConfig
    checkpoint: CheckpointPolicy

    @property
    def num_steps(self) -> int:
        return self.optimizer.total_steps


def _build(config: Any) -> tuple[PretrainSections | None, list[str]]:
    model, problems = build_section(ModelConfig, 'model', config.model)
    shape = ({'frames_per_clip': model.num_frames, 'crop_size': model.crop_size} if model
             else {})
    data, more = build_section(ClipConfig, 'data', {**_plain(config.data), **shape})
    problems += more
    built = {'model': model, 'data': data}
    for name, cls in (('optimizer', OptimizerConfig), ('loss', LossConfig),
                      ('checkpoint', CheckpointPolicy)):
        built[name], more = build_section(cls, name, config[name])
        problems += more
    if problems:
        return None, problems
    return PretrainSections(**built), []


def _plain(section: Any) -> dict[str, Any]:
    return section.to_dict() if hasattr(section, 'to_dict') else dict(section)


def build(config: Any) -> PretrainSections:
    """Every section of ``config`` as its object; one ``ConfigError`` listing all problems."""
    sections, problems = _build(config)
    config_problems(problems)
    return sections


def num_steps(config: Any) -> int:
    """Updates in the run: ``optimizer.num_epochs * optimizer.steps_per_epoch``."""
    return int(config.optimizer.num_epochs * config.optimizer.steps_per_epoch)


def frame_groups(config: Any) -> tuple[tuple[int, int], ...]:
    """``((frames, global clips), ...)`` of every step: ``config.frame_groups``, or one
    group of ``model.num_frames`` x ``batch_size``."""
    groups = tuple(tuple(int(x) for x in g) for g in (config.get('frame_groups') or ()))
    return groups or ((int(config.model.num_frames), int(config.batch_size)),)


def _group_problems(config: Any, ways: int | None, process_count: int) -> list[str]:
    """Why ``frame_groups`` cannot be run; [] when it can."""
    given = config.get('frame_groups') or ()
    if any(len(g) != 2 for g in given):
        return [f'frame_groups {given!r}: give ((frames, clips), ...) pairs.']
    groups = frame_groups(config)
    problems = []
    frames = int(config.model.num_frames)
    if given and config.model.get('family', 'vjepa') != 'vjepa2':
        problems.append('frame_groups is a V-JEPA 2 feature: set model.family to "vjepa2" '
                        '(V-JEPA 1 position tables fix the clip length), or leave it empty.')
    if given and sum(c for _, c in groups) != config.batch_size:
        problems.append(f'frame_groups {groups} hold {sum(c for _, c in groups)} clips per '
                        f'step but batch_size is {config.batch_size}: make them agree.')
    if len({f for f, _ in groups}) != len(groups):
        problems.append(f'frame_groups {groups}: each frame count may appear once (the '
                        'official collator merges groups of equal length).')
    for f, c in groups:
        if not 0 < f <= frames or f % int(config.model.tubelet_size):
            problems.append(f'frame_groups: {f} frames must be in (0, model.num_frames = '
                            f'{frames}] and a multiple of model.tubelet_size.')
        if given and (c < 1 or c % process_count or (ways and c % ways)):
            problems.append(f'frame_groups: {c} clips of {f} frames is not a positive multiple '
                            f'of the data-parallel size {ways} and of the {process_count} '
                            'processes.')
    return problems


def validate(config: Any, num_devices: int, process_count: int = 1) -> PretrainSections:
    """``build(config)`` plus the cross-field and machine checks; returns the sections.

    Raises one ``ConfigError`` with every problem found, each saying what to change.
    """
    sections, problems = _build(config)
    mesh_problem = mesh_spec_problem(config.mesh)
    try:
        if mesh_problem:
            raise ValueError(mesh_problem)
        ways, mesh_sizes = sharding.planned_batch_split(
            config.mesh, sharding.rules_from_config(config.sharding_rules), num_devices)
    except ValueError as e:
        problems.append(mesh_problem or f'mesh: {e}')
        ways = None
    else:
        if config.batch_size % ways:
            problems.append(f'batch_size {config.batch_size} is not divisible by the '
                            f'data-parallel size {ways} (mesh {mesh_sizes}).')
    problems += _group_problems(config, ways, process_count)
    if config.get('init_optimizer_state') and not config.init_from:
        problems.append('init_optimizer_state needs init_from (the checkpoint whose Adam '
                        'moments to continue, e.g. the pretraining run a cooldown starts from).')
    if config.batch_size < 1 or config.batch_size % process_count:
        problems.append(f'batch_size {config.batch_size} is not a positive multiple of the '
                        f'{process_count} processes.')
    files = [f for f in (config.data.index_files or ()) if isinstance(f, str)]
    if not config.data.index_files:
        problems.append('data.index_files is empty: give at least one index file '
                        '(lines "/path/to/video.mp4 <label>").')
    problems += [f'data.index_files: {f} does not exist.' for f in files if not os.path.isfile(f)]
    if config.init_from is not None and not os.path.exists(config.init_from):
        problems.append(f'init_from: {config.init_from} does not exist.')
    if config.log_every < 1:
        problems.append('log_every must be >= 1.')
    config_problems(problems)
    return sections
