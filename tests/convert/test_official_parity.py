"""Float32 parity with the official PyTorch outputs stored in the fixtures.

Runs on every fixture directory: the shared ``official_vjepa_small`` and the
``tests/fixtures/official_variants/*`` (other widths, depths, heads, mlp
ratios, uniform_power off, tubelet 1, other frame counts and resolutions,
inputs at another size than built for, classifier depth > 1).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import vjepa_jax
from tests.helpers.official_fixture import OfficialFixture, load
from tests.helpers.paths import official_fixture_dirs
from vjepa_jax.convert import official
from vjepa_jax.masks.gather import gather_tokens
from vjepa_jax.models import AttentiveClassifier, Predictor, VisionTransformer
from vjepa_jax.train.losses import jepa_loss, target_layer_norm

TOL = 1e-4
DIRS = official_fixture_dirs()
pytestmark = pytest.mark.skipif(not DIRS, reason='no official fixtures found (shared/ absent)')


def _maxdiff(ours, ref) -> float:
    ours = np.asarray(ours)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return float(np.max(np.abs(ours - ref)))


@pytest.fixture(scope='module', params=DIRS, ids=lambda p: p.name)
def fx(request) -> OfficialFixture:
    return load(request.param)


@pytest.fixture(scope='module')
def converted(fx) -> official.Converted:
    checkpoint = {m: fx.state_dicts[m] for m in ('encoder', 'predictor', 'target_encoder')}
    return official.import_pretraining(checkpoint, num_heads=fx.num_heads,
                                       num_frames=fx.num_frames)


def test_inferred_config_matches_official(fx, converted):
    enc, pred = converted.config['encoder'], converted.config['predictor']
    ref = fx.config['encoder']
    for key in ('embed_dim', 'depth', 'num_heads', 'img_size', 'patch_size', 'num_frames',
                'tubelet_size', 'uniform_power'):
        assert enc[key] == ref[key], key
    assert enc['mlp_dim'] == int(ref['embed_dim'] * ref['mlp_ratio'])
    assert pred['num_mask_tokens'] == fx.config['predictor']['num_mask_tokens']


def test_encoder_outputs(fx, converted):
    enc = VisionTransformer(**converted.config['encoder'])
    x = jnp.asarray(fx.video())
    out = enc.apply({'params': converted.params['encoder']}, x)
    assert _maxdiff(out, fx.arrays['encoder_full_out']) <= TOL
    out = enc.apply({'params': converted.params['target_encoder']}, x)
    assert _maxdiff(out, fx.arrays['target_encoder_full_out']) <= TOL


def test_encoder_at_another_input_size(fx, converted):
    if 'x_resized' not in fx.arrays:
        pytest.skip(f'{fx.name} has no resized input')
    enc = VisionTransformer(**converted.config['encoder'])
    out = enc.apply({'params': converted.params['encoder']}, jnp.asarray(fx.video('x_resized')))
    assert _maxdiff(out, fx.arrays['encoder_resized_out']) <= TOL


@pytest.mark.integration  # the whole masked forward and loss
def test_context_targets_predictions_and_loss(fx, converted):
    enc = VisionTransformer(**converted.config['encoder'])
    pred = Predictor(**converted.config['predictor'])
    x = jnp.asarray(fx.video())
    h = target_layer_norm(enc.apply({'params': converted.params['target_encoder']}, x))
    preds, targets = [], []
    for n, mask_index in fx.mask_sets():
        ctx_idx, tgt_idx = fx.arrays[f'masks_enc_{n}'], fx.arrays[f'masks_pred_{n}']
        ctx = enc.apply({'params': converted.params['encoder']}, x, ctx_idx)
        assert _maxdiff(ctx, fx.arrays[f'context_out_{n}']) <= TOL
        tgt = gather_tokens(h, tgt_idx)
        assert _maxdiff(tgt, fx.arrays[f'targets_{n}']) <= TOL
        # Feed the official context so each stage is checked on its own.
        p = pred.apply({'params': converted.params['predictor']},
                       jnp.asarray(fx.arrays[f'context_out_{n}']), ctx_idx, tgt_idx, mask_index)
        assert _maxdiff(p, fx.arrays[f'predictor_out_{n}']) <= TOL
        preds.append(pred.apply({'params': converted.params['predictor']}, ctx, ctx_idx,
                                tgt_idx, mask_index))
        targets.append(tgt)
    assert abs(float(jepa_loss(preds, targets)) - float(fx.arrays['loss'])) <= TOL


def test_classifier_logits(fx):
    conv = official.import_classifier({'classifier': fx.state_dicts['classifier']},
                                      num_heads=fx.classifier_heads)
    assert conv.config['classifier']['depth'] == fx.config['classifier']['depth']
    cls = AttentiveClassifier(**conv.config['classifier'])
    logits = cls.apply({'params': conv.params['classifier']}, jnp.asarray(fx.arrays['cls_features']))
    assert _maxdiff(logits, fx.arrays['cls_logits']) <= TOL


def test_pth_tar_converts_and_reproduces_outputs(fx):
    """The .pth.tar file (read without torch) gives the same outputs as the npz weights."""
    model = vjepa_jax.load(fx.path / 'jepa-latest.pth.tar', which='target_encoder',
                           num_heads=fx.num_heads, num_frames=fx.num_frames)
    assert model.kind == 'pretraining'
    # The fixture's input is the official code's (already normalised) random video.
    out = model.encode(jnp.asarray(fx.video()), normalized=True)
    assert _maxdiff(out, fx.arrays['target_encoder_full_out']) <= TOL
    n, mask_index = fx.mask_sets()[-1]
    ctx_idx, tgt_idx = fx.arrays[f'masks_enc_{n}'], fx.arrays[f'masks_pred_{n}']
    ctx = model.encoder.apply({'params': model.params['encoder']}, jnp.asarray(fx.video()), ctx_idx)
    p = model.predictor.apply({'params': model.params['predictor']}, ctx, ctx_idx, tgt_idx,
                              mask_index)
    assert _maxdiff(p, fx.arrays[f'predictor_out_{n}']) <= TOL


def test_classifier_pth_tar(fx):
    path = fx.path / 'classifier.pth.tar'
    if not path.exists():
        pytest.skip(f'{fx.name} has no classifier.pth.tar')
    model = vjepa_jax.load(path, num_heads=fx.classifier_heads)
    assert model.kind == 'classifier'
    logits = model.classifier.apply({'params': model.params['classifier']},
                                    jnp.asarray(fx.arrays['cls_features']))
    assert _maxdiff(logits, fx.arrays['cls_logits']) <= TOL
