"""Float32 parity with official V-JEPA 2 outputs for other model shapes (tests/fixtures/official_vjepa2_variants).

Each variant directory holds what Meta's official code (``VisionTransformer`` /
``VisionTransformerPredictor`` with ``use_rope=True``, built by
``app.vjepa.utils.init_video_model``) produced for a small random model
(head widths 12 ... 64, tubelet 1, three frames-per-clip groups, three mask
sets, wrapped mask indices, non-square clips) and its official-layout
``pretrain_latest.pt``. Every model here comes from that file through our
torch-free importer; every stored output is compared within 1e-4. See the
fixture README (written by ``tests/fixtures/make_official_vjepa2_variants.py``).
"""

from __future__ import annotations

import json
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vjepa_jax
from tests.helpers.paths import VJEPA2_VARIANTS
from vjepa_jax.convert import vjepa2_formats
from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.models.rope import axis_dim
from vjepa_jax.models.vjepa2 import VJEPA2Encoder, VJEPA2Predictor
from vjepa_jax.train.losses import target_layer_norm

TOL = 1e-4
VARIANTS = sorted(p.parent.name for p in VJEPA2_VARIANTS.glob('*/fixture.npz'))
pytestmark = pytest.mark.skipif(not VARIANTS, reason=f'no fixtures under {VJEPA2_VARIANTS}')


def _maxdiff(ours, ref) -> float:
    ours = np.asarray(ours)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return float(np.max(np.abs(ours - ref))) if ref.size else 0.0


@cache
def _fixture(variant: str) -> tuple[dict[str, np.ndarray], dict]:
    with np.load(VJEPA2_VARIANTS / variant / 'fixture.npz') as f:
        z = {k: f[k] for k in f.files}
    return z, json.loads(str(z['config_json']))['spec']


def _read_options(spec: dict) -> dict:
    return {'num_heads': spec['encoder']['num_heads'],
            'predictor_num_heads': spec['predictor']['num_heads'],
            'img_size': spec['crop'], 'num_frames': max(g['fpc'] for g in spec['groups'])}


@cache
def _model(variant: str):
    """(config, params, provenance, encode(name, video, idx=None), predict(...))."""
    _, spec = _fixture(variant)
    config, params, provenance = vjepa2_formats.PRETRAINING_PT.read(
        VJEPA2_VARIANTS / variant / 'pretrain_latest.pt', **_read_options(spec))
    enc, pred = VJEPA2Encoder(**config['encoder']), VJEPA2Predictor(**config['predictor'])
    enc_apply = jax.jit(lambda p, *a: enc.apply({'params': p}, *a))  # both encoders share it
    pred_apply = jax.jit(lambda *a: pred.apply({'params': params['predictor']}, *a),
                         static_argnums=3)
    return config, params, provenance, (lambda name, *a: enc_apply(params[name], *a)), pred_apply


def _sets(spec: dict) -> list[tuple[int, int]]:
    return [(m['group'], m['mask_set']) for m in spec['masks']]


def _video(z, key):
    return normalize_video(jnp.asarray(z[key]))


