"""V-JEPA 2 through the front door: ``vjepa_jax.load`` of official ``.pt`` files and HF dirs."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import vjepa_jax
from tests.helpers.paths import SHARED_FIXTURES
from tests.helpers.vjepa2_checkpoints import (
    ENCODER,
    PT_OPTIONS,
    clips,
    direct_tokens,
    tiny_pretraining,
    write_hf_dir,
    write_pretraining_pt,
    write_probe_pt,
)
from vjepa_jax.convert import vjepa2_formats, vjepa2_hf
from vjepa_jax.convert.official_config import ConversionError
from vjepa_jax.loading import NormalizedClips
from vjepa_jax.models import VisionTransformer
from vjepa_jax.models.vjepa2 import (
    VJEPA2AttentiveClassifier,
    VJEPA2Encoder,
    VJEPA2Predictor,
)

FIXTURE = SHARED_FIXTURES / 'official_vjepa2_small'
V1_FILE = SHARED_FIXTURES / 'official_vjepa_small' / 'jepa-latest.pth.tar'


def test_pretraining_pt_loads_with_provenance_and_encodes(tmp_path):
    _, params = write_pretraining_pt(tmp_path / 'vitl.pt')
    model = vjepa_jax.load(tmp_path / 'vitl.pt', **PT_OPTIONS)
    assert isinstance(model.encoder, VJEPA2Encoder)
    assert isinstance(model.predictor, VJEPA2Predictor)
    assert (model.kind, model.family, model.which) == ('pretraining', 'vjepa2', 'target_encoder')
    assert model.provenance.format == 'vjepa2_pretraining_pt'
    assert model.metadata == {'epoch': 3}
    video = clips()
    np.testing.assert_allclose(model.encode(video), direct_tokens(params['target_encoder'], video),
                               rtol=1e-5, atol=1e-5)
    online = vjepa_jax.load(tmp_path / 'vitl.pt', which='encoder', **PT_OPTIONS)
    np.testing.assert_allclose(online.encode(video), direct_tokens(params['encoder'], video),
                               rtol=1e-5, atol=1e-5)


def test_preprocess_is_the_eval_transform_of_any_frame_size(tmp_path):
    write_pretraining_pt(tmp_path / 'vitl.pt')
    model = vjepa_jax.load(tmp_path / 'vitl.pt', **PT_OPTIONS)
    ready = model.preprocess(clips(1, (4, 40, 60, 3)))
    assert isinstance(ready, NormalizedClips)
    assert ready.video.shape == (1, 4, 32, 32, 3)
    assert model.encode(ready).shape == (1, 8, 48)


def test_probe_pt_loads_every_head(tmp_path):
    _, params = write_probe_pt(tmp_path / 'probe.pt')
    model = vjepa_jax.load(tmp_path / 'probe.pt', num_heads=4)
    assert (model.kind, model.provenance.format, model.encoder) == \
        ('classifier', 'vjepa2_probe_pt', None)
    assert isinstance(model.classifier, VJEPA2AttentiveClassifier)
    assert model.config['embed_dim'] == 48 and len(model.params['classifiers']) == 2
    tokens = np.random.default_rng(0).normal(size=(2, 8, 48)).astype(np.float32)
    apply = jax.jit(model.classifier.apply)
    for ours, want in zip(model.params['classifiers'], params['classifiers']):
        np.testing.assert_array_equal(apply({'params': ours}, tokens),
                                      apply({'params': want}, tokens))


def test_hf_directory_loads_with_the_same_tokens(tmp_path):
    _, params = write_hf_dir(tmp_path / 'hf')
    model = vjepa_jax.load(tmp_path / 'hf')
    assert isinstance(model.encoder, VJEPA2Encoder)
    assert (model.provenance.format, model.which) == ('vjepa2_hf_dir', 'encoder')
    assert sorted(model.params) == ['encoder', 'predictor']
    video = clips()
    np.testing.assert_allclose(model.encode(video), direct_tokens(params['encoder'], video),
                               rtol=1e-5, atol=1e-5)


def test_exported_hf_directory_loads_back_with_the_same_tokens(tmp_path):
    write_pretraining_pt(tmp_path / 'vitl.pt')
    model = vjepa_jax.load(tmp_path / 'vitl.pt', **PT_OPTIONS)
    vjepa2_hf.write_dir(tmp_path / 'hf', model.config, model.params, encoder_key='target_encoder')
    back = vjepa_jax.load(tmp_path / 'hf')
    video = clips(2)
    np.testing.assert_array_equal(back.encode(video), model.encode(video))


def test_mistakes_are_checkpoint_errors(tmp_path):
    write_pretraining_pt(tmp_path / 'vitl.pt')
    with pytest.raises(ConversionError, match='unknown import option'):
        vjepa_jax.load(tmp_path / 'vitl.pt', probe_num_heads=3, **PT_OPTIONS)
    with pytest.raises(ConversionError, match='step='):
        vjepa_jax.load(tmp_path / 'vitl.pt', step=3, **PT_OPTIONS)
    with pytest.raises(ConversionError, match='num_heads'):  # width 48 is no official size
        vjepa_jax.load(tmp_path / 'vitl.pt')


@pytest.mark.skipif(not (FIXTURE / 'pretrain_latest.pt').is_file(),
                    reason=f'official V-JEPA 2 fixture not found at {FIXTURE}')
def test_official_fixture_files_load_and_v1_files_still_go_to_v1():
    official = {'num_heads': 2, 'predictor_num_heads': 2, 'img_size': 80, 'num_frames': 8}
    model = vjepa_jax.load(FIXTURE / 'pretrain_latest.pt', **official)
    assert model.provenance.format == 'vjepa2_pretraining_pt'
    assert any("'opt'" in note for note in model.provenance.notes), model.provenance.notes
    assert model.encode(np.zeros((1, 8, 80, 80, 3), np.uint8)).shape[-1] == 40
    probe = vjepa_jax.load(FIXTURE / 'probe_latest.pt', num_heads=4)
    assert probe.provenance.format == 'vjepa2_probe_pt' and probe.classifier.depth == 4
    if V1_FILE.is_file():
        v1 = vjepa_jax.load(V1_FILE, num_heads=4)
        assert v1.provenance.format == 'official_vjepa'
        assert isinstance(v1.encoder, VisionTransformer)


def test_probe_job_frozen_encoder_loads_vjepa2_checkpoints(tmp_path):
    from vjepa_jax.evaluation.frozen_encoder import (
        FrozenEncoderConfig,
        load_frozen_encoder,
    )

    # The probe needs no predictor (whose tiny width would need predictor_num_heads).
    config, params = tiny_pretraining()
    del params['predictor'], config['predictor']
    vjepa2_formats.PRETRAINING_PT.write(tmp_path / 'vitl.pt', config, params)
    write_hf_dir(tmp_path / 'hf')
    encoder, tree = load_frozen_encoder(FrozenEncoderConfig(
        str(tmp_path / 'vitl.pt'), dtype='float32', num_heads=2, num_frames=4))
    assert isinstance(encoder, VJEPA2Encoder) and encoder.num_frames == 4
    assert jax.tree.structure(tree) == jax.tree.structure(params['target_encoder'])
    # HF directories take none of the official-file options; they are not passed on.
    encoder, tree = load_frozen_encoder(FrozenEncoderConfig(
        str(tmp_path / 'hf'), which='encoder', dtype='float32', num_frames=4))
    assert isinstance(encoder, VJEPA2Encoder)
    jax.tree.map(np.testing.assert_array_equal, tree, params['encoder'])


def test_frozen_encoder_out_layers_give_multilevel_features(tmp_path):
    from vjepa_jax.errors import ConfigError
    from vjepa_jax.evaluation import config as probe_config_lib
    from vjepa_jax.evaluation.frozen_encoder import (
        FrozenEncoderConfig,
        load_frozen_encoder,
    )
    from vjepa_jax.input.normalize import normalize_video

    _, params = write_hf_dir(tmp_path / 'hf')
    encoder, tree = load_frozen_encoder(FrozenEncoderConfig(
        str(tmp_path / 'hf'), which='encoder', dtype='float32', out_layers=(0, 1)))
    video = normalize_video(clips(3, (1, 4, 32, 32, 3)))
    tokens = encoder.apply({'params': tree}, video)  # as the probe job applies it
    assert tokens.shape == (1, 16, 48)
    np.testing.assert_array_equal(tokens[:, 8:], VJEPA2Encoder(**ENCODER).apply(
        {'params': params['encoder']}, video))  # the last block through the final norm
    with pytest.raises(ConfigError, match=r'out_layers \[5\]'):
        load_frozen_encoder(FrozenEncoderConfig(str(tmp_path / 'hf'), which='encoder',
                                                out_layers=(1, 5)))
    if V1_FILE.is_file():
        with pytest.raises(ConfigError, match='V-JEPA 2 encoders'):
            load_frozen_encoder(FrozenEncoderConfig(str(V1_FILE), num_heads=4, out_layers=(0,)))
    config = probe_config_lib.probe_config()
    config.encoder.out_layers = (17, 19, 21, 23)
    assert probe_config_lib.SECTIONS['encoder'](**config.encoder).out_layers == (17, 19, 21, 23)
    assert FrozenEncoderConfig('x', out_layers=()).problems() == [
        'out_layers is empty: list block indices, or None for the last block.']
