"""Encoder / predictor behaviour beyond official parity: layouts, masks, dtypes, errors."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vjepa_jax.models import Predictor, VisionTransformer
from vjepa_jax.models.layer_layout import stack_layers, unstack_layers

# Prime-ish tiny sizes so that axes cannot be confused.
ENC = {'img_size': 48, 'num_frames': 4, 'patch_size': 16, 'tubelet_size': 2, 'embed_dim': 40, 'depth': 3,
           'num_heads': 5, 'mlp_dim': 72}
PRED = {'img_size': 48, 'num_frames': 4, 'patch_size': 16, 'tubelet_size': 2, 'embed_dim': 40,
            'predictor_embed_dim': 24, 'depth': 2, 'num_heads': 3, 'mlp_dim': 56, 'num_mask_tokens': 2,
            'zero_init_mask_tokens': False}
N = 2 * 3 * 3


def _video(key=0, b=2, t=4, h=48, w=48):
    return jax.random.normal(jax.random.key(key), (b, t, h, w, 3))


@pytest.fixture(scope='module')
def encoder_params():
    return nn.meta.unbox(VisionTransformer(**ENC).init(jax.random.key(1), _video())['params'])


def _loss(model, x):
    return lambda params: jnp.sum(model.apply({'params': params}, x) ** 2)


@pytest.fixture(scope='module')
def unscanned_outputs_and_grads(encoder_params):
    """The plain (unscanned, no remat) encoder's outputs and gradients on one video."""
    x = _video(2)
    base = VisionTransformer(**ENC)
    out = jax.jit(lambda p: base.apply({'params': p}, x))(encoder_params)
    return x, out, jax.jit(jax.grad(_loss(base, x)))(encoder_params)


def _scanned(params, name):
    return {**params, name: stack_layers(params[name], len(params[name]))}


@pytest.mark.integration  # full forward and backward, 3 ways
@pytest.mark.parametrize('remat', ['none', 'full', 'dots'])
def test_scan_and_remat_give_same_outputs_and_grads(encoder_params, unscanned_outputs_and_grads,
                                                   remat):
    x, out_base, g_base = unscanned_outputs_and_grads
    other = VisionTransformer(**ENC, scan_layers=True, remat_policy=remat)
    scanned = _scanned(encoder_params, 'blocks')
    np.testing.assert_allclose(out_base, jax.jit(lambda p: other.apply({'params': p}, x))(scanned),
                               atol=2e-5)
    g_other = jax.jit(jax.grad(_loss(other, x)))(scanned)
    g_other = {**g_other, 'blocks': unstack_layers(g_other['blocks'])}
    for a, b in zip(jax.tree.leaves(g_base), jax.tree.leaves(g_other)):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_scanned_init_has_layer_axis_and_logical_names():
    # Names and shapes only: the abstract init.
    boxed = jax.eval_shape(VisionTransformer(**ENC, scan_layers=True).init, jax.random.key(0),
                           _video())['params']
    qkv = boxed['blocks']['layers']['attn']['qkv']['kernel']
    assert qkv.names == ('layers', 'embed', None, 'heads', 'head_dim')
    assert qkv.value.shape == (3, 40, 3, 5, 8)


def test_every_param_has_logical_names_and_float32():
    for module, args in ((VisionTransformer(**ENC, dtype=jnp.bfloat16), (_video(),)),
                         (Predictor(**PRED, dtype=jnp.bfloat16),
                          (jnp.zeros((2, 5, 40)), jnp.zeros((2, 5), jnp.int32),
                           jnp.ones((2, 4), jnp.int32), 1))):
        boxed = jax.eval_shape(module.init, jax.random.key(0), *args)['params']  # abstract
        leaves = jax.tree.leaves(boxed, is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
        for leaf in leaves:
            assert isinstance(leaf, nn.LogicallyPartitioned)
            assert len(leaf.names) == leaf.value.ndim
            assert leaf.value.dtype == jnp.float32


def test_bfloat16_compute_is_close_to_float32(encoder_params):
    x = _video(3)
    ref = VisionTransformer(**ENC).apply({'params': encoder_params}, x)
    out = VisionTransformer(**ENC, dtype=jnp.bfloat16).apply({'params': encoder_params}, x)
    assert out.dtype == jnp.bfloat16
    assert float(jnp.max(jnp.abs(out.astype(jnp.float32) - ref))) < 0.1


def test_token_indices_and_validity(encoder_params):
    """Padded (invalid) tokens change nothing for the valid ones."""
    model = VisionTransformer(**ENC)
    x = _video(4)
    idx = np.array([[0, 3, 7, 11], [1, 2, 9, 17]], np.int32)
    ref = model.apply({'params': encoder_params}, x, idx)
    padded = np.concatenate([idx, np.array([[5, 6], [0, 0]], np.int32)], axis=1)
    valid = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 0]], bool)
    out = model.apply({'params': encoder_params}, x, padded, valid)
    np.testing.assert_allclose(out[:, :4], ref, atol=1e-5)
    # Without the flags the padding does change the result: the test can fail.
    unflagged = model.apply({'params': encoder_params}, x, padded)
    assert float(jnp.max(jnp.abs(unflagged[:, :4] - ref))) > 1e-3


