"""Float32 parity with the official V-JEPA 2 outputs in ../shared/fixtures/official_vjepa2_small.

Every model comes from the fixture's official checkpoints through our
torch-free importer; every output is compared with what the official code
produced from the same weights and inputs (within 1e-4).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers.paths import SHARED_FIXTURES
from vjepa_jax.convert import vjepa2_formats
from vjepa_jax.input.normalize import normalize_video
from vjepa_jax.models.rope import rotate_axis
from vjepa_jax.models.vjepa2 import (
    VJEPA2AttentiveClassifier,
    VJEPA2Encoder,
    VJEPA2Predictor,
)
from vjepa_jax.models.vjepa2.clip_aggregation import (
    aggregate_clips,
    view_averaged_probs,
)
from vjepa_jax.train.losses import target_layer_norm

TOL = 1e-4
FIXTURE = SHARED_FIXTURES / 'official_vjepa2_small'
pytestmark = pytest.mark.skipif(not (FIXTURE / 'fixture.npz').is_file(),
                                reason=f'official V-JEPA 2 fixture not found at {FIXTURE} '
                                       '(shared/ must sit next to the repository checkout)')
SETS = [(g, m) for g in (0, 1) for m in (0, 1)]


def _maxdiff(ours, ref) -> float:
    ours = np.asarray(ours)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return float(np.max(np.abs(ours - ref)))


@pytest.fixture(scope='module')
def z() -> dict[str, np.ndarray]:
    with np.load(FIXTURE / 'fixture.npz') as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope='module')
def spec(z) -> dict:
    return json.loads(str(z['config_json']))['spec']


@pytest.fixture(scope='module')
def pretrained(spec):
    return vjepa2_formats.PRETRAINING_PT.read(
        Path(FIXTURE / 'pretrain_latest.pt'), num_heads=spec['encoder']['num_heads'],
        predictor_num_heads=spec['predictor']['num_heads'], img_size=spec['crop'],
        num_frames=max(g['fpc'] for g in spec['groups']))


def _video(z, key):
    return normalize_video(jnp.asarray(z[key]))


@pytest.fixture(scope='module')
def models(pretrained):
    """Jitted encoder / predictor applies (one compile per shape; cheaper than eager here)."""
    config, params, _ = pretrained
    enc, pred = VJEPA2Encoder(**config['encoder']), VJEPA2Predictor(**config['predictor'])
    enc_apply = jax.jit(lambda p, *a: enc.apply({'params': p}, *a))  # both encoders share it
    pred_apply = jax.jit(lambda *a: pred.apply({'params': params['predictor']}, *a),
                         static_argnums=3)
    return (lambda name, *a: enc_apply(params[name], *a)), pred_apply


@pytest.fixture(scope='module')
def predictions(z, models):
    """Per (group, mask set): masked context, predictor output, loss targets."""
    encode, predict = models
    out = {}
    for group, mask_set in SETS:
        video = _video(z, f'video_g{group}')
        ctx_idx = z[f'masks_enc_g{group}_m{mask_set}']
        tgt_idx = z[f'masks_pred_g{group}_m{mask_set}']
        context = encode('encoder', video, ctx_idx)
        # mask_index is the frames-per-clip group, not the mask set.
        pred = predict(context, ctx_idx, tgt_idx, group)
        full = target_layer_norm(encode('target_encoder', video))
        targets = jnp.take_along_axis(full, jnp.asarray(tgt_idx)[..., None], 1)
        out[group, mask_set] = context, pred, targets
    return out


def test_rope_unit(z):
    x = jnp.asarray(z['rope_in']).transpose(0, 2, 1, 3)  # official [B, H, N, A] -> ours
    out = rotate_axis(x, jnp.asarray(z['rope_pos']))
    assert _maxdiff(np.asarray(out).transpose(0, 2, 1, 3), z['rope_out']) <= 1e-6


def test_inferred_config(spec, pretrained):
    config, params, provenance = pretrained
    enc, pred = config['encoder'], config['predictor']
    assert (enc['embed_dim'], enc['depth'], enc['mlp_dim']) == (40, 2, 160)
    assert (pred['predictor_embed_dim'], pred['depth'], pred['num_mask_tokens']) == (52, 2, 4)
    assert set(params) == {'encoder', 'target_encoder', 'predictor'}
    assert any("'opt'" in note for note in provenance['ignored'])
    assert provenance['metadata']['epoch'] == 1


@pytest.mark.parametrize('group', [0, 1])
def test_full_encoders(z, models, group):
    encode, _ = models
    video = _video(z, f'video_g{group}')
    assert _maxdiff(encode('encoder', video), z[f'encoder_full_g{group}']) <= TOL
    assert _maxdiff(encode('target_encoder', video), z[f'target_full_g{group}']) <= TOL


def test_nonsquare_encoder(z, models):
    out = models[0]('encoder', _video(z, 'extra_video_nonsquare'))
    assert _maxdiff(out, z['extra_encoder_nonsquare']) <= TOL


@pytest.mark.integration  # the whole masked forward
@pytest.mark.parametrize('group,mask_set', SETS)
def test_masked_encoder_predictor_targets(z, predictions, group, mask_set):
    context, pred, targets = predictions[group, mask_set]
    name = f'g{group}_m{mask_set}'
    assert _maxdiff(context, z[f'context_{name}']) <= TOL
    assert _maxdiff(pred, z[f'predictor_{name}']) <= TOL
    assert _maxdiff(targets, z[f'targets_{name}']) <= TOL


def test_loss(z, predictions):
    """Mean over every (group, mask set) pair of the mean L1 (the official V-JEPA 2 loss)."""
    losses = [jnp.mean(jnp.abs(pred - targets)) for _, pred, targets in predictions.values()]
    assert abs(float(jnp.mean(jnp.stack(losses))) - float(z['loss'])) <= TOL


@pytest.mark.parametrize('frames,key', [(16, 'image_tokens_rep16'), (2, 'image_tokens_rep2')])
def test_image_tokens(z, pretrained, frames, key):
    config, params, _ = pretrained
    enc = VJEPA2Encoder(**config['encoder'], image_frames=frames)
    out = jax.jit(enc.apply)({'params': params['target_encoder']}, _video(z, 'image_video'))
    assert _maxdiff(out, z[key]) <= TOL


def test_probe_logits_and_probs(z, models):
    probe_cfg, probe_params, _ = vjepa2_formats.PROBE_PT.read(FIXTURE / 'probe_latest.pt',
                                                              num_heads=4)
    tokens = aggregate_clips(lambda c: models[0]('target_encoder', c),
                             _video(z, 'probe_val_video'))
    clf = VJEPA2AttentiveClassifier(**probe_cfg['classifier'])
    logits = []
    for view in range(tokens.shape[0]):
        assert _maxdiff(tokens[view], z[f'probe_val_tokens_view{view}']) <= TOL
        logits.append(jax.jit(clf.apply)({'params': probe_params['classifiers'][0]}, tokens[view]))
        assert _maxdiff(logits[-1], z[f'probe_logits_c0_view{view}']) <= TOL
    assert _maxdiff(view_averaged_probs(jnp.stack(logits)), z['probe_probs_c0']) <= TOL
