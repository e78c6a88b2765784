"""The probe grid's state and static setup, and their fresh initialisation.

Every leaf of ``ProbeState.params`` has a leading ``[G]`` axis (one slice per
probe of the grid); ``ProbeSetup`` holds what the jitted steps need statically
(the module, every probe's schedules, the loss layout, AdamW's constants).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from vjepa_jax import sharding
from vjepa_jax.evaluation.probe_recipe import (
    ProbeHeadConfig,
    ProbeOptimizerConfig,
    probe_for,
)
from vjepa_jax.models.attentive_probe import AttentiveClassifier
from vjepa_jax.models.vjepa2 import VJEPA2AttentiveClassifier
from vjepa_jax.train import optimizer
from vjepa_jax.train.schedules import Schedules

Array = jax.Array
PyTree = Any


@flax.struct.dataclass
class ProbeState:
    """``step`` int32 scalar; ``params`` and ``opt_state`` leaves ``[G, ...]`` (one row per probe).

    Adam's step count is shared: all probes take every step together.
    """

    step: Array
    params: PyTree
    opt_state: PyTree

    @property
    def num_probes(self) -> int:
        return int(jax.tree_util.tree_leaves(self.params)[0].shape[0])


@dataclasses.dataclass(frozen=True)
class ProbeSetup:
    """Static description of the probe update: module, per-probe schedules, loss layout."""

    probe: AttentiveClassifier | VJEPA2AttentiveClassifier  # ProbeHeadConfig.kind
    schedules: tuple[Schedules, ...]
    attend_across_segments: bool = True
    clip_grad: float | None = 1.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    @property
    def num_probes(self) -> int:
        return len(self.schedules)

    @property
    def adam(self) -> optax.GradientTransformation:
        return optimizer.make_adam(self.betas[0], self.betas[1], self.eps)

    def rates(self, step: Array | int) -> tuple[Array, Array]:
        """Learning rates and weight decays of every probe at ``step``: float32 ``[G]`` each."""
        lr = jnp.stack([s.learning_rate(step) for s in self.schedules])
        wd = jnp.stack([s.weight_decay_at(step) for s in self.schedules])
        return lr, wd


def make_setup(optimizer_config: ProbeOptimizerConfig, probe: AttentiveClassifier,
               steps_per_epoch: int, attend_across_segments: bool = True) -> ProbeSetup:
    """The setup of ``probe`` trained with ``optimizer_config`` for ``steps_per_epoch`` a epoch."""
    o = optimizer_config
    return ProbeSetup(probe, o.schedules(steps_per_epoch), attend_across_segments, o.clip_grad,
                      tuple(o.betas), o.eps)


def init_probe_state(setup: ProbeSetup, embed_dim: int, seed: int = 0,
                     same_init: bool = True) -> ProbeState:
    """Fresh grid state. ``same_init``: every probe starts from the same params (as separate
    official runs with the same seed would), so they differ only by their hyperparameters."""
    # RngBitGenerator keys: the init compiles several times faster than with threefry on
    # CPU, and probe inits have no reference values to reproduce.
    return _init_state(setup, embed_dim, jax.random.key(seed, impl='rbg'), same_init)


@functools.partial(jax.jit, static_argnums=(0, 1, 3))  # one compilation per setup, not dozens
def _init_state(setup: ProbeSetup, embed_dim: int, key: Array, same_init: bool) -> ProbeState:
    dummy = jnp.zeros((1, 1, embed_dim), jnp.float32)

    def init(key):
        return flax.linen.meta.unbox(setup.probe.init(key, dummy)['params'])

    g = setup.num_probes
    if same_init:
        params = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (g, *x.shape)), init(key))
    else:
        params = jax.vmap(init)(jax.random.split(key, g))
    return ProbeState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=setup.adam.init(params))


def probe_setup(encoder: flax.linen.Module, num_classes: int,
                optimizer_config: ProbeOptimizerConfig, head: ProbeHeadConfig,
                steps_per_epoch: int, mesh: jax.sharding.Mesh, *,
                attend_across_segments: bool = True,
                seed: int = 0) -> tuple[ProbeSetup, ProbeState]:
    """The grid's static setup for ``encoder``'s features and its fresh state, replicated."""
    probe = probe_for(head, num_classes, encoder)
    setup = make_setup(optimizer_config, probe, steps_per_epoch, attend_across_segments)
    state = jax.device_put(init_probe_state(setup, encoder.embed_dim, seed),
                           sharding.replicated(mesh))
    return setup, state
