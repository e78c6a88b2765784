"""Every attention implementation against the XLA reference, and the choice by backend."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vjepa_jax.errors import ConfigError
from vjepa_jax.models import attention as attn
from vjepa_jax.models import blocked_attention, layers, splash_attention


def _qkv(shape, kv_len=None, seed=0, dtype=jnp.float32):
    b, length, heads, head_dim = shape
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(shape, np.float32)
    k, v = (rng.standard_normal((b, kv_len or length, heads, head_dim), np.float32)
            for _ in range(2))
    return tuple(jnp.asarray(x, dtype) for x in (q, k, v))


def _valid(b, s, seed=1):
    valid = np.random.default_rng(seed).random((b, s)) > 0.3
    valid[-1] = False  # one sample with no valid key at all
    return jnp.asarray(valid)


def _reference(q, k, v, valid):
    return jax.nn.dot_product_attention(q, k, v, mask=layers.key_mask(valid),
                                        implementation='xla')


@pytest.mark.parametrize('block_q', [32, 512])   # several blocks + padding / one block
def test_blocked_matches_reference_values_and_grads_with_padded_keys(block_q):
    q, k, v = _qkv((3, 70, 2, 8), kv_len=90)
    valid = _valid(3, 90)

    def loss(fn):
        return lambda q, k, v: jnp.sum(jnp.sin(fn(q, k, v)))

    blocked = lambda q, k, v: blocked_attention.blocked_attention(q, k, v, valid, block_q)
    reference = lambda q, k, v: _reference(q, k, v, valid)
    np.testing.assert_allclose(blocked(q, k, v), reference(q, k, v), atol=2e-6, rtol=1e-5)
    grads = jax.grad(loss(blocked), (0, 1, 2))(q, k, v)
    want = jax.grad(loss(reference), (0, 1, 2))(q, k, v)
    for got, ref in zip(grads, want):
        np.testing.assert_allclose(got, ref, atol=1e-5, rtol=1e-4)
    # The all-invalid sample: uniform average of the values, no gradient to q or k.
    np.testing.assert_allclose(blocked(q, k, v)[-1], jnp.broadcast_to(
        v[-1].mean(0), (70, 2, 8)), atol=2e-6)
    assert float(jnp.abs(grads[0][-1]).max()) == 0.0
    assert float(jnp.abs(grads[1][-1]).max()) == 0.0


def test_blocked_without_mask_and_in_bfloat16():
    q, k, v = _qkv((2, 150, 2, 8))
    np.testing.assert_allclose(blocked_attention.blocked_attention(q, k, v, None),
                               _reference(q, k, v, None), atol=2e-6, rtol=1e-5)
    qb, kb, vb = (x.astype(jnp.bfloat16) for x in (q, k, v))
    out = blocked_attention.blocked_attention(qb, kb, vb, None)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(out.astype(jnp.float32), _reference(q, k, v, None), atol=3e-2)


def test_the_entry_point_chooses_by_platform_and_falls_back_to_xla():
    q, k, _ = _qkv((1, 256, 1, 64))
    q16, k16 = q.astype(jnp.bfloat16), k.astype(jnp.bfloat16)
    assert attn.resolve(None, q, k, True, platform='cpu') == 'blocked'
    assert attn.resolve('', q, k, True, platform='tpu') == 'splash'
    assert attn.resolve(None, q16, k16, True, platform='gpu') == 'cudnn'
    assert attn.resolve(None, q, k, True, platform='gpu') == 'xla'        # float32
    assert attn.resolve('cudnn', q16[..., :12], k16[..., :12], True) == 'xla'  # head_dim 12
    odd = q16[:, :255], k16[:, :255]   # a masked (bias) backward needs even lengths
    assert attn.resolve('cudnn', *odd, True, masked=True) == 'xla'
    assert attn.resolve('cudnn', *odd, True, masked=False) == 'cudnn'
    assert attn.resolve('splash', q[:, :1], k, True) == 'xla'           # a probe's one query
    assert attn.resolve('blocked', q, k, False) == 'xla'                # a general mask
    assert attn.resolve('xla', q, k, True, platform='tpu') == 'xla'
    assert attn.resolve(None, q, k, True) == 'blocked'   # this process: CPU
    with pytest.raises(ConfigError, match="attention_impl 'flash2' is not one of"):
        attn.resolve('flash2', q, k, True)


def test_key_masks_reach_every_implementation_and_general_masks_xla():
    q, k, v = _qkv((2, 40, 2, 8))
    valid = _valid(2, 40)
    want = _reference(q, k, v, valid)
    for impl in (None, 'blocked', 'xla'):
        np.testing.assert_allclose(attn.attention(q, k, v, layers.key_mask(valid), impl),
                                   want, atol=2e-6, rtol=1e-5)
    causal = jnp.tril(jnp.ones((40, 40), bool))[None, None]
    np.testing.assert_allclose(
        attn.attention(q, k, v, causal, 'blocked'),
        jax.nn.dot_product_attention(q, k, v, mask=causal), atol=1e-6)


def test_target_platform_follows_the_mesh():
    mesh = jax.make_mesh((1,), ('data',), devices=jax.devices()[:1])
    assert attn.target_platform() == 'cpu'
    with jax.set_mesh(mesh):
        assert attn.target_platform() == 'cpu'


def test_splash_pads_and_segments_padded_keys_in_interpret_mode():
    # The Pallas TPU kernel run by the Pallas interpreter on CPU: the padding to
    # 128-token tiles and the segment ids for invalid keys are this module's.
    q, k, v = _qkv((2, 130, 1, 64), kv_len=140)
    valid = _valid(2, 140)
    valid = valid.at[-1, 0].set(True)   # splash needs one valid key per row
    out = splash_attention.splash_attention(q, k, v, valid, interpret=True)
    np.testing.assert_allclose(out, _reference(q, k, v, valid), atol=1e-5, rtol=1e-4)
