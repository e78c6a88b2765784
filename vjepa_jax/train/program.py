"""The pretraining program of a config: models, mask samplers, step setup, and its abstract inputs.

``run_pretraining`` and the ahead-of-time fit check (``vjepa_jax.compile_check``)
both build the step from here, so the check compiles the very step that
training runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax import sharding
from vjepa_jax.masks import build_mask_samplers, draw_mask_sets, mask_set_counts
from vjepa_jax.train import flops
from vjepa_jax.train.config import PretrainSections, build, frame_groups
from vjepa_jax.train.state import init_boxed_state
from vjepa_jax.train.step import StepSetup

PyTree = Any


@dataclasses.dataclass(frozen=True)
class PretrainProgram:
    """What a pretraining config compiles to (before any mesh)."""

    setup: StepSetup
    group_samplers: tuple  # one tuple of mask samplers per frames-per-clip group
    rules: sharding.Rules
    groups: tuple[tuple[int, int], ...]  # (frames, global clips) per group

    @property
    def samplers(self) -> tuple:
        """The first (with V-JEPA 1: the only) group's mask samplers."""
        return self.group_samplers[0]

    @property
    def mask_counts(self) -> list[tuple[int, int]]:
        """(context, target) tokens per mask set of the first group."""
        return mask_set_counts(self.samplers)

    def group_tokens(self, frames: int) -> int:
        """Tokens of one clip of ``frames`` frames."""
        _, h, w = self.setup.encoder.grid
        return frames // self.setup.encoder.tubelet_size * h * w

    def flops_per_step(self) -> float:
        """Analytic FLOPs of one update over the global batch (``train.flops``), every group."""
        return sum(clips * flops.train_step_flops(
            self.setup.encoder, self.setup.predictor, mask_set_counts(samplers),
            self.group_tokens(frames))
            for (frames, clips), samplers in zip(self.groups, self.group_samplers))

    def flops_per_clip(self) -> float:
        """``flops_per_step`` over the clips of a step (one clip's, with one group)."""
        return self.flops_per_step() / sum(clips for _, clips in self.groups)


def pretrain_program(config, sections: PretrainSections | None = None) -> PretrainProgram:
    """Modules, mask samplers, optimiser and rules of a pretraining config.

    ``sections``: ``train.config.build(config)`` when the caller already has it.
    """
    sections = sections or build(config)
    encoder, predictor = sections.model.build()
    groups = frame_groups(config)
    samplers = tuple(tuple(build_mask_samplers(config.masks, num_frames=frames,
                                               crop_size=sections.model.crop_size,
                                               patch_size=encoder.patch_size,
                                               tubelet_size=encoder.tubelet_size))
                     for frames, _ in groups)
    setup = StepSetup(encoder, predictor, sections.optimizer, sections.loss)
    return PretrainProgram(setup, samplers, sharding.rules_from_config(config.sharding_rules),
                           groups)


def boxed_abstract_state(program: PretrainProgram, seed: int = 0) -> PyTree:
    """The train state's shapes and dtypes, params still in their logical boxes."""
    s = program.setup
    return jax.eval_shape(lambda: init_boxed_state(s.encoder, s.predictor, seed, s.optimizer))


def abstract_state(program: PretrainProgram, mesh,
                   boxed: PyTree | None = None) -> tuple[PyTree, PyTree]:
    """``(state, shardings)``: ``ShapeDtypeStruct`` leaves placed by the rules on ``mesh``.

    ``mesh`` may be a device mesh or a ``jax.sharding.AbstractMesh``; ``boxed``:
    ``boxed_abstract_state(program)`` when the caller already has it.
    """
    if boxed is None:
        boxed = boxed_abstract_state(program)
    shardings = sharding.logical_shardings(boxed, mesh, program.rules)
    state = jax.tree_util.tree_map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
        nn.meta.unbox(boxed), shardings)
    return state, shardings


def abstract_batch(program: PretrainProgram, global_batch: int, mesh) -> dict[str, Any]:
    """The step's batch as ``ShapeDtypeStruct``: uint8 clips ``[B, T, H, W, 3]`` and the masks
    (with several frames-per-clip groups, ``{'groups': (...)}``, each group's clips in the
    proportion of ``program.groups`` scaled to ``global_batch``).

    One sample's masks are drawn for their shapes and dtypes; every leaf is
    split along its leading axis over the batch mesh axes.
    """
    enc = program.setup.encoder
    _, h, w = enc.grid
    split = sharding.batch_sharding(mesh, program.rules)
    configured = sum(clips for _, clips in program.groups)

    def group(frames: int, clips: int, samplers) -> dict[str, Any]:
        batch = clips * global_batch // configured
        one = draw_mask_sets(list(samplers), 1, seed=0, step=0)

        def leaf(x):
            x = np.asarray(x)
            return jax.ShapeDtypeStruct((batch, *x.shape[1:]), x.dtype, sharding=split)

        video = jax.ShapeDtypeStruct((batch, frames, h * enc.patch_size, w * enc.patch_size, 3),
                                     jnp.uint8, sharding=split)
        return {'video': video, 'masks': jax.tree_util.tree_map(leaf, one)}

    groups = [group(f, c, s) for (f, c), s in zip(program.groups, program.group_samplers)]
    return groups[0] if len(groups) == 1 else {'groups': tuple(groups)}
