"""V-JEPA 2 models on tiny random weights: RoPE properties, layouts, masks, init, sizes."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vjepa_jax.errors import ConfigError
from vjepa_jax.models import layer_layout
from vjepa_jax.models.rope import apply_rope, axis_dim, grid_positions, rotate_axis
from vjepa_jax.models.vjepa2 import (
    VJEPA2AttentiveClassifier,
    VJEPA2Encoder,
    VJEPA2Predictor,
    images_as_video,
)
from vjepa_jax.models.vjepa2.sizes import decode_vjepa2_variant

TINY = {'img_size': 32, 'num_frames': 4, 'patch_size': 16, 'tubelet_size': 2, 'embed_dim': 24,
        'depth': 2, 'num_heads': 2, 'mlp_dim': 48}


def _video(key=0, shape=(2, 4, 32, 32, 3)):
    return jax.random.normal(jax.random.key(key), shape)


_JITTED: dict = {}


def _jitted(module, method: str, static_names: tuple[str, ...] = ()):
    """One jitted function per module config and method (eager Flax compiles every op on its
    own, far slower on CPU; integer arguments such as mask_index stay traced)."""
    key = (repr(module), method, static_names)
    if key not in _JITTED:
        _JITTED[key] = jax.jit(getattr(module, method), static_argnames=static_names)
    return _JITTED[key]


def _init(module, *args):
    return nn.meta.unbox(_jitted(module, 'init')(jax.random.key(1), *args)['params'])


def _random_params(module, *args, seed: int = 1):
    """Params of the module's shapes drawn N(0, 0.2) on the host: compiling a Flax init costs
    seconds on CPU, and these tests are about the forward, not the init."""
    shapes = nn.meta.unbox(jax.eval_shape(module.init, jax.random.key(0), *args)['params'])
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: jnp.asarray(0.2 * rng.standard_normal(s.shape), s.dtype),
                        shapes)


def _apply(module, params, *args, **kwargs):
    return _jitted(module, 'apply', tuple(kwargs))({'params': params}, *args, **kwargs)


@pytest.fixture(scope='module')
def encoder_params():
    return _random_params(VJEPA2Encoder(**TINY), _video())


def test_axis_dims_of_the_official_sizes():
    assert [axis_dim(hd) for hd in (64, 80, 88, 32, 26, 20, 12)] == [20, 26, 28, 10, 8, 6, 4]
    with pytest.raises(ConfigError, match='head_dim >= 12'):
        axis_dim(11)


def test_grid_positions_use_the_given_row_length():
    ids = jnp.array([0, 4, 5, 9, 10, 19])
    assert grid_positions(ids, (2, 5)).tolist() == [[0, 0, 0], [0, 0, 4], [0, 1, 0],
                                                    [0, 1, 4], [1, 0, 0], [1, 1, 4]]


def test_frequency_layouts():
    x = jax.random.normal(jax.random.key(0), (1, 5, 1, 8))
    pos = jnp.arange(5)
    for interleave in (False, True):
        np.testing.assert_allclose(rotate_axis(x, jnp.zeros(5), interleave), x)
    # Interleaved: every channel pair is a true rotation (norms kept, relative positions only).
    y = rotate_axis(x, pos, True).reshape(5, 4, 2)
    np.testing.assert_allclose(jnp.linalg.norm(y, axis=-1),
                               jnp.linalg.norm(x.reshape(5, 4, 2), axis=-1), rtol=1e-5)
    q, k = x[:, :1], x[:, 1:2]
    dot = lambda a, b: jnp.sum(rotate_axis(q, jnp.array([a]), True) *
                               rotate_axis(k, jnp.array([b]), True))
    np.testing.assert_allclose(dot(3, 1), dot(7, 5), rtol=1e-5)
    # V-JEPA 2's tiled layout pairs channels of different frequencies: not norm-preserving.
    z = rotate_axis(x, pos, False).reshape(5, 4, 2)
    assert not np.allclose(jnp.linalg.norm(z, axis=-1),
                           jnp.linalg.norm(x.reshape(5, 4, 2), axis=-1), rtol=1e-3)


def test_apply_rope_leaves_passthrough_channels():
    x = jax.random.normal(jax.random.key(0), (1, 3, 2, 20))  # head_dim 20: 3 x 6 + 2
    positions = grid_positions(jnp.array([[5, 9, 30]]), (4, 4))
    out = apply_rope(x, positions)
    np.testing.assert_array_equal(out[..., 18:], x[..., 18:])
    assert not np.allclose(out[..., :18], x[..., :18])


@pytest.mark.integration  # full forward and backward, 3 ways
def test_scan_remat_and_unrolled_agree(encoder_params):
    video = _video()
    ref = _apply(VJEPA2Encoder(**TINY), encoder_params, video)
    scanned = {**encoder_params, 'blocks': layer_layout.stack_layers(encoder_params['blocks'], 2)}
    out = _apply(VJEPA2Encoder(**TINY, scan_layers=True, remat_policy='full'), scanned, video)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    multi = _apply(VJEPA2Encoder(**TINY, scan_layers=True), scanned, video,
                                                          out_layers=(0, 1))
    ref_multi = _apply(VJEPA2Encoder(**TINY), encoder_params, video, out_layers=(0, 1))
    np.testing.assert_allclose(multi, ref_multi, atol=1e-5)
    # The last listed layer is the plain output; layers are joined along tokens.
    assert multi.shape == (2, 2 * 8, 24)
    np.testing.assert_allclose(multi[:, 8:], ref, atol=1e-5)
    bf16 = _apply(VJEPA2Encoder(**TINY, dtype=jnp.bfloat16), encoder_params, video)
    assert bf16.dtype == jnp.bfloat16
    np.testing.assert_allclose(bf16.astype(jnp.float32), ref, atol=0.1)


def test_masked_forward_is_not_a_gathered_full_forward(encoder_params):
    enc = VJEPA2Encoder(**TINY)
    video = _video()
    idx = jnp.array([[0, 3, 5], [1, 2, 7]])
    masked = _apply(enc, encoder_params, video, idx)
    full = _apply(enc, encoder_params, video)
    assert masked.shape == (2, 3, 24)
    assert not np.allclose(masked, jnp.take_along_axis(full, idx[..., None], 1), atol=1e-3)
    # Padding a mask with an invalid token leaves the valid outputs unchanged.
    padded = _apply(enc, encoder_params, video, jnp.array([[0, 3, 5, 6], [1, 2, 7, 0]]),
                       jnp.array([[True, True, True, False]] * 2))
    np.testing.assert_allclose(padded[:, :3], masked, atol=1e-5)


def test_any_grid_and_images(encoder_params):
    enc = VJEPA2Encoder(**TINY)
    assert _apply(enc, encoder_params, _video(shape=(1, 6, 48, 80, 3))).shape == \
        (1, 3 * 3 * 5, 24)
    images = _video(shape=(2, 32, 32, 3))
    np.testing.assert_allclose(_apply(enc.clone(image_frames=2), encoder_params, images),
                               _apply(enc, encoder_params, images_as_video(images, 2)))
    with pytest.raises(ConfigError, match='tubelets'):
        _apply(enc, encoder_params, _video(shape=(1, 3, 32, 32, 3)))
    with pytest.raises(ConfigError, match='out_layers'):
        _apply(enc, encoder_params, _video(), out_layers=(2,))


@pytest.mark.parametrize('scan', [pytest.param(False, marks=pytest.mark.slow), True])
def test_init_keeps_the_depth_rescaling(scan):
    cfg = {**TINY, 'embed_dim': 96, 'num_heads': 4, 'mlp_dim': 384}
    params = _init(VJEPA2Encoder(**cfg, scan_layers=scan), _video())
    blocks = layer_layout.unstack_layers(params['blocks'])
    for name in ('attn', 'mlp'):
        leaf = 'proj' if name == 'attn' else 'fc2'
        stds = [float(jnp.std(blocks[f'layer_{i}'][name][leaf]['kernel'])) for i in range(2)]
        np.testing.assert_allclose(stds, [0.02 / np.sqrt(2), 0.02 / np.sqrt(4)], rtol=0.05)
    assert abs(float(jnp.std(blocks['layer_1']['mlp']['fc1']['kernel'])) - 0.02) < 1e-3


def test_predictor_mask_tokens_sorting_and_padding():
    pred = VJEPA2Predictor(**{k: TINY[k] for k in ('img_size', 'num_frames', 'patch_size',
                                                    'tubelet_size', 'embed_dim')},
                           predictor_embed_dim=24, depth=2, num_heads=2, mlp_dim=48,
                           num_mask_tokens=3, zero_init_mask_tokens=False)
    ctx = jax.random.normal(jax.random.key(0), (1, 3, 24))
    ctx_idx, tgt_idx = jnp.array([[1, 4, 6]]), jnp.array([[0, 2, 7]])
    params = _random_params(pred, ctx, ctx_idx, tgt_idx, 0)
    run = lambda *a: _apply(pred, params, *a)
    out = run(ctx, ctx_idx, tgt_idx, 1)
    assert out.shape == (1, 3, 24)
    np.testing.assert_array_equal(run(ctx, ctx_idx, tgt_idx, 4), out)  # index mod 3
    assert not np.allclose(run(ctx, ctx_idx, tgt_idx, 0), out)
    perm = jnp.array([2, 0, 1])
    np.testing.assert_allclose(run(ctx[:, perm], ctx_idx[:, perm], tgt_idx, 1), out, atol=1e-5)
    padded = run(ctx, ctx_idx, jnp.array([[0, 2, 7, 3]]), 1, None,
                 jnp.array([[True, True, True, False]]))
    np.testing.assert_allclose(padded[:, :3], out, atol=1e-5)


def test_classifier_ignores_padded_tokens():
    clf = VJEPA2AttentiveClassifier(num_classes=3, num_heads=2, mlp_dim=32, depth=3)
    tokens = jax.random.normal(jax.random.key(0), (2, 7, 16))
    params = _random_params(clf, tokens)
    assert sorted(params['pooler']) == ['blocks_0', 'blocks_1', 'cross_attention_block',
                                        'query_tokens']
    assert 'proj' not in params['pooler']['cross_attention_block']['xattn']
    valid = jnp.broadcast_to(jnp.arange(7)[None] < 5, (2, 7))
    logits = _apply(clf, params, tokens, valid)
    assert logits.shape == (2, 3)
    other = tokens.at[:, 5:].set(100.0)  # the padded tokens change, the valid ones do not
    np.testing.assert_allclose(_apply(clf, params, other, valid), logits, atol=1e-5)
    assert not np.allclose(_apply(clf, params, other, jnp.ones((2, 7), bool)), logits, atol=1e-3)


def test_official_sizes():
    giant = decode_vjepa2_variant('vit_giant_xformers')
    assert (giant.embed_dim, giant.depth, giant.num_heads, giant.mlp_dim) == (1408, 40, 22, 6144)
    assert decode_vjepa2_variant('g') == giant
    assert decode_vjepa2_variant('L/16').num_heads == 16
    assert decode_vjepa2_variant('H').mlp_dim == 5120
    assert decode_vjepa2_variant('G').mlp_dim == 6656
    assert decode_vjepa2_variant('w48d2h4/8').patch_size == 8


def test_builder_uses_the_vjepa2_sizes():
    from vjepa_jax.models.vjepa2.builder import build_vjepa2_models, vjepa2_model_config

    encoder, predictor = build_vjepa2_models(vjepa2_model_config(variant='g/16', crop_size=384,
                                                                 num_frames=64))
    assert (encoder.num_heads, encoder.mlp_dim, encoder.img_size) == (22, 6144, 384)
    assert (predictor.num_heads, predictor.predictor_embed_dim, predictor.grid) == \
        (12, 384, (32, 24, 24))
    with pytest.raises(ConfigError, match='family'):
        build_vjepa2_models(vjepa2_model_config(family='vjepa'))
    with pytest.raises(ConfigError, match='crop_size'):
        build_vjepa2_models(vjepa2_model_config(crop_size=250))


@pytest.mark.integration  # multi-device compiles
def test_sharded_scanned_encoder_matches_single_device(encoder_params):
    from jax.sharding import AxisType, NamedSharding, PartitionSpec

    rules = (('batch', ('data', 'fsdp')), ('embed', 'fsdp'), ('mlp', 'tensor'),
             ('heads', 'tensor'), ('head_dim', None), ('tokens', None), ('layers', None))
    model = VJEPA2Encoder(**TINY, scan_layers=True)
    video = _video(shape=(4, 4, 32, 32, 3))
    params = {**encoder_params, 'blocks': layer_layout.stack_layers(encoder_params['blocks'], 2)}
    ref = _apply(model, params, video)
    mesh = jax.make_mesh((2, 2, 2), ('data', 'fsdp', 'tensor'), axis_types=(AxisType.Auto,) * 3)
    specs = nn.get_partition_spec(jax.eval_shape(model.init, jax.random.key(0), video))
    shardings = nn.logical_to_mesh_sharding(specs, mesh, rules)['params']
    sharded = jax.device_put(params, shardings)
    assert not sharded['blocks']['layers']['mlp']['fc1']['kernel'].sharding.is_fully_replicated

    @jax.jit
    def forward(p, x):
        with nn.logical_axis_rules(rules):
            return model.apply({'params': p}, x)

    with jax.set_mesh(mesh):
        out = forward(sharded, jax.device_put(video, NamedSharding(mesh, PartitionSpec(
            ('data', 'fsdp')))))
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref), atol=1e-5)
