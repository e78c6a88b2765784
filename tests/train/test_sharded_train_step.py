"""The jitted, sharded train step: mesh independence, one compilation, exact EMA."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers.tiny_setup import random_batch, sampled_batch, tiny_setup
from vjepa_jax import sharding
from vjepa_jax.train.state import create_train_state
from vjepa_jax.train.step import jit_train_step

pytestmark = pytest.mark.integration  # whole sharded train steps

STEPS = 3


def _run(setup, mesh_spec, devices=None, steps=STEPS):
    mesh = sharding.make_mesh(mesh_spec, devices)
    rules = sharding.DEFAULT_RULES
    state, shardings = create_train_state(setup.encoder, setup.predictor, 0, mesh, rules)
    step = jit_train_step(setup, mesh, rules, shardings)
    losses = []
    for i in range(steps):
        state, metrics = step(state, sharding.host_to_global(random_batch(i), mesh, rules))
        losses.append(float(metrics['loss']))
    return state, losses


@functools.cache
def _single_device_step():
    """``(setup, mesh, step)``: the tiny setup's step for one device, compiled once per module."""
    setup = tiny_setup()
    mesh = sharding.make_mesh([('data', 1), ('fsdp', 1), ('tensor', 1)], jax.devices()[:1])
    _, shardings = create_train_state(setup.encoder, setup.predictor, 0, mesh,
                                      sharding.DEFAULT_RULES)
    return setup, mesh, jit_train_step(setup, mesh, sharding.DEFAULT_RULES, shardings)


def _fresh_state(setup, mesh):
    return create_train_state(setup.encoder, setup.predictor, 0, mesh, sharding.DEFAULT_RULES)[0]


@functools.cache
def _single_device():
    setup, mesh, step = _single_device_step()
    state, losses = _fresh_state(setup, mesh), []
    for i in range(STEPS):
        state, metrics = step(state, sharding.host_to_global(random_batch(i), mesh,
                                                             sharding.DEFAULT_RULES))
        losses.append(float(metrics['loss']))
    return state, losses


@pytest.mark.parametrize('shape', [(8, 1, 1), (2, 4, 1), (2, 2, 2)], ids=str)
def test_sharded_steps_equal_single_device(shape):
    ref_state, ref_losses = _single_device()
    spec = list(zip(sharding.MESH_AXES, shape))
    state, losses = _run(tiny_setup(), spec)
    # Params really are spread over the devices.
    kernel = state.params['encoder']['blocks']['layer_0']['mlp']['fc1']['kernel']
    assert len(kernel.sharding.device_set) == 8
    if shape[1] * shape[2] > 1:
        assert not kernel.sharding.is_fully_replicated
    # Sharding only reorders float32 sums (batch over 8 shards, matmuls split
    # over fsdp / tensor): ~1e-7 relative per op. Adam turns gradients into
    # ~lr * sign-like steps, so after 3 steps params agree to a small fraction
    # of one step (lr 5e-3): 1e-6 relative to the loss, 2e-6 absolute on params.
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves((state.params, state.target_encoder)),
                    jax.tree_util.tree_leaves((ref_state.params, ref_state.target_encoder))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-6, rtol=0)
    assert int(state.step) == STEPS


def test_one_compilation_for_many_steps():
    setup = tiny_setup()
    mesh = sharding.make_mesh([('data', -1), ('fsdp', 2), ('tensor', 1)])
    rules = sharding.DEFAULT_RULES
    state, shardings = create_train_state(setup.encoder, setup.predictor, 0, mesh, rules)
    step = jit_train_step(setup, mesh, rules, shardings)
    compiles = []

    def listener(event, duration, **_):
        if event == '/jax/core/compile/backend_compile_duration':
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        for i in range(5):  # freshly drawn official-sampler masks and clips every step
            batch = sampled_batch(i)
            assert not np.array_equal(batch['masks'][0]['target_idx'],
                                      sampled_batch(i + 1)['masks'][0]['target_idx'])
            state, metrics = step(state, sharding.host_to_global(batch, mesh, rules))
        jax.block_until_ready(metrics)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert len(compiles) == 1
    assert int(state.step) == 5


def test_ema_update_is_exact():
    setup, mesh, step = _single_device_step()  # the reference's compiled step
    state = _fresh_state(setup, mesh)
    # Make the target differ from the online encoder so the update is visible.
    target = jax.tree_util.tree_map(lambda x: x + 0.5, state.target_encoder)
    state = state.replace(target_encoder=target, step=jnp.asarray(7, jnp.int32))
    m, rest = (np.float32(x) for x in setup.schedules.ema_weights(7))
    assert m != np.float32(setup.schedules.ema_momentum(0))
    sched = setup.schedules
    m64 = sched.ema[0] + 7 * (sched.ema[1] - sched.ema[0]) / (sched.steps_per_epoch
                                                              * sched.num_epochs * sched.ipe_scale)
    # Both weights within an ulp of the official float64 values (1 - m is not
    # rounded from a float32 m, which would be ~1e-6 off here).
    np.testing.assert_array_max_ulp(np.float32([m, rest]), np.float32([m64, 1 - m64]), maxulp=1)
    target = jax.device_get(target)  # the step donates the state
    new, metrics = step(state, sharding.host_to_global(random_batch(0), mesh,
                                                       sharding.DEFAULT_RULES))
    assert float(metrics['ema_momentum']) == m
    for t0, p1, t1 in zip(jax.tree_util.tree_leaves(target),
                          jax.tree_util.tree_leaves(new.params['encoder']),
                          jax.tree_util.tree_leaves(new.target_encoder)):
        expected = m * np.asarray(t0) + rest * np.asarray(p1)
        # Exact up to the final rounding (XLA may fuse the multiply-add).
        np.testing.assert_array_max_ulp(np.asarray(t1), expected, maxulp=1)
