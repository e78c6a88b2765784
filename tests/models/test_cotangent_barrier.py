"""cotangent_barrier: an exact identity, whose gradient XLA CPU materialises."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vjepa_jax.models import layers
from vjepa_jax.models.cotangent_barrier import between_blocks, cotangent_barrier


def _loss(x: jax.Array) -> jax.Array:
    return jnp.sum(jnp.sin(cotangent_barrier(jnp.cos(x))) ** 2)


def test_value_and_gradient_are_unchanged_bit_for_bit():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 5, 8), np.float32))
    assert jnp.array_equal(cotangent_barrier(x), x)
    plain = jax.grad(lambda x: jnp.sum(jnp.sin(jnp.cos(x)) ** 2))(x)
    np.testing.assert_array_equal(np.asarray(jax.jit(jax.grad(_loss))(x)), np.asarray(plain))


def test_nan_cotangent_passes_through():
    g = jax.vjp(cotangent_barrier, jnp.ones(3))[1](jnp.array([jnp.nan, 1.0, -0.0]))[0]
    assert np.isnan(g[0]) and g[1] == 1.0 and np.signbit(g[2])


def test_compiled_gradient_keeps_the_conditional():
    # The conditional is the point: without it XLA CPU fuses the cotangent chain
    # into every consumer (docs/performance.md).
    text = jax.jit(jax.grad(_loss)).lower(jnp.ones((4, 8))).compile().as_text()
    assert 'conditional(' in text


def test_only_cpu_gets_the_barrier():
    x = jnp.ones((2, 3))
    grad_tpu = jax.jit(jax.grad(lambda x: jnp.sum(between_blocks(x, 'tpu') ** 2)))
    assert 'conditional(' not in grad_tpu.lower(x).compile().as_text()


def test_block_stack_gradients_match_the_scanned_stack():
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 6, 16), np.float32))
    unrolled = layers.BlockStack(3, 2, 32)
    scanned = layers.BlockStack(3, 2, 32, scan_layers=True)
    params = scanned.init(jax.random.key(0), x)
    layer_params = {f'layer_{i}': jax.tree.map(lambda p, i=i: p[i],
                                               params['params']['layers'])
                    for i in range(3)}
    g_scan = jax.grad(lambda x: jnp.sum(scanned.apply(params, x) ** 2))(x)
    g_unrolled = jax.grad(lambda x: jnp.sum(
        unrolled.apply({'params': layer_params}, x) ** 2))(x)
    np.testing.assert_allclose(np.asarray(g_unrolled), np.asarray(g_scan), rtol=1e-5, atol=1e-6)
