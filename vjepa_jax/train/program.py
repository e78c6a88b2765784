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
from vjepa_jax.train.config import PretrainSections, build
from vjepa_jax.train.state import init_boxed_state
from vjepa_jax.train.step import StepSetup

PyTree = Any


@dataclasses.dataclass(frozen=True)
class PretrainProgram:
    """What a pretraining config compiles to (before any mesh)."""

    setup: StepSetup
    samplers: tuple
    rules: sharding.Rules

    @property
    def mask_counts(self) -> list[tuple[int, int]]:
        """(context, target) tokens per mask set."""
        return mask_set_counts(self.samplers)

    def flops_per_clip(self) -> float:
        """Analytic FLOPs of one clip's forward and backward (``train.flops``)."""
        return flops.train_step_flops(self.setup.encoder, self.setup.predictor,
                                      self.mask_counts)


def pretrain_program(config, sections: PretrainSections | None = None) -> PretrainProgram:
    """Modules, mask samplers, optimiser and rules of a pretraining config.

    ``sections``: ``train.config.build(config)`` when the caller already has it.
    """
    sections = sections or build(config)
    encoder, predictor = sections.model.build()
    samplers = build_mask_samplers(config.masks, num_frames=sections.model.num_frames,
                                   crop_size=sections.model.crop_size,
                                   patch_size=encoder.patch_size,
                                   tubelet_size=encoder.tubelet_size)
    setup = StepSetup(encoder, predictor, sections.optimizer, sections.loss)
    return PretrainProgram(setup, tuple(samplers), sharding.rules_from_config(config.sharding_rules))


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
    """The step's batch as ``ShapeDtypeStruct``: uint8 clips ``[B, T, H, W, 3]`` and the masks.

    One sample's masks are drawn for their shapes and dtypes; every leaf is
    split along its leading axis over the batch mesh axes.
    """
    enc = program.setup.encoder
    t, h, w = enc.grid
    split = sharding.batch_sharding(mesh, program.rules)
    one = draw_mask_sets(list(program.samplers), 1, seed=0, step=0)

    def leaf(x):
        x = np.asarray(x)
        return jax.ShapeDtypeStruct((global_batch, *x.shape[1:]), x.dtype, sharding=split)

    video = jax.ShapeDtypeStruct((global_batch, t * enc.tubelet_size, h * enc.patch_size,
                                  w * enc.patch_size, 3), jnp.uint8, sharding=split)
    return {'video': video, 'masks': jax.tree_util.tree_map(leaf, one)}
