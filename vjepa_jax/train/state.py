"""The pretraining state pytree and its (sharded) creation."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from vjepa_jax import sharding
from vjepa_jax.models import Predictor, VisionTransformer
from vjepa_jax.train.optimizer import (
    OFFICIAL_OPTIMIZER,
    OptimizerConfig,
    pretrain_optimizer,
)

Array = jax.Array
PyTree = Any


@flax.struct.dataclass
class TrainState:
    """Everything a pretraining step reads and writes.

    ``params`` is ``{'encoder', 'predictor'}`` (trained), ``target_encoder``
    the EMA copy of the encoder params, ``opt_state`` Adam's moments over
    ``params``, ``rng`` a raw ``uint32 [2]`` key for future stochastic layers.
    """

    step: Array
    params: dict[str, PyTree]
    target_encoder: PyTree
    opt_state: PyTree
    rng: Array


def init_boxed_state(encoder: VisionTransformer, predictor: Predictor, seed: int | Array,
                     optimizer: OptimizerConfig = OFFICIAL_OPTIMIZER) -> TrainState:
    """A fresh state whose params keep their logical-axis boxes (for ``eval_shape``).

    The target encoder starts as an exact copy of the encoder (official
    ``deepcopy``); ``opt_state`` is ``pretrain_optimizer(optimizer)``'s, whose
    Adam moments inherit the params' logical names.
    """
    key = jax.random.PRNGKey(seed)
    enc_key, pred_key, state_key = jax.random.split(key, 3)
    t, h, w = encoder.grid
    video = jnp.zeros((1, t * encoder.tubelet_size, h * encoder.patch_size,
                       w * encoder.patch_size, 3), jnp.float32)
    encoder_params = encoder.init(enc_key, video)['params']
    idx = jnp.zeros((1, 1), jnp.int32)
    context = jnp.zeros((1, 1, encoder.embed_dim), jnp.float32)
    predictor_params = predictor.init(pred_key, context, idx, idx, 0)['params']
    params = {'encoder': encoder_params, 'predictor': predictor_params}
    opt_state = pretrain_optimizer(optimizer).init(params)
    target = jax.tree_util.tree_map(jnp.copy, encoder_params)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, target_encoder=target,
                      opt_state=opt_state, rng=state_key)


def create_train_state(encoder: VisionTransformer, predictor: Predictor, seed: int,
                       mesh: Mesh, rules: sharding.Rules,
                       optimizer: OptimizerConfig = OFFICIAL_OPTIMIZER,
                       abstract: TrainState | None = None) -> tuple[TrainState, TrainState]:
    """Creates the state directly in its sharded layout.

    Returns ``(state, shardings)``: plain arrays (no boxes) placed by the
    logical rules, and the matching ``NamedSharding`` pytree for ``jax.jit``.
    No device ever holds an unsharded copy of a large param. ``abstract``: the
    boxed ``eval_shape`` of the init when the caller already has it.
    """
    def init():
        return init_boxed_state(encoder, predictor, seed, optimizer)

    if abstract is None:
        abstract = jax.eval_shape(init)
    shardings = sharding.logical_shardings(abstract, mesh, rules)
    with jax.set_mesh(mesh):
        state = jax.jit(lambda: nn.meta.unbox(init()), out_shardings=shardings)()
    return state, shardings


def state_from_params(encoder_params: PyTree, predictor_params: PyTree,
                      target_params: PyTree | None = None, step: int = 0, seed: int = 0,
                      optimizer: OptimizerConfig = OFFICIAL_OPTIMIZER) -> TrainState:
    """A state around given (e.g. converted official) params, with fresh Adam moments."""
    params = {'encoder': encoder_params, 'predictor': predictor_params}
    target = target_params if target_params is not None else encoder_params
    params, target = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), (params, target))
    return TrainState(step=jnp.asarray(step, jnp.int32), params=params, target_encoder=target,
                      opt_state=pretrain_optimizer(optimizer).init(params),
                      rng=jax.random.PRNGKey(seed))
