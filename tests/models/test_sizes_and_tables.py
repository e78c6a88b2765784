"""Official sizes (parameter counts), the variant table and the position tables."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from tests.helpers.official_fixture import load
from tests.helpers.paths import SHARED_FIXTURES
from vjepa_jax.config_lib import decode_variant, parse_arg
from vjepa_jax.convert.official import _abstract_params
from vjepa_jax.models import Predictor, VisionTransformer, pos_embed

VIDEO = jax.ShapeDtypeStruct((1, 16, 224, 224, 3), np.float32)


def _count(tree) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _official_block(d: int, mlp: int) -> int:
    """Elements of one official Block: norm1, qkv, proj, norm2, fc1, fc2 (weights + biases)."""
    return 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (mlp * d + mlp) + (d * mlp + d)


def _official_encoder(d: int, depth: int, mlp: int, tokens: int = 1568) -> int:
    """pos_embed + patch_embed (Conv3d 3x2x16x16 + bias) + blocks + final norm."""
    return tokens * d + (d * 3 * 2 * 16 * 16 + d) + depth * _official_block(d, mlp) + 2 * d


def _official_predictor(d: int, pd: int, depth: int, masks: int = 2, tokens: int = 1568) -> int:
    return (tokens * pd + (pd * d + pd) + masks * pd + depth * _official_block(pd, 4 * pd)
            + 2 * pd + (d * pd + d))


def test_formula_reproduces_the_official_listing():
    """The element formula gives the totals printed in official_checkpoint_keys.md (ViT-L)."""
    listing = SHARED_FIXTURES / 'official_checkpoint_keys.md'
    if listing.exists():
        text = listing.read_text()
        assert '305,490,944 elements' in text and '22,685,056 elements' in text
    assert _official_encoder(1024, 24, 4096) == 305_490_944
    assert _official_predictor(1024, 384, 12) == 22_685_056


@pytest.mark.parametrize('variant', ['L/16', 'H/16'])
def test_param_counts_equal_official(variant):
    v = decode_variant(variant)
    enc = VisionTransformer(img_size=224, num_frames=16, **v.as_kwargs())
    pred = Predictor(img_size=224, num_frames=16, embed_dim=v.embed_dim, predictor_embed_dim=384,
                     depth=12, num_heads=v.num_heads, mlp_dim=1536, num_mask_tokens=2)
    enc_count = _count(_abstract_params(enc, VIDEO))
    ctx = jax.ShapeDtypeStruct((1, 1, v.embed_dim), np.float32)
    idx = jax.ShapeDtypeStruct((1, 1), np.int32)
    pred_count = _count(_abstract_params(pred, ctx, idx, idx, 0))
    # Our params exclude the frozen sin-cos tables, which the official files store.
    assert enc_count + 1568 * v.embed_dim == _official_encoder(v.embed_dim, v.depth, v.mlp_dim)
    assert pred_count + 1568 * 384 == _official_predictor(v.embed_dim, 384, 12)
    if variant == 'L/16':
        assert enc_count + 1568 * 1024 == 305_490_944
        assert pred_count + 1568 * 384 == 22_685_056


def test_variant_table():
    assert decode_variant('L/16').as_kwargs() == {'embed_dim': 1024, 'depth': 24, 'num_heads': 16,
                                                      'mlp_dim': 4096, 'patch_size': 16}
    assert decode_variant('vit_huge') == decode_variant('H') == decode_variant('huge/16')
    assert decode_variant('g').mlp_dim == 6144 and decode_variant('G').embed_dim == 1664
    assert decode_variant('G').patch_size == 14
    assert decode_variant('w104d3h4/8').as_kwargs() == {'embed_dim': 104, 'depth': 3, 'num_heads': 4,
                                                            'mlp_dim': 416, 'patch_size': 8}
    assert decode_variant('w44d3h4m192').mlp_dim == 192
    for bad in ('XL/16', 'w10d2h3', 'L/x'):
        with pytest.raises(ValueError):
            decode_variant(bad)


def test_parse_arg():
    cfg = parse_arg('variant=L/16,runlocal,steps=7', variant='B/16', runlocal=False, steps=1)
    assert (cfg.variant, cfg.runlocal, cfg.steps) == ('L/16', True, 7)
    with pytest.raises(ValueError, match='Unknown config argument'):
        parse_arg('varient=L/16', variant='B/16')


def test_tables_match_official_pos_embed(official_small):
    fx = load(official_small)
    table = pos_embed.video_table(104, (8, 5, 5), True)
    np.testing.assert_allclose(table, fx.state_dicts['encoder']['module.backbone.pos_embed'][0],
                               atol=1e-6)
    table = pos_embed.video_table(52, (8, 5, 5), True)
    np.testing.assert_allclose(
        table, fx.state_dicts['predictor']['module.backbone.predictor_pos_embed'][0], atol=1e-6)


def test_table_layout_without_uniform_power():
    """t gets D/2, h and w D/4 each; each part is all sines then all cosines."""
    d, grid = 16, (3, 2, 4)
    table = pos_embed.sincos_3d(d, *grid, uniform_power=False)
    t, h, w = np.unravel_index(np.arange(24), grid)
    omega_t = 1.0 / 10000 ** (np.arange(4) / 4.0)
    omega_hw = 1.0 / 10000 ** (np.arange(2) / 2.0)
    np.testing.assert_allclose(table[:, :4], np.sin(t[:, None] * omega_t))
    np.testing.assert_allclose(table[:, 4:8], np.cos(t[:, None] * omega_t))
    np.testing.assert_allclose(table[:, 8:10], np.sin(h[:, None] * omega_hw))
    np.testing.assert_allclose(table[:, 14:16], np.cos(w[:, None] * omega_hw))
    with pytest.raises(ValueError, match='divisible by 4'):
        pos_embed.sincos_3d(18, 2, 2, 2, uniform_power=False)


@pytest.mark.parametrize('grid,new', [((4, 4, 4), (6, 6, 5)), ((4, 6, 6), (2, 4, 5)),
                                      ((8, 14, 14), (8, 24, 24)), ((3, 5, 7), (3, 5, 7))])
def test_resize_matches_torch_trilinear(grid, new):
    torch = pytest.importorskip('torch', reason='torch not installed (pip install .[torch])')
    table = pos_embed.sincos_3d(24, *grid, uniform_power=True).astype(np.float32)
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(table).reshape(1, *grid, 24).permute(0, 4, 1, 2, 3),
        size=new, mode='trilinear').permute(0, 2, 3, 4, 1).reshape(-1, 24).numpy()
    np.testing.assert_allclose(pos_embed.resize_3d(table, grid, new), ref, atol=1e-6)