def _padded(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays [B, K_i] -> one [sum B, max K] array (padded with id 0) and its valid flags."""
    width = max(r.shape[1] for r in rows)
    idx = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]))) for r in rows])
    valid = np.concatenate([np.arange(width)[None].repeat(len(r), 0) < r.shape[1] for r in rows])
    return idx, valid


@cache
def _predictions(variant: str) -> dict:
    """Per (group, mask set): masked context, predictor output, loss targets.

    The mask sets of one group run as one batch, padded to a common K with the
    ``token_valid`` / ``context_valid`` / ``target_valid`` flags (padding is
    ignored as attention keys, as in grouped training): one compile per group
    instead of one per mask set. Padded rows are dropped before comparing.
    """
    z, spec = _fixture(variant)
    *_, encode, predict = _model(variant)
    out = {}
    for group in range(len(spec['groups'])):
        video = _video(z, f'video_g{group}')
        full = target_layer_norm(encode('target_encoder', video))
        sets = [m for g, m in _sets(spec) if g == group]
        ctx = [z[f'masks_enc_g{group}_m{m}'] for m in sets]
        tgt = [z[f'masks_pred_g{group}_m{m}'] for m in sets]
        ctx_idx, ctx_valid = _padded(ctx)
        tgt_idx, tgt_valid = _padded(tgt)
        stacked = jnp.concatenate([video] * len(sets))
        context = encode('encoder', stacked, ctx_idx, ctx_valid)
        # mask_index = the frames-per-clip group (official PredictorMultiSeqWrapper)
        pred = predict(context, ctx_idx, tgt_idx, group, ctx_valid, tgt_valid)
        batch = video.shape[0]
        for i, m in enumerate(sets):
            rows = slice(i * batch, (i + 1) * batch)
            kc, kt = ctx[i].shape[1], tgt[i].shape[1]
            targets = jnp.take_along_axis(full, jnp.asarray(tgt[i])[..., None], 1)
            out[group, m] = context[rows, :kc], pred[rows, :kt], targets
    return out


@pytest.mark.parametrize('variant', VARIANTS)
def test_inferred_config(variant):
    _, spec = _fixture(variant)
    config, params, provenance, *_ = _model(variant)
    enc, pred = config['encoder'], config['predictor']
    e, p = spec['encoder'], spec['predictor']
    assert (enc['embed_dim'], enc['depth'], enc['num_heads'], enc['mlp_dim']) == (
        e['embed_dim'], e['depth'], e['num_heads'], e['mlp_dim'])
    assert (enc['patch_size'], enc['tubelet_size']) == (e['patch_size'], e['tubelet_size'])
    assert (pred['predictor_embed_dim'], pred['depth'], pred['num_heads'], pred['mlp_dim'],
            pred['num_mask_tokens']) == (p['embed_dim'], p['depth'], p['num_heads'], p['mlp_dim'],
                                         p['num_mask_tokens'])
    # the RoPE split the official attention used (recorded from its d_dim)
    assert axis_dim(e['head_dim']) == e['rope_axis_dim']
    assert axis_dim(p['head_dim']) == p['rope_axis_dim']
    assert set(params) == {'encoder', 'target_encoder', 'predictor'}
    assert provenance['format'] == 'vjepa2_pretraining_pt'
    assert provenance['metadata']['epoch'] == 1


@pytest.mark.parametrize('variant', VARIANTS)
def test_normalisation(variant):
    z, spec = _fixture(variant)
    for g in range(len(spec['groups'])):
        ours = normalize_video(jnp.asarray(z[f'video_g{g}'][0, 0]))
        assert _maxdiff(ours, z[f'normalized_check_g{g}']) <= 1e-5


@pytest.mark.parametrize('variant', VARIANTS)
def test_full_encoders(variant):
    z, spec = _fixture(variant)
    encode = _model(variant)[3]
    for g in range(len(spec['groups'])):
        video = _video(z, f'video_g{g}')
        assert _maxdiff(encode('encoder', video), z[f'encoder_full_g{g}']) <= TOL, g
        assert _maxdiff(encode('target_encoder', video), z[f'target_full_g{g}']) <= TOL, g


@pytest.mark.integration  # one compile per clip size; the shared fixture has a fast non-square check
@pytest.mark.parametrize('variant', VARIANTS)
def test_extra_clips_full_and_masked(variant):
    """Non-square / longer-than-built clips: RoPE positions from the clip's own grid."""
    z, spec = _fixture(variant)
    encode = _model(variant)[3]
    for ex in spec['extras']:
        video = _video(z, f"extra_video_{ex['name']}")
        assert _maxdiff(encode('encoder', video), z[f"extra_encoder_{ex['name']}"]) <= TOL
        if ex['n_ctx']:
            out = encode('encoder', video, z[f"extra_masks_{ex['name']}"])
            assert _maxdiff(out, z[f"extra_context_{ex['name']}"]) <= TOL


@pytest.mark.integration  # the whole masked forward of every (group, mask set)
@pytest.mark.parametrize('variant', VARIANTS)
def test_masked_encoder_predictor_targets(variant):
    z, _ = _fixture(variant)
    for (group, mask_set), (context, pred, targets) in _predictions(variant).items():
        name = f'g{group}_m{mask_set}'
        assert _maxdiff(context, z[f'context_{name}']) <= TOL, name
        assert _maxdiff(pred, z[f'predictor_{name}']) <= TOL, name
        assert _maxdiff(targets, z[f'targets_{name}']) <= TOL, name


@pytest.mark.integration
@pytest.mark.parametrize('variant', VARIANTS)
def test_loss(variant):
    """Mean over every (group, mask set) pair of the mean L1 (the official V-JEPA 2 loss)."""
    z, _ = _fixture(variant)
    losses = [np.mean(np.abs(np.asarray(pred) - np.asarray(targets)))
              for _, pred, targets in _predictions(variant).values()]
    assert abs(float(np.mean(losses)) - float(z['loss'])) <= TOL


@pytest.mark.parametrize('variant', VARIANTS)
def test_front_door_detects_the_format(variant):
    _, spec = _fixture(variant)
    path = VJEPA2_VARIANTS / variant / 'pretrain_latest.pt'
    assert vjepa2_formats.detect_format(path) is vjepa2_formats.PRETRAINING_PT
    model = vjepa_jax.load(path, **_read_options(spec))
    assert model.provenance.format == 'vjepa2_pretraining_pt'
    assert (model.kind, model.family, model.which) == ('pretraining', 'vjepa2', 'target_encoder')
    assert model.encoder.num_heads == spec['encoder']['num_heads']
    assert model.predictor.num_mask_tokens == spec['predictor']['num_mask_tokens']


@pytest.mark.integration  # its own compile
@pytest.mark.parametrize('variant', VARIANTS)
def test_front_door_encodes_like_the_official_target_encoder(variant):
    z, spec = _fixture(variant)
    model = vjepa_jax.load(VJEPA2_VARIANTS / variant / 'pretrain_latest.pt', **_read_options(spec))
    assert _maxdiff(model.encode(z['video_g0']), z['target_full_g0']) <= TOL


@pytest.mark.integration
@pytest.mark.parametrize('variant', VARIANTS)
def test_rope_errors_would_show(variant):
    """The fixtures can tell a wrong RoPE pairing or mask token from the right one.

    A model at the official 0.02 init attends almost uniformly at these widths; the
    generator scales its weights so that these mistakes move outputs by far more than TOL.
    """
    z, _ = _fixture(variant)
    config, params, *_ = _model(variant)
    enc = VJEPA2Encoder(**dict(config['encoder'], rope_interleave=True))
    pred = VJEPA2Predictor(**dict(config['predictor'], rope_interleave=True))
    wrong = jax.jit(enc.apply)({'params': params['encoder']}, _video(z, 'video_g0'))
    assert _maxdiff(wrong, z['encoder_full_g0']) > 100 * TOL
    args = (z['context_g0_m0'], z['masks_enc_g0_m0'], z['masks_pred_g0_m0'])
    wrong = jax.jit(pred.apply, static_argnums=4)({'params': params['predictor']}, *args, 0)
    assert _maxdiff(wrong, z['predictor_g0_m0']) > 100 * TOL
    other_token = _model(variant)[4](*args, 1)
    assert _maxdiff(other_token, z['predictor_g0_m0']) > 100 * TOL