def test_full_sequence_equals_all_indices(encoder_params):
    model = VisionTransformer(**ENC)
    x = _video(5)
    idx = np.tile(np.arange(N, dtype=np.int32), (2, 1))
    np.testing.assert_allclose(model.apply({'params': encoder_params}, x),
                               model.apply({'params': encoder_params}, x, idx), atol=1e-5)


def test_predictor_validity_and_mask_tokens():
    model = Predictor(**PRED)
    ctx = jax.random.normal(jax.random.key(0), (2, 5, 40))
    cidx = np.array([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]], np.int32)
    tidx = np.array([[10, 11, 12], [13, 14, 15]], np.int32)
    params = nn.meta.unbox(model.init(jax.random.key(1), ctx, cidx, tidx, 0)['params'])
    assert params['mask_tokens'].shape == (2, 24)
    ref = model.apply({'params': params}, ctx, cidx, tidx, 0)
    assert ref.shape == (2, 3, 40)
    # Mask set 2 uses mask token 0 again (index modulo the number of tokens); 1 differs.
    np.testing.assert_allclose(model.apply({'params': params}, ctx, cidx, tidx, 2), ref)
    assert float(jnp.max(jnp.abs(model.apply({'params': params}, ctx, cidx, tidx, 1) - ref))) > 1e-4
    # Padded context and target entries do not change the valid predictions.
    ctx_pad = jnp.concatenate([ctx, ctx[:, :2] * 3.0], axis=1)
    cidx_pad = np.concatenate([cidx, cidx[:, :2] + 20], axis=1)
    tidx_pad = np.concatenate([tidx, tidx[:, :1] + 3], axis=1)
    cv = np.array([[1] * 5 + [0] * 2] * 2, bool)
    tv = np.array([[1, 1, 1, 0]] * 2, bool)
    out = model.apply({'params': params}, ctx_pad, cidx_pad, tidx_pad, 0, cv, tv)
    np.testing.assert_allclose(out[:, :3], ref, atol=1e-5)


def test_predictor_scan_matches_unrolled():
    ctx = jax.random.normal(jax.random.key(0), (2, 5, 40))
    cidx = np.arange(10, dtype=np.int32).reshape(2, 5)
    tidx = np.arange(10, 16, dtype=np.int32).reshape(2, 3)
    model = Predictor(**PRED)
    params = nn.meta.unbox(model.init(jax.random.key(1), ctx, cidx, tidx, 0)['params'])
    scanned = _scanned(params, 'predictor_blocks')
    np.testing.assert_allclose(
        model.apply({'params': params}, ctx, cidx, tidx, 1),
        Predictor(**PRED, scan_layers=True, remat_policy='full').apply(
            {'params': scanned}, ctx, cidx, tidx, 1), atol=2e-5)


def test_images_are_repeated_along_time(encoder_params):
    model = VisionTransformer(**ENC)
    img = jax.random.normal(jax.random.key(6), (2, 48, 48, 3))
    video = jnp.repeat(img[:, None], 4, axis=1)
    np.testing.assert_allclose(model.apply({'params': encoder_params}, img),
                               model.apply({'params': encoder_params}, video), atol=1e-6)


def test_other_input_size_runs_with_resized_table(encoder_params):
    out = VisionTransformer(**ENC).apply({'params': encoder_params}, _video(7, t=6, h=64, w=32))
    assert out.shape == (2, 3 * 4 * 2, 40)


@pytest.mark.parametrize('shape', [(1, 5, 48, 48, 3), (1, 4, 50, 48, 3), (4, 48, 3)])
def test_bad_input_shapes_are_clear_errors(encoder_params, shape):
    with pytest.raises(ValueError, match='tubelet|Expected a video'):
        VisionTransformer(**ENC).apply({'params': encoder_params}, jnp.zeros(shape))


def test_initialisation_follows_official_recipe():
    params = nn.meta.unbox(VisionTransformer(**ENC).init(jax.random.key(0), _video())['params'])
    kernel = np.asarray(params['blocks']['layer_0']['mlp']['fc1']['kernel'])
    assert abs(kernel.std() - 0.02) < 0.002 and np.abs(kernel).max() <= 2.0
    assert np.all(np.asarray(params['blocks']['layer_0']['mlp']['fc1']['bias']) == 0)
    assert np.all(np.asarray(params['norm']['scale']) == 1)
    pred = Predictor(**{**PRED, 'zero_init_mask_tokens': True})
    p = pred.init(jax.random.key(0), jnp.zeros((1, 2, 40)), jnp.zeros((1, 2), jnp.int32),
                  jnp.ones((1, 1), jnp.int32), 0)['params']
    assert np.all(np.asarray(nn.meta.unbox(p)['mask_tokens']) == 0)
