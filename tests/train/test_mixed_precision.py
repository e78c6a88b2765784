"""bfloat16 compute keeps float32 params and optimiser state and tracks the float32 loss."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers.tiny_setup import random_batch, tiny_setup
from vjepa_jax.train import flops
from vjepa_jax.train.state import init_boxed_state
from vjepa_jax.train.step import train_step


def _steps(dtype: str, steps: int = 2):
    setup = tiny_setup(dtype)
    state = nn.meta.unbox(init_boxed_state(setup.encoder, setup.predictor, 0))
    step = jax.jit(functools.partial(train_step, setup=setup))
    losses = []
    for i in range(steps):
        state, metrics = step(state, random_batch(i))
        losses.append(float(metrics['loss']))
    return state, losses


@pytest.mark.integration  # whole train steps
def test_bfloat16_compute_float32_state():
    state16, losses16 = _steps('bfloat16')
    _, losses32 = _steps('float32')
    for leaf in jax.tree_util.tree_leaves((state16.params, state16.target_encoder,
                                           state16.opt_state)):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert leaf.dtype == jnp.float32
    assert all(np.isfinite(losses16))
    # bfloat16 has 8 significant bits: ~0.4% per rounding, a few % on the loss at most.
    np.testing.assert_allclose(losses16, losses32, rtol=3e-2)
    assert losses16 != losses32  # the compute dtype really changed


def test_flop_count_matches_xla_for_a_dense_encoder():
    setup = tiny_setup()
    enc = setup.encoder.clone(embed_dim=256, num_heads=4, mlp_dim=1024)
    video = jnp.zeros((1, 4, 32, 32, 3))
    params = jax.eval_shape(enc.init, jax.random.key(0), video)
    cost = jax.jit(enc.apply).lower(params, video).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    # XLA also counts elementwise work (norms, GELU, softmax): a few % more.
    assert 1.0 <= cost['flops'] / flops.encoder_flops(enc) <= 1.15
